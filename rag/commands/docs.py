"""`rag docs`: list what is indexed."""

from __future__ import annotations

import argparse
import json

HELP = "List the indexed documents with their chunk counts."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rag.cli import settings_from
    from rag.pipeline import Pipeline

    documents = Pipeline(settings_from(args)).documents()
    if args.json:
        print(json.dumps([asdict(d) for d in documents], indent=2, ensure_ascii=False))
        return 0
    if not documents:
        print("The index holds no documents.")
        return 0
    width = max(len(d.doc_id) for d in documents)
    print(f"{'DOCUMENT':<{width}}  CHUNKS  CHARS  TITLE")
    for d in documents:
        print(f"{d.doc_id:<{width}}  {d.chunks:>6}  {d.characters:>5}  {d.title}")
    print(f"{len(documents)} documents, {sum(d.chunks for d in documents)} chunks")
    return 0
