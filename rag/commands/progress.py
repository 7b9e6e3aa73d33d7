"""Ingest progress on the terminal: the library's one progress callback drawn as tqdm bars.

The library only reports (stage, done, total); showing it is the edge's job, as the
chat window shows the same reports in Gradio's bar (ui/app.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

    from rag.ingest import ProgressCallback

# A stage done sooner than this draws no bar, so a small ingest stays quiet.
SHOW_AFTER_S = 0.5


class TerminalProgress:
    """A progress callback that draws one tqdm bar per stage on stderr."""

    def __init__(self, show_after_s: float = SHOW_AFTER_S) -> None:
        self.show_after_s = show_after_s
        self._stage = ""
        self._bar: tqdm[Any] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage or self._bar is None:
            from tqdm import tqdm

            from rag.ingest import STAGE_UNITS

            self.close()
            self._stage = stage
            self._bar = tqdm(
                total=total,
                desc=stage,
                unit=STAGE_UNITS.get(stage, "step"),
                delay=self.show_after_s,
                file=sys.stderr,
            )
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """End the current stage's bar (a bar never drawn leaves nothing behind)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def terminal_progress(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A TerminalProgress closed on exit, or None (no progress shown) when not `enabled`."""
    if not enabled:
        yield None
        return
    progress = TerminalProgress()
    try:
        yield progress
    finally:
        progress.close()
