"""`rag ask`: answer one question with cited quotes."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from rag.config import RETRIEVAL_MODES

HELP = "Answer a question from the indexed documents (builds the index over seeds/ if none)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="the question, in quotes")
    add_answer_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--passages", action="store_true", help="also show every retrieved passage")
    parser.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="QUESTION",
        help="an earlier question of the conversation (repeat, oldest first); a follow-up "
        "such as 'when was it launched?' is then searched for as a standalone question",
    )
    choose = parser.add_argument_group(
        "which documents to search (repeat any; the kinds combine: a document must match each)"
    )
    choose.add_argument("--doc", action="append", default=[], metavar="ID", help="a document id")
    choose.add_argument(
        "--folder",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="documents whose file is under this folder",
    )
    choose.add_argument(
        "--type", action="append", default=[], metavar="TYPE", help="a file type: pdf, docx, md..."
    )


def add_answer_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that answer questions (ask, eval)."""
    parser.add_argument("--mode", choices=RETRIEVAL_MODES, help="retrieval mode (default: hybrid)")
    parser.add_argument(
        "--k",
        "--top-k",
        dest="top_k",
        type=int,
        metavar="N",
        help="passages to retrieve (default: 5)",
    )
    parser.add_argument("--backend", metavar="NAME", help="answer backend (see `rag backends`)")


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.embedding import Embedder

    settings = settings_from(args, mode=args.mode, top_k=args.top_k, backend=args.backend)
    # The model loads while the rest is imported and the index read: ONNX Runtime builds
    # its session without holding Python's lock, so the two share the machine's cores.
    embedder = Embedder.from_settings(settings)
    embedder.load_in_background()
    from rag.commands.progress import terminal_progress
    from rag.pipeline import Pipeline
    from rag.query import Query
    from rag.types import Turn

    pipeline = Pipeline(settings, embedder=embedder)
    with terminal_progress(enabled=not args.json) as progress:
        report = pipeline.ensure_index(on_progress=progress)
    if report is not None and not args.json:
        print(f"Built the index over {settings.seeds_dir}/: {report.summary()}", file=sys.stderr)
    history = tuple(Turn(question, "") for question in args.history)
    doc_ids = None
    if args.doc or args.folder or args.type:  # else the manifest's document list is not read
        from rag.selection import chosen_documents

        doc_ids = chosen_documents(pipeline.documents(), args.doc, args.folder, args.type)
    answer = pipeline.ask(Query(args.question, history=history, doc_ids=doc_ids))
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    for notice in answer.notices:
        print(f"note: {notice}")
    if answer.citations:
        print()
    for n, citation in enumerate(answer.citations, start=1):
        page = f", {citation.place}" if citation.place else ""
        print(
            f"[{n}] {citation.title}{page} ({citation.doc_id}, characters {citation.start}–{citation.end})"
        )
        print(textwrap.indent(textwrap.fill(f"“{citation.quote}”", width=96), "    "))
    if args.passages:
        print("\nRetrieved passages:")
        for passage in answer.passages:
            c = passage.citation
            print(f"  #{passage.rank} score {passage.score:.4f}  {c.doc_id} [{c.start}:{c.end}]")
            print(textwrap.indent(textwrap.fill(c.quote, width=92), "      "))
    timings = "  ".join(f"{stage} {ms:.1f}ms" for stage, ms in answer.timings_ms.items())
    print(f"\n({answer.backend}, {answer.mode}; {timings})", file=sys.stderr)
    return 0
