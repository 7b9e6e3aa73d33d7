"""Each benchmark runs end to end at a tiny size and reports figures; nothing here is timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# `bench` is a folder of the repository, not part of the installed package.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytestmark = pytest.mark.slow


def test_result_file_names_the_machine_and_holds_the_figures(tmp_path):
    from bench.common import write_result

    path = write_result("example", {"rows": [{"p50_ms": 1.0}]}, results=tmp_path)
    saved = json.loads(path.read_text())
    assert path.name == "example.json"
    assert saved["rows"] == [{"p50_ms": 1.0}]
    assert saved["machine"]["cores"] >= 1
    assert "faiss-cpu" in saved["machine"]["versions"]


def test_ingest_benchmark_reports_every_stage():
    from bench import ingest

    figures = ingest.run(paragraphs=4, write=False)
    squad_rows = [row for row in figures["rows"] if row["corpus"] == "squad-4"]
    assert {row["config"] for row in squad_rows} == set(ingest.CONFIGS)
    for squad in squad_rows:
        assert squad["docs"] == 4 and squad["chunks"] >= 4
        assert all(squad[f"{stage}_s"] > 0 for stage in ("load", "chunk", "embed", "index"))
        assert squad["peak_rss_mb"] > 0
    assert set(figures["speedup_vs_torch"]["squad-4"]) == {"onnx", "onnx, in_chunk"}


def test_query_benchmark_times_each_stage_against_the_floor():
    from bench import query

    figures = query.run(limit=3, write=False)
    modes = {row["mode"]: row for row in figures["rows"]}
    assert set(modes) == {"dense", "bm25", "hybrid", "hybrid+reader"}
    assert "bm25_search" not in modes["dense"]["stages_ms"]
    # The reader's own stage is timed only where it is on.
    assert modes["hybrid+reader"]["stages_ms"]["read"]["p50"] > 0
    assert "read" not in modes["hybrid"]["stages_ms"]
    assert {"embed_question", "dense_search", "bm25_search", "fusion", "answer", "total"} <= set(
        modes["hybrid"]["stages_ms"]
    )
    assert modes["hybrid"]["floor_ms"]["p50"] > 0


def test_coldstart_benchmark_runs_the_real_command():
    from bench import coldstart

    figures = coldstart.run(repeats=1, write=False)
    commands = [row["command"] for row in figures["rows"]]
    assert commands[:2] == ["rag --help", "rag docs"] and "rag ask" in commands
    assert any("floor" in command for command in commands)
    assert any("torch" in command for command in commands)
    assert figures["ask_over_floor"] > 0
    processes = [row for row in figures["rows"] if "chat" not in row["command"]]
    assert all(row["peak_rss_mb"] > 0 for row in processes)
    chats = [row for row in figures["rows"] if "chat" in row["command"]]
    assert [row["command"] for row in chats] == [
        "rag chat: start to first answer",
        "rag chat, use_reader = true: start to first answer",
    ]
    assert all(row["median_s"] > 0 and row["peak_rss_mb"] > 0 for row in chats)


def test_a_commands_peak_memory_is_its_own_not_the_benchmarks():
    import os
    import sys

    from bench.coldstart import _time

    # Inside a suite that loaded torch, the kernel's figure for a child started from the
    # parent's size at fork (861 MB for a 40 MB command).
    held = bytearray(400 * 1024 * 1024)
    for page in range(0, len(held), 4096):
        held[page] = 1
    seconds, peak_mb = _time([sys.executable, "-c", "pass"], dict(os.environ))
    assert 0 < seconds and 0 < peak_mb < 100
    del held


def test_scale_benchmark_measures_every_index_kind_and_a_whole_index():
    from bench import scale

    figures = scale.run(sizes=(800,), store_size=300, add_one=False, write=False)
    kinds = {row["index"].split()[0] for row in figures["vectors"]}
    assert kinds == {"flat", "hnsw", "ivf"}
    assert all(0 <= row["recall@10"] <= 1 for row in figures["vectors"])
    assert figures["bm25"][0]["size"] == 800
    assert figures["store"][0]["load_s"] > 0


def test_update_benchmark_times_each_step_and_queries_at_the_most_segments():
    from bench import update
    from rag.store import MAX_SEGMENTS

    rows = update.run(sizes=(1_000,), write=False)["rows"]
    steps = [row["step"] for row in rows]
    assert steps[:4] == ["as built", "add", "change", "remove"]
    assert [row["segments"] for row in rows[:2]] == [1, 2]
    last = rows[-1]
    assert last["segments"] == MAX_SEGMENTS and f"({MAX_SEGMENTS} segments)" in last["step"]
    assert all(last[f"{mode}_p50_ms"] > 0 for mode in ("dense", "bm25", "hybrid"))


def test_python_m_bench_rejects_an_unknown_benchmark():
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "nonsense"], capture_output=True, text=True, cwd=REPO
    )
    assert completed.returncode == 2
    assert "unknown benchmark 'nonsense'" in completed.stderr


def test_embedding_benchmark_compares_configurations_on_the_same_texts():
    from bench import embedding

    figures = embedding.run(paragraphs=2, rounds=1, write=False)
    labels = [row["config"] for row in figures["rows"]]
    assert "torch threads=2 batch=32" in labels
    assert "onnxruntime threads=2 batch=32" in labels
    # Every configuration gives the vectors the product gives.
    assert all(row["min_cosine_vs_torch"] > 0.99 for row in figures["rows"])


def test_serve_benchmark_checks_every_reply_against_the_answer_alone():
    from bench import serve

    figures = serve.run(clients=3, requests=9, limit=4, write=False)
    assert figures["answered"] == 9 and figures["errors"] == 0 and figures["crossed"] == 0
    assert {row["endpoint"] for row in figures["rows"]} == set(serve.ENDPOINTS)
    assert figures["traceback_in_server_log"] is False
