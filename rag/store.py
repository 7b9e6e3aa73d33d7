"""Stage 4: the index on disk, written atomically, one generation at a time.

Layout of the index folder:

    CURRENT           name of the live generation (replaced atomically)
    .lock             held by the one process that may write
    gen-<id>/         one complete index:
        manifest.json     model, dimension, chunker, vector index, documents and hashes
        documents.json    per document, in columns: id, title, source, pages, hash
        texts.bin         every document's text, UTF-8, one after another ...
        text_offsets.npy  ... starting at these byte offsets (memory-mapped on load)
        chunks.npz        per chunk: document row, start, end, token count
        sentences.npz     per sentence: document row, start, end
        sentence_vectors.npy
        vectors.faiss     chunk vectors
        bm25-chunks/

A writer builds a new generation beside the live one and only then points
CURRENT at it, so a killed ingest leaves the previous index untouched.

Nothing is parsed per chunk on load, and texts are decoded per document only
when a passage needs them: loading 100k chunks takes about a second
(bench/results/scale.json). Format 1 kept every text in documents.jsonl; it
still reads.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag import lexical, vectors
from rag.chunking import ChunkerSettings
from rag.durable import fsync_tree, write_text_atomically
from rag.errors import REBUILD_HINT, IndexBusyError, IndexMismatchError, IndexMissingError, RagError
from rag.types import Document
from rag.vector_stores.base import ExternalVectorStore, VectorHits, VectorStore

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
# Documents kept decoded after a query used them; a query touches at most top_k.
DECODED_DOCUMENTS = 256
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class IndexSettings:
    """What an index was built with; an index is only usable with the same values."""

    model: str
    dimension: int
    chunker: ChunkerSettings

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "dimension": self.dimension, "chunker": self.chunker.to_json()}


@dataclass
class DocumentRows:
    """One document's share of the index: its spans and their vectors."""

    document: Document
    digest: str
    chunk_spans: np.ndarray  # (n, 2) int64
    chunk_tokens: np.ndarray  # (n,) int32
    chunk_vectors: np.ndarray | None  # (n, dim); None: kept in the external store
    sentence_spans: np.ndarray  # (m, 2) int64
    sentence_vectors: np.ndarray  # (m, dim)


@dataclass
class IndexData:
    """Everything one generation holds, in memory (arrays may be memory-mapped)."""

    settings: IndexSettings
    vector_spec: vectors.VectorIndexSpec
    documents: Sequence[Document]  # a list, or a DocumentTable read from disk
    hashes: list[str]
    chunk_doc: np.ndarray  # int32, document row of each chunk
    chunk_start: np.ndarray  # int64
    chunk_end: np.ndarray  # int64
    chunk_tokens: np.ndarray  # int32
    sentence_doc: np.ndarray  # int32
    sentence_start: np.ndarray  # int64
    sentence_end: np.ndarray  # int64
    sentence_vectors: np.ndarray  # float32 (n_sentences, dimension)
    vector_index: Any  # faiss index over chunk vectors; None when they live elsewhere ...
    chunk_bm25: lexical.LexicalIndex
    # ... in this store (Milvus), which the manifest names.
    external_store: ExternalVectorStore | None = None

    @classmethod
    def from_rows(
        cls,
        settings: IndexSettings,
        rows: Sequence[DocumentRows],
        choose_spec: Callable[[int], vectors.VectorIndexSpec],
        external_store: ExternalVectorStore | None = None,
    ) -> IndexData:
        """The index of `rows` (kept in their order); `choose_spec(n_chunks)` picks the FAISS kind.

        With `external_store` (already holding the vectors) no FAISS index is built.
        """
        from rag.text import analyze_many

        dimension = settings.dimension

        def stacked(attribute: str, width: int, dtype) -> np.ndarray:
            arrays = [getattr(r, attribute) for r in rows]
            if not arrays:
                return np.zeros((0, width), dtype=dtype)
            return np.concatenate(arrays).astype(dtype).reshape(-1, width)

        def doc_of_each(attribute: str) -> np.ndarray:
            counts = [len(getattr(r, attribute)) for r in rows]
            return np.repeat(np.arange(len(rows), dtype=np.int32), counts)

        documents = [r.document for r in rows]
        chunk_doc = doc_of_each("chunk_spans")
        chunk_spans = stacked("chunk_spans", 2, np.int64)
        sentence_spans = stacked("sentence_spans", 2, np.int64)
        n_chunks = len(chunk_doc)
        if external_store is None:
            spec = choose_spec(n_chunks)
            vector_index = vectors.build(stacked("chunk_vectors", dimension, np.float32), spec)
        else:
            spec, vector_index = vectors.VectorIndexSpec(), None
        chunk_texts = [
            documents[d].text[s:e] for d, (s, e) in zip(chunk_doc, chunk_spans, strict=True)
        ]
        return cls(
            settings=settings,
            vector_spec=spec,
            documents=documents,
            hashes=[r.digest for r in rows],
            chunk_doc=chunk_doc,
            chunk_start=chunk_spans[:, 0],
            chunk_end=chunk_spans[:, 1],
            chunk_tokens=stacked("chunk_tokens", 1, np.int32).reshape(-1),
            sentence_doc=doc_of_each("sentence_spans"),
            sentence_start=sentence_spans[:, 0],
            sentence_end=sentence_spans[:, 1],
            sentence_vectors=stacked("sentence_vectors", dimension, np.float32),
            vector_index=vector_index,
            chunk_bm25=lexical.LexicalIndex.build(analyze_many(chunk_texts)),
            external_store=external_store,
        )

    def rows(self) -> dict[str, DocumentRows]:
        """Each document's share, by id: what `from_rows` takes back (unchanged ones carry over)."""
        # An external store keeps its vectors: rows carry none (None), and only changed
        # documents are written to it again.
        chunk_vectors = (
            None if self.vector_index is None else vectors.all_vectors(self.vector_index)
        )
        # Rows are stored grouped by document, so each document's share is one slice:
        # one binary search per document instead of a mask over every chunk.
        chunk_bounds = self.chunk_bounds
        sentence_bounds = np.searchsorted(self.sentence_doc, np.arange(len(self.documents) + 1))
        rows: dict[str, DocumentRows] = {}
        for row, document in enumerate(self.documents):
            chunks = slice(chunk_bounds[row], chunk_bounds[row + 1])
            sentences = slice(sentence_bounds[row], sentence_bounds[row + 1])
            rows[document.doc_id] = DocumentRows(
                document=document,
                digest=self.hashes[row],
                chunk_spans=np.stack([self.chunk_start[chunks], self.chunk_end[chunks]], 1),
                chunk_tokens=np.asarray(self.chunk_tokens[chunks]),
                chunk_vectors=None if chunk_vectors is None else chunk_vectors[chunks],
                sentence_spans=np.stack(
                    [self.sentence_start[sentences], self.sentence_end[sentences]], 1
                ),
                sentence_vectors=np.asarray(self.sentence_vectors[sentences]),
            )
        return rows

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
        return np.searchsorted(self.chunk_doc, np.arange(len(self.documents) + 1))

    @cached_property
    def vector_store(self) -> VectorStore:
        """The chunk vectors behind the vector-store contract (searches with a document filter)."""
        if self.external_store is not None:
            return self.external_store
        from rag.vector_stores.faiss_store import FaissVectorStore

        return FaissVectorStore(
            self.vector_index,
            self.doc_ids,
            self.chunk_doc,
            model=self.settings.model,
            spec=self.vector_spec,
        )

    def chunk_rows(self, hits: VectorHits) -> np.ndarray:
        """The chunk rows of a store's hits."""
        firsts = [self.chunk_bounds[self.doc_rows[doc_id]] for doc_id in hits.doc_ids]
        return np.asarray(firsts, dtype=np.int64).reshape(-1) + hits.numbers

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
    def doc_ids(self) -> list[str]:
        if isinstance(self.documents, DocumentTable):
            return self.documents.doc_ids
        return [document.doc_id for document in self.documents]

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
        return np.bincount(self.chunk_doc, minlength=len(self.documents))

    def manifest(self) -> dict[str, Any]:
        counts = self.chunks_per_document()
        return {
            "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self.settings.to_json(),
            "vector_index": self.vector_spec.to_json(),
            "vector_store": self.manifest_entry_of_store(),
            "n_chunks": self.n_chunks,
            "n_sentences": int(len(self.sentence_doc)),
            "documents": {
                document.doc_id: {
                    "title": document.title,
                    "source": document.source,
                    "sha256": digest,
                    "chunks": int(counts[row]),
                    "characters": len(document.text),
                }
                for row, (document, digest) in enumerate(
                    zip(self.documents, self.hashes, strict=True)
                )
            },
        }


class DocumentTable(Sequence[Document]):
    """The indexed documents, each decoded from the memory-mapped texts when asked for."""

    def __init__(
        self,
        columns: dict[str, list[Any]],
        texts: np.ndarray,  # uint8, every text's UTF-8 bytes
        offsets: np.ndarray,  # int64, len(documents) + 1 byte offsets into `texts`
    ) -> None:
        self.doc_ids: list[str] = columns["doc_id"]
        self._titles: list[str] = columns["title"]
        self._sources: list[str] = columns["source"]
        self._page_starts: list[list[int]] = columns["page_starts"]
        # Indexes written before slides and sheets had names have no such column.
        columns.setdefault("page_names", [[] for _ in self.doc_ids])
        self._page_names: list[list[str]] = columns["page_names"]
        self._texts = texts
        self._offsets = offsets
        self._decoded = lru_cache(maxsize=DECODED_DOCUMENTS)(self._decode)
        lengths = {len(column) for column in columns.values()}
        if lengths != {len(offsets) - 1} or (len(offsets) and offsets[-1] != len(texts)):
            raise ValueError("documents.json, text_offsets.npy and texts.bin do not agree")

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __getitem__(self, row):  # type: ignore[override]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"document row {row} out of range")
        return self._decoded(row)

    def _decode(self, row: int) -> Document:
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        text = self._texts[start:end].tobytes().decode("utf-8", "surrogatepass")
        return Document(
            self.doc_ids[row],
            self._titles[row],
            text,
            self._sources[row],
            tuple(self._page_starts[row]),
            tuple(self._page_names[row]),
        )


class IndexStore:
    """One index folder: find, check, read and atomically replace its live generation."""

    def __init__(self, folder: Path, settings: Any = None) -> None:
        self.folder = Path(folder)
        # rag.config.Settings: how to reach an external vector store (its token's variable).
        self.settings = settings

    # -- reading ------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.folder / CURRENT_FILE).is_file()

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
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise RagError(
                f"The index in {generation} is damaged or incomplete ({error}). {REBUILD_HINT}"
            ) from None
        if data.vector_index is None:
            # The vectors live outside the folder, where the manifest says.
            data.external_store = self._open_external(manifest)
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
        """Write `data` as a new generation and make it live; old generations are removed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        staging = self.folder / f".{name}.tmp"
        staging.mkdir()
        _write_generation(staging, data)
        fsync_tree(staging)
        final = self.folder / name
        os.rename(staging, final)
        write_text_atomically(self.folder / CURRENT_FILE, name)
        self._remove_stale(keep=name)
        return final

    def _remove_stale(self, keep: str) -> None:
        # Readers that loaded an older generation keep their memory maps: unlinking is safe.
        for entry in self.folder.iterdir():
            is_generation = entry.name.startswith("gen-") or entry.name.startswith(".gen-")
            if entry.is_dir() and is_generation and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)


def _lock_holder(owner: Path) -> str:
    """ " (pid N)" for the writer that recorded its pid when it took the lock, else ""."""
    try:
        pid = int(owner.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return ""
    return f" (pid {pid})"


def _write_generation(folder: Path, data: IndexData) -> None:
    documents = list(data.documents)
    columns = {
        "doc_id": [document.doc_id for document in documents],
        "title": [document.title for document in documents],
        "source": [document.source for document in documents],
        "page_starts": [list(document.page_starts) for document in documents],
        "page_names": [list(document.page_names) for document in documents],
        "sha256": list(data.hashes),
    }
    (folder / "documents.json").write_text(
        json.dumps(columns, ensure_ascii=False), encoding="utf-8"
    )
    offsets = np.zeros(len(documents) + 1, dtype=np.int64)
    with open(folder / "texts.bin", "wb") as out:
        for row, document in enumerate(documents):
            encoded = document.text.encode("utf-8", "surrogatepass")
            out.write(encoded)
            offsets[row + 1] = offsets[row] + len(encoded)
    np.save(folder / "text_offsets.npy", offsets)
    np.savez(
        folder / "chunks.npz",
        doc=data.chunk_doc,
        start=data.chunk_start,
        end=data.chunk_end,
        tokens=data.chunk_tokens,
    )
    np.savez(
        folder / "sentences.npz",
        doc=data.sentence_doc,
        start=data.sentence_start,
        end=data.sentence_end,
    )
    np.save(folder / "sentence_vectors.npy", data.sentence_vectors)
    if data.vector_index is not None:
        vectors.save(data.vector_index, folder / "vectors.faiss")
    data.chunk_bm25.save(folder / "bm25-chunks")
    # The manifest goes last: a generation with a manifest is a complete one.
    (folder / MANIFEST_FILE).write_text(json.dumps(data.manifest(), indent=2), encoding="utf-8")


def _read_documents(folder: Path) -> tuple[Sequence[Document], list[str]]:
    """The documents and their hashes, texts left on disk until a passage needs one."""
    if not (folder / "documents.json").is_file() and (folder / "documents.jsonl").is_file():
        return _read_documents_v1(folder)
    columns = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
    offsets = np.load(folder / "text_offsets.npy")
    texts_path = folder / "texts.bin"
    # An empty file cannot be memory-mapped.
    texts = (
        np.memmap(texts_path, dtype=np.uint8, mode="r")
        if texts_path.stat().st_size
        else np.zeros(0, dtype=np.uint8)
    )
    return DocumentTable(columns, texts, offsets), columns["sha256"]


def _read_documents_v1(folder: Path) -> tuple[list[Document], list[str]]:
    documents: list[Document] = []
    hashes: list[str] = []
    with open(folder / "documents.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            documents.append(
                Document(
                    record["doc_id"],
                    record["title"],
                    record["text"],
                    record["source"],
                    tuple(record["page_starts"]),
                )
            )
            hashes.append(record["sha256"])
    return documents, hashes


def _read_generation(folder: Path, manifest: dict[str, Any]) -> IndexData:
    """The generation's files; `vector_index` is None when an external store holds the vectors."""
    documents, hashes = _read_documents(folder)
    if isinstance(documents, DocumentTable):
        doc_ids = documents.doc_ids
    else:
        doc_ids = [document.doc_id for document in documents]
    if len(hashes) != len(doc_ids) or set(manifest["documents"]) != set(doc_ids):
        raise ValueError("the manifest and the document table list different documents")
    chunks = np.load(folder / "chunks.npz")
    sentences = np.load(folder / "sentences.npz")
    spec_json = manifest["vector_index"]
    spec = vectors.VectorIndexSpec.from_json(spec_json)
    chunk_doc = chunks["doc"]
    store_kind = manifest.get("vector_store", {"kind": "faiss"}).get("kind")
    vector_index = (
        None if store_kind != "faiss" else _read_vectors(folder, manifest, spec, chunk_doc)
    )
    sentence_vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r")
    sentence_doc = sentences["doc"]
    if len(sentence_vectors) != len(sentence_doc):
        raise ValueError("sentence vectors and sentences differ in number")
    settings = IndexSettings(
        manifest["model"], manifest["dimension"], ChunkerSettings(**manifest["chunker"])
    )
    return IndexData(
        settings=settings,
        vector_spec=spec,
        documents=documents,
        hashes=hashes,
        chunk_doc=chunks["doc"],
        chunk_start=chunks["start"],
        chunk_end=chunks["end"],
        chunk_tokens=chunks["tokens"],
        sentence_doc=sentence_doc,
        sentence_start=sentences["start"],
        sentence_end=sentences["end"],
        sentence_vectors=sentence_vectors,
        vector_index=vector_index,
        chunk_bm25=lexical.LexicalIndex.load(folder / "bm25-chunks"),
    )


def _read_vectors(
    folder: Path, manifest: dict[str, Any], spec: vectors.VectorIndexSpec, chunk_doc: np.ndarray
):
    """The generation's FAISS index, checked against its chunks and manifest."""
    vector_index = vectors.load(folder / "vectors.faiss", spec)
    if vector_index.ntotal != len(chunk_doc) or manifest["n_chunks"] != len(chunk_doc):
        raise ValueError(
            f"{vector_index.ntotal} vectors for {len(chunk_doc)} chunks "
            f"(manifest says {manifest['n_chunks']})"
        )
    # A vectors.faiss from another index still reads; searching it would fail an assertion.
    if vector_index.d != manifest["dimension"]:
        raise ValueError(
            f"its vectors have {vector_index.d} dimensions, "
            f"its manifest says {manifest['dimension']}"
        )
    return vector_index
