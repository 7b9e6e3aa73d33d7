"""Facts about the seed corpus and the CLI that several test modules share."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
FRAMEWORK_DOC = "003_fc7eb9e95de41056"
UNDERSTANDING_DOC = "000_57dda5fb9b67abed"


def rag_command(*args: str) -> list[str]:
    """The argv that runs the installed `rag` CLI with this interpreter."""
    return [sys.executable, "-m", "rag", *args]
