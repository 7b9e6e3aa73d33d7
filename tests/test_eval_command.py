"""`rag eval` end to end: the real CLI, the real model and a real index on disk.

One seed index is built per session in a temporary folder; the SQuAD and BEIR
slices are a handful of paragraphs so that each builds in seconds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hardening.helpers import run_rag
from test_eval_metrics import PER_QUESTION_KEYS

# Each test runs `rag eval` end to end in new processes (index, model, datasets): minutes.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KEYS = {
    "n",
    "answered_by",
    "errors",
    "retrieval",
    "answer",
    "citation",
    "abstention",
    "latency_ms",
    "per_question",
}
SEED_A = "000_57dda5fb9b67abed"
SEED_B = "003_fc7eb9e95de41056"


def rag(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = run_rag(*args, cwd=cwd, timeout=600)
    if check:
        assert done.returncode == 0, f"rag {' '.join(args)} failed:\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A folder with a seed index in index/ and a small question file (answerable and not)."""
    folder = tmp_path_factory.mktemp("eval-workspace")
    rag("ingest", str(ROOT / "seeds"), "--index", str(folder / "index"), "--quiet", cwd=folder)
    questions = [
        {
            "id": "drug",
            "question": "Which drug is the main focus of the joint campaign against cartels?",
            "answers": ["fentanyl"],
            "source": SEED_A,
        },
        {
            "id": "blinken",
            "question": "Who is the United States Secretary of State?",
            "answers": ["Antony J. Blinken", "Blinken"],
            "source": SEED_B,
        },
        {
            "id": "city",
            "question": "In which city were four US citizens kidnapped?",
            "answers": ["Matamoros"],
            "source": SEED_A,
        },
        {
            "id": "off-topic",
            "question": "What is the boiling point of liquid nitrogen?",
            "answers": [],
            "source": None,
        },
    ]
    (folder / "small.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8"
    )
    return folder


def eval_json(workspace: Path, *extra: str) -> dict:
    done = rag(
        "eval",
        "--questions",
        "small.jsonl",
        "--index",
        "index",
        "--json",
        "--quiet",
        *extra,
        cwd=workspace,
    )
    return json.loads(done.stdout)


def test_json_has_the_documented_keys(workspace):
    result = eval_json(workspace)
    assert set(result) == KEYS
    assert result["n"] == 4
    assert set(result["retrieval"]) == {"recall@1", "recall@3", "recall@5", "mrr"}
    assert set(result["answer"]) == {"accuracy"}
    assert set(result["citation"]) == {"precision"}
    assert set(result["abstention"]) == {"precision", "recall"}
    assert set(result["latency_ms"]) == {"p50", "p95"}
    assert [q["id"] for q in result["per_question"]] == ["drug", "blinken", "city", "off-topic"]
    for q in result["per_question"]:
        assert set(q) == PER_QUESTION_KEYS
        assert q["backend"] == "extractive" and q["error"] == ""
    assert result["answered_by"] == {"extractive": 4} and result["errors"] == 0
    # Easy questions over two documents: every gold passage is retrieved in the top 5.
    assert result["retrieval"]["recall@5"] == 1.0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"]


def test_a_backend_that_gave_no_answer_of_its_own_fails_the_run(workspace):
    """The `openai` backend with its server down falls back on every question: the
    figures are printed (they are what its users got) but the run exits 1, saying so."""
    import socket

    from hardening.helpers import cli_env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = cli_env(workspace) | {
        "RAG_BACKEND_OPENAI_MODEL": "any",
        "RAG_BACKEND_OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port}/v1",
    }
    args = ("eval", "--questions", "small.jsonl", "--index", "index", "--json", "--quiet")
    done = run_rag(*args, "--compare", "openai", "extractive", cwd=workspace, env=env)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["answered_by"] == {"extractive (fallback)": 4}
    assert "error: hybrid · openai: openai gave none of the 4 answers: every answer came " in (
        done.stderr
    )
    assert "extractive gave none" not in done.stderr  # the other run answered itself


def test_out_writes_json_report_and_chart_and_compare_shows_each_mode(workspace):
    out = workspace / "report"
    result = eval_json(workspace, "--compare", "dense", "bm25", "--out", str(out))
    assert {run["mode"] for run in result["runs"]} == {"dense", "bm25"}
    assert KEYS <= set(result)
    assert json.loads((out / "eval.json").read_text(encoding="utf-8")) == result
    report = (out / "report.md").read_text(encoding="utf-8")
    assert (
        "| recall@3 |" in report
        and "dense · extractive" in report
        and "bm25 · extractive" in report
    )
    assert "## Failures" in report
    chart = (out / "chart.png").read_bytes()
    assert chart.startswith(b"\x89PNG") and len(chart) > 10_000


def test_what_cannot_be_run_or_written_is_refused_before_any_question(workspace):
    """A backend that cannot answer, or an --out that cannot be written, would otherwise be
    found only after every other configuration had run (minutes on SQuAD), then lost."""
    (workspace / "a-file").write_text("precious", encoding="utf-8")
    for extra, message in [
        (("--out", "a-file"), "--out a-file is a file; give a folder"),
        (("--out", "a-file/sub"), "is not a folder this user can write in"),
        (
            ("--compare", "hybrid:extractive", "hybrid:openai", "--out", "never"),
            "Answer backend 'openai' cannot answer",
        ),
    ]:
        done = rag(
            "eval", "--questions", "small.jsonl", "--index", "index", *extra,
            cwd=workspace, check=False,
        )  # fmt: skip
        assert done.returncode == 1 and message in done.stderr, (extra, done.stderr)
        assert "hybrid · extractive" not in done.stderr + done.stdout  # nothing was run
    assert (workspace / "a-file").read_text(encoding="utf-8") == "precious"
    assert not (workspace / "never").exists()


def test_malformed_question_file_names_line_and_field(workspace):
    bad = workspace / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "question": "Who?", "answers": ["x"], "source": "d"}\n'
        '{"id": "b", "question": "Who?", "answers": "x", "source": "d"}\n',
        encoding="utf-8",
    )
    done = rag("eval", "--questions", str(bad), "--index", "index", cwd=workspace, check=False)
    assert done.returncode == 1
    assert "line 2" in done.stderr and "'answers'" in done.stderr
    assert "Traceback" not in done.stderr


SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Honey_bee",
            "paragraphs": [
                {
                    "context": "The honey bee colony has one queen. Worker bees build combs from wax "
                    "secreted by glands in their abdomen.",
                    "qas": [
                        {
                            "id": "s1",
                            "question": "What do worker bees build combs from?",
                            "answers": [{"text": "wax", "answer_start": 0}],
                            "is_impossible": False,
                        },
                        {
                            "id": "s2",
                            "question": "What colour is the queen's crown?",
                            "answers": [],
                            "is_impossible": True,
                        },
                    ],
                },
                {
                    "context": "Bees communicate the location of flowers with the waggle dance, "
                    "described by Karl von Frisch in 1927.",
                    "qas": [
                        {
                            "id": "s3",
                            "question": "Who described the waggle dance?",
                            "answers": [{"text": "Karl von Frisch", "answer_start": 0}],
                            "is_impossible": False,
                        }
                    ],
                },
            ],
        },
        {
            "title": "Volcano",
            "paragraphs": [
                {
                    "context": "Mount Etna in Sicily is one of the most active volcanoes in the world; "
                    "its eruption in 1669 destroyed parts of Catania.",
                    "qas": [
                        {
                            "id": "s4",
                            "question": "Which city was damaged by the 1669 eruption of Etna?",
                            "answers": [{"text": "Catania", "answer_start": 0}],
                            "is_impossible": False,
                        }
                    ],
                },
            ],
        },
    ],
}


def test_squad_slice_indexes_its_paragraphs_once_and_reports_the_same_metrics(workspace):
    squad = workspace / "squad.json"
    squad.write_text(json.dumps(SQUAD), encoding="utf-8")
    args = ("eval", "--squad", str(squad), "--index", "index", "--json")
    first = rag(*args, cwd=workspace)
    result = json.loads(first.stdout)
    assert set(result) == KEYS and result["n"] == 4
    by_id = {q["id"]: q for q in result["per_question"]}
    # Three paragraphs on distinct topics: each answerable question finds its own paragraph first.
    assert [by_id[i]["hit_rank"] for i in ("s1", "s3", "s4")] == [1, 1, 1]
    assert by_id["s2"]["hit_rank"] is None
    assert result["abstention"]["recall"] is not None  # v2.0's unanswerable question counts
    folders = list(workspace.glob("eval-squad-*"))
    assert len(folders) == 1 and len(list((folders[0] / "docs").glob("*.md"))) == 3
    assert "Indexing 3 dataset documents" in first.stderr
    # Built once: the second run reuses the index.
    second = rag(*args, "--limit", "2", cwd=workspace)
    assert json.loads(second.stdout)["n"] == 2
    again = rag(*args, cwd=workspace)
    assert "Indexing" not in again.stderr


def test_squad_half_keeps_only_that_half_of_the_articles(workspace):
    squad = workspace / "squad-halves.json"
    squad.write_text(json.dumps(SQUAD), encoding="utf-8")
    args = ("eval", "--squad", str(squad), "--index", "index", "--json")
    # Articles at even positions are the fit half, odd positions the report half.
    report = json.loads(rag(*args, "--squad-half", "report", cwd=workspace).stdout)
    assert [q["id"] for q in report["per_question"]] == ["s4"]
    fit = json.loads(rag(*args, "--squad-half", "fit", cwd=workspace).stdout)
    assert [q["id"] for q in fit["per_question"]] == ["s1", "s2", "s3"]
    refused = rag("eval", "--squad-half", "fit", "--json", cwd=workspace, check=False)
    assert refused.returncode != 0 and "--squad-half works with --squad only" in refused.stderr


def test_beir_slice_reports_ndcg_recall_and_mrr_per_mode(workspace):
    beir = workspace / "beir"
    (beir / "qrels").mkdir(parents=True)
    corpus = [
        ("d1", "Photosynthesis", "Plants convert sunlight, water and carbon dioxide into glucose."),
        ("d2", "Insulin", "Insulin lowers blood glucose by helping cells take up sugar."),
        (
            "d3",
            "Plate tectonics",
            "Earthquakes happen where tectonic plates slide past each other.",
        ),
        ("d4", "Vaccines", "Vaccines train the immune system to recognise a pathogen."),
    ]
    (beir / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in corpus),
        encoding="utf-8",
    )
    queries = [
        ("q1", "Insulin reduces blood sugar."),
        ("q2", "Tectonic plates cause earthquakes."),
        ("q3", "A query without judgements."),
    ]
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries), encoding="utf-8"
    )
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td3\t1\n", encoding="utf-8"
    )
    out = workspace / "beir-report"
    done = rag(
        "eval", "--beir", str(beir), "--index", "index", "--json", "--out", str(out), cwd=workspace
    )
    result = json.loads(done.stdout)
    assert result["n"] == 2 and result["documents"] == 4
    assert set(result["modes"]) == {"dense", "bm25", "hybrid"}
    for summary in result["modes"].values():
        assert {"ndcg@10", "recall@10", "mrr@10"} <= set(summary)
        assert summary["ndcg@10"] == 1.0 and summary["recall@10"] == 1.0
    assert {p.name for p in out.iterdir()} == {"eval.json", "report.md", "chart.png"}

    # --answer-order: beside each mode, its documents as the answer shows their passages.
    args = ("eval", "--beir", str(beir), "--index", "index", "--json", "--mode", "hybrid")
    ordered = json.loads(rag(*args, "--answer-order", cwd=workspace).stdout)
    assert set(ordered["modes"]) == {"hybrid", "hybrid+answer"}
    assert ordered["modes"]["hybrid"]["ndcg@10"] == 1.0
    by_answer = {q["id"]: q["ranked"] for q in ordered["per_query"]["hybrid+answer"]}
    assert by_answer["q1"][0] == "d2" and by_answer["q2"][0] == "d3"
    refused = rag("eval", "--answer-order", "--json", cwd=workspace, check=False)
    assert refused.returncode != 0 and "--answer-order works with --beir only" in refused.stderr
