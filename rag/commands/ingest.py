"""`rag ingest`: add or update documents in the index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Add or update documents (.txt .md .html .pdf, files or folders; default: seeds/)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="start a new index from these paths (drops documents not given)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for another ingest to finish (default: fail at once)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.commands.progress import terminal_progress
    from rag.ingest import require_paths
    from rag.pipeline import Pipeline

    settings = settings_from(args)
    paths = require_paths(args.paths or [settings.seeds_dir])
    with terminal_progress(enabled=not args.quiet) as progress:
        report = Pipeline(settings).ingest(
            paths, rebuild=args.rebuild, on_progress=progress, lock_timeout=args.wait
        )
    for problem in report.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    for notice in report.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(report.summary())
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in report.timings_s.items())
    if timings:
        print(f"time: {timings}")
    return 0
