"""Stages 1–4 in a row: load files, chunk, embed and commit a new index generation.

Incremental: a document whose text hash is unchanged keeps its vectors, so
re-ingesting the same files embeds nothing; and the documents added, changed or
removed make one new segment and a list of documents no longer counted, while
every other segment is taken over as it is (rag/store.py), so an update costs in
proportion to its documents. A rebuild, or a move to another vector store, writes
the whole index as one segment.
"""

from __future__ import annotations

import hashlib
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag import vectors
from rag.chunking import Chunker, chunker_settings
from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import IndexMissingError, LastDocumentError, RagError
from rag.loading import FoundFile, LoadError, Loaders, document_problem, find_files
from rag.segments import Segment, utf8_size
from rag.store import DocumentRows, IndexData, IndexSettings, IndexStore, index_settings
from rag.types import Document

# Called with (stage, done, total) as each stage advances: the one progress channel.
# The CLI shows it with tqdm (rag/commands/progress.py), the chat with Gradio's bar.
ProgressCallback = Callable[[str, int, int], None]
# What each stage counts, for a progress display ("12/40 texts").
STAGE_UNITS = {
    "Reading files": "files",
    "Chunking": "documents",
    "Embedding": "texts",
    "Writing the index": "steps",
}


@dataclass
class IngestReport:
    """What an ingest did, for the CLI and the UI to show."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason"
    # Files read, but not wholly: "path: only the first 100,000 rows ..."
    notices: list[str] = field(default_factory=list)
    n_documents: int = 0
    n_chunks: int = 0
    n_embedded: int = 0
    written: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        line = (
            ", ".join(parts) + f"; index holds {self.n_documents} documents, {self.n_chunks} chunks"
        )
        return line + ("" if self.written else " (nothing changed, nothing written)")


def content_hash(document: Document) -> str:
    """Changes when anything that is indexed or shown changes."""
    digest = hashlib.sha256()
    parts = [document.title, document.text, repr(document.page_starts)]
    if document.page_names:  # only then: the hash of every older document stays as it was
        parts.append(repr(document.page_names))
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


class Ingester:
    """Builds and updates the index in `store`."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: IndexStore,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.on_progress = on_progress

    def ingest(
        self,
        paths: Iterable[Path],
        rebuild: bool = False,
        lock_timeout: float = 0,
        prune_under: Sequence[Path] = (),
    ) -> IngestReport:
        """Add or update the documents under `paths`; other indexed documents stay.

        Documents whose file lay under a folder of `prune_under` and is gone are taken out
        in the same generation: a watched folder's every change is one atomic step.
        """
        report = IngestReport()
        # Made first: a wrong loader option stops the ingest before anything is read.
        loaders = Loaders(self.settings)
        paths = [Path(path) for path in paths]  # read twice: for files, and for folders
        files, problems = find_files(paths)
        report.skipped.extend(problems)
        with self.store.lock(timeout=lock_timeout):
            started = time.perf_counter()
            loaded = self._load(files, loaders, report, keeps_indexed=not rebuild)
            report.timings_s["load"] = time.perf_counter() - started
            folders = [path for path in paths if path.is_dir()]
            self._ingest_loaded(loaded, rebuild, report, prune_under, folders)
        return report

    def ingest_documents(
        self, documents: Iterable[Document], rebuild: bool = False, lock_timeout: float = 0
    ) -> IngestReport:
        """Add or update documents already in memory (eval's, an application's), no files read."""
        report = IngestReport()
        loaded: list[Document] = []
        seen: set[str] = set()
        for document in documents:
            problem = document_problem(document)
            if problem:
                raise RagError(
                    f"Document {document.doc_id!r} cannot be indexed: {problem}. "
                    "Nothing was indexed."
                )
            if document.doc_id in seen:
                raise RagError(
                    f"Two documents have the id {document.doc_id!r}; give each its own id."
                )
            seen.add(document.doc_id)
            loaded.append(document)
        with self.store.lock(timeout=lock_timeout):
            self._ingest_loaded(loaded, rebuild, report)
        return report

    def _ingest_loaded(
        self,
        loaded: list[Document],
        rebuild: bool,
        report: IngestReport,
        prune_under: Sequence[Path] = (),
        folders_read: Sequence[Path] = (),
    ) -> None:
        previous = self._reusable_previous() if rebuild else self._load_previous()
        if not loaded and (rebuild or previous is None):
            # Never replace an index (or create an empty one) from nothing readable.
            reasons = "; ".join(report.skipped) or "no readable files found"
            raise RagError(f"Nothing to index, so the index was left as it was: {reasons}")
        if rebuild:
            self._say_what_a_rebuild_leaves_out(loaded, report)
        # A rebuild starts from nothing, except vectors it can reuse (a move to another store).
        reusable = self._rows_by_id(previous) if rebuild else {}
        incremental = previous is not None and not rebuild
        indexed: dict[str, str] = {}
        sources: dict[str, str] = {}
        gone: list[str] = []
        if previous is not None and not rebuild:
            indexed = dict(zip(previous.doc_ids, previous.hashes, strict=True))
            sources = dict(zip(previous.doc_ids, previous.sources(), strict=True))
            gone = self._prune(previous, prune_under, report)
            # Outside --watch a deleted file's document stays (taking it out is `rag remove`'s
            # job), but a folder read again shows it is gone: say so, or it answers on unseen.
            stale = [i for i in _files_gone_under(previous, folders_read) if i not in gone]
            if stale:
                report.notices.append(
                    f"{len(stale)} indexed document(s) came from files under the folders read "
                    f"that are gone, and stay indexed: {', '.join(stale)}; `rag remove "
                    f"{' '.join(stale)}` takes them out (`rag ingest --watch` keeps the index "
                    "in step with a folder)."
                )
        leaving = set(gone)  # for the membership tests below; `gone` keeps the order reported
        # Indexed texts a new document may repeat: not those leaving, nor those read again
        # now (their text is what was just read; copies within one ingest are caught on load).
        reread = {document.doc_id for document in loaded}
        twins = _TextTwins(previous, leaving | reread) if incremental else None
        kept: dict[str, DocumentRows] = {}
        changed = []
        for document in loaded:
            doc_id, digest = document.doc_id, content_hash(document)
            old = reusable.get(doc_id)
            if doc_id not in leaving and indexed.get(doc_id) == digest:
                report.unchanged.append(doc_id)
                continue
            twin = twins.of(document) if twins is not None and doc_id not in indexed else None
            if twin is not None:
                # A copy under another name ("report (1).pdf", an upload sent twice) would
                # fill the top k with the same passage twice.
                report.skipped.append(
                    f"{document.source}: same text as indexed document {twin!r}; not indexed "
                    f"twice (if it should replace it, run `rag remove {twin}` first)"
                )
                continue
            if doc_id in indexed and doc_id not in leaving:
                clash = _same_id_elsewhere(document, sources.get(doc_id, ""))
                if clash and Path(clash).name != Path(document.source).name:
                    # minutes.md after minutes.txt: another file, not a new version of it.
                    report.skipped.append(
                        f"{document.source}: the id {doc_id!r} is taken by {clash}, which is "
                        f"still there, so it was left indexed; rename this file, or run `rag "
                        f"remove {doc_id}` first if it should replace that one"
                    )
                    continue
                if clash:
                    report.notices.append(
                        f"{document.source} replaces document {doc_id!r}, indexed from {clash}, "
                        "which is still there; if they are different documents, rename one "
                        "and ingest both"
                    )
            if old is not None and old.digest == digest:
                kept[doc_id] = old
                report.unchanged.append(doc_id)
                continue
            known = (doc_id in indexed and doc_id not in leaving) or old is not None
            (report.updated if known else report.added).append(doc_id)
            changed.append((document, digest))
        fresh = self._embed(changed, report)
        moving = previous is not None and self._moves_store(previous)
        if moving:
            assert previous is not None
            self._say_the_vectors_move(previous, report)
        if rebuild or previous is None or moving:
            # Every document into one new segment (and every vector into the new store).
            rows = self._rows_by_id(previous) if incremental else {}
            for doc_id in gone:
                rows.pop(doc_id, None)
            rows.update(kept)
            rows.update((r.document.doc_id, r) for r in fresh)
            self._commit_whole(rows, report, previous)
        elif report.added or report.updated or report.removed:
            assert previous is not None
            self._commit_changes(previous, fresh, gone, report)
        else:
            assert previous is not None
            report.n_documents, report.n_chunks = len(previous.doc_ids), previous.n_chunks

    def remove(self, doc_ids: Iterable[str], lock_timeout: float = 0) -> IngestReport:
        """Take documents out of the index; unknown ids are reported, not fatal."""
        report = IngestReport()
        with self.store.lock(timeout=lock_timeout):
            previous = self._load_previous()
            if previous is None:
                raise IndexMissingError(f"There is no index in {self.store.folder} to remove from.")
            present = set(previous.doc_rows)
            for doc_id in doc_ids:
                if doc_id not in present:
                    report.skipped.append(f"{doc_id}: not in the index (see `rag docs`)")
                else:
                    present.discard(doc_id)
                    report.removed.append(doc_id)
            if report.removed:
                self._commit_changes(previous, [], report.removed, report)
            else:
                report.n_documents, report.n_chunks = len(previous.doc_ids), previous.n_chunks
        return report

    # -- steps --------------------------------------------------------------------
    @staticmethod
    def _prune(previous: IndexData, folders: Sequence[Path], report: IngestReport) -> list[str]:
        """The documents whose file was under one of `folders` and no longer exists."""
        gone = _files_gone_under(previous, folders)
        report.removed.extend(gone)
        return gone

    def _say_what_a_rebuild_leaves_out(self, loaded: list[Document], report: IngestReport) -> None:
        """A notice naming the documents of the index being replaced that the rebuild does
        not hold (their files were not among the paths given), and how to add them back."""
        documents = self._indexed_documents()
        given = {document.doc_id for document in loaded}
        left_out = {
            doc_id: str(entry.get("source") or "") if isinstance(entry, dict) else ""
            for doc_id, entry in documents.items()
            if doc_id not in given
        }
        if left_out:
            sources = sorted({source for source in left_out.values() if source})
            command = " ".join(shlex.quote(source) for source in sources)
            again = f" (`rag ingest {command}` adds them back)" if sources else ""
            report.notices.append(
                f"The rebuilt index leaves out {len(left_out)} document(s) of the one it "
                f"replaces, whose files were not among the paths given: "
                f"{', '.join(sorted(left_out))}{again}."
            )

    def _indexed_documents(self) -> dict[str, Any]:
        """The live index's documents as its manifest lists them (id: entry); none when
        there is no index or its manifest cannot be read (then there is nothing to name)."""
        try:
            documents = self.store.read_manifest().get("documents") if self.store.exists() else {}
        except (RagError, OSError):
            return {}
        return documents if isinstance(documents, dict) else {}

    def _load_previous(self) -> IndexData | None:
        if not self.store.exists():
            return None
        return self.store.load(wanted=index_settings(self.settings, self.embedder))

    def _reusable_previous(self) -> IndexData | None:
        """On a rebuild into another vector store, the live index whose vectors can move."""
        try:
            previous = self._load_previous()
        except RagError:  # damaged or built otherwise: what a rebuild is for
            return None
        return previous if previous is not None and self._moves_store(previous) else None

    def _rows_by_id(self, data: IndexData | None) -> dict[str, DocumentRows]:
        return {} if data is None else data.rows()

    def _load(
        self, files: list[FoundFile], loaders: Loaders, report: IngestReport, keeps_indexed: bool
    ) -> list[Document]:
        """The documents of `files`, each failure in `report.skipped`; `keeps_indexed`: the
        index keeps documents this ingest does not read (it is no rebuild), which is said."""
        documents: list[Document] = []
        seen_ids: dict[str, Path] = {}
        seen_hashes: dict[str, str] = {}
        indexed: dict[str, Any] | None = None  # read on the first file that fails
        for done, found in enumerate(files, start=1):
            self._report_progress("Reading files", done, len(files))
            if found.doc_id in seen_ids:
                report.skipped.append(
                    f"{found.path}: same document id {found.doc_id!r} as {seen_ids[found.doc_id]}; "
                    "rename one of them"
                )
                continue
            try:
                document, notices = loaders.load(found.path, found.doc_id)
            except LoadError as error:
                if indexed is None:
                    indexed = self._indexed_documents() if keeps_indexed else {}
                kept = (
                    f" The version indexed before stays (`rag remove {found.doc_id}` takes it out)."
                    if found.doc_id in indexed
                    else ""
                )
                report.skipped.append(f"{error}{kept}")
                continue
            report.notices.extend(notices)
            text_digest = hashlib.sha256(document.text.encode("utf-8", "surrogatepass")).hexdigest()
            if text_digest in seen_hashes:
                report.skipped.append(
                    f"{found.path}: same text as document {seen_hashes[text_digest]!r}; not indexed twice"
                )
                continue
            seen_ids[found.doc_id] = found.path
            seen_hashes[text_digest] = found.doc_id
            documents.append(document)
        return documents

    def _embed(
        self, changed: list[tuple[Document, str]], report: IngestReport
    ) -> list[DocumentRows]:
        if not changed:
            return []
        started = time.perf_counter()
        self.embedder.warm_up()
        chunker = Chunker(
            chunker_settings(self.settings), self.embedder.count_tokens, self.embedder.max_tokens
        )
        split = []
        for done, (document, digest) in enumerate(changed, start=1):
            self._report_progress("Chunking", done, len(changed))
            sentences, chunks = chunker.split(document)
            split.append((document, digest, sentences, chunks))
        report.timings_s["chunk"] = time.perf_counter() - started

        started = time.perf_counter()
        chunk_texts = [chunk.text for _, _, _, chunks in split for chunk in chunks]
        if self.settings.sentence_vectors == "in_chunk":
            chunk_vectors, sentence_vectors = self._embed_in_chunks(split)
        else:
            sentence_texts = [
                document.text[s.start : s.end]
                for document, _, sentences, _ in split
                for s in sentences
            ]
            all_vectors = self._embed_texts(chunk_texts + sentence_texts)
            chunk_vectors, sentence_vectors = (
                all_vectors[: len(chunk_texts)],
                all_vectors[len(chunk_texts) :],
            )
        report.n_embedded = len(chunk_texts)
        report.timings_s["embed"] = time.perf_counter() - started

        rows: list[DocumentRows] = []
        chunk_at = sentence_at = 0
        for document, digest, sentences, chunks in split:
            rows.append(
                DocumentRows(
                    document=document,
                    digest=digest,
                    chunk_spans=np.array(
                        [[c.start, c.end] for c in chunks], dtype=np.int64
                    ).reshape(-1, 2),
                    chunk_tokens=np.array([c.n_tokens for c in chunks], dtype=np.int32),
                    chunk_vectors=chunk_vectors[chunk_at : chunk_at + len(chunks)],
                    sentence_spans=np.array(
                        [[s.start, s.end] for s in sentences], dtype=np.int64
                    ).reshape(-1, 2),
                    sentence_vectors=sentence_vectors[sentence_at : sentence_at + len(sentences)],
                )
            )
            chunk_at += len(chunks)
            sentence_at += len(sentences)
        return rows

    def _embed_in_chunks(self, split) -> tuple[np.ndarray, np.ndarray]:
        """Chunk vectors, and sentence vectors pooled from the first chunk holding each whole."""
        chunk_texts: list[str] = []
        spans: list[list[tuple[int, int]]] = []
        # Per sentence, in document order: (chunk row, span number), or (-1, -1) when no
        # chunk holds the whole sentence (a chunk split again to fit the model).
        places: list[tuple[int, int]] = []
        for _, _, sentences, chunks in split:
            first_chunk = len(chunk_texts)
            chunk_texts += [chunk.text for chunk in chunks]
            spans += [[] for _ in chunks]
            at = 0
            for sentence in sentences:
                # Both are sorted by start: the first chunk holding the sentence is at or after
                # the one that held the previous sentence.
                while at < len(chunks) and chunks[at].end < sentence.end:
                    at += 1
                if at < len(chunks) and chunks[at].start <= sentence.start:
                    row = first_chunk + at
                    places.append((row, len(spans[row])))
                    start = sentence.start - chunks[at].start
                    spans[row].append((start, start + sentence.end - sentence.start))
                else:
                    places.append((-1, -1))
        dimension = self.embedder.dimension
        chunk_vectors = np.zeros((len(chunk_texts), dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = []
        slice_size = max(self.settings.embed_batch_size * 8, 1)
        for begin in range(0, len(chunk_texts), slice_size):
            end = min(begin + slice_size, len(chunk_texts))
            vectors, pooled = self.embedder.embed_with_spans(
                chunk_texts[begin:end], spans[begin:end]
            )
            chunk_vectors[begin:end] = vectors
            span_vectors += pooled
            self._report_progress("Embedding", end, len(chunk_texts))
        alone = [
            document.text[s.start : s.end]
            for (document, _, sentences, _) in split
            for s in sentences
        ]
        unplaced = [n for n, (row, _) in enumerate(places) if row < 0]
        sentence_vectors = np.zeros((len(places), dimension), dtype=np.float32)
        for n, (row, number) in enumerate(places):
            if row >= 0:
                sentence_vectors[n] = span_vectors[row][number]
        if unplaced:
            sentence_vectors[unplaced] = self._embed_texts([alone[n] for n in unplaced])
        return chunk_vectors, sentence_vectors

    def _embed_texts(self, all_texts: list[str]) -> np.ndarray:
        """Vectors for `all_texts`, each distinct text embedded once, in slices for progress."""
        if not all_texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        # A one-sentence chunk is also a sentence, and boilerplate repeats: embed each once.
        # Sorted by length, so the texts of one slice (and of each batch) pad little.
        texts = sorted(dict.fromkeys(all_texts), key=len)
        row_of = {text: row for row, text in enumerate(texts)}
        self._report_progress("Embedding", 0, len(texts))
        slice_size = max(self.settings.embed_batch_size * 8, 1)
        parts = []
        for begin in range(0, len(texts), slice_size):
            parts.append(self.embedder.embed(texts[begin : begin + slice_size]))
            self._report_progress("Embedding", begin + len(parts[-1]), len(texts))
        return np.concatenate(parts)[[row_of[text] for text in all_texts]]

    def move(self, lock_timeout: float = 0) -> IngestReport:
        """Write the index's vectors to the settings' vector store: no file read, nothing embedded."""
        report = IngestReport()
        with self.store.lock(timeout=lock_timeout):
            previous = self._load_previous()
            if previous is None:
                raise IndexMissingError(f"There is no index in {self.store.folder} to move.")
            rows = self._rows_by_id(previous)
            report.unchanged.extend(sorted(rows))
            self._commit_whole(rows, report, previous)
        return report

    def _moves_store(self, previous: IndexData) -> bool:
        """Whether the settings name another vector store than the live generation's."""
        entry = previous.manifest_entry_of_store()
        if self.settings.vector_store == "faiss" or entry.get("kind") != self.settings.vector_store:
            return entry.get("kind", "faiss") != self.settings.vector_store
        writer = self._open_writer(entry)
        return not writer.same_place(entry)

    def _say_the_vectors_move(self, previous: IndexData, report: IngestReport) -> None:
        # Unasked-for when the setting was simply not changed after `rag migrate`: say so.
        before = previous.manifest_entry_of_store().get("kind", "faiss")
        report.notices.append(
            f"The index's vectors were moved from {before} to {self.settings.vector_store}"
            f"{' (another place)' if before == self.settings.vector_store else ''}, as the "
            "vector_store settings ask; to keep them where they were, set vector_store "
            "(and milvus_uri) back and run the command again."
        )

    def _open_writer(self, entry: dict | None):
        from rag.vector_stores import open_external

        return open_external(
            self.settings,
            self.store.folder,
            self.embedder.label,
            self.embedder.dimension,
            entry,
            for_writing=True,
        )

    def _commit_whole(
        self, rows: dict[str, DocumentRows], report: IngestReport, previous: IndexData | None
    ) -> None:
        """Commit `rows` as the whole index, one segment, every vector written again."""
        self._refuse_empty(len(rows), report)
        started = time.perf_counter()
        self._report_progress("Writing the index", 0, 1)
        settings = self.settings
        ordered = [rows[doc_id] for doc_id in sorted(rows)]
        writer = None
        if settings.vector_store != "faiss":
            # The vectors go to the external store first, invisible to readers until the
            # folder's CURRENT names the generation that records them.
            entry = self.store.read_manifest().get("vector_store") if self.store.exists() else None
            writer = self._open_writer(entry)
            writer.begin(None)
            for done, document_rows in enumerate(ordered, start=1):
                _add_to(writer, document_rows, self._vectors_of(document_rows, previous))
                self._report_progress("Writing the index", done, len(ordered) + 1)
        else:
            for document_rows in ordered:
                # Moving back from an external store: its vectors come here.
                document_rows.chunk_vectors = self._vectors_of(document_rows, previous)
        data = IndexData.from_rows(
            self._index_settings(self.embedder.dimension),
            ordered,
            self._choose_spec,
            external_store=writer,
        )
        self._write(data, writer, report, started)

    def _commit_changes(
        self,
        previous: IndexData,
        fresh: list[DocumentRows],
        gone: Sequence[str],
        report: IngestReport,
    ) -> None:
        """Commit `previous` less `gone`, plus `fresh` in one new segment: the rest is linked."""
        remaining = set(previous.doc_ids).difference(gone)
        self._refuse_empty(len(remaining) + len(fresh), report)
        if self._moves_store(previous):
            # Not the store the index is in (a `rag remove` with the settings left at faiss
            # after `rag migrate`): every vector moves there, or the new generation would
            # name a store that holds none of them.
            self._say_the_vectors_move(previous, report)
            rows = self._rows_by_id(previous)
            for doc_id in gone:
                rows.pop(doc_id, None)
            rows.update((r.document.doc_id, r) for r in fresh)
            self._commit_whole(rows, report, previous)
            return
        started = time.perf_counter()
        self._report_progress("Writing the index", 0, 1)
        writer = None
        if self.settings.vector_store != "faiss":
            entry = previous.manifest_entry_of_store()
            writer = self._open_writer(entry)
            # Added documents have no older rows to hide: only these are superseded.
            writer.begin(frozenset(report.updated + report.removed))
            for done, document_rows in enumerate(fresh, start=1):
                assert document_rows.chunk_vectors is not None, "fresh rows carry their vectors"
                _add_to(writer, document_rows, document_rows.chunk_vectors)
                self._report_progress("Writing the index", done, len(fresh) + 1)
        # The index's own dimension: a removal loads no model to learn it.
        settings = self._index_settings(previous.settings.dimension)
        segment = None
        if fresh:
            segment = Segment.from_rows(
                sorted(fresh, key=lambda r: r.document.doc_id),
                settings.dimension,
                self._choose_spec,
                external=writer is not None,
            )
        data = previous.replaced(settings, segment, gone, external_store=writer)
        self._write(data.compacted(self._choose_spec), writer, report, started)

    def _write(self, data: IndexData, writer, report: IngestReport, started: float) -> None:
        self.store.commit(data)
        report.written = True
        if writer is not None:
            try:
                writer.after_commit()
            except Exception as error:  # the change is live: say so, not that it failed
                report.notices.append(
                    f"The index was written and answers from it; the clean-up after it in "
                    f"vector store {writer.name!r} failed ({type(error).__name__}: {error}), "
                    "so what it replaced may still take room there until a later write."
                )
        report.n_documents = len(data.doc_ids)
        report.n_chunks = data.n_chunks
        report.timings_s["index"] = time.perf_counter() - started
        self._report_progress("Writing the index", 1, 1)

    def _refuse_empty(self, n_documents: int, report: IngestReport) -> None:
        if not n_documents:
            # An index of nothing cannot be searched.
            raise LastDocumentError(
                f"Removing {', '.join(report.removed)} would leave the index in "
                f"{self.store.folder} empty, so it was left as it was. To start over, delete "
                "that folder."
            )

    def _index_settings(self, dimension: int) -> IndexSettings:
        return IndexSettings(self.embedder.label, dimension, chunker_settings(self.settings))

    def _choose_spec(self, n_chunks: int) -> vectors.VectorIndexSpec:
        return vectors.spec_for(self.settings, n_chunks)

    def _vectors_of(self, document_rows: DocumentRows, previous: IndexData | None) -> np.ndarray:
        if document_rows.chunk_vectors is not None:
            return document_rows.chunk_vectors
        assert previous is not None, "rows without vectors come from the previous index"
        return previous.vector_store.vectors(document_rows.document.doc_id)

    def _report_progress(self, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)


def require_paths(paths: list[Path]) -> list[Path]:
    """Refuse an ingest whose every path is missing, rather than report an empty success."""
    missing = [path for path in paths if not path.exists()]
    if paths and len(missing) == len(paths):
        raise RagError(
            "Nothing to ingest: " + ", ".join(f"{p} does not exist" for p in missing) + "."
        )
    return paths


def _add_to(writer, document_rows: DocumentRows, chunk_vectors: np.ndarray) -> None:
    """A document's vectors into an external store; its failure a RagError naming it."""
    doc_id = document_rows.document.doc_id
    try:
        writer.add(doc_id, chunk_vectors, _chunk_texts(document_rows))
    except RagError:
        raise
    except Exception as error:  # a third party's store: nothing is committed
        raise RagError(
            f"Vector store {writer.name!r} failed to store the vectors of {doc_id!r} "
            f"({type(error).__name__}: {error}); the index was left as it was."
        ) from None


def _chunk_texts(document_rows: DocumentRows) -> list[str]:
    text = document_rows.document.text
    return [text[int(start) : int(end)] for start, end in document_rows.chunk_spans]


def _files_gone_under(previous: IndexData, folders: Sequence[Path]) -> list[str]:
    """The indexed documents whose file was under one of `folders` and no longer exists."""
    roots = [folder.resolve() for folder in folders]
    if not roots:
        return []
    gone = []
    for doc_id, source in zip(previous.doc_ids, previous.sources(), strict=True):
        # A file that exists but could not be read this time keeps its indexed version.
        if not source or Path(source).exists():
            continue
        if any(Path(source).resolve().is_relative_to(root) for root in roots):
            gone.append(doc_id)
    return gone


class _TextTwins:
    """Finds the indexed document with the very text of a new one (`left_out` aside)."""

    def __init__(self, previous: IndexData, left_out: set[str]) -> None:
        self._previous = previous
        # Texts of another size cannot be equal, so most are never decoded, let alone compared.
        self._rows_by_size: dict[int, list[int]] = {}
        for row, (doc_id, size) in enumerate(
            zip(previous.doc_ids, previous.text_sizes(), strict=True)
        ):
            if doc_id not in left_out:
                self._rows_by_size.setdefault(size, []).append(row)

    def of(self, document: Document) -> str | None:
        for row in self._rows_by_size.get(utf8_size(document.text), ()):
            if self._previous.documents[row].text == document.text:
                return self._previous.doc_ids[row]
        return None


def _same_id_elsewhere(document: Document, indexed_source: str) -> str:
    """The file a document with this id was indexed from, when that is another file that
    still exists (two files, one id: the id is the file's name without its suffix); ""
    when it is the same file, is gone (moved, or an upload's temporary copy), or unknown."""
    if not indexed_source or not document.source:
        return ""
    before, now = Path(indexed_source), Path(document.source)
    try:
        if not before.is_file() or before.resolve() == now.resolve():
            return ""
    except OSError:
        return ""
    return indexed_source
