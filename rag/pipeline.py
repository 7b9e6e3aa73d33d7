"""The library's front door: ingest, retrieve and ask, used by the CLI, the UI and eval."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.backends import AnswerRequest, Backend, load_backend
from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import RagError
from rag.ingest import Ingester, IngestReport, ProgressCallback, index_settings
from rag.retrieval import Retriever
from rag.store import REBUILD_HINT, IndexData, IndexStore
from rag.types import Answer, Retrieval, Turn

MAX_QUESTION_CHARS = 2000
# Reads of an index that writers keep replacing meanwhile, before giving up.
INDEX_LOAD_ATTEMPTS = 5
# Lone surrogates come from undecodable bytes (argv in a non-UTF-8 terminal, JSON "\ud800");
# the tokenizer cannot take them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    source: str
    chunks: int
    characters: int


def clean_question(question: str) -> str:
    """The question with control characters removed, or a RagError if there is none to ask."""
    if not isinstance(question, str):
        raise RagError("The question must be text.")
    cleaned = re.sub(r"\s+", " ", _CONTROL.sub(" ", question)).strip()
    if not cleaned:
        raise RagError("The question is empty; type a question about your documents.")
    if not re.search(r"\w", cleaned):
        raise RagError("The question has no words in it; type a question about your documents.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise RagError(
            f"The question is {len(cleaned):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Ask a shorter question."
        )
    return cleaned


class Pipeline:
    """One index folder with its model, retriever and answer backends. Thread-safe for asking."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedder = Embedder.from_settings(settings)
        self.store = IndexStore(settings.index_dir)
        self._lock = threading.RLock()
        self._data: IndexData | None = None
        self._generation: Path | None = None
        self._backends: dict[str, Backend] = {}

    # -- the index ------------------------------------------------------------------
    def index(self) -> IndexData:
        """The live index, reloaded when another process has committed a newer one."""
        with self._lock:
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
                self._data, self._generation = data, generation
                return data
            raise RagError(
                f"The index in {self.store.folder} was replaced {INDEX_LOAD_ATTEMPTS} times "
                "while being read; try again when the ingest in progress is done."
            )

    def ensure_index(
        self, progress: bool = False, on_progress: ProgressCallback | None = None
    ) -> IngestReport | None:
        """Build the index over `seeds_dir` if there is none yet."""
        if self.store.exists():
            return None
        if not self.settings.seeds_dir.is_dir():
            raise RagError(
                f"There is no index in {self.settings.index_dir} and no {self.settings.seeds_dir}/ "
                "folder to build one from. Run `rag ingest PATH ...` first."
            )
        # Wait for a concurrent first build rather than fail: both want the same index.
        return self.ingest(
            [self.settings.seeds_dir], progress=progress, on_progress=on_progress, lock_timeout=600
        )

    def ingest(
        self,
        paths: Iterable[Path],
        rebuild: bool = False,
        progress: bool = False,
        on_progress: ProgressCallback | None = None,
        lock_timeout: float = 0,
    ) -> IngestReport:
        """Add or update documents from files and folders."""
        self._check_index_folder()
        ingester = Ingester(
            self.settings, self.embedder, progress=progress, on_progress=on_progress
        )
        return ingester.ingest(list(paths), rebuild=rebuild, lock_timeout=lock_timeout)

    def remove(self, doc_ids: Sequence[str]) -> IngestReport:
        """Take documents out of the index by id."""
        self._check_index_folder()
        return Ingester(self.settings, self.embedder).remove(doc_ids)

    def _check_index_folder(self) -> None:
        folder = self.settings.index_dir
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
    def retrieve(
        self,
        question: str,
        mode: str | None = None,
        k: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> Retrieval:
        """The top-k passages for a question, with citations."""
        settings = self.settings.replace(mode=mode, top_k=k)
        timings = {} if timings is None else timings
        # A first question pays for loading the index and the model: timed apart, so that
        # `embed_question` is the question's own cost.
        if self._data is None:
            started = time.perf_counter()
            self.index()
            timings["load_index"] = (time.perf_counter() - started) * 1000
        if not self.embedder.loaded:
            started = time.perf_counter()
            self.embedder.warm_up()
            timings["load_model"] = (time.perf_counter() - started) * 1000
        retriever = Retriever(self.index(), self.embedder.embed_query, settings.rrf_k)
        return retriever.retrieve(clean_question(question), settings.mode, settings.top_k, timings)

    def backend(self, name: str | None = None) -> Backend:
        """The answer backend registered as `name` (default: the configured one)."""
        name = name or self.settings.backend
        with self._lock:
            if name not in self._backends:
                self._backends[name] = load_backend(name, self.settings)
            return self._backends[name]

    def _request(
        self,
        question: str,
        mode: str | None,
        k: int | None,
        history: Sequence[Turn],
        timings: dict[str, float],
        backend: Backend,
    ) -> tuple[AnswerRequest, Retrieval]:
        question = clean_question(question)
        # A follow-up ("when was it launched?") is retrieved as a question that stands alone.
        standalone = backend.standalone_question(question, tuple(history)) if history else question
        retrieval = self.retrieve(standalone, mode, k, timings)
        request = AnswerRequest(
            question,
            retrieval.passages,
            tuple(history),
            retrieval.query_terms,
            standalone=standalone if standalone != question else "",
        )
        return request, retrieval

    def ask(
        self,
        question: str,
        mode: str | None = None,
        k: int | None = None,
        backend: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Retrieve passages for `question` and answer it with the chosen backend."""
        *_, answer = self._answer(question, mode, k, backend, history, stream=False)
        assert isinstance(answer, Answer)
        return answer

    def ask_stream(
        self,
        question: str,
        mode: str | None = None,
        k: int | None = None,
        backend: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Answer]:
        """Like `ask`, but yields text pieces as the backend produces them, then the Answer."""
        return self._answer(question, mode, k, backend, history, stream=True)

    def _answer(
        self,
        question: str,
        mode: str | None,
        k: int | None,
        backend: str | None,
        history: Sequence[Turn],
        stream: bool,
    ) -> Iterator[str | Answer]:
        started = time.perf_counter()
        chosen = self.backend(backend)
        timings: dict[str, float] = {}
        try:
            request, retrieval = self._request(question, mode, k, history, timings, chosen)
            answering = time.perf_counter()
            pieces = chosen.stream(request) if stream else iter([chosen.answer(request)])
            for piece in pieces:
                if isinstance(piece, Answer):
                    timings["answer"] = (time.perf_counter() - answering) * 1000
                    timings["total"] = (time.perf_counter() - started) * 1000
                    yield replace(
                        piece, timings_ms={**timings, **piece.timings_ms}, mode=retrieval.mode
                    )
                else:
                    yield piece
        except RagError:
            raise
        except Exception as error:  # a backend's bug (ours or a plugin's) must not crash the chat
            logger.exception("answer backend %r failed", chosen.name)
            raise RagError(
                f"Answer backend {chosen.name!r} failed: {type(error).__name__}: {error}"
            ) from error
