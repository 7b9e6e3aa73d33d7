"""Sanity checks for the evaluation question set eval/questions.jsonl."""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "questions.jsonl"
SEEDS = ROOT / "seeds"
KEYS = {"id", "question", "answers", "source"}


def _load():
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:  # pragma: no cover - reported as failure
            pytest.fail(f"line {n} does not parse: {exc}")
    return records


@pytest.fixture(scope="module")
def records():
    return _load()


def test_every_line_parses_with_exact_keys_and_types(records):
    for r in records:
        assert isinstance(r, dict)
        assert set(r) == KEYS, r
        assert isinstance(r["id"], str) and r["id"]
        assert isinstance(r["question"], str) and r["question"].strip()
        assert isinstance(r["answers"], list)
        assert all(isinstance(a, str) and a.strip() for a in r["answers"]), r
        source = r["source"]
        assert (
            source is None
            or isinstance(source, str)
            or (isinstance(source, list) and source and all(isinstance(s, str) for s in source))
        ), r


def test_ids_unique(records):
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))


def test_answers_occur_verbatim_in_source(records):
    cache = {}
    for r in records:
        if r["source"] is None:
            continue
        assert r["answers"], f"{r['id']}: answerable question without answers"
        sources = [r["source"]] if isinstance(r["source"], str) else r["source"]
        texts = []
        for source in sources:
            path = SEEDS / f"{source}.txt"
            assert path.is_file(), f"{r['id']}: missing seed {path}"
            texts.append(cache.setdefault(source, path.read_text(encoding="utf-8")))
        for a in r["answers"]:
            assert any(a in text for text in texts), f"{r['id']}: {a!r} not found in {sources}"


def test_unanswerable_have_null_source(records):
    for r in records:
        if not r["answers"]:
            assert r["source"] is None, r["id"]
        if r["source"] is None:
            assert r["answers"] == [], r["id"]


def test_counts(records):
    assert len(records) >= 50
    assert sum(1 for r in records if r["source"] is None) >= 10
