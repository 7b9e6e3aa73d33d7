"""The default vector store: FAISS indexes, one per segment of the index generation.

Each part is one FAISS index (a segment's) and, for each of its vectors, the chunk
row it has in the index, or -1 for a chunk no longer counted (its document was
removed or replaced since the segment was written: a deletion mask, so a segment's
file never changes). A search runs over every part and keeps the best k of all; with
exact (flat) parts that is exactly the k nearest of one index over every chunk.

Chunk rows are grouped by document; `_runs` maps a document to its first row. A
document filter, and the mask, become a FAISS `IDSelectorBatch` of the part's chosen
positions, handed to the search itself through `SearchParameters`, so IVF and HNSW
walk only those candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag import vectors
from rag.vector_stores.base import StoreDescription, VectorHits, VectorStore


@dataclass
class FaissPart:
    """One FAISS index, and the chunk row of each of its vectors (-1: not counted)."""

    index: Any
    spec: vectors.VectorIndexSpec
    rows: np.ndarray  # int64, one per vector of `index`


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
        rows = np.arange(index.ntotal, dtype=np.int64)
        self._setup([FaissPart(index, spec, rows)], doc_ids, chunk_doc, model, where)

    @classmethod
    def of_parts(
        cls,
        parts: Sequence[FaissPart],
        doc_ids: Sequence[str],
        chunk_doc: np.ndarray,
        *,
        model: str,
        where: str = "memory",
    ) -> FaissVectorStore:
        """A store over several indexes whose counted vectors are chunk rows of `chunk_doc`."""
        store = cls.__new__(cls)
        store._setup(list(parts), doc_ids, chunk_doc, model, where)
        return store

    def _setup(self, parts, doc_ids, chunk_doc, model: str, where: str) -> None:
        self.parts = parts
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

    @property
    def index(self):
        """The FAISS index vectors are added to (the last part's)."""
        return self.parts[-1].index

    @property
    def spec(self) -> vectors.VectorIndexSpec:
        return self.parts[-1].spec

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
        self._first_row = np.array([self._runs[d][0] for d in self._doc_ids], dtype=np.int64)
        # Where each chunk row's vector is: its part and its position there.
        self._part_of_row = np.full(len(self._chunk_doc), -1, dtype=np.int64)
        self._position_of_row = np.full(len(self._chunk_doc), -1, dtype=np.int64)
        self._masked = []
        for number, part in enumerate(self.parts):
            counted = np.flatnonzero(part.rows >= 0)
            self._part_of_row[part.rows[counted]] = number
            self._position_of_row[part.rows[counted]] = counted
            self._masked.append(len(counted) < len(part.rows))

    # -- writing ----------------------------------------------------------------------
    def add(
        self, doc_id: str, chunk_vectors: np.ndarray, texts: Sequence[str] | None = None
    ) -> None:
        if doc_id in self._row_of_doc:
            self.delete([doc_id])
        chunk_vectors = np.ascontiguousarray(chunk_vectors, dtype=np.float32)
        part = self.parts[-1]
        if len(chunk_vectors):
            part.index.add(chunk_vectors)
        new_rows = np.arange(len(chunk_vectors), dtype=np.int64) + len(self._chunk_doc)
        part.rows = np.concatenate([part.rows, new_rows])
        self._doc_ids.append(doc_id)
        self._chunk_doc = np.concatenate(
            [self._chunk_doc, np.full(len(chunk_vectors), len(self._doc_ids) - 1, np.int64)]
        )
        self._reindex()

    def delete(self, doc_ids: Iterable[str]) -> None:
        gone = {d for d in doc_ids if d in self._row_of_doc}
        if not gone:
            return
        # The vectors stay in their index, masked: FAISS cannot remove from every index
        # kind (HNSW), and a segment's file is never rewritten. Rows are renumbered.
        gone_rows = {self._row_of_doc[d] for d in gone}
        keep = ~np.isin(self._chunk_doc, list(gone_rows))
        new_row = np.where(keep, np.cumsum(keep) - 1, -1)
        for part in self.parts:
            part.rows = np.where(part.rows >= 0, new_row[np.maximum(part.rows, 0)], -1)
        keep_docs = [d for d in self._doc_ids if d not in gone]
        new_doc = {d: i for i, d in enumerate(keep_docs)}
        doc_map = np.array([new_doc.get(d, -1) for d in self._doc_ids], dtype=np.int64)
        self._doc_ids = keep_docs
        self._chunk_doc = doc_map[self._chunk_doc[keep]] if len(doc_map) else self._chunk_doc[keep]
        self._reindex()

    # -- reading ----------------------------------------------------------------------
    def _reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of chunk rows `rows`, in that order."""
        dimension = self.parts[0].index.d
        if not len(rows):
            return np.zeros((0, dimension), dtype=np.float32)
        parts, positions = self._part_of_row[rows], self._position_of_row[rows]
        if np.all(parts == parts[0]) and np.all(np.diff(positions) == 1):
            return self.parts[int(parts[0])].index.reconstruct_n(int(positions[0]), len(rows))
        # One call per part, not one per vector (a question's candidates not found by the
        # dense search are scored this way).
        found = np.empty((len(rows), dimension), dtype=np.float32)
        for number in np.unique(parts).tolist():
            mine = parts == number
            found[mine] = self.parts[number].index.reconstruct_batch(positions[mine])
        return found

    def vectors(self, doc_id: str) -> np.ndarray:
        first, n = self._runs.get(doc_id, (0, 0))
        return self._reconstruct(np.arange(first, first + n, dtype=np.int64))

    def chunk_vectors(self, doc_ids, numbers) -> np.ndarray:
        rows = [self._runs[d][0] + int(n) for d, n in zip(doc_ids, numbers, strict=True)]
        return self._reconstruct(np.asarray(rows, dtype=np.int64))

    def count(self) -> int:
        return len(self._chunk_doc)

    def describe(self) -> StoreDescription:
        dimension = int(self.parts[0].index.d)
        return StoreDescription(self.name, self.where, self.model, dimension, self.count())

    def search(
        self, vector: np.ndarray, k: int, doc_ids: frozenset[str] | None = None
    ) -> VectorHits:
        chosen = None
        if doc_ids is not None:
            runs = [self._runs[d] for d in sorted(doc_ids) if d in self._runs]
            chosen = (
                np.concatenate([np.arange(first, first + n) for first, n in runs])
                if runs
                else np.zeros(0, dtype=np.int64)
            )
        found_scores, found_rows = [], []
        for number, part in enumerate(self.parts):
            params = None
            available = int(part.index.ntotal)
            if chosen is not None:
                positions = self._position_of_row[chosen[self._part_of_row[chosen] == number]]
                available, params = len(positions), self._search_parameters(part, positions)
            elif self._masked[number]:
                positions = np.flatnonzero(part.rows >= 0)
                available, params = len(positions), self._search_parameters(part, positions)
            if available == 0:
                continue
            scores, positions = vectors.search(part.index, vector, min(k, available), params)
            found_scores.append(scores)
            found_rows.append(part.rows[positions])
        if len(found_scores) == 1:
            scores, rows = found_scores[0], found_rows[0]  # FAISS gives them best first
        elif found_scores:
            scores = np.concatenate(found_scores)
            rows = np.concatenate(found_rows)
            best = np.argsort(-scores, kind="stable")[:k]
            scores, rows = scores[best], rows[best]
        else:
            scores, rows = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        doc_rows = self._chunk_doc[rows]
        return VectorHits(
            tuple([self._doc_ids[d] for d in doc_rows.tolist()]),
            rows.astype(np.int64) - self._first_row[doc_rows],
            scores,
        )

    @staticmethod
    def _search_parameters(part: FaissPart, positions: np.ndarray):
        import faiss

        selector = faiss.IDSelectorBatch(np.ascontiguousarray(positions, dtype=np.int64))
        # The parameters of a kind replace the index's own: nprobe and efSearch are repeated.
        if part.spec.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=part.spec.ivf_nprobe)
        elif part.spec.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=part.spec.ef_search)
        else:
            params = faiss.SearchParameters(sel=selector)
        # The selector must outlive the search: SWIG holds no reference to it.
        params.referenced_selector = selector
        return params
