"""`rag serve`: the HTTP API (ask, search, documents, OpenAI-compatible chat) for other programs."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "Serve the HTTP API (and an OpenAI-compatible /v1/chat/completions) on 127.0.0.1:8000."
TOKEN_VARIABLE = "RAG_API_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1); any other needs $RAG_API_TOKEN",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=50,
        metavar="MB",
        help="largest upload to /v1/documents, all files together (default: 50)",
    )
    parser.add_argument(
        "--chat",
        action="store_true",
        help="also serve the chat window at /chat on the same port",
    )
    parser.epilog = (
        f"Set {TOKEN_VARIABLE} to require 'Authorization: Bearer <token>' on every /v1 "
        "endpoint; it is required when listening on an address other than this machine's "
        "loopback. The API's own page is at /docs."
    )


def api_token(host: str, environ) -> str | None:
    """The token to require, or None; refuses to serve beyond loopback without one."""
    from rag.commands.chat import is_loopback
    from rag.errors import RagError

    token = environ.get(TOKEN_VARIABLE, "")
    if token and (len(token) < 16 or token != token.strip()):
        raise RagError(
            f"{TOKEN_VARIABLE} must be at least 16 characters with no surrounding spaces; "
            'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    if not token and not is_loopback(host):
        raise RagError(
            f"Refusing to listen on {host} without a token: anyone who can reach it could read "
            f"and change your documents. Set {TOKEN_VARIABLE} (for example to the output of "
            'python -c "import secrets; print(secrets.token_urlsafe(32))"), '
            "or listen on --host 127.0.0.1."
        )
    return token or None


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from rag.cli import settings_from
    from rag.commands.chat import check_port
    from rag.errors import RagError

    settings = settings_from(args)
    token = api_token(args.host, os.environ)
    if not 0 < args.max_upload_mb <= 10_000:
        raise RagError(f"--max-upload-mb must be between 0 and 10000; got {args.max_upload_mb:g}.")
    check_port(args.host, args.port)

    import uvicorn

    from rag.api.http import Limits, create_app
    from rag.api.service import Service

    pipeline = ready_pipeline(settings, "POST documents to /v1/documents to start one.")
    service = Service(pipeline)
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * (1 << 20)))
    app = create_app(service, token=token, limits=limits)
    if args.chat:
        mount_chat(app, pipeline, token)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"API: http://{shown}:{args.port}/v1  (page: http://{shown}:{args.port}/docs"
        + (f", chat: http://{shown}:{args.port}/chat" if args.chat else "")
        + (f"; token required, from ${TOKEN_VARIABLE}" if token else "")
        + ")  Ctrl+C to stop",
        file=sys.stderr,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        service.close()
    return 0


def ready_pipeline(settings, no_index_hint: str):
    """A Pipeline with its model loaded, and its index built over seeds/ if it has none."""
    from rag.commands.progress import terminal_progress
    from rag.pipeline import Pipeline

    pipeline = Pipeline(settings)
    if not pipeline.store.exists() and settings.seeds_dir.is_dir():
        with terminal_progress() as progress:
            report = pipeline.ensure_index(on_progress=progress)
        if report is not None:
            print(
                f"Built the index over {settings.seeds_dir}/: {report.summary()}", file=sys.stderr
            )
    if not pipeline.store.exists():
        print(f"No index in {settings.index_dir} yet: {no_index_hint}", file=sys.stderr)
    print("Loading the embedding model…", file=sys.stderr)
    # Now, not on the first question, which a client may time out on.
    pipeline.embedder.warm_up()
    return pipeline


def mount_chat(app, pipeline, token: str | None) -> None:
    """The Gradio chat window at /chat of the same server."""
    from rag.commands.chat import auth_from_environment
    from rag.errors import RagError
    from ui.app import mount

    auth = auth_from_environment(os.environ)
    if token and auth is None:
        # A browser sends no bearer token: the window would be open to all who reach the API.
        raise RagError(
            "The chat window cannot use the API token: set RAG_CHAT_USER and RAG_CHAT_PASSWORD "
            "to protect /chat with a sign-in, or serve without --chat."
        )
    mount(app, pipeline, "/chat", auth=auth)
