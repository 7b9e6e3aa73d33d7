"""The HTTP API served by `rag serve`: FastAPI over the shared `Service`.

Every error is JSON in OpenAI's shape, `{"error": {"message", "type", "code",
"param"}}`, with the HTTP status that says whose fault it is; the message says
what to do. The OpenAPI page (/docs, /redoc) is served from files installed
with the package, so it works with no network.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.api.chat_completions import FIRST_PIECE_WAIT_S, Completion, conversation
from rag.api.service import (
    MAX_HISTORY_TURNS,
    ApiError,
    Service,
    UploadedFile,
    supported_suffixes,
)
from rag.backends import final_answer
from rag.config import MAX_TOP_K
from rag.types import Turn

TOKEN_VARIABLE = "RAG_API_TOKEN"
MAX_CHAT_MESSAGES = 200
MAX_DOC_IDS = 1000
log = logging.getLogger(__name__)

Mode = Literal["dense", "bm25", "hybrid"]
_BEARER = HTTPBearer(auto_error=False, description=f"The token set in ${TOKEN_VARIABLE}.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


@dataclass(frozen=True)
class Limits:
    """How much one request may send."""

    # A JSON request: a question, its options and a conversation.
    max_json_bytes: int = 1 << 20
    # One upload request, all its files together.
    max_upload_bytes: int = 50 << 20
    max_upload_files: int = 100


# -- request bodies --------------------------------------------------------------------------
class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    answer: StrictStr = ""


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr = Field(description="The question, in plain words.")
    mode: Mode | None = Field(None, description="Retrieval mode (default: the configured one).")
    k: StrictInt | None = Field(None, ge=1, le=MAX_TOP_K, description="Passages to retrieve.")
    doc_ids: list[StrictStr] | None = Field(
        None, max_length=MAX_DOC_IDS, description="Search only these documents (GET /v1/documents)."
    )
    folders: list[StrictStr] | None = Field(
        None,
        max_length=MAX_DOC_IDS,
        description="Search only documents whose file is under one of these folders (paths on "
        "the server, as each document's `source` shows them).",
    )
    types: list[StrictStr] | None = Field(
        None,
        max_length=MAX_DOC_IDS,
        description="Search only documents of these file types: pdf, docx, md...",
    )


class AskBody(SearchBody):
    backend: StrictStr | None = Field(None, description="Answer backend (GET /v1/models).")
    history: list[HistoryTurn] = Field(
        default_factory=list, description="Earlier turns of the conversation, oldest first."
    )


class ChatMessage(BaseModel):
    # OpenAI clients send fields we do not use (name, tool_calls...): accepted and ignored.
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Any] | None = None


class ChatCompletionBody(BaseModel):
    # temperature, max_tokens, top_p... mean nothing to a quoting answer: accepted and ignored.
    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(description="An answer backend's name (GET /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_CHAT_MESSAGES)
    stream: StrictBool = False
    stream_options: dict[str, Any] | None = None
    n: StrictInt | None = Field(None, ge=1, le=1, description="Only one answer is given.")
    mode: Mode | None = Field(None, description="Our extension: the retrieval mode.")
    k: StrictInt | None = Field(None, ge=1, le=MAX_TOP_K, description="Our extension: passages.")
    doc_ids: list[StrictStr] | None = Field(
        None, max_length=MAX_DOC_IDS, description="Our extension: search only these documents."
    )
    folders: list[StrictStr] | None = Field(
        None, max_length=MAX_DOC_IDS, description="Our extension: only documents under these."
    )
    types: list[StrictStr] | None = Field(
        None, max_length=MAX_DOC_IDS, description="Our extension: only these file types."
    )


# -- the app ---------------------------------------------------------------------------------
def create_app(service: Service, token: str | None = None, limits: Limits = Limits()) -> FastAPI:
    """The API over `service`; with a `token`, every /v1 endpoint requires it as a bearer."""
    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(
        title="rag",
        summary="Ask questions of your documents; every answer quotes its sources word for word.",
        version="1",
    )
    app.state.service = service
    app.add_middleware(BodyLimit, limits=limits)
    # Added last, so it runs first: an upload without the token is refused before a byte
    # of its body is read (FastAPI reads a form before the endpoint's dependencies run).
    app.add_middleware(UploadsNeedTheToken, token=token)
    _add_error_handlers(app)

    def require_token(credentials: Credentials) -> None:
        problem = token_problem(credentials.credentials if credentials else None, token)
        if problem is not None:
            raise problem

    guarded = [Depends(require_token)]

    @app.get("/healthz", tags=["server"])
    def healthz() -> dict[str, Any]:
        """Whether the server is up; needs no token and shows no document."""
        return {"status": "ok", "index": "ready" if service.pipeline.store.exists() else "empty"}

    @app.get("/v1/models", tags=["chat"], dependencies=guarded)
    def models() -> dict[str, Any]:
        """The answer backends, as the "models" an OpenAI client can pick."""
        from rag.backends import describe_backends

        default = service.pipeline.settings.backend
        return {
            "object": "list",
            "data": [
                {
                    "id": info.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "rag",
                    "description": info.description,
                    "available": info.availability.ok,
                    "reason": info.availability.reason,
                    "default": info.name == default,
                }
                for info in describe_backends(service.pipeline.settings)
            ],
        }

    @app.post("/v1/ask", tags=["questions"], dependencies=guarded)
    def ask(body: AskBody) -> dict[str, Any]:
        """An answer with its citations: the same object as `rag ask --json`."""
        history = tuple(Turn(turn.question, turn.answer) for turn in body.history)
        query = service.query(
            body.question,
            body.mode,
            body.k,
            body.backend,
            history,
            body.doc_ids,
            body.folders,
            body.types,
        )
        return service.ask(query).to_json()

    @app.post("/v1/search", tags=["questions"], dependencies=guarded)
    def search(body: SearchBody) -> dict[str, Any]:
        """The passages retrieved for a question, with their citations; no answer."""
        query = service.query(
            body.question,
            body.mode,
            body.k,
            doc_ids=body.doc_ids,
            folders=body.folders,
            types=body.types,
        )
        retrieval = service.search(query)
        return {
            "question": retrieval.question,
            "mode": retrieval.mode,
            "passages": [passage.to_json() for passage in retrieval.passages],
        }

    @app.get("/v1/documents", tags=["documents"], dependencies=guarded)
    def documents() -> dict[str, Any]:
        """The indexed documents."""
        return {"documents": [asdict(info) for info in service.documents()]}

    @app.get("/v1/documents/{doc_id}", tags=["documents"], dependencies=guarded)
    def document(doc_id: str) -> dict[str, Any]:
        """One document with its full text: `text[start:end]` is a citation's quote."""
        found = service.document(doc_id)
        return {
            "doc_id": found.doc_id,
            "title": found.title,
            "source": found.source,
            "page_starts": list(found.page_starts),
            "page_names": list(found.page_names),
            "text": found.text,
        }

    @app.post("/v1/documents", tags=["documents"], dependencies=guarded, status_code=201)
    async def add_documents(
        files: Annotated[list[UploadFile], File(description="Files to add or update.")],
    ) -> dict[str, Any]:
        """Add or update documents; a file's id is its name without the extension."""
        if len(files) > limits.max_upload_files:
            raise ApiError(
                413,
                "too_many_files",
                f"{len(files)} files were sent; at most {limits.max_upload_files} go in one "
                "request. Send them in several requests.",
                "files",
            )
        uploads = [UploadedFile(f.filename or "", f.file) for f in files]
        report = await run_in_threadpool(service.add_files, uploads)
        return report.to_json()

    @app.delete("/v1/documents/{doc_id}", tags=["documents"], dependencies=guarded)
    def remove_document(doc_id: str) -> dict[str, Any]:
        """Take a document out of the index."""
        return service.remove(doc_id)

    @app.post("/v1/chat/completions", tags=["chat"], dependencies=guarded)
    def chat_completions(body: ChatCompletionBody):
        """OpenAI-compatible chat: the model is a backend; citations ride in `citations`."""
        if body.model not in service.backend_names:
            raise ApiError(
                404,
                "model_not_found",
                f"There is no model {body.model!r}; the models are the answer backends: "
                f"{', '.join(service.backend_names)} (GET /v1/models).",
                "model",
            )
        chat = conversation([message.model_dump() for message in body.messages])
        completion = Completion(body.model, chat.prompt_text)
        query = service.query(
            chat.question,
            body.mode,
            body.k,
            body.model,
            # A chat front end resends the whole conversation on every message: its latest
            # turns are the history (the pipeline reads the last few), not a request to refuse.
            chat.history[-MAX_HISTORY_TURNS:],
            body.doc_ids,
            body.folders,
            body.types,
        )
        if not body.stream:
            return completion.whole(final_answer(service.ask_stream(query)))
        pieces = service.ask_stream_started(query, wait_s=FIRST_PIECE_WAIT_S)
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return ClosingStreamingResponse(
            completion.events(pieces, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app


class ClosingStreamingResponse(StreamingResponse):
    """A streamed response whose events are closed as soon as it ends, a client gone included.

    Starlette leaves a sync body suspended until garbage collection, and with it the
    backend's stream: a language model on this machine's cores went on writing to its
    `max_tokens` for a client that had pressed Stop. Closing the events closes the
    backend's generator, which closes its connection to the model.
    """

    def __init__(self, events: Iterator[str], **kwargs: Any) -> None:
        super().__init__(_in_threadpool_closing(events), **kwargs)

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def _in_threadpool_closing(events: Iterator[str]) -> AsyncIterator[str]:
    """`events` read in worker threads (each step may wait on a backend), closed at the end."""
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        # No step is running now: a cancelled step's thread is waited for before the
        # cancellation arrives here.
        close = getattr(events, "close", None)
        if close is not None:
            close()


# -- errors ----------------------------------------------------------------------------------
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        if error.status >= 500:
            # The operator's to fix (a damaged index, a failing backend): said in the log too.
            log.error("%s %s: %s", request.method, request.url.path, error.message)
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(error.to_json(), status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problem = describe_validation_errors(error.errors())
        return JSONResponse(problem.to_json(), status_code=problem.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"There is no endpoint at {request.url.path}; /docs lists them."
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; /docs lists them."
        else:
            message = str(error.detail)
        problem = ApiError(error.status_code, _code_for(error.status_code), message)
        return JSONResponse(problem.to_json(), status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        problem = ApiError(
            500,
            "internal_error",
            f"The server failed: {type(error).__name__}: {error}. Its log has the details.",
        )
        return JSONResponse(problem.to_json(), status_code=500)


def describe_validation_errors(errors: Any) -> ApiError:
    """One ApiError naming each bad field of a request body, in words."""
    problems: list[str] = []
    param = None
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        field = ".".join(location)
        param = param or field or None
        kind = error.get("type", "")
        if kind == "json_invalid":
            detail = (error.get("ctx") or {}).get("error", "")
            return ApiError(400, "invalid_json", f"The request body is not valid JSON ({detail}).")
        if not field and isinstance(error.get("input"), bytes):
            return ApiError(
                400,
                "invalid_json",
                "The request body must be a JSON object, sent with "
                "'Content-Type: application/json'.",
            )
        if kind == "missing" and not field:
            return ApiError(400, "missing_body", "The request has no body; send a JSON object.")
        if kind == "missing":
            problems.append(f"'{field}' is required")
        elif kind == "extra_forbidden":
            problems.append(f"'{field}' is not a field of this request")
        elif field:
            problems.append(f"'{field}': {error.get('msg')} (got {_short(error.get('input'))})")
        else:
            problems.append(f"{error.get('msg')} (got {_short(error.get('input'))})")
    return ApiError(422, "invalid_request", "; ".join(problems) + ". See /docs.", param)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _code_for(status: int) -> str:
    return {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
    }.get(status, f"http_{status}")


# -- limits ----------------------------------------------------------------------------------
def token_problem(given: str | None, token: str | None) -> ApiError | None:
    """Why a request's bearer token (`given`, None if it sent none) does not open a server
    whose token is `token`; None when it does, or when the server needs none."""
    if token is None:
        return None
    if not given:
        return ApiError(
            401,
            "missing_token",
            "This server requires a token: send the header 'Authorization: Bearer TOKEN' "
            f"with the token set in ${TOKEN_VARIABLE} where the server runs.",
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        return ApiError(
            401, "invalid_token", f"The bearer token is not the one set in ${TOKEN_VARIABLE}."
        )
    return None


class UploadsNeedTheToken:
    """Refuses an upload without the server's token before its body is read (up to the
    upload limit, 50 MiB by default, would otherwise be taken from anyone)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is not None and scope["type"] == "http" and _is_upload(scope):
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, given = header.decode("latin-1").partition(" ")
            problem = token_problem(
                given.strip() if scheme.lower() == "bearer" else None, self.token
            )
            if problem is not None:
                await _send_json(send, problem)
                return
        await self.app(scope, receive, send)


def _is_upload(scope: Scope) -> bool:
    return scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/documents"


class BodyLimit:
    """Refuses a request body over its limit, declared or not (chunked), with a JSON 413."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = _is_upload(scope)
        limit = self.limits.max_upload_bytes if is_upload else self.limits.max_json_bytes
        what = "an upload" if is_upload else "a request"
        too_large = ApiError(
            413,
            "request_too_large",
            f"The request body is over the {_size(limit)} allowed for {what}."
            + (" Send fewer or smaller files." if is_upload else " Send a shorter request."),
        )
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, too_large)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body on as is.
                    raise StarletteHTTPException(413, too_large.message)
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, error: ApiError) -> None:
    import json

    body = json.dumps(error.to_json()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *([(b"www-authenticate", b"Bearer")] if error.status == 401 else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _size(n_bytes: int) -> str:
    return f"{n_bytes / (1 << 20):g} MiB" if n_bytes >= 1 << 20 else f"{n_bytes / 1024:g} KiB"


def upload_types() -> str:
    """The file types /v1/documents takes, for the help text."""
    return " ".join(supported_suffixes())
