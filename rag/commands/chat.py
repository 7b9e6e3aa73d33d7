"""`rag chat`: open the chat window in a browser."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

HELP = "Start the chat window (Gradio) on http://127.0.0.1:7860."
USER_VARIABLE = "RAG_CHAT_USER"
PASSWORD_VARIABLE = "RAG_CHAT_PASSWORD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.epilog = (
        f"Set {USER_VARIABLE} and {PASSWORD_VARIABLE} to require that user name and password "
        "(basic sign-in) before the window opens."
    )


def auth_from_environment(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The (user, password) pair to require, from the environment, or None for no sign-in."""
    from rag.errors import RagError

    user = environ.get(USER_VARIABLE, "")
    password = environ.get(PASSWORD_VARIABLE, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = USER_VARIABLE if not user else PASSWORD_VARIABLE
        raise RagError(
            f"Sign-in needs both {USER_VARIABLE} and {PASSWORD_VARIABLE}; {missing} is not set. "
            "Set both, or unset both to open the window without sign-in."
        )
    return user, password


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback  # "[::1]" as in a URL
    except ValueError:
        return False  # a host name: it may resolve to any interface


def open_to_the_network_warning(host: str) -> str:
    return (
        f"warning: listening on {host} without sign-in: anyone who can reach this port can "
        "read the indexed documents and add files to the index. Set "
        f"{USER_VARIABLE} and {PASSWORD_VARIABLE}, or listen on 127.0.0.1."
    )


def check_port(host: str, port: int) -> None:
    """Fail early, and plainly, if `host:port` cannot be listened on."""
    import socket

    from rag.errors import RagError

    if not 1 <= port <= 65535:
        raise RagError(f"--port must be between 1 and 65535; got {port}.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise RagError(
            f"Cannot listen on {host!r}: {error.strerror}. Pass --host 127.0.0.1."
        ) from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The server sets SO_REUSEADDR too, so a port left in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise RagError(
                f"Port {port} on {host} is in use ({error.strerror}). Stop the program using it, "
                f"or pick another port: rag chat --port {port + 1}"
            ) from None


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from rag.cli import settings_from
    from rag.commands.progress import terminal_progress
    from rag.errors import RagError
    from rag.pipeline import Pipeline

    settings = settings_from(args)
    auth = auth_from_environment(os.environ)
    if auth is None and not is_loopback(args.host):
        print(open_to_the_network_warning(args.host), file=sys.stderr)
    check_port(args.host, args.port)
    pipeline = Pipeline(settings)
    with terminal_progress() as progress:
        report = pipeline.ensure_index(on_progress=progress)
    if report is not None:
        print(f"Built the index over {settings.seeds_dir}/: {report.summary()}", file=sys.stderr)
    print("Loading the embedding model…", file=sys.stderr)
    pipeline.embedder.warm_up()
    pipeline.backend().warm_up()

    from ui.app import launch

    print(f"Chat window: http://{args.host}:{args.port}  (Ctrl+C to stop)", file=sys.stderr)
    try:
        launch(pipeline, host=args.host, port=args.port, auth=auth)
    except OSError as error:
        raise RagError(
            f"Cannot serve the chat window on {args.host}:{args.port}: {error}"
        ) from None
    return 0
