"""`rag eval --beir --answer-order`: documents ranked as the answer shows its passages.

A stand-in pipeline gives retrieval one order and the answer step another, so the
test sees exactly how `run_retrieval` merges them; the real CLI is in
test_eval_command.py.
"""

from __future__ import annotations

import pytest

from eval.runner import run_retrieval
from rag.query import Query
from rag.types import Answer, Citation, Passage, Retrieval


def passage(doc_id: str, rank: int) -> Passage:
    text = f"Text of {doc_id}."
    return Passage(rank, 1.0 / rank, Citation(doc_id, doc_id, 0, len(text), text), chunk_id=rank)


class StandInPipeline:
    """Retrieval ranks d1..d6 (d2 twice, as two chunks); the answer shows d4, d2, d1 first."""

    def __init__(self) -> None:
        self.asked: list[Query] = []

    def retrieve(self, query: Query) -> Retrieval:
        order = ["d1", "d2", "d2", "d3", "d4", "d5", "d6"][: query.k]
        passages = tuple(passage(d, i + 1) for i, d in enumerate(order))
        return Retrieval(query.question, query.mode or "hybrid", passages)

    def ask(self, query: Query) -> Answer:
        self.asked.append(query)
        shown = tuple(passage(d, i + 1) for i, d in enumerate(["d4", "d2", "d1"]))
        return Answer(query.question, "quoted", False, "extractive", passages=shown)


QUERIES = [("q1", "Which document holds it?")]
QRELS = {"q1": {"d4": 1}}


def test_retrieval_order_alone_by_default():
    pipeline = StandInPipeline()
    run = run_retrieval(pipeline, QUERIES, QRELS, "hybrid", k=3, progress=False)
    assert run.label == "hybrid" and pipeline.asked == []
    [row] = run.per_query
    assert row["ranked"] == ["d1", "d2", "d3"]
    assert row["recall"] == 0.0 and row["rr"] == 0.0


def test_answer_order_puts_the_answers_passages_first_then_retrievals_rest():
    pipeline = StandInPipeline()
    run = run_retrieval(pipeline, QUERIES, QRELS, "bm25", k=5, progress=False, answer_k=3)
    assert run.label == "bm25+answer"
    # Warm-up, then the question, each asked with the mode and the answer's own k.
    assert [(q.mode, q.k) for q in pipeline.asked] == [("bm25", 3), ("bm25", 3)]
    [row] = run.per_query
    assert row["ranked"] == ["d4", "d2", "d1", "d3", "d5"]
    assert row["rr"] == 1.0 and row["ndcg"] == pytest.approx(1.0)
    assert run.summary()["mrr@5"] == 1.0
