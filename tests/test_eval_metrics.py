"""The eval metrics on hand-made cases with known answers, and question-file checking (no model)."""

from __future__ import annotations

import json
import math

import pytest

from eval import metrics
from eval.questions import Question, QuestionFileError, load_questions
from eval.runner import QuestionResult, summarize
from rag.types import Citation

# What `rag eval --json` gives for each question (the README documents them).
PER_QUESTION_KEYS = {
    "id",
    "answer",
    "abstained",
    "hit_rank",
    "pass",
    "citations",
    "backend",
    "error",
}


def test_normalize_folds_case_quotes_dashes_and_space():
    assert metrics.normalize("  The “Bicentennial”\u00a0Framework —  US–Mexico ") == (
        'the "bicentennial" framework - us-mexico'
    )
    assert metrics.normalize("López\nObrador’s") == "lópez obrador's"


def test_contains_answer_after_normalising():
    assert metrics.contains_answer(
        "Signed by ANDRÉS  Manuel López Obrador.", ["Andrés Manuel López Obrador"]
    )
    assert metrics.contains_answer("the US–Mexico plan", ["US-Mexico"])
    assert not metrics.contains_answer("Mexico", ["United States"])
    assert not metrics.contains_answer("anything", [])


def test_an_answer_counts_only_as_whole_words():
    """A short answer would otherwise be in nearly every text: "2" in "2023", "ten" in
    "often", "US" in "thus"."""
    assert not metrics.contains_answer("Washington DC, 15 March 2023", ["2"])
    assert not metrics.contains_answer("It happens often.", ["ten"])
    assert not metrics.contains_answer("and thus", ["US"])
    assert metrics.contains_answer("It costs $5, said U.S. officials.", ["$5", "nothing"])
    assert metrics.contains_answer("said U.S. officials", ["U.S."])
    assert metrics.contains_answer("in 2023.", ["2023"])
    # Scripts without spaces between words have no word edges to ask for.
    assert metrics.contains_answer("中国的首都是北京。", ["北京"])
    assert metrics.contains_answer("首都は東京です", ["東京"])


def test_the_markers_of_an_answer_are_no_answer():
    """An answer "[1]" would make every answered question whose gold answer is 1 right."""
    from eval.runner import quoted_text
    from rag.types import Answer, cited_text

    text, markers = cited_text(["Nobody was hurt.", " ", 1, " ", 2])
    answer = Answer("How many died?", text, False, "extractive", markers=markers)
    assert not metrics.contains_answer(quoted_text(answer), ["1"])
    assert not metrics.contains_answer(quoted_text(answer), ["2"])
    # The document's own "[2]" is text, not a marker, and stays.
    text, markers = cited_text(["See note [2] for 2 cases.", " ", 1])
    kept = quoted_text(Answer("q", text, False, "x", markers=markers))
    assert "[2]" in kept and metrics.contains_answer(kept, ["2 cases"])
    assert not metrics.contains_answer(kept, ["1"])


def test_answers_from_a_fallback_are_counted_apart(seed_pipeline):
    """A run of fallbacks must not pass for the asked backend's own answers."""
    from dataclasses import replace

    from eval.runner import RunConfig, run_questions
    from rag.backends import Backend
    from rag.pipeline import Pipeline

    class FallingBack(Backend):
        name = "falls_back"

        def answer(self, request):
            answer = seed_pipeline.backend("extractive").answer(request)
            return replace(answer, backend="extractive (fallback)")

    settings = seed_pipeline.settings
    pipeline = Pipeline(
        settings, embedder=seed_pipeline.embedder, backends={"falls_back": FallingBack(settings)}
    )
    questions = [
        Question("a", "When was the Bicentennial Framework launched?", ("2010",), ("x",)),
        Question("b", "What is the boiling point of nitrogen?", (), ()),
    ]
    run = run_questions(pipeline, questions, RunConfig("hybrid", "falls_back", 5), progress=False)
    assert run.answered_otherwise() == 2
    summary = run.summary()
    assert summary["answered_by"] == {"extractive (fallback)": 2}
    assert [q["backend"] for q in summary["per_question"]] == ["extractive (fallback)"] * 2
    assert run.never_answered() == "every answer came from extractive (fallback)"
    same = run_questions(pipeline, questions, RunConfig("hybrid", "extractive", 5), progress=False)
    assert same.answered_otherwise() == 0 and same.never_answered() == ""


def test_hit_rank_needs_gold_source_and_answer():
    passages = [
        ("other", "fentanyl is here"),
        ("gold", "no answer here"),
        ("gold", "about fentanyl"),
    ]
    assert metrics.hit_rank(passages, {"gold"}, ["Fentanyl"]) == 3
    assert metrics.hit_rank(passages, {"gold"}, ["fentanyl"], need_answer=False) == 2
    assert metrics.hit_rank(passages, {"missing"}, ["fentanyl"]) is None
    assert metrics.hit_rank(passages, set(), []) is None


def test_recall_and_mrr_on_known_ranks():
    ranks = [1, 2, None, 5]
    assert metrics.recall_at(ranks, 1) == 0.25
    assert metrics.recall_at(ranks, 3) == 0.5
    assert metrics.recall_at(ranks, 5) == 0.75
    assert metrics.mean_reciprocal_rank(ranks) == pytest.approx((1 + 0.5 + 0 + 0.2) / 4)
    assert metrics.mean_reciprocal_rank(ranks, k=2) == pytest.approx(1.5 / 4)
    assert metrics.recall_at([], 1) is None


def test_citation_valid_needs_verbatim_offsets_and_gold_source():
    text = "Alpha beta. Gamma delta."
    assert metrics.citation_valid("d", 12, 24, "Gamma delta.", text, {"d"})
    assert not metrics.citation_valid("d", 11, 23, "Gamma delta.", text, {"d"})  # shifted offsets
    assert not metrics.citation_valid(
        "e", 12, 24, "Gamma delta.", text, {"d"}
    )  # not the gold source
    assert not metrics.citation_valid("d", 12, 99, "Gamma delta.", text, {"d"})  # past the end
    assert not metrics.citation_valid("d", 12, 24, "Gamma delta.", None, {"d"})  # unknown document
    assert not metrics.citation_valid("d", 12, 24, "Gamma delta.", text, set())  # unanswerable


def test_abstention_precision_and_recall():
    # 4 questions: two unanswerable (False), one of them abstained; one answerable wrongly abstained.
    abstained = [True, False, True, False]
    answerable = [False, False, True, True]
    assert metrics.abstention_scores(abstained, answerable) == (0.5, 0.5)
    assert metrics.abstention_scores([False, False], [True, False]) == (None, 0.0)
    assert metrics.abstention_scores([False], [True]) == (None, None)


def test_percentile_interpolates_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0]
    assert metrics.percentile(values, 50) == 25.0
    assert metrics.percentile(values, 95) == pytest.approx(38.5)
    assert metrics.percentile([7.0], 95) == 7.0
    assert metrics.percentile([], 50) is None


def test_ndcg_recall_and_rr_at_10():
    relevant = {"a": 1, "b": 1}
    assert metrics.ndcg_at(["a", "b", "c"], relevant) == pytest.approx(1.0)
    # One relevant at rank 2 of two: (1/log2(3)) / (1 + 1/log2(3)).
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at(["x", "a"], relevant) == pytest.approx(expected)
    assert metrics.ndcg_at(["x"], relevant) == 0.0
    assert metrics.recall_of_relevant(["x", "a"], relevant) == 0.5
    assert metrics.reciprocal_rank(["x", "y", "b"], relevant) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["x"] * 10 + ["a"], relevant) == 0.0  # rank 11 is past k
    assert metrics.unique_in_order(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def _result(question: Question, answer: str, abstained: bool, rank, correct, valid=()):
    citations = tuple(Citation("d", "D", n, n + 1, "x") for n, _ in enumerate(valid))
    return QuestionResult(
        question, answer, abstained, rank, correct, citations, tuple(valid), (), 10.0
    )


def test_summarize_counts_each_figure_on_the_right_questions():
    gold = Question("a", "q?", ("x",), ("d",))
    none = Question("u", "q?", (), ())
    results = [
        _result(gold, "x [1]", False, 1, True, [True]),
        _result(gold, "y [1] [2]", False, 4, False, [True, False]),
        _result(none, "The documents do not say", True, None, False),
        _result(none, "z [1]", False, None, False, [False]),  # not counted in citation precision
    ]
    summary = summarize(results)
    assert summary["n"] == 4
    assert summary["retrieval"] == {"recall@1": 0.5, "recall@3": 0.5, "recall@5": 1.0, "mrr": 0.625}
    assert summary["answer"] == {"accuracy": 0.5}
    assert summary["citation"] == {"precision": pytest.approx(2 / 3, abs=1e-4)}
    assert summary["abstention"] == {"precision": 1.0, "recall": 0.5}
    assert [q["pass"] for q in summary["per_question"]] == [True, False, True, False]
    assert set(summary["per_question"][0]) == PER_QUESTION_KEYS
    assert summary["per_question"][1]["citations"] == [
        {"doc_id": "d", "start": 0, "end": 1, "quote": "x"},
        {"doc_id": "d", "start": 1, "end": 2, "quote": "x"},
    ]


# -- question files ---------------------------------------------------------------------------------


def _write(tmp_path, *lines: str):
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "a", "question": "Who?", "answers": ["x"], "source": "doc"})


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"id": "b", "question": "Who?", "answers": ["x"]}', "source"),
        ('{"id": "b", "question": "Who?", "answers": "x", "source": "doc"}', "answers"),
        ('{"id": "b", "question": "", "answers": ["x"], "source": "doc"}', "question"),
        ('{"id": 3, "question": "Who?", "answers": ["x"], "source": "doc"}', "id"),
        ('{"id": "b", "question": "Who?", "answers": ["x"], "source": null}', "source"),
        ('{"id": "b", "question": "Who?", "answers": [], "source": "doc"}', "answers"),
        ('{"id": "b", "question": "Who?", "answers": [], "source": null, "extra": 1}', "extra"),
        ('{"id": "a", "question": "Who?", "answers": [], "source": null}', "id"),
        ('{"id": "b", "question": "Who?", "answers": ["x"], "source": []}', "source"),
        ('{"id": "b", "question": "Who?", "answers": ["x"], "source": ["doc", 3]}', "source"),
    ],
)
def test_malformed_question_names_line_and_field(tmp_path, line, field):
    path = _write(tmp_path, GOOD, "", line)
    with pytest.raises(QuestionFileError) as error:
        load_questions(path)
    message = str(error.value)
    assert f"{path} line 3" in message
    assert f"'{field}'" in message


def test_invalid_json_names_the_line(tmp_path):
    path = _write(tmp_path, GOOD, '{"id": "b", "question": ')
    with pytest.raises(QuestionFileError, match=r"line 2: not valid JSON"):
        load_questions(path)


def test_a_question_file_as_json_dumps_and_notepad_write_it_is_read(tmp_path):
    """U+2028 and U+0085 inside a string (json.dumps(ensure_ascii=False) writes them raw)
    are no line ends; a byte-order mark is no part of the first line."""
    line = json.dumps(
        {"id": "z", "question": "Who\u2028signed\u0085it?", "answers": ["x"], "source": "d"},
        ensure_ascii=False,
    )
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (line + "\r\n" + GOOD + "\n").encode("utf-8"))
    questions = load_questions(path)
    assert [q.id for q in questions] == ["z", "a"]
    assert questions[0].question == "Who\u2028signed\u0085it?"


def test_a_question_rag_ask_would_refuse_is_named_when_the_file_is_read(tmp_path):
    """It failed the whole run when it came first, and was scored as an error elsewhere."""
    long = json.dumps({"id": "b", "question": "Why " * 600 + "?", "answers": ["x"], "source": "d"})
    path = _write(tmp_path, GOOD, long)
    with pytest.raises(QuestionFileError, match=r"line 2: field 'question': The question is"):
        load_questions(path)


def test_missing_and_empty_files_are_reported(tmp_path):
    with pytest.raises(QuestionFileError, match="does not exist"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(QuestionFileError, match="holds no questions"):
        load_questions(_write(tmp_path, ""))


def test_the_shipped_question_set_loads():
    from eval.questions import DEFAULT_QUESTIONS

    questions = load_questions(DEFAULT_QUESTIONS)
    assert len(questions) >= 50
    assert sum(not q.answerable for q in questions) >= 10


def test_a_fact_reported_by_several_documents_lists_them_all(tmp_path):
    line = json.dumps({"id": "b", "question": "Who?", "answers": ["x"], "source": ["d1", "d2"]})
    (question,) = load_questions(_write(tmp_path, line))
    assert question.sources == ("d1", "d2") and question.answerable
    text = "x is here."
    assert metrics.citation_valid("d2", 0, 10, text, text, question.sources)
    assert not metrics.citation_valid("d3", 0, 10, text, text, question.sources)
    assert metrics.hit_rank([("d3", text), ("d2", text)], question.sources, ["x"]) == 2
