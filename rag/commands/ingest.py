"""`rag ingest`: add or update documents in the index."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

HELP = "Add or update documents (files or folders; default: seeds/), or --watch folders."


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
    parser.add_argument(
        "--vector-store",
        metavar="NAME",
        help="faiss or milvus (default: the vector_store setting); a new one gets every "
        "vector, reused, not embedded again",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="keep the index in step with these folders until Ctrl-C: new and changed "
        "files added, deleted ones removed",
    )


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.commands.progress import terminal_progress
    from rag.ingest import require_paths
    from rag.pipeline import Pipeline

    settings = settings_from(args, vector_store=args.vector_store)
    if args.watch:
        return _watch(args, settings)
    paths = require_paths(args.paths or [settings.seeds_dir])
    with terminal_progress(enabled=not args.quiet) as progress:
        report = Pipeline(settings).ingest(
            paths, rebuild=args.rebuild, on_progress=progress, lock_timeout=args.wait
        )
    _print_report(report)
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in report.timings_s.items())
    if timings:
        print(f"time: {timings}")
    # A script must see that nothing it named could be read (each reason is printed above).
    read = report.added or report.updated or report.unchanged or report.removed
    return 1 if report.skipped and not read else 0


def _print_report(report) -> None:
    for problem in report.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    for notice in report.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(report.summary(), flush=True)


def _watch(args: argparse.Namespace, settings) -> int:
    import time

    from rag.errors import RagError
    from rag.pipeline import Pipeline
    from rag.watching import watch

    folders = args.paths or [settings.seeds_dir]
    not_folders = [str(folder) for folder in folders if not folder.is_dir()]
    if not_folders:
        raise RagError(
            f"--watch follows folders; not a folder: {', '.join(not_folders)}. "
            "Create it, or give the folder that holds the file."
        )
    if args.rebuild:
        raise RagError("--watch and --rebuild do not go together; rebuild first, then watch.")

    def report(report) -> None:
        print(time.strftime("%H:%M:%S"), end=" ", flush=True)
        _print_report(report)

    def error(error: RagError) -> None:
        print(f"{time.strftime('%H:%M:%S')} {error}", file=sys.stderr, flush=True)

    # Ctrl-C stops the watch even where the starting shell ignored SIGINT (a background job
    # of a script: Python then keeps it ignored), and a service manager's SIGTERM stops it the
    # same way: both end between or inside ingests, at a whole generation.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"Watching {', '.join(map(str, folders))} (Ctrl-C to stop)...", flush=True)
    try:
        watch(Pipeline(settings), folders, report, error)
    except KeyboardInterrupt:
        # The index keeps its last whole generation; the next watch catches up.
        print("Stopped watching; the index holds every change made before.", flush=True)
    return 0
