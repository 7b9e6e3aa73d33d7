"""The library's front door: ingest, retrieve and ask, used by the CLI, the UI and eval."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rag.backends import AnswerRequest, Backend, final_answer, load_backend
from rag.backends.base import broken_promise
from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import REBUILD_HINT, RagError
from rag.query import Query, as_query
from rag.retrieval import Retriever
from rag.store import IndexData, IndexStore, index_settings
from rag.types import Answer, Document, Retrieval

if TYPE_CHECKING:  # ingesting needs loaders, the chunker and more: imported when it happens
    from rag.ingest import Ingester, IngestReport, ProgressCallback

# Reads of an index that writers keep replacing meanwhile, before giving up.
INDEX_LOAD_ATTEMPTS = 5
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    source: str
    chunks: int
    characters: int


class Pipeline:
    """One index folder with its model, retriever and answer backends. Thread-safe for asking.

    The parts may be handed in (a test shares one loaded model between pipelines;
    an application may bring its own store or backends); those not given are built
    from `settings`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: IndexStore | None = None,
        backends: Mapping[str, Backend] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder if embedder is not None else Embedder.from_settings(settings)
        self.store = store if store is not None else IndexStore(settings.index_dir, settings)
        self._lock = threading.RLock()
        self._data: IndexData | None = None
        self._retriever: Retriever | None = None
        self._generation: Path | None = None
        # Backends by name: those handed in, then each other one loaded on first use.
        self._backends: dict[str, Backend] = dict(backends or {})

    # -- the index ------------------------------------------------------------------
    def index(self) -> IndexData:
        """The live index, reloaded when another process has committed a newer one."""
        with self._lock:
            held, data = self._generation, self._data
            if held is not None and data is not None and self.store.pointer() == held.name:
                return data  # still the live one
            for _ in range(INDEX_LOAD_ATTEMPTS):
                generation = self.store.current_generation()
                if self._data is not None and generation == self._generation:
                    return self._data
                try:
                    data = self.store.load(wanted=index_settings(self.settings, self.embedder))
                except RagError:
                    # A writer may have committed, and removed the files we were reading,
                    # in the meantime: that is no damage; read the new generation.
                    if self.store.current_generation() == generation:
                        raise
                    continue
                # Everything that depends only on the index is built here, once per generation.
                self._retriever = Retriever(
                    data,
                    self.embedder.embed_query,
                    mode=self.settings.mode,
                    top_k=self.settings.top_k,
                    rrf_k=self.settings.rrf_k,
                )
                self._data, self._generation = data, generation
                return data
            raise RagError(
                f"The index in {self.store.folder} was replaced {INDEX_LOAD_ATTEMPTS} times "
                "while being read; try again when the ingest in progress is done."
            )

    def retriever(self) -> Retriever:
        """The retriever over the live index (rebuilt only when the index is)."""
        with self._lock:
            self.index()
            assert self._retriever is not None
            return self._retriever

    def ensure_index(self, on_progress: ProgressCallback | None = None) -> IngestReport | None:
        """Build the index over `seeds_dir` if there is none yet."""
        if self.store.exists():
            return None
        if not self.settings.seeds_dir.is_dir():
            raise RagError(
                f"There is no index in {self.store.folder} and no {self.settings.seeds_dir}/ "
                "folder to build one from. Run `rag ingest PATH ...` first."
            )
        # Wait for a concurrent first build rather than fail: both want the same index.
        return self.ingest([self.settings.seeds_dir], on_progress=on_progress, lock_timeout=600)

    def ingest(
        self,
        paths: Iterable[Path],
        rebuild: bool = False,
        on_progress: ProgressCallback | None = None,
        lock_timeout: float = 0,
        prune_under: Sequence[Path] = (),
    ) -> IngestReport:
        """Add or update documents from files and folders; `on_progress` hears each stage.

        Documents whose file was under a folder of `prune_under` and is gone are removed
        in the same generation.
        """
        ingester = self._ingester(on_progress)
        return ingester.ingest(
            list(paths), rebuild=rebuild, lock_timeout=lock_timeout, prune_under=prune_under
        )

    def ingest_documents(
        self,
        documents: Iterable[Document],
        rebuild: bool = False,
        on_progress: ProgressCallback | None = None,
        lock_timeout: float = 0,
    ) -> IngestReport:
        """Add or update documents given in memory; nothing is written to files to be read back."""
        ingester = self._ingester(on_progress)
        return ingester.ingest_documents(documents, rebuild=rebuild, lock_timeout=lock_timeout)

    def _ingester(self, on_progress: ProgressCallback | None = None) -> Ingester:
        from rag.ingest import Ingester

        self._check_index_folder()
        return Ingester(self.settings, self.embedder, self.store, on_progress=on_progress)

    def move_vectors(self, lock_timeout: float = 0) -> IngestReport:
        """Write the index's vectors to the `vector_store` setting's store (no files, no model)."""
        return self._ingester().move(lock_timeout=lock_timeout)

    def remove(self, doc_ids: Sequence[str], lock_timeout: float = 0) -> IngestReport:
        """Take documents out of the index by id."""
        return self._ingester().remove(doc_ids, lock_timeout=lock_timeout)

    def _check_index_folder(self) -> None:
        folder = self.store.folder
        if folder.exists() and not folder.is_dir():
            raise RagError(
                f"The index folder {folder} is a file, not a folder. Give `--index` (or the "
                "`index_dir` setting) a folder; it is created if missing."
            )

    def documents(self) -> list[DocumentInfo]:
        """What is indexed, read from the manifest (no model is loaded)."""
        manifest = self.store.read_manifest()
        try:
            return [
                DocumentInfo(
                    doc_id, entry["title"], entry["source"], entry["chunks"], entry["characters"]
                )
                for doc_id, entry in sorted(manifest["documents"].items())
            ]
        except (KeyError, TypeError, AttributeError) as error:
            raise RagError(
                f"The index manifest in {self.store.current_generation()} is damaged "
                f"(its document list: {type(error).__name__} {error}). {REBUILD_HINT}"
            ) from None

    # -- asking ---------------------------------------------------------------------
    def retrieve(self, query: Query | str, timings: dict[str, float] | None = None) -> Retrieval:
        """The top-k passages for a question, with citations."""
        query = as_query(query)
        timings = {} if timings is None else timings
        # A first question pays for loading the index and the model: timed apart, so that
        # `embed_question` is the question's own cost.
        if self._data is None:
            started = time.perf_counter()
            self.index()
            timings["load_index"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        self.embedder.warm_up()
        load = self.embedder.take_load()
        if load is not None:
            timings["load_model"] = load.ms
            if load.in_background:
                # It ran beside what came before (`Embedder.load_in_background`): the
                # question waited only this part of it.
                timings["load_model_waited"] = (time.perf_counter() - started) * 1000
        return self.retriever().retrieve(query, timings)

    def backend(self, name: str | None = None) -> Backend:
        """The answer backend registered as `name` (default: the configured one)."""
        name = name or self.settings.backend
        with self._lock:
            if name not in self._backends:
                self._backends[name] = load_backend(name, self.settings)
            return self._backends[name]

    def ask(self, query: Query | str) -> Answer:
        """Retrieve passages for the question and answer it with the chosen backend."""
        return final_answer(self.ask_stream(query))

    def ask_stream(self, query: Query | str) -> Iterator[str | Answer]:
        """Like `ask`, but yields text pieces as the backend produces them, then the Answer."""
        # Built here, not in the generator, so a bad question fails at the call.
        query = as_query(query)
        return self._answer(query, self.backend(query.backend))

    def _answer(self, query: Query, backend: Backend) -> Iterator[str | Answer]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        failed = f"Answer backend {backend.name!r} failed"
        try:
            request, retrieval = self._request(query, backend, timings)
            answering = time.perf_counter()
            for piece in backend.stream(request):
                if isinstance(piece, str):
                    yield piece
                    continue
                if not isinstance(piece, Answer):
                    raise RagError(
                        f"{failed}: its stream gave a {type(piece).__name__}, where a Backend's "
                        "stream gives text pieces, then one Answer."
                    )
                broken = broken_promise(piece, request.passages, self._document_text)
                if broken:
                    raise RagError(f"{failed}: {broken}, so its answer was not shown.")
                timings["answer"] = (time.perf_counter() - answering) * 1000
                timings["total"] = (time.perf_counter() - started) * 1000
                yield replace(
                    piece, timings_ms={**timings, **piece.timings_ms}, mode=retrieval.mode
                )
                return  # the Answer ends the stream
            raise RagError(
                f"{failed}: its stream ended without an Answer (a Backend's stream gives "
                "text pieces, then one Answer)."
            )
        except RagError:
            raise
        except Exception as error:  # a backend's bug (ours or a plugin's) must not crash the chat
            # The message says what failed; the traceback is for whoever turns on debug logs.
            logger.debug("answer backend %r failed", backend.name, exc_info=True)
            raise RagError(f"{failed}: {type(error).__name__}: {error}") from error

    def _document_text(self, doc_id: str) -> str | None:
        """The indexed text of `doc_id`, or None when no such document is indexed."""
        data = self.index()
        row = data.doc_rows.get(doc_id)
        return None if row is None else data.documents[row].text

    def _request(
        self, query: Query, backend: Backend, timings: dict[str, float]
    ) -> tuple[AnswerRequest, Retrieval]:
        limit = self.settings.history_turns
        history = query.history[-limit:] if limit else ()
        question = query.question
        # A follow-up ("when was it launched?") is retrieved as a question that stands alone.
        standalone = backend.standalone_question(question, history) if history else question
        searched = query
        if standalone != question:
            try:
                searched = replace(query, question=standalone)
            except RagError as error:  # a rewrite no question could be (too long, say)
                logger.warning(
                    "standalone question %r refused (%s); retrieving the question as asked",
                    standalone,
                    error,
                )
                standalone = question
        try:
            retrieval = self.retrieve(searched, timings)
        except RagError:
            raise
        except Exception as error:  # a vector store's (a plugin's), not the backend's
            logger.debug("retrieval failed", exc_info=True)
            raise RagError(
                f"Finding the passages failed (the vector store or the index): "
                f"{type(error).__name__}: {error}"
            ) from error
        request = AnswerRequest(
            question,
            retrieval.passages,
            history,
            retrieval.query_terms,
            standalone=standalone if standalone != question else "",
            closeness=partial(self._closeness, searched.question),
        )
        return request, retrieval

    def _closeness(self, question: str, texts: Sequence[str]) -> list[float]:
        """The cosine of each of `texts`, embedded alone, with `question` (see AnswerRequest)."""
        if not texts:
            return []
        vectors = self.embedder.embed([question, *texts])
        return (vectors[1:] @ vectors[0]).tolist()
