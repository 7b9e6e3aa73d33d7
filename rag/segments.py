"""Stage 4: one segment of the index, written once and never changed.

A segment holds some documents with their chunks, sentences, chunk vectors (FAISS,
unless an external store keeps them) and BM25 term counts. A generation lists the
segments it is made of and, per segment, the documents it no longer counts (removed or
replaced since). An ingest writes one new segment of the documents it changed, and the
next generation takes every older segment over as it is (hard links, rag/store.py),
so adding a document costs that document, not the corpus.

Files of a segment folder (also those of a whole generation written before segments,
which reads as one segment):

    segment.json      what the segment holds, and its vector index kind (written last)
    documents.json    per document, in columns: id, title, source, pages, hash
    texts.bin         every document's text, UTF-8, one after another ...
    text_offsets.npy  ... starting at these byte offsets (memory-mapped on load)
    chunks.npz        per chunk: document row, start, end, token count
    sentences.npz     per sentence: document row, start, end
    sentence_vectors.npy
    vectors.faiss     chunk vectors (FAISS only)
    bm25-terms/       term counts (rag/lexical.py); bm25-chunks/ before segments
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag import lexical, vectors
from rag.types import Document

# Documents kept decoded after a query used them; a query touches at most top_k.
DECODED_DOCUMENTS = 256
SEGMENT_FILE = "segment.json"
TERMS_FOLDER = "bm25-terms"
LEGACY_BM25_FOLDER = "bm25-chunks"


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
class Segment:
    """Documents with their chunks, sentences, vectors and term counts, in document rows 0..n-1.

    Arrays may be memory-mapped; `folder` is where the segment lies on disk (None until
    it is written).
    """

    documents: Sequence[Document]  # a list, or a DocumentTable read from disk
    hashes: list[str]
    chunk_doc: np.ndarray  # int32, document row of each chunk (grouped by document)
    chunk_start: np.ndarray  # int64
    chunk_end: np.ndarray  # int64
    chunk_tokens: np.ndarray  # int32
    sentence_doc: np.ndarray  # int32
    sentence_start: np.ndarray  # int64
    sentence_end: np.ndarray  # int64
    sentence_vectors: np.ndarray  # float32 (n_sentences, dimension)
    vector_spec: vectors.VectorIndexSpec
    vector_index: Any  # FAISS index over the chunk vectors; None when an external store has them
    # Term counts; a generation written before segments has bm25s's scores instead.
    terms: lexical.TermCounts | lexical.LexicalIndex
    folder: Path | None = None

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[DocumentRows],
        dimension: int,
        choose_spec: Callable[[int], vectors.VectorIndexSpec],
        external: bool = False,
        terms: lexical.TermCounts | None = None,
    ) -> Segment:
        """The segment of `rows`, in their order; `choose_spec(n_chunks)` picks the FAISS kind.

        `terms`: the chunks' term counts when known (a merge), else the chunk texts are
        analysed. With `external` (a store already holding the vectors) no FAISS index is built.
        """

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
        if external:
            spec, vector_index = vectors.VectorIndexSpec(), None
        else:
            spec = choose_spec(len(chunk_doc))
            vector_index = vectors.build(stacked("chunk_vectors", dimension, np.float32), spec)
        if terms is None:
            from rag.text import analyze_many

            chunk_texts = [
                documents[d].text[s:e] for d, (s, e) in zip(chunk_doc, chunk_spans, strict=True)
            ]
            terms = lexical.TermCounts.build(analyze_many(chunk_texts))
        return cls(
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
            vector_spec=spec,
            vector_index=vector_index,
            terms=terms,
        )

    @classmethod
    def merged(
        cls,
        parts: Sequence[tuple[Segment, np.ndarray]],
        dimension: int,
        choose_spec: Callable[[int], vectors.VectorIndexSpec],
        external: bool = False,
    ) -> Segment:
        """One segment of each part's document rows `kept`: nothing embedded or analysed again."""
        rows = [row for segment, kept in parts for row in segment.rows(kept)]
        terms = None
        if all(isinstance(segment.terms, lexical.TermCounts) for segment, _ in parts):
            terms = lexical.TermCounts.merge(
                [(segment.terms, segment.chunk_rows_of(kept)) for segment, kept in parts]  # type: ignore[misc]
            )
        return cls.from_rows(rows, dimension, choose_spec, external, terms)

    # -- what it holds ----------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return None if self.folder is None else self.folder.name

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_doc)

    @cached_property
    def doc_ids(self) -> list[str]:
        if isinstance(self.documents, DocumentTable):
            return self.documents.doc_ids
        return [document.doc_id for document in self.documents]

    @cached_property
    def doc_rows(self) -> dict[str, int]:
        return {doc_id: row for row, doc_id in enumerate(self.doc_ids)}

    @cached_property
    def chunk_bounds(self) -> np.ndarray:
        """Document row d's chunks are rows chunk_bounds[d] to chunk_bounds[d + 1]."""
        return np.searchsorted(self.chunk_doc, np.arange(len(self.doc_ids) + 1))

    @cached_property
    def sentence_bounds(self) -> np.ndarray:
        return np.searchsorted(self.sentence_doc, np.arange(len(self.doc_ids) + 1))

    def chunk_rows_of(self, doc_rows: np.ndarray) -> np.ndarray:
        """The chunk rows of document rows `doc_rows`, in that order."""
        return _runs(self.chunk_bounds, np.asarray(doc_rows, dtype=np.int64))[1]

    def sources(self) -> list[str]:
        """Each document's source, without decoding any text."""
        if isinstance(self.documents, DocumentTable):
            return self.documents.sources
        return [document.source for document in self.documents]

    def text_sizes(self) -> list[int]:
        """Each document's text size in UTF-8 bytes, without decoding any text."""
        if isinstance(self.documents, DocumentTable):
            return np.diff(self.documents.text_offsets).tolist()
        return [utf8_size(document.text) for document in self.documents]

    def rows(self, doc_rows: Iterable[int] | None = None) -> list[DocumentRows]:
        """The share of each document row of `doc_rows` (default: all), what `from_rows` takes back."""
        wanted = range(len(self.doc_ids)) if doc_rows is None else [int(r) for r in doc_rows]
        # An external store keeps its vectors: rows carry none (None).
        chunk_vectors = (
            None if self.vector_index is None else vectors.all_vectors(self.vector_index)
        )
        chunk_bounds, sentence_bounds = self.chunk_bounds, self.sentence_bounds
        found = []
        for row in wanted:
            chunks = slice(chunk_bounds[row], chunk_bounds[row + 1])
            sentences = slice(sentence_bounds[row], sentence_bounds[row + 1])
            found.append(
                DocumentRows(
                    document=self.documents[row],
                    digest=self.hashes[row],
                    chunk_spans=np.stack([self.chunk_start[chunks], self.chunk_end[chunks]], 1),
                    chunk_tokens=np.asarray(self.chunk_tokens[chunks]),
                    chunk_vectors=None if chunk_vectors is None else chunk_vectors[chunks],
                    sentence_spans=np.stack(
                        [self.sentence_start[sentences], self.sentence_end[sentences]], 1
                    ),
                    sentence_vectors=np.asarray(self.sentence_vectors[sentences]),
                )
            )
        return found

    # -- on disk ----------------------------------------------------------------------
    def write(self, folder: Path) -> list[Path]:
        """Write the segment into the new folder `folder`; the files written."""
        folder.mkdir()
        documents = list(self.documents)
        columns = {
            "doc_id": [document.doc_id for document in documents],
            "title": [document.title for document in documents],
            "source": [document.source for document in documents],
            "page_starts": [list(document.page_starts) for document in documents],
            "page_names": [list(document.page_names) for document in documents],
            "sha256": list(self.hashes),
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
            doc=self.chunk_doc,
            start=self.chunk_start,
            end=self.chunk_end,
            tokens=self.chunk_tokens,
        )
        np.savez(
            folder / "sentences.npz",
            doc=self.sentence_doc,
            start=self.sentence_start,
            end=self.sentence_end,
        )
        np.save(folder / "sentence_vectors.npy", self.sentence_vectors)
        written = [
            folder / name
            for name in (
                "documents.json",
                "texts.bin",
                "text_offsets.npy",
                "chunks.npz",
                "sentences.npz",
                "sentence_vectors.npy",
            )
        ]
        if self.vector_index is not None:
            vectors.save(self.vector_index, folder / "vectors.faiss")
            written.append(folder / "vectors.faiss")
        assert isinstance(self.terms, lexical.TermCounts), "only term counts are written"
        written += self.terms.save(folder / TERMS_FOLDER)
        # segment.json goes last: a segment with one is a complete one.
        about = {
            "documents": len(documents),
            "chunks": self.n_chunks,
            "sentences": int(len(self.sentence_doc)),
            "vector_index": self.vector_spec.to_json() if self.vector_index is not None else None,
        }
        (folder / SEGMENT_FILE).write_text(json.dumps(about, indent=2), encoding="utf-8")
        written.append(folder / SEGMENT_FILE)
        self.folder = folder
        return written

    @classmethod
    def read(cls, folder: Path, spec_json: dict[str, Any] | None, with_vectors: bool) -> Segment:
        """The segment in `folder` (a generation's own files before segments: `spec_json` given)."""
        about: dict[str, Any] = {}
        if (folder / SEGMENT_FILE).is_file():
            about = json.loads((folder / SEGMENT_FILE).read_text(encoding="utf-8"))
            spec_json = about.get("vector_index") or spec_json
        documents, hashes = _read_documents(folder)
        chunks = np.load(folder / "chunks.npz")
        sentences = np.load(folder / "sentences.npz")
        spec = vectors.VectorIndexSpec.from_json(spec_json or {"kind": "flat"})
        chunk_doc = chunks["doc"]
        vector_index = _read_vectors(folder, spec, len(chunk_doc)) if with_vectors else None
        sentence_vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r")
        sentence_doc = sentences["doc"]
        if len(sentence_vectors) != len(sentence_doc):
            raise ValueError("sentence vectors and sentences differ in number")
        if len(hashes) != len(documents):
            raise ValueError("the document table and its hashes differ in number")
        if (folder / TERMS_FOLDER).is_dir():
            terms: lexical.TermCounts | lexical.LexicalIndex = lexical.TermCounts.load(
                folder / TERMS_FOLDER
            )
        else:
            terms = lexical.LexicalIndex.load(folder / LEGACY_BM25_FOLDER)
        if terms.size != len(chunk_doc) or about.get("chunks", len(chunk_doc)) != len(chunk_doc):
            raise ValueError(f"{folder.name}: its BM25 index and its chunks differ in number")
        return cls(
            documents=documents,
            hashes=hashes,
            chunk_doc=chunk_doc,
            chunk_start=chunks["start"],
            chunk_end=chunks["end"],
            chunk_tokens=chunks["tokens"],
            sentence_doc=sentence_doc,
            sentence_start=sentences["start"],
            sentence_end=sentences["end"],
            sentence_vectors=sentence_vectors,
            vector_spec=spec,
            vector_index=vector_index,
            terms=terms,
            folder=folder,
        )


def _runs(bounds: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of `rows`, its run length in `bounds`; and every item of those runs, in order."""
    starts = bounds[rows]
    lengths = bounds[rows + 1] - starts
    offsets = np.cumsum(lengths) - lengths
    items = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(offsets - starts, lengths)
    return lengths, items


def utf8_size(text: str) -> int:
    """How many bytes `text` takes in texts.bin (lone surrogates kept, as they are written)."""
    return len(text.encode("utf-8", "surrogatepass"))


class LazyDocuments(Sequence[Document]):
    """Documents by row, each made only when asked for (`_document`)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _document(self, row: int) -> Document:
        raise NotImplementedError

    def __getitem__(self, row):  # type: ignore[override]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"document row {row} out of range")
        return self._document(row)


class DocumentTable(LazyDocuments):
    """The indexed documents, each decoded from the memory-mapped texts when asked for."""

    def __init__(
        self,
        columns: dict[str, list[Any]],
        texts: np.ndarray,  # uint8, every text's UTF-8 bytes
        offsets: np.ndarray,  # int64, len(documents) + 1 byte offsets into `texts`
    ) -> None:
        self.doc_ids: list[str] = columns["doc_id"]
        self._titles: list[str] = columns["title"]
        self.sources: list[str] = columns["source"]
        self._page_starts: list[list[int]] = columns["page_starts"]
        # Indexes written before slides and sheets had names have no such column.
        columns.setdefault("page_names", [[] for _ in self.doc_ids])
        self._page_names: list[list[str]] = columns["page_names"]
        self._texts = texts
        self.text_offsets = offsets
        self._decoded = lru_cache(maxsize=DECODED_DOCUMENTS)(self._decode)
        lengths = {len(column) for column in columns.values()}
        if lengths != {len(offsets) - 1} or (len(offsets) and offsets[-1] != len(texts)):
            raise ValueError("documents.json, text_offsets.npy and texts.bin do not agree")

    def __len__(self) -> int:
        return len(self.doc_ids)

    def _document(self, row: int) -> Document:
        return self._decoded(row)

    def _decode(self, row: int) -> Document:
        start, end = int(self.text_offsets[row]), int(self.text_offsets[row + 1])
        text = self._texts[start:end].tobytes().decode("utf-8", "surrogatepass")
        return Document(
            self.doc_ids[row],
            self._titles[row],
            text,
            self.sources[row],
            tuple(self._page_starts[row]),
            tuple(self._page_names[row]),
        )


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


def _read_vectors(folder: Path, spec: vectors.VectorIndexSpec, n_chunks: int):
    """The segment's FAISS index, checked against its chunks."""
    vector_index = vectors.load(folder / "vectors.faiss", spec)
    if vector_index.ntotal != n_chunks:
        raise ValueError(f"{vector_index.ntotal} vectors for {n_chunks} chunks")
    return vector_index
