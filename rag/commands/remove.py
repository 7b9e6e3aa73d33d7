"""`rag remove`: take documents out of the index."""

from __future__ import annotations

import argparse
import sys

HELP = "Remove documents from the index by id (see `rag docs`)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("doc_ids", nargs="+", metavar="DOC_ID")


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.loading import printable_id
    from rag.pipeline import Pipeline

    # A name of a file whose bytes are not UTF-8 (caf\xe9) is stored as "caf�"; the shell
    # passes its bytes, which become that same id here.
    doc_ids = [printable_id(doc_id) for doc_id in args.doc_ids]
    report = Pipeline(settings_from(args)).remove(doc_ids)
    for problem in report.skipped:
        print(f"not removed: {problem}", file=sys.stderr)
    for notice in report.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(report.summary())
    return 0 if report.removed else 1
