"""Stage 4: the index on disk, written atomically, one generation at a time.

Layout of the index folder:

    CURRENT           name of the live generation (replaced atomically)
    .lock             held by the one process that may write
    gen-<id>/         one complete index:
        manifest.json     model, dimension, chunker, its segments (and the documents
                          each no longer counts), documents and hashes
        seg-<n>/          a segment: documents, chunks, sentences, vectors, BM25
                          term counts (rag/segments.py)

A writer builds a new generation beside the live one and only then points
CURRENT at it, so a killed ingest leaves the previous index untouched. An
ingest writes one new segment of the documents it added or changed; every
older segment is taken over by hard links to its files, and a removed or
replaced document is only listed as no longer counted. So an update writes
bytes in proportion to its documents, not to the index. Past `MAX_SEGMENTS`
segments, the smaller ones are merged (`IndexData.compacted`), without
embedding or analysing anything again; `rag ingest --rebuild` writes one.

Nothing is parsed per chunk on load, and texts are decoded per document only
when a passage needs them: loading 100k chunks takes about a second
(bench/results/scale.json). Generations written before segments (formats 1
and 2: one segment's files in the generation folder) still read; the next
ingest rewrites them as one segment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag import lexical, vectors
from rag.chunking import ChunkerSettings, chunker_settings
from rag.durable import fsync_tree, write_text_atomically
from rag.errors import REBUILD_HINT, IndexBusyError, IndexMismatchError, IndexMissingError, RagError
from rag.segments import SEGMENT_FILE, DocumentRows, LazyDocuments, Segment
from rag.types import Document
from rag.vector_stores.base import ExternalVectorStore, VectorHits, VectorStore

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.embedding import Embedder

FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)
SEGMENT_PREFIX = "seg-"
# Segments a generation may have before an ingest merges them: each question searches
# every segment, so a few; each merge rewrites the merged ones, so not one.
MAX_SEGMENTS = 8
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
# CURRENT holds one generation's folder name ("gen-<id>"): far less than this.
MAX_POINTER_BYTES = 4096
# A generation's folder as `commit` names it, and its staging folder while written.
GENERATION_NAME = re.compile(r"gen-\d{8}-\d{6}-\d+-\d+|\.gen-\d{8}-\d{6}-\d+-\d+\.tmp")


@dataclass(frozen=True)
class IndexSettings:
    """What an index was built with; an index is only usable with the same values."""

    model: str
    dimension: int
    chunker: ChunkerSettings

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "dimension": self.dimension, "chunker": self.chunker.to_json()}


def index_settings(settings: Settings, embedder: Embedder) -> IndexSettings:
    """What an index must have been built with to serve `settings` with `embedder`
    (any dimension: the model's own, checked when it loads)."""
    return IndexSettings(embedder.label, 0, chunker_settings(settings))


@dataclass(frozen=True)
class _Layout:
    """Where each document, chunk and sentence of the index lies in its segment.

    The index orders documents by id, whatever segment holds them, so that rows
    (and `Passage.chunk_id`) are those of the same documents ingested at once.
    """

    doc_segment: np.ndarray  # int64, the segment of each document
    doc_local: np.ndarray  # int64, its row there
    chunk_counts: np.ndarray  # int64, each document's number of chunks
    chunk_segment: np.ndarray
    chunk_local: np.ndarray
    sentence_counts: np.ndarray
    sentence_segment: np.ndarray
    sentence_local: np.ndarray
    # Per segment: the index row of each of its chunks, -1 for those no longer counted.
    chunk_rows: list[np.ndarray]
    # One segment, wholly counted and in order: the index's arrays are the segment's own.
    identity: bool


@dataclass
class IndexData:
    """Everything one generation holds: its segments, less the documents it no longer counts.

    Retrieval sees one index: documents ordered by id, each document's chunks and
    sentences in one run of rows. Those arrays are built once per loaded generation
    from the segments' (the big ones, sentence vectors and texts, stay memory-mapped
    in their segment and are read through a view).
    """

    settings: IndexSettings
    segments: list[Segment]
    # Per segment: the document rows this generation no longer counts (removed or replaced).
    deleted: list[frozenset[int]] = field(default_factory=list)
    # The vectors live in this store (Milvus), which the manifest names, not in the segments.
    external_store: ExternalVectorStore | None = None
    # The manifest's entry of each document, as read (so writing one needs no text decoded).
    known_entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.deleted:
            self.deleted = [frozenset() for _ in self.segments]

    @classmethod
    def from_rows(
        cls,
        settings: IndexSettings,
        rows: Sequence[DocumentRows],
        choose_spec: Callable[[int], vectors.VectorIndexSpec],
        external_store: ExternalVectorStore | None = None,
    ) -> IndexData:
        """The index of `rows` in one segment; `choose_spec(n_chunks)` picks the FAISS kind.

        With `external_store` (already holding the vectors) no FAISS index is built.
        """
        segment = Segment.from_rows(
            rows, settings.dimension, choose_spec, external=external_store is not None
        )
        return cls(settings, [segment], external_store=external_store)

    # -- the next generation -------------------------------------------------------
    def replaced(
        self,
        settings: IndexSettings,
        new: Segment | None,
        gone: Iterable[str] = (),
        external_store: ExternalVectorStore | None = None,
    ) -> IndexData:
        """This index without the documents `gone` nor those `new` holds anew, plus `new`.

        Older segments are kept as they are; a segment left with nothing is dropped.
        """
        leaving = set(gone) | set(new.doc_ids if new is not None else ())
        segments, deleted = [], []
        for segment, was in zip(self.segments, self.deleted, strict=True):
            now = was | {segment.doc_rows[d] for d in leaving if d in segment.doc_rows}
            if len(now) < len(segment.doc_ids):
                segments.append(segment)
                deleted.append(frozenset(now))
        if new is not None and new.doc_ids:
            segments.append(new)
            deleted.append(frozenset())
        return IndexData(settings, segments, deleted, external_store, self.known_entries)

    def compacted(
        self, choose_spec: Callable[[int], vectors.VectorIndexSpec], limit: int | None = None
    ) -> IndexData:
        """The same index in fewer segments when it has more than `limit` (`MAX_SEGMENTS`).

        The segments beside the largest are merged into one; all of them once those
        hold as many chunks as the largest (so each chunk is merged again only a few
        times, as the index doubles). A segment from before segments is always merged.
        """
        legacy = any(isinstance(s.terms, lexical.LexicalIndex) for s in self.segments)
        if len(self.segments) <= (MAX_SEGMENTS if limit is None else limit) and not legacy:
            return self
        sizes = [int(np.count_nonzero(rows >= 0)) for rows in self._layout.chunk_rows]
        largest = int(np.argmax(sizes))
        others = [s for s in range(len(self.segments)) if s != largest]
        if legacy or sum(sizes[s] for s in others) >= sizes[largest]:
            others = list(range(len(self.segments)))
        return self.merged(others, choose_spec)

    def merged(
        self, which: Sequence[int], choose_spec: Callable[[int], vectors.VectorIndexSpec]
    ) -> IndexData:
        """The same index with segments `which` merged into one: nothing embedded again."""
        counted = [(self.segments[s], self._counted_rows(s)) for s in which]
        parts = [(segment, rows) for segment, rows in counted if rows.size]
        merged = Segment.merged(
            parts,
            self.settings.dimension,
            choose_spec,
            external=self.external_store is not None,
        )
        kept = [s for s in range(len(self.segments)) if s not in set(which)]
        return IndexData(
            self.settings,
            [self.segments[s] for s in kept] + [merged],
            [self.deleted[s] for s in kept] + [frozenset()],
            self.external_store,
            self.known_entries,
        )

    def _counted_rows(self, segment: int) -> np.ndarray:
        gone = self.deleted[segment]
        rows = range(len(self.segments[segment].doc_ids))
        return np.array([row for row in rows if row not in gone], dtype=np.int64)

    def rows(self) -> dict[str, DocumentRows]:
        """Each document's share, by id: what `from_rows` takes back."""
        found: dict[str, DocumentRows] = {}
        for number, segment in enumerate(self.segments):
            for document_rows in segment.rows(self._counted_rows(number)):
                found[document_rows.document.doc_id] = document_rows
        return found

    # -- the index as retrieval sees it ----------------------------------------------
    @cached_property
    def _layout(self) -> _Layout:
        ids: list[str] = []
        owners: list[int] = []
        locals_: list[int] = []
        for number, segment in enumerate(self.segments):
            gone = self.deleted[number]
            for row, doc_id in enumerate(segment.doc_ids):
                if row not in gone:
                    ids.append(doc_id)
                    owners.append(number)
                    locals_.append(row)
        order = sorted(range(len(ids)), key=ids.__getitem__)
        for before, after in zip(order, order[1:], strict=False):
            if ids[before] == ids[after]:
                raise ValueError(f"document {ids[before]!r} is in two segments")
        doc_segment = np.asarray(owners, dtype=np.int64)[order]
        doc_local = np.asarray(locals_, dtype=np.int64)[order]
        chunk_counts, chunk_segment, chunk_local = self._spread(
            "chunk_bounds", doc_segment, doc_local
        )
        sentence_counts, sentence_segment, sentence_local = self._spread(
            "sentence_bounds", doc_segment, doc_local
        )
        chunk_rows = []
        for number, segment in enumerate(self.segments):
            rows = np.full(segment.n_chunks, -1, dtype=np.int64)
            mine = np.flatnonzero(chunk_segment == number)
            rows[chunk_local[mine]] = mine
            chunk_rows.append(rows)
        identity = (
            len(self.segments) == 1 and not self.deleted[0] and order == list(range(len(order)))
        )
        return _Layout(
            doc_segment,
            doc_local,
            chunk_counts,
            chunk_segment,
            chunk_local,
            sentence_counts,
            sentence_segment,
            sentence_local,
            chunk_rows,
            identity,
        )

    def _spread(
        self, bounds: str, doc_segment: np.ndarray, doc_local: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per document its number of rows; per row its segment and its row there."""
        starts = np.zeros(len(doc_segment), dtype=np.int64)
        counts = np.zeros(len(doc_segment), dtype=np.int64)
        for number, segment in enumerate(self.segments):
            mine = doc_segment == number
            segment_bounds = getattr(segment, bounds)
            starts[mine] = segment_bounds[doc_local[mine]]
            counts[mine] = segment_bounds[doc_local[mine] + 1] - starts[mine]
        offsets = np.cumsum(counts) - counts
        local = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(offsets - starts, counts)
        return counts, np.repeat(doc_segment, counts), local

    def _gathered(self, name: str, dtype) -> np.ndarray:
        """The index's array `name` (a chunk's or a sentence's), from every segment's own."""
        layout = self._layout
        if layout.identity:
            return getattr(self.segments[0], name)
        if name.startswith("chunk"):
            owner, local = layout.chunk_segment, layout.chunk_local
        else:
            owner, local = layout.sentence_segment, layout.sentence_local
        out = np.empty(len(owner), dtype=dtype)
        for number, segment in enumerate(self.segments):
            mine = owner == number
            out[mine] = np.asarray(getattr(segment, name))[local[mine]]
        return out

    def _document_of_each(self, kind: str) -> np.ndarray:
        """int32, the document row of each chunk or sentence (`kind`: "chunk", "sentence")."""
        if self._layout.identity:
            return getattr(self.segments[0], f"{kind}_doc")
        counts = getattr(self._layout, f"{kind}_counts")
        return np.repeat(np.arange(len(counts), dtype=np.int32), counts)

    @cached_property
    def chunk_doc(self) -> np.ndarray:
        """int32, the document row of each chunk."""
        return self._document_of_each("chunk")

    @cached_property
    def chunk_start(self) -> np.ndarray:
        return self._gathered("chunk_start", np.int64)

    @cached_property
    def chunk_end(self) -> np.ndarray:
        return self._gathered("chunk_end", np.int64)

    @cached_property
    def chunk_tokens(self) -> np.ndarray:
        return self._gathered("chunk_tokens", np.int32)

    @cached_property
    def sentence_doc(self) -> np.ndarray:
        """int32, the document row of each sentence."""
        return self._document_of_each("sentence")

    @cached_property
    def sentence_start(self) -> np.ndarray:
        return self._gathered("sentence_start", np.int64)

    @cached_property
    def sentence_end(self) -> np.ndarray:
        return self._gathered("sentence_end", np.int64)

    @cached_property
    def sentence_vectors(self) -> np.ndarray | SegmentedRows:
        """float32 (n_sentences, dimension); slices within one document read no other."""
        layout = self._layout
        if layout.identity:
            return self.segments[0].sentence_vectors
        return SegmentedRows(
            [segment.sentence_vectors for segment in self.segments],
            layout.sentence_segment,
            layout.sentence_local,
            self.settings.dimension,
        )

    @cached_property
    def documents(self) -> Sequence[Document]:
        layout = self._layout
        if layout.identity:
            return self.segments[0].documents
        return SegmentedDocuments(self.segments, layout.doc_segment, layout.doc_local)

    def _per_document(self, values: Callable[[Segment], Sequence[Any]]) -> list[Any]:
        layout = self._layout
        if layout.identity:
            return list(values(self.segments[0]))
        columns = [values(segment) for segment in self.segments]
        return [
            columns[owner][row]
            for owner, row in zip(
                layout.doc_segment.tolist(), layout.doc_local.tolist(), strict=True
            )
        ]

    @cached_property
    def doc_ids(self) -> list[str]:
        return self._per_document(lambda segment: segment.doc_ids)

    @cached_property
    def hashes(self) -> list[str]:
        return self._per_document(lambda segment: segment.hashes)

    def sources(self) -> list[str]:
        """Each document's source, without decoding any text."""
        return self._per_document(lambda segment: segment.sources())

    def text_sizes(self) -> list[int]:
        """Each document's text size in UTF-8 bytes, without decoding any text."""
        return self._per_document(lambda segment: segment.text_sizes())

    @cached_property
    def chunk_bm25(self) -> lexical.BM25Scores:
        """BM25 over every counted chunk, scored with the statistics of all of them."""
        terms = [segment.terms for segment in self.segments]
        if self._layout.identity and isinstance(terms[0], lexical.LexicalIndex):
            return terms[0]
        parts = []
        for counts, rows in zip(terms, self._layout.chunk_rows, strict=True):
            if not isinstance(counts, lexical.TermCounts):
                raise ValueError("an index from before segments cannot be combined; merge it")
            parts.append((counts, rows))
        return lexical.SegmentedBM25(parts, self.n_chunks)

    @property
    def vector_spec(self) -> vectors.VectorIndexSpec:
        """The FAISS kind of the largest segment (the one most searches go through)."""
        if not self.segments:
            return vectors.VectorIndexSpec()
        return max(self.segments, key=lambda segment: segment.n_chunks).vector_spec

    def manifest_entry_of_store(self) -> dict[str, Any]:
        """Where this generation's vectors live, as its manifest records it."""
        if self.external_store is None:
            return {"kind": "faiss"}
        return self.external_store.to_manifest()

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_doc)

    @cached_property
    def chunk_bounds(self) -> np.ndarray:
        """Document row d's chunks are rows chunk_bounds[d] to chunk_bounds[d + 1]."""
        return np.searchsorted(self.chunk_doc, np.arange(len(self.doc_ids) + 1))

    @cached_property
    def vector_store(self) -> VectorStore:
        """The chunk vectors behind the vector-store contract (searches with a document filter)."""
        if self.external_store is not None:
            return self.external_store
        from rag.vector_stores.faiss_store import FaissPart, FaissVectorStore

        parts = [
            FaissPart(segment.vector_index, segment.vector_spec, rows)
            for segment, rows in zip(self.segments, self._layout.chunk_rows, strict=True)
        ]
        return FaissVectorStore.of_parts(
            parts, self.doc_ids, self.chunk_doc, model=self.settings.model
        )

    def chunk_rows(self, hits: VectorHits) -> np.ndarray:
        """The chunk rows of a store's hits; a hit of no chunk of the index is the store's
        error, named (a number past its document's last chunk would be another's)."""
        doc_rows = self.doc_rows
        rows = [doc_rows.get(doc_id, -1) for doc_id in hits.doc_ids]
        numbers = np.asarray(hits.numbers, dtype=np.int64)
        if rows:
            found = np.asarray(rows, dtype=np.int64)
            counts = self.chunk_bounds[found + 1] - self.chunk_bounds[found]
            bad = np.flatnonzero((found < 0) | (numbers < 0) | (numbers >= counts))
            if len(bad):
                at = int(bad[0])
                raise RagError(
                    f"Vector store {self.vector_store.name!r} returned chunk {int(numbers[at])} "
                    f"of document {hits.doc_ids[at]!r}, which this index does not hold; "
                    f"its vectors and the index disagree. {REBUILD_HINT}"
                )
        firsts = self.chunk_bounds[rows] if rows else np.zeros(0, dtype=np.int64)
        return firsts.astype(np.int64) + numbers

    def chunk_mask(self, doc_ids: frozenset[str]) -> np.ndarray:
        """1.0 for the chunks of `doc_ids`, 0.0 for every other (bm25s's `weight_mask`)."""
        mask = np.zeros(self.n_chunks, dtype=np.float32)
        bounds = self.chunk_bounds
        for doc_id in doc_ids:
            row = self.doc_rows.get(doc_id)
            if row is not None:
                mask[bounds[row] : bounds[row + 1]] = 1.0
        return mask

    @cached_property
    def doc_rows(self) -> dict[str, int]:
        return {doc_id: row for row, doc_id in enumerate(self.doc_ids)}

    def chunk_text(self, row: int) -> str:
        document = self.documents[int(self.chunk_doc[row])]
        return document.text[int(self.chunk_start[row]) : int(self.chunk_end[row])]

    def sentence_rows(self, chunk_row: int) -> range:
        """Rows of the sentences that overlap chunk `chunk_row`."""
        doc = self.chunk_doc[chunk_row]
        # Sentences are stored grouped by document and sorted by start.
        first = int(np.searchsorted(self.sentence_doc, doc, side="left"))
        last = int(np.searchsorted(self.sentence_doc, doc, side="right"))
        starts = self.sentence_start[first:last]
        ends = self.sentence_end[first:last]
        # Overlapping, not contained: a chunk cut inside a long sentence still owns it.
        lo = first + int(np.searchsorted(ends, self.chunk_start[chunk_row], side="right"))
        hi = first + int(np.searchsorted(starts, self.chunk_end[chunk_row], side="left"))
        return range(lo, max(lo, hi))

    def chunks_per_document(self) -> np.ndarray:
        return np.bincount(self.chunk_doc, minlength=len(self.doc_ids))

    def manifest(self) -> dict[str, Any]:
        counts = self.chunks_per_document()
        documents = {}
        for row, (doc_id, digest) in enumerate(zip(self.doc_ids, self.hashes, strict=True)):
            known = self.known_entries.get(doc_id)
            if known is None or known.get("sha256") != digest:
                # Only a document new to this index is decoded, for its length.
                document = self.documents[row]
                known = {
                    "title": document.title,
                    "source": document.source,
                    "sha256": digest,
                    "characters": len(document.text),
                }
            documents[doc_id] = {**known, "chunks": int(counts[row])}
        return {
            "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self.settings.to_json(),
            "vector_index": self.vector_spec.to_json(),
            "vector_store": self.manifest_entry_of_store(),
            "n_chunks": self.n_chunks,
            "n_sentences": int(len(self.sentence_doc)),
            "segments": [
                {
                    "name": segment.name,
                    "documents": len(segment.doc_ids) - len(gone),
                    "deleted": sorted(segment.doc_ids[row] for row in gone),
                }
                for segment, gone in zip(self.segments, self.deleted, strict=True)
            ],
            "documents": documents,
        }


class SegmentedRows:
    """Rows of several segments' arrays in the index's order (sentence vectors).

    A slice within one document (what a passage reads) is a view of its segment's
    memory-mapped array; anything else is gathered.
    """

    def __init__(
        self, arrays: list[np.ndarray], owner: np.ndarray, local: np.ndarray, width: int
    ) -> None:
        self._arrays = arrays
        self._owner = owner
        self._local = local
        self.shape = (len(owner), width)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._arrays[int(self._owner[key])][int(self._local[key])]
        owner, local = self._owner[key], self._local[key]
        if not len(owner):
            return np.zeros((0, self.shape[1]), dtype=np.float32)
        if isinstance(key, slice) and np.all(owner == owner[0]) and np.all(np.diff(local) == 1):
            return self._arrays[int(owner[0])][int(local[0]) : int(local[-1]) + 1]
        out = np.empty((len(owner), self.shape[1]), dtype=np.float32)
        for number, array in enumerate(self._arrays):
            mine = owner == number
            if mine.any():
                out[mine] = array[local[mine]]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


class SegmentedDocuments(LazyDocuments):
    """The index's documents in its order, each read from its segment when asked for."""

    def __init__(self, segments: list[Segment], owner: np.ndarray, local: np.ndarray) -> None:
        self._segments = segments
        self._owner = owner
        self._local = local

    def __len__(self) -> int:
        return len(self._owner)

    def _document(self, row: int) -> Document:
        return self._segments[int(self._owner[row])].documents[int(self._local[row])]


class IndexStore:
    """One index folder: find, check, read and atomically replace its live generation."""

    def __init__(self, folder: Path, settings: Any = None) -> None:
        self.folder = Path(folder)
        self._pointer_file = os.fspath(self.folder / CURRENT_FILE)
        # rag.config.Settings: how to reach an external vector store (its token's variable).
        self.settings = settings

    # -- reading ------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.folder / CURRENT_FILE).is_file()

    def pointer(self) -> str:
        """The name CURRENT holds, as written ("" if it cannot be read): one read, no check.

        What a reader compares with the generation it holds before each question (a
        warm question costs a few milliseconds); a new name is checked by
        `current_generation`.
        """
        try:
            handle = os.open(self._pointer_file, os.O_RDONLY)
            try:
                return os.read(handle, MAX_POINTER_BYTES).decode("utf-8").strip()
            finally:
                os.close(handle)
        except (OSError, UnicodeDecodeError):
            return ""

    def current_generation(self) -> Path:
        pointer = self.folder / CURRENT_FILE
        if not pointer.is_file():
            raise IndexMissingError(
                f"There is no index in {self.folder}. Build one with `rag ingest [PATH ...]`."
            )
        name = pointer.read_text(encoding="utf-8").strip()
        generation = self.folder / name
        if not name or not (generation / MANIFEST_FILE).is_file():
            raise RagError(
                f"The index in {self.folder} is damaged: {CURRENT_FILE} names {name!r}, "
                f"which holds no manifest. {REBUILD_HINT}"
            )
        return generation

    def read_manifest(self, generation: Path | None = None) -> dict[str, Any]:
        """The manifest of `generation` (default: the live one)."""
        path = (generation or self.current_generation()) / MANIFEST_FILE
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RagError(
                f"The index manifest {path} is damaged ({error}). {REBUILD_HINT}"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise IndexMismatchError(
                f"The index in {self.folder} has format {found!r}; this version reads format "
                f"{FORMAT_VERSION}. {REBUILD_HINT}"
            )
        return manifest

    def check_compatible(self, manifest: dict[str, Any], wanted: IndexSettings) -> None:
        """Raise IndexMismatchError if the index was built with other settings than `wanted`."""
        built = {
            "model": manifest.get("model"),
            "dimension": manifest.get("dimension"),
            "chunker": manifest.get("chunker"),
        }
        differences = [
            f"{key}: index has {built[key]!r}, settings ask for {value!r}"
            for key, value in wanted.to_json().items()
            if key != "dimension" and built[key] != value
        ]
        if differences:
            raise IndexMismatchError(
                f"The index in {self.folder} was built with other settings ("
                + "; ".join(differences)
                + f"). {REBUILD_HINT} Or change the settings back."
            )

    def load(self, wanted: IndexSettings | None = None) -> IndexData:
        """The live generation, checked against `wanted` settings when given."""
        # One read of CURRENT, so the manifest checked and the files read are one generation.
        generation = self.current_generation()
        manifest = self.read_manifest(generation)
        if wanted is not None:
            self.check_compatible(manifest, wanted)
        try:
            data = _read_generation(generation, manifest)
        # TypeError and the like: a file of the right name and format but the wrong shape
        # (a list where a table was written), which is damage as much as a truncated one.
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            json.JSONDecodeError,
        ) as error:
            raise RagError(
                f"The index in {generation} is damaged or incomplete ({error}). {REBUILD_HINT}"
            ) from None
        if manifest.get("vector_store", {"kind": "faiss"}).get("kind") != "faiss":
            # The vectors live outside the folder, where the manifest says.
            store = self._open_external(manifest)
            held = store.count()
            if held != data.n_chunks:
                # A store restored from an older state, or emptied, would answer "the
                # documents do not say" to everything while `rag docs` lists them all.
                raise RagError(
                    f"Vector store {store.name!r} holds {held} vectors of this index's "
                    f"{data.n_chunks} chunks ({store.describe().where}): it was emptied or "
                    f"restored from an older state. {REBUILD_HINT}"
                )
            data.external_store = store
        return data

    def _open_external(self, manifest: dict[str, Any]) -> ExternalVectorStore:
        from rag.config import Settings
        from rag.vector_stores import open_external

        return open_external(
            self.settings or Settings(index_dir=self.folder),
            self.folder,
            manifest["model"],
            manifest["dimension"],
            manifest["vector_store"],
        )

    # -- writing ------------------------------------------------------------------
    @contextmanager
    def lock(self, timeout: float = 0) -> Iterator[None]:
        """Hold the writer's lock; a second writer waits `timeout` s, then gets a clear error.

        A folder where no lock file can be made is said as such at once (it is not
        "another writer"), and a writer that waits says so on stderr, with the pid
        of the one it waits for, rather than waiting in silence.
        """
        from filelock import FileLock, Timeout

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        try:
            # filelock retries an open that fails until the timeout, as if the lock were
            # held: try it once ourselves so that the OS error is the one reported.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
        except OSError as error:
            raise RagError(
                f"Cannot create the index's lock file in {self.folder} "
                f"({error.strerror or error}); choose an index folder you can write "
                "(--index DIR or index_dir in rag.toml)."
            ) from None
        lock = FileLock(str(path))
        owner = path.with_name(LOCK_FILE + ".pid")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            holder = _lock_holder(owner)
            if timeout <= 0:
                raise IndexBusyError(
                    f"The index in {self.folder} is locked by another writer{holder}; "
                    "wait for it to finish and try again (`rag ingest --wait SECONDS` "
                    "waits for you)."
                ) from None
            print(
                f"Waiting up to {timeout:g} s for another writer{holder} to finish with "
                f"the index in {self.folder}…",
                file=sys.stderr,
                flush=True,
            )
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise IndexBusyError(
                    f"The index in {self.folder} is still locked by another writer"
                    f"{_lock_holder(owner)} after {timeout:g} s; try again when it is done."
                ) from None
        try:
            write_text_atomically(owner, str(os.getpid()))
            yield
        finally:
            owner.unlink(missing_ok=True)
            lock.release()

    def commit(self, data: IndexData) -> Path:
        """Write `data` as a new generation and make it live; old generations are removed.

        Segments `data` took over from the live generation are linked, not copied.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        staging = self.folder / f".{name}.tmp"
        staging.mkdir()
        try:
            written = _write_generation(staging, data)
            # Linked files are already on disk: only what was written or copied, and the
            # folders, are flushed.
            fsync_tree(staging, files=written)
        except BaseException:
            # A disk full or an interrupt: the live generation stays, and no half one is kept.
            shutil.rmtree(staging, ignore_errors=True)
            raise
        final = self.folder / name
        os.rename(staging, final)
        for segment in data.segments:
            if segment.folder is not None and segment.folder.parent == staging:
                segment.folder = final / segment.folder.name
        write_text_atomically(self.folder / CURRENT_FILE, name)
        self._remove_stale(keep=name)
        return final

    def _remove_stale(self, keep: str) -> None:
        # Readers that loaded an older generation keep their memory maps: unlinking is safe.
        # Only folders named exactly as this class names them go: the index folder may be
        # one the user keeps other things in (`--index .`), and "gen-ai-notes" is theirs.
        for entry in self.folder.iterdir():
            if entry.is_dir() and GENERATION_NAME.fullmatch(entry.name) and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)


def _lock_holder(owner: Path) -> str:
    """ " (pid N)" for the writer that recorded its pid when it took the lock, else ""."""
    try:
        pid = int(owner.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return ""
    return f" (pid {pid})"


def _write_generation(folder: Path, data: IndexData) -> list[Path]:
    """Write `data` into the new generation folder `folder`; the files written or copied.

    A segment already on disk is taken over by hard links to its files (no byte copied,
    the inode shared by both generations until the older is removed); a new one is written.
    """
    numbers = [
        int(segment.name[len(SEGMENT_PREFIX) :])
        for segment in data.segments
        if segment.name is not None and segment.name.startswith(SEGMENT_PREFIX)
    ]
    next_number = max(numbers, default=0) + 1
    written: list[Path] = []
    for segment in data.segments:
        if segment.folder is not None and (segment.folder / SEGMENT_FILE).is_file():
            written += _link_tree(segment.folder, folder / segment.folder.name)
            continue
        if segment.folder is not None:
            raise ValueError(f"{segment.folder} is from before segments; merge it first")
        written += segment.write(folder / f"{SEGMENT_PREFIX}{next_number:06d}")
        next_number += 1
    # The manifest goes last: a generation with a manifest is a complete one.
    manifest = folder / MANIFEST_FILE
    manifest.write_text(json.dumps(data.manifest(), indent=2), encoding="utf-8")
    return [*written, manifest]


def _link_tree(source: Path, target: Path) -> list[Path]:
    """`target` holding hard links to every file under `source` (copies where links fail).

    Returns the copies: unlike links, their bytes are new and must be flushed.
    """
    target.mkdir()
    copies: list[Path] = []
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir()
            continue
        try:
            os.link(path, destination)
        except OSError:  # a file system without hard links: copying is still correct
            shutil.copyfile(path, destination)
            copies.append(destination)
    return copies


def _read_generation(folder: Path, manifest: dict[str, Any]) -> IndexData:
    """The generation's segments; their vectors are None when an external store holds them."""
    store_kind = manifest.get("vector_store", {"kind": "faiss"}).get("kind")
    with_vectors = store_kind == "faiss"
    entries = manifest.get("segments")
    if entries is None:
        # Written before segments: the generation's own files are its one segment.
        segments = [Segment.read(folder, manifest["vector_index"], with_vectors)]
        deleted = [frozenset[int]()]
    else:
        segments, deleted = [], []
        for entry in entries:
            name = str(entry["name"])
            if not name.startswith(SEGMENT_PREFIX) or Path(name).name != name:
                raise ValueError(f"the manifest names a segment {name!r}")
            segment = Segment.read(folder / name, None, with_vectors)
            segments.append(segment)
            deleted.append(frozenset(segment.doc_rows[doc_id] for doc_id in entry["deleted"]))
    settings = IndexSettings(
        manifest["model"], manifest["dimension"], ChunkerSettings(**manifest["chunker"])
    )
    data = IndexData(settings, segments, deleted, known_entries=manifest["documents"])
    if len(data.doc_ids) != len(manifest["documents"]) or set(manifest["documents"]) != set(
        data.doc_ids
    ):
        raise ValueError("the manifest and the document table list different documents")
    if manifest["n_chunks"] != data.n_chunks:
        raise ValueError(f"{data.n_chunks} chunks, the manifest says {manifest['n_chunks']}")
    for segment in segments:
        # A vectors.faiss from another index still reads; searching it would fail an assertion.
        if segment.vector_index is not None and segment.vector_index.d != manifest["dimension"]:
            raise ValueError(
                f"its vectors have {segment.vector_index.d} dimensions, "
                f"its manifest says {manifest['dimension']}"
            )
    return data
