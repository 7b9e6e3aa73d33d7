"""`rag mcp`: an MCP server over stdio, for agents that ask the documents."""

from __future__ import annotations

import argparse
import contextlib
import sys

HELP = "Serve the documents to an MCP client over stdio (tools ask and search)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "An MCP client starts this command itself, e.g. in its config: "
        '{"command": "rag", "args": ["mcp", "--index", "/path/to/.rag/index"]}. '
        "Messages for a person go to stderr; stdout carries the protocol only."
    )


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from

    settings = settings_from(args)

    import anyio

    from rag.api.mcp_server import MCP_NAMES, build_server
    from rag.api.service import Service
    from rag.commands.serve import ready_pipeline

    # stdout is the protocol's: nothing printed while getting ready may land there.
    with contextlib.redirect_stdout(sys.stderr):
        pipeline = ready_pipeline(
            settings, "the tools will say so until `rag ingest PATH` builds one."
        )
    service = Service(pipeline, names=MCP_NAMES)
    try:
        anyio.run(build_server(service).run_stdio_async)
    finally:
        service.close()
    return 0
