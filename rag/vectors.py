"""Stage 4a: the FAISS vector index over chunk embeddings.

Exact inner-product search for small corpora; HNSW above a size threshold,
where exact search would cost tens of milliseconds a question.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import RagError


@dataclass(frozen=True)
class VectorIndexSpec:
    """Which FAISS index to build; stored in the manifest."""

    kind: str = "flat"  # "flat" or "hnsw"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64

    def to_json(self) -> dict[str, object]:
        if self.kind == "flat":
            return {"kind": "flat"}
        return {
            "kind": "hnsw",
            "m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }

    @classmethod
    def choose(
        cls,
        index_type: str,
        n_vectors: int,
        threshold: int,
        m: int,
        ef_construction: int,
        ef_search: int,
    ) -> VectorIndexSpec:
        """The spec for `index_type` ("auto" picks by corpus size)."""
        kind = index_type
        if kind == "auto":
            kind = "hnsw" if n_vectors >= threshold else "flat"
        return cls(kind, m, ef_construction, ef_search)


def build(vectors: np.ndarray, spec: VectorIndexSpec):
    """A FAISS index over unit `vectors` (inner product = cosine)."""
    import faiss

    dimension = vectors.shape[1]
    if spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def save(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, spec: VectorIndexSpec):
    """Read a FAISS index, memory-mapped where the index type allows it."""
    import faiss

    try:
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if spec.kind == "flat" else 0
        index = faiss.read_index(str(path), flags)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise RagError(
            f"The vector index {path} is damaged ({first_line}). "
            "Rebuild it with `rag ingest --rebuild`."
        ) from None
    if spec.kind == "hnsw":
        index.hnsw.efSearch = spec.ef_search
    return index


def all_vectors(index) -> np.ndarray:
    """Every stored vector, in insertion order (used to carry unchanged documents over)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def search(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row ids of the `k` nearest vectors to `query`; ids of -1 mean none."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
