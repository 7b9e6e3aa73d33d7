"""The vector-store contract: what FAISS, Milvus or a third party's store must do.

A store holds one unit vector per chunk, keyed by its document and its number within
that document (0, 1, ...), so that adding or removing one document never renumbers
another's chunks. A document filter runs inside the search: the k nearest are all
from the chosen documents, never k nearest of everything with the others dropped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class VectorHits:
    """Nearest chunks to a question, best first."""

    doc_ids: tuple[str, ...]
    numbers: np.ndarray  # int64, each chunk's number within its document
    scores: np.ndarray  # float32, inner product (cosine: vectors are unit length)

    def __len__(self) -> int:
        return len(self.doc_ids)


@dataclass(frozen=True)
class StoreDescription:
    """What `rag config` and a mismatch check show of a store."""

    kind: str  # the registered name, e.g. "faiss"
    where: str  # a folder, a file or a URI
    model: str
    dimension: int
    count: int
    # Where BM25 runs: "local" (bm25s over the chunk texts) or the engine's own.
    full_text: str = "local"


class VectorStore(ABC):
    """Chunk vectors of one index: add, delete by document, search, count, describe."""

    # The name it is registered under in the `rag.vector_stores` entry-point group.
    name: ClassVar[str]

    @abstractmethod
    def add(self, doc_id: str, vectors: np.ndarray) -> None:
        """Store `doc_id`'s chunk vectors (numbered 0.. in order), replacing any it had."""

    @abstractmethod
    def delete(self, doc_ids: Iterable[str]) -> None:
        """Remove every vector of these documents; unknown ids are ignored."""

    @abstractmethod
    def vectors(self, doc_id: str) -> np.ndarray:
        """`doc_id`'s chunk vectors in number order ((0, dimension) if it has none)."""

    @abstractmethod
    def search(
        self, vector: np.ndarray, k: int, doc_ids: frozenset[str] | None = None
    ) -> VectorHits:
        """The `k` chunks nearest to `vector`, only among `doc_ids` when given."""

    @abstractmethod
    def count(self) -> int:
        """Vectors stored."""

    @abstractmethod
    def describe(self) -> StoreDescription:
        """Kind, location, model and dimension, and the number of vectors."""
