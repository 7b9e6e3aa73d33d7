"""Cold start: `rag --help`, `rag docs` and `rag ask` each in a new process on an existing index.

Goal: `rag --help` under 0.3 s. `rag ask` pays for importing torch and loading
the model and the index; that is what a one-off question from the shell costs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, print_table, rag_executable, write_result

GOAL_HELP_S = 0.3
QUESTION = "When was the Bicentennial Framework launched?"


def _time(argv: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(argv, capture_output=True, text=True, env=environment, cwd=REPO)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{completed.stderr[-2000:]}")
    return seconds


def run(repeats: int = 5, write: bool = True) -> dict[str, Any]:
    """Time each command `repeats` times in new processes; print and save the figures."""
    rag = rag_executable()
    with tempfile.TemporaryDirectory(prefix="rag-bench-cold-") as scratch:
        environment = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAG_INDEX_DIR": str(Path(scratch) / "index"),
            "RAG_SEEDS_DIR": str(REPO / "seeds"),
        }
        _time([*rag, "ingest", str(REPO / "seeds")], environment)
        commands = {
            "rag --help": [*rag, "--help"],
            "rag docs": [*rag, "docs"],
            "rag ask": [*rag, "ask", QUESTION],
        }
        rows = []
        for label, argv in commands.items():
            _time(argv, environment)  # the page cache warm, as on a second run
            samples = [_time(argv, environment) for _ in range(repeats)]
            rows.append(
                {
                    "command": label,
                    "runs": repeats,
                    "min_s": min(samples),
                    "median_s": sorted(samples)[len(samples) // 2],
                    "max_s": max(samples),
                }
            )
    print_table(
        f"Cold start, new process each run (goal: rag --help < {GOAL_HELP_S} s)",
        rows,
        ("command", "runs", "min_s", "median_s", "max_s"),
    )
    figures = {"goal_help_s": GOAL_HELP_S, "rows": rows}
    if write:
        write_result("coldstart", figures)
    return figures
