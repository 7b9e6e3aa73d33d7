"""One service behind every protocol: checks a request, runs it on the shared Pipeline.

The HTTP API and the MCP server both call this, so a question, a mode, a k or a
backend name is checked in one place, and every failure becomes an `ApiError`
that carries an HTTP status, a short machine code and a message a person can
act on.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from rag.api.streaming import PiecePump
from rag.backends import final_answer
from rag.errors import IndexBusyError, IndexMissingError, LastDocumentError, RagError
from rag.pipeline import DocumentInfo, Pipeline
from rag.query import Query
from rag.selection import ChoiceError, ChoiceNames, chosen_documents
from rag.types import Answer, Document, Retrieval, Turn

# An upload waits this long for another writer (an ingest, another upload) to finish.
WRITE_LOCK_TIMEOUT_S = 120
# Longer names cannot be written on most file systems.
MAX_FILE_NAME_BYTES = 255
MAX_HISTORY_TURNS = 50
# Each way a choice of documents fails: its HTTP status, code and the field at fault
# (none when the kinds given match no document together).
_CHOICE_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "unknown_document": (404, "document_not_found", "doc_ids"),
    "unknown_type": (422, "unknown_type", "types"),
    "bad_folder": (422, "invalid_folder", "folders"),
    "no_match": (404, "no_matching_documents", None),
}


@dataclass(frozen=True)
class ProtocolNames:
    """How a protocol's clients reach what the Service's messages point them to.

    The Service is shared, its messages are not: an HTTP client lists the documents
    with GET /v1/documents, an MCP agent by reading the rag://documents resource.
    """

    # The document choices and where the documents are listed.
    choices: ChoiceNames
    # Where the answer backends are listed.
    backends: str
    # How documents are added.
    adding: str


HTTP_NAMES = ProtocolNames(
    ChoiceNames("doc_ids", "folders", "types", "GET /v1/documents"),
    backends="GET /v1/models",
    adding="POST files to /v1/documents, or run `rag ingest PATH`",
)


class ApiError(Exception):
    """A request that cannot be served; `status` is the HTTP status that says why."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    def to_json(self) -> dict[str, Any]:
        # OpenAI's error shape, so its clients show our message as they show theirs.
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {
            "error": {"message": self.message, "type": kind, "code": self.code, "param": self.param}
        }


@dataclass(frozen=True)
class UploadedFile:
    """A file as a client sent it: the name it gave and a stream of its bytes."""

    name: str
    content: BinaryIO


@dataclass(frozen=True)
class UploadReport:
    """What adding uploaded files did; file names are the client's, not our folder's."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    # Files read, but not wholly (rows of a huge sheet left out).
    notices: tuple[str, ...] = ()
    documents: int = 0
    chunks: int = 0
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "updated": list(self.updated),
            "unchanged": list(self.unchanged),
            "skipped": list(self.skipped),
            "notices": list(self.notices),
            "documents": self.documents,
            "chunks": self.chunks,
            "summary": self.summary,
        }


def supported_suffixes() -> tuple[str, ...]:
    """The file types the document loader reads, as lower-case suffixes."""
    from rag import loading

    return loading.supported_suffixes()


class Service:
    """The shared Pipeline, with every request checked first. Thread-safe like the Pipeline."""

    def __init__(
        self, pipeline: Pipeline, upload_dir: Path | None = None, names: ProtocolNames = HTTP_NAMES
    ) -> None:
        from rag.backends import backend_names

        self.pipeline = pipeline
        self.names = names
        # Read once: a backend installed later needs a restart anyway (its code is not loaded).
        self.backend_names = tuple(backend_names())
        self._upload_dir = upload_dir
        self._owns_upload_dir = upload_dir is None

    # -- checks -------------------------------------------------------------------------
    def check_backend(self, name: str | None, param: str = "backend") -> str:
        name = name or self.pipeline.settings.backend
        if name not in self.backend_names:
            known = ", ".join(self.backend_names)
            raise ApiError(
                400,
                "unknown_backend",
                f"There is no answer backend named {name!r}. Registered backends: {known} "
                f"({self.names.backends} lists them).",
                param,
            )
        return name

    def choose_documents(
        self,
        doc_ids: Sequence[str] | None = None,
        folders: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> frozenset[str] | None:
        """The ids of the documents chosen by id, folder and type (as `rag ask --doc/--folder/
        --type` chooses them), or None to search all; an ApiError for a choice that matches none.
        """
        given = {"doc_ids": doc_ids, "folders": folders, "types": types}
        for param, values in given.items():
            if values is not None and not values:
                raise ApiError(
                    422,
                    "no_documents",
                    f"{param} is empty, so nothing would be searched; leave it out to search "
                    "every document.",
                    param,
                )
        if all(values is None for values in given.values()):
            return None
        try:
            return chosen_documents(
                self.documents(), doc_ids or (), folders or (), types or (), self.names.choices
            )
        except ChoiceError as error:
            status, code, param = _CHOICE_ERRORS[error.reason]
            raise ApiError(status, code, str(error), param) from None

    def query(
        self,
        question: Any,
        mode: str | None = None,
        k: int | None = None,
        backend: str | None = None,
        history: Sequence[Turn] = (),
        doc_ids: Sequence[str] | None = None,
        folders: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> Query:
        """The request as a checked Query, or an ApiError naming what is wrong with it."""
        if backend is not None:
            self.check_backend(backend)
        if len(history) > MAX_HISTORY_TURNS:
            raise ApiError(
                422,
                "history_too_long",
                f"history has {len(history)} turns; at most {MAX_HISTORY_TURNS} are taken. "
                "Send only the latest turns.",
                "history",
            )
        chosen = self.choose_documents(doc_ids, folders, types)
        try:
            return Query(
                question, mode=mode, k=k, backend=backend, history=tuple(history), doc_ids=chosen
            )
        except RagError as error:
            raise ApiError(422, "invalid_request", str(error)) from None

    # -- asking ---------------------------------------------------------------------------
    def ask(self, query: Query) -> Answer:
        """The answer, as `rag ask --json` gives it."""
        return final_answer(self.ask_stream(query))

    def ask_stream(self, query: Query) -> Iterator[str | Answer]:
        """Text pieces, then the Answer. Errors before the first piece raise here, at the call."""
        with self.translated_errors():
            pieces = self.pipeline.ask_stream(query)
            # Retrieval runs on the first step: its errors (no index...) must come out now,
            # while an HTTP status can still say so.
            first = next(pieces)
        return self._resumed(first, pieces)

    def ask_stream_started(self, query: Query, wait_s: float) -> PiecePump:
        """The answer's pieces read in a thread of their own, once the first has come or
        `wait_s` has passed.

        Errors of retrieval (no index...) take milliseconds and raise here, while an HTTP
        status can still say so; a backend slower than `wait_s` (a language model reading
        its prompt) is waited for inside the stream, which says it is alive meanwhile.
        """
        with self.translated_errors():
            pieces = self.pipeline.ask_stream(query)
        pump = PiecePump(self._translated(pieces))
        pump.wait_first(wait_s)
        return pump

    def search(self, query: Query) -> Retrieval:
        """The passages retrieved for the question, without an answer."""
        with self.translated_errors():
            return self.pipeline.retrieve(query)

    # -- documents --------------------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        """The indexed documents; none when there is no index yet."""
        if not self.pipeline.store.exists():
            return []
        with self.translated_errors():
            return self.pipeline.documents()

    def document(self, doc_id: str) -> Document:
        """One indexed document, with the text its citations' offsets count in."""
        missing = self._not_indexed(doc_id)
        if not self.pipeline.store.exists():
            raise missing
        with self.translated_errors():
            data = self.pipeline.index()
        row = data.doc_rows.get(doc_id)
        if row is None:
            raise missing
        return data.documents[row]

    def add_files(self, files: Sequence[UploadedFile]) -> UploadReport:
        """Index uploaded files; they are written only to this service's own folder."""
        if not files:
            raise ApiError(
                400, "no_files", "No files were sent; attach one or more files.", "files"
            )
        names = [safe_file_name(f.name) for f in files]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ApiError(
                400,
                "duplicate_file_name",
                f"Two files are named {duplicates[0]!r}; each file needs its own name.",
                "files",
            )
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.upload_dir()))
        try:
            for name, upload in zip(names, files, strict=True):
                with (folder / name).open("xb") as out:
                    shutil.copyfileobj(upload.content, out, 1 << 20)
            existed = self.pipeline.store.exists()
            try:
                report = self.pipeline.ingest([folder], lock_timeout=WRITE_LOCK_TIMEOUT_S)
            except IndexBusyError:
                raise
            except RagError as error:
                if existed:  # a damaged index, not the files
                    raise
                # With no index yet, an ingest refuses only when no file could be read.
                raise ApiError(
                    422, "unreadable_files", _without_folder(str(error), folder), "files"
                ) from None
        except RagError as error:
            raise self.api_error(error) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        skipped = tuple(_without_folder(problem, folder) for problem in report.skipped)
        if not (report.added or report.updated or report.unchanged):
            raise ApiError(
                422,
                "unreadable_files",
                "None of the files could be indexed: " + "; ".join(skipped),
                "files",
            )
        return UploadReport(
            added=tuple(report.added),
            updated=tuple(report.updated),
            unchanged=tuple(report.unchanged),
            skipped=skipped,
            notices=tuple(_without_folder(notice, folder) for notice in report.notices),
            documents=report.n_documents,
            chunks=report.n_chunks,
            summary=_without_folder(report.summary(), folder),
        )

    def remove(self, doc_id: str) -> dict[str, Any]:
        """Take one document out of the index."""
        missing = self._not_indexed(doc_id)
        if not self.pipeline.store.exists():
            raise missing
        with self.translated_errors():
            report = self.pipeline.remove([doc_id], lock_timeout=WRITE_LOCK_TIMEOUT_S)
        if not report.removed:
            raise missing
        return {
            "removed": list(report.removed),
            "documents": report.n_documents,
            "chunks": report.n_chunks,
            # What the removal did besides (the vectors moved back to another store).
            "notices": list(report.notices),
        }

    # -- errors, in this protocol's names ----------------------------------------------------
    def api_error(self, error: RagError) -> ApiError:
        """The HTTP status and code for a RagError raised after the request was checked."""
        if isinstance(error, IndexMissingError):
            return ApiError(
                409,
                "no_index",
                f"{error} Add documents first ({self.names.adding}), "
                "or start the server where a seeds/ folder is.",
            )
        if isinstance(error, IndexBusyError):
            return ApiError(503, "index_busy", str(error))
        if isinstance(error, LastDocumentError):
            # A refusal, not a failure: the client can add a document first.
            return ApiError(
                409,
                "last_document",
                f"{error} Add another document first ({self.names.adding}), then delete this one.",
            )
        # A damaged index or a failing backend: the operator's to fix, and the message says how.
        return ApiError(500, "server_error", str(error))

    def translated_errors(self) -> _TranslatedErrors:
        """A `with` block in which a RagError becomes the matching ApiError."""
        return _TranslatedErrors(self)

    def _not_indexed(self, doc_id: str) -> ApiError:
        return ApiError(
            404,
            "document_not_found",
            f"No document with id {doc_id!r} is indexed; "
            f"{self.names.choices.listing} lists the ids.",
            "doc_id",
        )

    def _resumed(self, first: str | Answer, rest: Iterator[str | Answer]) -> Iterator[str | Answer]:
        yield first
        yield from self._translated(rest)

    def _translated(self, pieces: Iterator[str | Answer]) -> Iterator[str | Answer]:
        with self.translated_errors():
            yield from pieces

    # -- the upload folder ----------------------------------------------------------------
    def upload_dir(self) -> Path:
        """This service's own private folder for uploads, made on first use."""
        if self._upload_dir is None:
            # mkdtemp makes it readable by this user only.
            self._upload_dir = Path(tempfile.mkdtemp(prefix="rag-serve-"))
        return self._upload_dir

    def close(self) -> None:
        """Remove the upload folder, if this service made it."""
        if self._owns_upload_dir and self._upload_dir is not None:
            shutil.rmtree(self._upload_dir, ignore_errors=True)
            self._upload_dir = None


def safe_file_name(name: Any) -> str:
    """The last component of a client's file name, or an ApiError if it cannot be used.

    A client may send "../../etc/passwd" or "C:\\Users\\x\\report.pdf": only the
    final name is kept, so nothing is ever written outside our own folder.
    """
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "invalid_file_name", "A file was sent without a name.", "files")
    base = PurePosixPath(PureWindowsPath(name).name).name.strip()
    if (
        not base
        or base.startswith(".")
        or any(ord(c) < 32 or c == "\x7f" for c in base)
        or len(base.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES
    ):
        raise ApiError(
            400,
            "invalid_file_name",
            f"The file name {name!r} cannot be used: give a plain name such as report.pdf "
            f"(no leading dot, no control characters, at most {MAX_FILE_NAME_BYTES} bytes).",
            "files",
        )
    suffix = PurePosixPath(base).suffix.lower()
    if suffix not in supported_suffixes():
        raise ApiError(
            415,
            "unsupported_file_type",
            f"{base}: unsupported file type {suffix or '(none)'!r}; "
            f"supported: {', '.join(supported_suffixes())}.",
            "files",
        )
    return base


class _TranslatedErrors:
    """`Service.translated_errors`: a RagError leaving the block becomes its ApiError."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, RagError):
            raise self.service.api_error(error) from None
        return False


def _without_folder(message: str, folder: Path) -> str:
    """`message` naming uploaded files by the client's names, not by our folder's paths."""
    return message.replace(f"{folder}/", "").replace(str(folder), "the upload")
