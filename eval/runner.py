"""Run questions through `Pipeline.ask`, the code path of `rag ask`, and score what comes back.

How each figure is counted (also in the README's Quality section):

- retrieval (recall@1/3/5, MRR): answerable questions only; rank of the first
  passage that is a hit (see `metrics.hit_rank`). Passages come from the
  answer itself, so they are what the backend saw; when `k` < 5 the top 5 are
  fetched by a separate retrieve, outside the timed call.
- answer accuracy: answerable questions whose answer, normalised and without
  its [n] markers, contains a gold answer as whole words, without abstaining.
- citation precision: over the citations given in answers to answerable
  questions; one counts when its quote is verbatim at its offsets and it comes
  from the gold source. Citations in answers to unanswerable questions are not
  counted here: that answer is already a miss in abstention recall.
- abstention: unanswerable questions are the positives; precision is the share
  of abstentions that were right, recall the share of unanswerable questions
  abstained from.
- latency: wall-clock time of `Pipeline.ask` per question, after one untimed
  warm-up question (model loading is not a per-question cost).
- pass: answerable → correct answer with at least one citation, all valid;
  unanswerable → abstained.
- answered by: the backend named in each answer. A backend that falls back to
  another (the `openai` backend to the extractive one when its server fails)
  is measured as its users get it, and the count of such answers is shown
  beside the figures, so a run of fallbacks never passes for the model's; a
  run where the asked backend gave no answer at all fails `rag eval` (exit 1).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eval import metrics
from eval.questions import Question
from rag.errors import RagError
from rag.query import Query
from rag.types import Answer, Citation, Passage

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

RETRIEVAL_DEPTH = 5
# Questions tried in turn for the untimed warm-up, should the first fail on its own.
WARM_UP_TRIES = 5


@dataclass(frozen=True)
class RunConfig:
    """One configuration to measure: a retrieval mode, an answer backend and k."""

    mode: str
    backend: str
    k: int

    @property
    def label(self) -> str:
        return f"{self.mode} · {self.backend}"

    def query(self, question: str) -> Query:
        """`question` asked with this configuration."""
        return Query(question, mode=self.mode, k=self.k, backend=self.backend)


@dataclass(frozen=True)
class QuestionResult:
    """What came back for one question, and how it scored."""

    question: Question
    answer: str
    abstained: bool
    hit_rank: int | None
    correct: bool
    citations: tuple[Citation, ...]
    citation_valid: tuple[bool, ...]
    passages: tuple[Passage, ...]
    latency_ms: float
    error: str = ""
    # The backend the answer names ("extractive (fallback)" when the asked one fell back).
    answered_by: str = ""

    @property
    def passed(self) -> bool:
        if not self.question.answerable:
            return self.abstained
        return self.correct and bool(self.citations) and all(self.citation_valid)


@dataclass
class Run:
    """The results of one configuration over one question set."""

    config: RunConfig
    results: list[QuestionResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The JSON object `rag eval --json` prints (keys fixed by the spec)."""
        return summarize(self.results)

    def answered_otherwise(self) -> int:
        """How many answers came from another backend than the one asked (a fallback)."""
        return sum(
            bool(r.answered_by) and r.answered_by != self.config.backend for r in self.results
        )

    def never_answered(self) -> str:
        """Why the asked backend gave none of the answers ("" when it gave any): every
        question failed, or every answer came from a fallback."""
        if not self.results or any(
            not r.error and r.answered_by in ("", self.config.backend) for r in self.results
        ):
            return ""
        errors = [r.error for r in self.results if r.error]
        if len(errors) == len(self.results):
            return f"every question failed (the first: {errors[0]})"
        others = sorted({r.answered_by for r in self.results} - {self.config.backend, ""})
        return f"every answer came from {', '.join(others)}" + (
            f" or failed ({len(errors)}; the first: {errors[0]})" if errors else ""
        )


def summarize(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """Every metric over `results`, with the per-question list."""
    answerable = [r for r in results if r.question.answerable]
    ranks = [r.hit_rank for r in answerable]
    citation_flags = [ok for r in answerable for ok in r.citation_valid]
    precision, recall = metrics.abstention_scores(
        [r.abstained for r in results], [r.question.answerable for r in results]
    )
    latencies = [r.latency_ms for r in results]
    return {
        "n": len(results),
        # Which backend gave the answers: more than one name means fallbacks.
        "answered_by": dict(Counter(r.answered_by for r in results if r.answered_by)),
        "errors": sum(bool(r.error) for r in results),
        "retrieval": {
            "recall@1": _round(metrics.recall_at(ranks, 1)),
            "recall@3": _round(metrics.recall_at(ranks, 3)),
            "recall@5": _round(metrics.recall_at(ranks, 5)),
            "mrr": _round(metrics.mean_reciprocal_rank(ranks)),
        },
        "answer": {
            "accuracy": _round(metrics.ratio(sum(r.correct for r in answerable), len(answerable)))
        },
        "citation": {"precision": _round(metrics.ratio(sum(citation_flags), len(citation_flags)))},
        "abstention": {"precision": _round(precision), "recall": _round(recall)},
        "latency_ms": {
            "p50": _round(metrics.percentile(latencies, 50), 1),
            "p95": _round(metrics.percentile(latencies, 95), 1),
        },
        "per_question": [
            {
                "id": r.question.id,
                "answer": r.answer,
                "abstained": r.abstained,
                "hit_rank": r.hit_rank,
                "pass": r.passed,
                "backend": r.answered_by,
                "error": r.error,
                "citations": [
                    {"doc_id": c.doc_id, "start": c.start, "end": c.end, "quote": c.quote}
                    for c in r.citations
                ],
            }
            for r in results
        ],
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def check_backends(pipeline: Pipeline, configs: Sequence[RunConfig]) -> None:
    """Refuse, before any question is asked, a configuration whose backend cannot answer
    (so a --compare does not run the others for minutes, then throw them away)."""
    from rag.backends import availability_of

    for name in dict.fromkeys(config.backend for config in configs):
        available = availability_of(pipeline.backend(name))
        if not available.ok:
            raise RagError(f"Answer backend {name!r} cannot answer: {available.reason}")


def warm_up(pipeline: Pipeline, config: RunConfig, questions: Sequence[Question]) -> None:
    """Load the model, the index and the backend once, outside the timed calls."""
    check_backends(pipeline, [config])
    for question in questions:
        try:
            pipeline.ask(config.query(question.question))
        except RagError:
            continue  # that question's own error is scored with it; warm up on the next
        return


def quoted_text(answer: Answer) -> str:
    """The answer's text with its [n] markers blanked: a marker "[2]" is no answer "2"."""
    text = answer.text
    for marker in sorted(answer.markers, key=lambda m: m.start, reverse=True):
        text = text[: marker.start] + " " + text[marker.end :]
    return text


def run_questions(
    pipeline: Pipeline,
    questions: Sequence[Question],
    config: RunConfig,
    need_answer_in_passage: bool = True,
    progress: bool = True,
) -> Run:
    """Ask every question with `config` and score the answers."""
    from tqdm import tqdm

    texts = {document.doc_id: document.text for document in pipeline.index().documents}
    warm_up(pipeline, config, questions[:WARM_UP_TRIES])
    run = Run(config)
    errors = 0
    for question in tqdm(
        questions, desc=config.label, unit="q", disable=not progress, file=sys.stderr
    ):
        result = score_question(pipeline, question, config, texts, need_answer_in_passage)
        errors += bool(result.error)
        run.results.append(result)
    if errors:
        print(
            f"{config.label}: {errors} question(s) failed with an error (each question's "
            "`error` in --json; the report's failures with --out)",
            file=sys.stderr,
        )
    return run


def score_question(
    pipeline: Pipeline,
    question: Question,
    config: RunConfig,
    texts: Mapping[str, str],
    need_answer_in_passage: bool = True,
) -> QuestionResult:
    """Ask one question and score its answer, citations and retrieval."""
    started = time.perf_counter()
    try:
        answer = pipeline.ask(config.query(question.question))
    except RagError as error:
        # One bad question (too long, a backend time-out) must not lose the whole run.
        latency = (time.perf_counter() - started) * 1000
        return QuestionResult(
            question, f"error: {error}", False, None, False, (), (), (), latency, error=str(error)
        )
    latency = (time.perf_counter() - started) * 1000
    passages = answer.passages
    if len(passages) < RETRIEVAL_DEPTH:
        passages = pipeline.retrieve(
            Query(question.question, mode=config.mode, k=RETRIEVAL_DEPTH)
        ).passages
    rank = metrics.hit_rank(
        [(p.citation.doc_id, p.citation.quote) for p in passages[:RETRIEVAL_DEPTH]],
        question.sources,
        question.answers,
        need_answer=need_answer_in_passage,
    )
    correct = (
        question.answerable
        and not answer.abstained
        and metrics.contains_answer(quoted_text(answer), question.answers)
    )
    valid = tuple(
        metrics.citation_valid(
            c.doc_id, c.start, c.end, c.quote, texts.get(c.doc_id), question.sources
        )
        for c in answer.citations
    )
    return QuestionResult(
        question=question,
        answer=answer.text,
        abstained=answer.abstained,
        hit_rank=rank,
        correct=bool(correct),
        citations=answer.citations,
        citation_valid=valid,
        passages=tuple(passages),
        latency_ms=latency,
        answered_by=answer.backend,
    )


# -- retrieval only (BEIR) -------------------------------------------------------------------------


@dataclass
class RetrievalRun:
    """Ranked documents per query for one retrieval mode, scored against graded judgements."""

    mode: str
    k: int
    per_query: list[dict[str, Any]] = field(default_factory=list)
    # Passages the answer step read and re-ordered first (None: retrieval's order alone).
    answer_k: int | None = None

    @property
    def label(self) -> str:
        return self.mode if self.answer_k is None else f"{self.mode}+answer"

    def summary(self) -> dict[str, Any]:
        def mean(key: str) -> float | None:
            return _round(metrics.ratio(sum(q[key] for q in self.per_query), len(self.per_query)))

        latencies = [q["latency_ms"] for q in self.per_query]
        return {
            "n": len(self.per_query),
            f"ndcg@{self.k}": mean("ndcg"),
            f"recall@{self.k}": mean("recall"),
            f"mrr@{self.k}": mean("rr"),
            "latency_ms": {
                "p50": _round(metrics.percentile(latencies, 50), 1),
                "p95": _round(metrics.percentile(latencies, 95), 1),
            },
        }


# Passages fetched per query so that k distinct documents remain after merging a
# document's chunks (a long abstract is two or three chunks).
PASSAGES_PER_DOCUMENT = 3


def run_retrieval(
    pipeline: Pipeline,
    queries: Sequence[tuple[str, str]],
    qrels: Mapping[str, Mapping[str, int]],
    mode: str,
    k: int = 10,
    progress: bool = True,
    answer_k: int | None = None,
) -> RetrievalRun:
    """Rank documents for each query with `Pipeline.retrieve` (a document ranks at its best chunk).

    With `answer_k`, each query is also asked of the answer backend over its first
    `answer_k` passages, and the documents of the passages the answer shows come
    first, in its order (the extractive backend's reader re-orders what it read),
    then the rest in retrieval's order: what the answer step does to the ranking.
    """
    from tqdm import tqdm

    from rag.config import MAX_TOP_K

    depth = min(k * PASSAGES_PER_DOCUMENT, MAX_TOP_K)
    pipeline.retrieve(Query(queries[0][1], mode=mode, k=depth))  # warm up, untimed
    if answer_k is not None:
        pipeline.ask(Query(queries[0][1], mode=mode, k=answer_k))
    run = RetrievalRun(mode, k, answer_k=answer_k)
    for query_id, text in tqdm(
        queries, desc=run.label, unit="q", disable=not progress, file=sys.stderr
    ):
        started = time.perf_counter()
        retrieval = pipeline.retrieve(Query(text, mode=mode, k=depth))
        in_order = [p.citation.doc_id for p in retrieval.passages]
        if answer_k is not None:
            answer = pipeline.ask(Query(text, mode=mode, k=answer_k))
            in_order = [p.citation.doc_id for p in answer.passages] + in_order
        latency = (time.perf_counter() - started) * 1000
        ranked = metrics.unique_in_order(in_order)[:k]
        relevant = qrels.get(query_id, {})
        run.per_query.append(
            {
                "id": query_id,
                "ranked": ranked,
                "relevant": sorted(relevant),
                "ndcg": metrics.ndcg_at(ranked, relevant, k),
                "recall": metrics.recall_of_relevant(ranked, relevant, k),
                "rr": metrics.reciprocal_rank(ranked, relevant, k),
                "latency_ms": round(latency, 2),
            }
        )
    return run
