"""The vector-store contract: what FAISS, Milvus or a third party's store must do.

A store holds one unit vector per chunk, keyed by its document and its number within
that document (0, 1, ...), so that adding or removing one document never renumbers
another's chunks. A document filter runs inside the search: the k nearest are all
from the chosen documents, never k nearest of everything with the others dropped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

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
    # True when the store also ranks chunk texts itself (BM25 inside the engine).
    full_text: bool = False

    @abstractmethod
    def add(self, doc_id: str, vectors: np.ndarray, texts: Sequence[str] | None = None) -> None:
        """Store `doc_id`'s chunk vectors (numbered 0.. in order), replacing any it had.

        `texts` are the chunks' texts, in the same order, for a store that also ranks them
        by keywords itself (`full_text`); others ignore them.
        """

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

    def chunk_vectors(self, doc_ids: Sequence[str], numbers: Sequence[int]) -> np.ndarray:
        """The vectors of chunks (doc_ids[i], numbers[i]), in that order."""
        wanted = list(zip(doc_ids, numbers, strict=True))
        if not wanted:
            return np.zeros((0, self.describe().dimension), dtype=np.float32)
        by_document = {doc_id: self.vectors(doc_id) for doc_id in set(doc_ids)}
        return np.stack([by_document[doc_id][int(number)] for doc_id, number in wanted])

    def search_text(
        self, question: str, k: int, doc_ids: frozenset[str] | None = None
    ) -> VectorHits:
        """The store's own keyword (BM25) search; only where `full_text` is True."""
        raise NotImplementedError(f"vector store {self.name!r} has no full-text search")


class ExternalVectorStore(VectorStore):
    """A store outside the index folder (a database): written before CURRENT flips.

    The folder's generation records where the vectors are (`to_manifest`); a reader
    opens the store from that record with `open`. A writer calls `begin`, adds the
    changed documents, the folder commits, then `after_commit` tidies up.
    """

    @classmethod
    @abstractmethod
    def open(
        cls,
        settings: Any,
        index_folder: Path,
        model: str,
        dimension: int,
        entry: dict[str, Any] | None,
        for_writing: bool = False,
    ) -> ExternalVectorStore:
        """The store the live generation's `entry` names (None: a new one from `settings`)."""

    @abstractmethod
    def same_place(self, entry: dict[str, Any] | None) -> bool:
        """Whether the live generation's `entry` names this very store (else move every vector)."""

    @abstractmethod
    def begin(self, changed: frozenset[str] | None) -> None:
        """Start a new generation in which `changed` documents (None: all) are rewritten."""

    @abstractmethod
    def to_manifest(self) -> dict[str, Any]:
        """What a generation records to find this store again (never a secret)."""

    @abstractmethod
    def after_commit(self) -> None:
        """The new generation is live: drop what it superseded."""
