"""Query: warm latency per stage for each retrieval mode, against the floor of embedding alone.

Over the eval questions and the seed index, with the extractive backend, and once more
in hybrid mode with the reader on (`use_reader`; its stage is "read"). The floor is the
time to embed the question by itself, measured in the same run just before each
question is asked, so both see the same machine state.
Goals: end-to-end p50 no more than 1.2x the floor's p50 (reader off); the reader adds
no more than 60 ms p50 a question.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, percentiles, print_table, run_worker, write_result

STAGES = ("embed_question", "dense_search", "bm25_search", "fusion", "read", "answer", "total")
MODES = ("dense", "bm25", "hybrid")
# The reader's row: hybrid retrieval, the extractive backend with `use_reader = true`.
READER_ROW = "hybrid+reader"
QUESTIONS = REPO / "eval" / "questions.jsonl"
GOAL_RATIO = 1.2
GOAL_READ_P50_MS = 60


def load_questions(limit: int | None = None) -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    return questions[:limit] if limit else questions


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Build the seed index, then ask every question in every mode."""
    from rag.config import Settings
    from rag.pipeline import Pipeline
    from rag.query import Query

    questions = load_questions(arguments.get("limit"))
    rounds = int(arguments.get("rounds", 1))
    with tempfile.TemporaryDirectory(prefix="rag-bench-query-") as scratch:
        settings = Settings(index_dir=Path(scratch) / "index", seeds_dir=REPO / "seeds")
        pipeline = Pipeline(settings)
        pipeline.ensure_index()
        embedder = pipeline.embedder
        reading = Pipeline(
            settings.with_options("backends", "extractive", use_reader=True), embedder=embedder
        )
        for each in (pipeline, reading):  # loads the index, the backend and the reader
            each.ask(Query(questions[0], backend="extractive"))
        rows = []
        for mode in (*MODES, READER_ROW):
            asking = reading if mode == READER_ROW else pipeline
            samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "floor")}
            for _ in range(rounds):
                for question in questions:
                    started = time.perf_counter()
                    embedder.embed_query(question)
                    samples["floor"].append((time.perf_counter() - started) * 1000)
                    answer = asking.ask(
                        Query(question, mode=mode.split("+")[0], backend="extractive")
                    )
                    for stage in STAGES:
                        if stage in answer.timings_ms:
                            samples[stage].append(answer.timings_ms[stage])
            floor = percentiles(samples["floor"])
            total = percentiles(samples["total"])
            rows.append(
                {
                    "mode": mode,
                    "questions": len(samples["total"]),
                    "stages_ms": {
                        stage: percentiles(values)
                        for stage, values in samples.items()
                        if values and stage != "floor"
                    },
                    "floor_ms": floor,
                    "ratio_p50": total["p50"] / floor["p50"],
                }
            )
    return {"rows": rows}


def run(limit: int | None = None, rounds: int = 1, write: bool = True) -> dict[str, Any]:
    """Measure query latency in a new process; print and save the figures."""
    result = run_worker("query", {"limit": limit, "rounds": rounds})
    table = []
    for row in result["rows"]:
        for stage in (*STAGES, "floor"):
            figures = row["floor_ms"] if stage == "floor" else row["stages_ms"].get(stage)
            if figures:
                table.append({"mode": row["mode"], "stage": stage, **figures})
        if row["mode"] == READER_ROW:
            table.append(
                {
                    "mode": row["mode"],
                    "stage": f"read p50 (goal <= {GOAL_READ_P50_MS} ms)",
                    "p50": row["stages_ms"].get("read", {}).get("p50"),
                }
            )
        else:
            table.append(
                {
                    "mode": row["mode"],
                    "stage": f"total/floor p50 (goal <= {GOAL_RATIO:g})",
                    "p50": row["ratio_p50"],
                }
            )
    print_table(
        "Query latency, ms (extractive backend, seed index, eval questions)",
        table,
        ("mode", "stage", "p50", "p95", "p99"),
    )
    figures = {"goal_ratio_p50": GOAL_RATIO, "goal_read_p50_ms": GOAL_READ_P50_MS, **result}
    if write:
        write_result("query", figures)
    return figures
