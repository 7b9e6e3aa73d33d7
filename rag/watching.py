"""Keep the index in step with folders: `rag ingest --watch DIR` (watchfiles).

Each batch of changes becomes one ingest, and so one atomic index generation: new and
changed files added, files gone (deleted, or renamed away) removed. A watcher stopped at
any moment (Ctrl-C, or killed) loses nothing: the live generation is always a whole one,
and the next start first catches up with everything that changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from threading import Event

from rag.errors import RagError
from rag.ingest import IngestReport
from rag.loading import supported_suffixes
from rag.pipeline import Pipeline

# Changes are grouped until none came for STEP_MS, or for at most DEBOUNCE_MS: a file
# being copied in is read once, whole, and a folder moved in is one generation.
STEP_MS = 300
DEBOUNCE_MS = 1600
# How long the watcher waits before its first sync, and how often it checks for a stop.
TICK_MS = 500
# Another ingest (a `rag ingest`, an upload in the chat) may hold the index for a while.
LOCK_WAIT_S = 600.0


def watch(
    pipeline: Pipeline,
    folders: Sequence[Path],
    on_report: Callable[[IngestReport], None],
    on_error: Callable[[RagError], None],
    stop: Event | None = None,
) -> None:
    """Sync `folders` into the index, then follow their changes until `stop` is set.

    Raises KeyboardInterrupt on Ctrl-C, between ingests or inside one; the index keeps
    its last whole generation either way.
    """
    import watchfiles

    folders = [folder.resolve() for folder in folders]
    synced = False
    # The watch starts before the first sync (at the first tick), so that no change made
    # during that sync is missed.
    for changes in watchfiles.watch(
        *folders,
        watch_filter=_worth_watching,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        rust_timeout=TICK_MS,
        yield_on_timeout=True,
        stop_event=stop,
    ):
        if not synced:
            paths = list(folders)
            synced = True
        elif changes:
            paths = _changed_paths(changes)
        else:
            continue
        try:
            report = pipeline.ingest(paths, lock_timeout=LOCK_WAIT_S, prune_under=folders)
        except RagError as error:  # e.g. nothing readable yet: keep watching
            on_error(error)
            continue
        if report.written or report.skipped or report.notices:
            on_report(report)


def _worth_watching(change, path: str) -> bool:
    # Hidden files and folders (an index kept inside the folder, editors' swap files) and
    # the lock files Office keeps beside an open document never make a document.
    return not any(part.startswith((".", "~$")) for part in Path(path).parts)


def _changed_paths(changes) -> list[Path]:
    """The changed files and folders still there and worth reading; gone ones are pruned."""
    suffixes = set(supported_suffixes())
    paths = set()
    for _change, name in changes:
        path = Path(name)
        if path.is_dir() or (path.is_file() and path.suffix.lower() in suffixes):
            paths.add(path)
    return sorted(paths)
