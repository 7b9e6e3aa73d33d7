"""`rag chat`: open the chat window in a browser."""

from __future__ import annotations

import argparse

HELP = "Start the chat window (Gradio) on http://127.0.0.1:7860."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")


def run(args: argparse.Namespace) -> int:
    from rag.errors import RagError

    raise RagError("The chat window is not built yet; use `rag ask`.")
