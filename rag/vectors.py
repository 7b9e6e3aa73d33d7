"""Stage 4a: the FAISS vector index over chunk embeddings.

Exact inner-product search for small corpora; above a size threshold an
approximate index (IVF or HNSW), where exact search would cost tens of
milliseconds a question. bench/scale.py measures each kind; the README's
Performance section has the figures behind the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import VECTOR_INDEX_KINDS as KINDS
from rag.errors import REBUILD_HINT, RagError

# FAISS warns below 39 training vectors per IVF list; 50 is what bench measured at 1M.
IVF_TRAINING_PER_LIST = 50
IVF_TRAINING_SEED = 1234


@dataclass(frozen=True)
class VectorIndexSpec:
    """Which FAISS index to build; stored in the manifest."""

    kind: str = "flat"  # one of KINDS
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    ivf_nlist: int = 0  # 0: 4·√n lists, chosen at build time
    ivf_nprobe: int = 32

    def to_json(self) -> dict[str, object]:
        if self.kind == "hnsw":
            return {
                "kind": "hnsw",
                "m": self.hnsw_m,
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
            }
        if self.kind == "ivf":
            return {"kind": "ivf", "nlist": self.ivf_nlist, "nprobe": self.ivf_nprobe}
        return {"kind": "flat"}

    @classmethod
    def from_json(cls, spec: dict[str, object]) -> VectorIndexSpec:
        defaults = cls()
        if spec.get("kind") not in KINDS:
            raise ValueError(f"unknown vector index kind {spec.get('kind')!r}")
        return cls(
            kind=str(spec["kind"]),
            hnsw_m=int(spec.get("m", defaults.hnsw_m)),  # type: ignore[arg-type]
            ef_construction=int(spec.get("ef_construction", defaults.ef_construction)),  # type: ignore[arg-type]
            ef_search=int(spec.get("ef_search", defaults.ef_search)),  # type: ignore[arg-type]
            ivf_nlist=int(spec.get("nlist", defaults.ivf_nlist)),  # type: ignore[arg-type]
            ivf_nprobe=int(spec.get("nprobe", defaults.ivf_nprobe)),  # type: ignore[arg-type]
        )

    @classmethod
    def choose(
        cls,
        index_type: str,
        n_vectors: int,
        threshold: int,
        m: int,
        ef_construction: int,
        ef_search: int,
        approximate: str = "ivf",
        nlist: int = 0,
        nprobe: int = 32,
    ) -> VectorIndexSpec:
        """The spec for `index_type` ("auto": flat below `threshold`, else `approximate`)."""
        kind = index_type
        if kind == "auto":
            kind = approximate if n_vectors >= threshold else "flat"
        if kind == "ivf":
            # Fixed at build time so the manifest says what was built.
            nlist = nlist or ivf_lists(n_vectors)
        return cls(kind, m, ef_construction, ef_search, nlist, nprobe)


def spec_for(settings, n_vectors: int) -> VectorIndexSpec:
    """The spec that `settings` (rag.config.Settings) ask for over `n_vectors` vectors."""
    return VectorIndexSpec.choose(
        settings.index_type,
        n_vectors,
        settings.approximate_threshold,
        settings.hnsw_m,
        settings.hnsw_ef_construction,
        settings.hnsw_ef_search,
        nlist=settings.ivf_nlist,
        nprobe=settings.ivf_nprobe,
    )


def ivf_lists(n_vectors: int) -> int:
    """The usual 4·√n inverted lists, but never fewer training vectors than FAISS wants."""
    return max(1, min(int(4 * math.sqrt(max(n_vectors, 1))), n_vectors // 39 or 1))


def build(vectors: np.ndarray, spec: VectorIndexSpec):
    """A FAISS index over unit `vectors` (inner product = cosine)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    elif spec.kind == "ivf":
        nlist = min(spec.ivf_nlist or ivf_lists(len(vectors)), max(len(vectors), 1))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(IVF_TRAINING_SEED)
        sample_size = min(len(vectors), nlist * IVF_TRAINING_PER_LIST)
        sample = vectors[np.sort(rng.choice(len(vectors), sample_size, replace=False))]
        index.train(sample if len(sample) else np.zeros((1, dimension), dtype=np.float32))
        index.nprobe = spec.ivf_nprobe
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(vectors)
    if spec.kind == "ivf":
        index.make_direct_map()  # so `reconstruct` works, as for the other kinds
    return index


def save(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, spec: VectorIndexSpec):
    """Read a FAISS index, memory-mapped where the index type allows it."""
    import faiss

    try:
        mappable = spec.kind in ("flat", "ivf")
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mappable else 0
        index = faiss.read_index(str(path), flags)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise RagError(
            f"The vector index {path} is damaged ({first_line}). {REBUILD_HINT}"
        ) from None
    if spec.kind == "hnsw":
        index.hnsw.efSearch = spec.ef_search
    elif spec.kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = spec.ivf_nprobe
    return index


def all_vectors(index) -> np.ndarray:
    """Every stored vector, in insertion order (used to carry unchanged documents over)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def search(index, query: np.ndarray, k: int, params=None) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row ids of the `k` nearest vectors to `query` (FAISS `params`: a selector)."""
    import faiss

    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    # One question is too little work to share: OpenMP's hand-off between threads
    # cost 4-6x in latency on a busy 2-core machine (bench/scale.py). The thread
    # count is per calling thread, so it is put back for the model's sake.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(
            np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k, params=params
        )
    finally:
        faiss.omp_set_num_threads(threads)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
