"""The default vector store: a FAISS index in memory, saved in each index generation.

Positions in the FAISS index are chunk rows, each document's chunks in one run;
`_starts` maps a document to its first row. A document filter becomes a FAISS
`IDSelectorBatch` of the chosen rows, handed to the search itself through
`SearchParameters`, so IVF and HNSW walk only those rows' candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rag import vectors
from rag.vector_stores.base import StoreDescription, VectorHits, VectorStore


class FaissVectorStore(VectorStore):
    name = "faiss"

    def __init__(
        self,
        index,
        doc_ids: Sequence[str],
        chunk_doc: np.ndarray,
        *,
        model: str,
        spec: vectors.VectorIndexSpec,
        where: str = "memory",
    ) -> None:
        """`index` holds chunk rows whose document row is `chunk_doc`, grouped by document."""
        self.index = index
        self.spec = spec
        self.model = model
        self.where = where
        self._doc_ids = list(doc_ids)
        self._chunk_doc = np.asarray(chunk_doc, dtype=np.int64)
        self._reindex()

    @classmethod
    def empty(cls, dimension: int, model: str, spec: vectors.VectorIndexSpec | None = None):
        spec = spec or vectors.VectorIndexSpec()
        index = vectors.build(np.zeros((0, dimension), dtype=np.float32), spec)
        return cls(index, [], np.zeros(0, dtype=np.int64), model=model, spec=spec)

    def _reindex(self) -> None:
        bounds = np.searchsorted(self._chunk_doc, np.arange(len(self._doc_ids) + 1))
        if len(self._chunk_doc) and np.any(np.diff(self._chunk_doc) < 0):
            # Appended out of document order: bounds by first and last occurrence instead.
            rows = np.arange(len(self._chunk_doc))
            firsts = np.full(len(self._doc_ids), len(self._chunk_doc))
            np.minimum.at(firsts, self._chunk_doc, rows)
            counts = np.bincount(self._chunk_doc, minlength=len(self._doc_ids))
            self._runs = {d: (int(firsts[i]), int(counts[i])) for i, d in enumerate(self._doc_ids)}
        else:
            self._runs = {
                d: (int(bounds[i]), int(bounds[i + 1] - bounds[i]))
                for i, d in enumerate(self._doc_ids)
            }
        self._row_of_doc = {d: i for i, d in enumerate(self._doc_ids)}

    # -- writing ----------------------------------------------------------------------
    def add(self, doc_id: str, chunk_vectors: np.ndarray) -> None:
        if doc_id in self._row_of_doc:
            self.delete([doc_id])
        chunk_vectors = np.ascontiguousarray(chunk_vectors, dtype=np.float32)
        if len(chunk_vectors):
            self.index.add(chunk_vectors)
        self._doc_ids.append(doc_id)
        self._chunk_doc = np.concatenate(
            [self._chunk_doc, np.full(len(chunk_vectors), len(self._doc_ids) - 1, np.int64)]
        )
        self._reindex()

    def delete(self, doc_ids: Iterable[str]) -> None:
        gone = {d for d in doc_ids if d in self._row_of_doc}
        if not gone:
            return
        # FAISS cannot remove from every index kind (HNSW), and removing renumbers a flat
        # index: the kept rows are rebuilt into a fresh index of the same kind.
        keep_docs = [d for d in self._doc_ids if d not in gone]
        kept = [self.vectors(d) for d in keep_docs]
        dimension = self.index.d
        all_kept = np.concatenate(kept) if kept else np.zeros((0, dimension), np.float32)
        self.index = vectors.build(all_kept, self.spec)
        self._doc_ids = keep_docs
        self._chunk_doc = np.repeat(np.arange(len(keep_docs)), [len(v) for v in kept])
        self._reindex()

    # -- reading ----------------------------------------------------------------------
    def vectors(self, doc_id: str) -> np.ndarray:
        first, n = self._runs.get(doc_id, (0, 0))
        if n == 0:
            return np.zeros((0, self.index.d), dtype=np.float32)
        return self.index.reconstruct_n(first, n)

    def chunk_vectors(self, doc_ids, numbers) -> np.ndarray:
        rows = [self._runs[d][0] + int(n) for d, n in zip(doc_ids, numbers, strict=True)]
        if not rows:
            return np.zeros((0, self.index.d), dtype=np.float32)
        return np.stack([self.index.reconstruct(row) for row in rows])

    def count(self) -> int:
        return int(self.index.ntotal)

    def describe(self) -> StoreDescription:
        return StoreDescription(self.name, self.where, self.model, int(self.index.d), self.count())

    def search(
        self, vector: np.ndarray, k: int, doc_ids: frozenset[str] | None = None
    ) -> VectorHits:
        params = None
        available = self.count()
        if doc_ids is not None:
            runs = [self._runs[d] for d in sorted(doc_ids) if d in self._runs]
            rows = (
                np.concatenate([np.arange(first, first + n) for first, n in runs])
                if runs
                else np.zeros(0, dtype=np.int64)
            )
            available = len(rows)
            params = self._search_parameters(rows)
        scores, rows = vectors.search(self.index, vector, min(k, available), params)
        doc_rows = self._chunk_doc[rows]
        firsts = np.array([self._runs[self._doc_ids[d]][0] for d in doc_rows], dtype=np.int64)
        return VectorHits(
            tuple(self._doc_ids[d] for d in doc_rows),
            rows.astype(np.int64) - firsts.reshape(-1),
            scores,
        )

    def _search_parameters(self, rows: np.ndarray):
        import faiss

        selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
        # The parameters of a kind replace the index's own: nprobe and efSearch are repeated.
        if self.spec.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.spec.ivf_nprobe)
        elif self.spec.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.spec.ef_search)
        else:
            params = faiss.SearchParameters(sel=selector)
        # The selector must outlive the search: SWIG holds no reference to it.
        params.referenced_selector = selector
        return params
