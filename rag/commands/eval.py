"""`rag eval`: measure retrieval, answer, citation and abstention quality."""

from __future__ import annotations

import argparse

HELP = "Run the evaluation question set and report quality."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    from rag.errors import RagError

    raise RagError("`rag eval` is not built yet.")
