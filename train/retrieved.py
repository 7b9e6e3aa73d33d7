"""What the extractive backend would give the reader to read, for SQuAD questions.

The reader reads the sentences the hand-weighted signals rank best among the passages
hybrid retrieval returns (k=5), not the sentences of one paragraph. Both the calibration
(`train.reader_calibration`) and the retrieved training pairs (`retrieved_pairs`) take
their candidates from here, so they see exactly what the backend sees at answer time.

Retrieved pairs: for a question, each of its first `depth` candidates is a pair, positive
when it holds a gold answer (`eval.metrics.contains_answer`, what `rag eval` counts as
right). The negatives are then the on-topic sentences of other paragraphs and passages
that the reader must tell apart at answer time, which pairs cut from one paragraph
(`train.reader_data`) never show it.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from train.reader_data import Pair

if TYPE_CHECKING:
    from eval.questions import Question
    from rag.backends.extractive import _Candidate
    from rag.types import Retrieval


@dataclass
class Read:
    """One question as the backend meets it: the passages retrieved and the ranked sentences."""

    question: Question
    retrieval: Retrieval
    candidates: list[_Candidate]  # best first


def squad_pipeline(squad_file: Path, index_dir: Path, limit: int | None, half: str | None):
    """The pipeline over every paragraph of the articles of `limit` questions of `squad_file`.

    Built once into a folder named by the file's bytes and the arguments, and reused.
    """
    from eval.datasets import cache_key, dataset_settings, ensure_dataset_index, load_squad
    from rag.config import load_settings
    from rag.pipeline import Pipeline

    indexed = load_squad(squad_file, limit, half=half)
    settings = load_settings(overrides={"index_dir": index_dir})
    dataset, docs_dir = dataset_settings(
        settings, f"squad-{cache_key(limit, half, files=(squad_file,))}"
    )
    pipeline = Pipeline(dataset)
    ensure_dataset_index(pipeline, indexed.documents, docs_dir)
    return pipeline


def read_questions(
    pipeline, questions: list[Question], depth: int, progress_every: int = 500
) -> Iterator[Read]:
    """Each question's retrieval (hybrid, k=5) and its first `depth` ranked sentences."""
    from rag.backends.base import AnswerRequest
    from rag.backends.extractive import ExtractiveBackend
    from rag.query import Query

    backend = ExtractiveBackend(pipeline.settings)
    started = time.time()
    for n, question in enumerate(questions, start=1):
        retrieval = pipeline.retrieve(Query(question.question, mode="hybrid", k=5))
        request = AnswerRequest(question.question, retrieval.passages, (), retrieval.query_terms)
        candidates = backend.rank_sentences(request)[:depth]
        if n % progress_every == 0:
            print(
                f"{n}/{len(questions)} questions retrieved, {time.time() - started:.0f} s",
                file=sys.stderr,
            )
        if candidates:
            yield Read(question, retrieval, candidates)


def holds_answer(question: Question, candidate: _Candidate) -> bool:
    """Whether the candidate sentence holds a gold answer: what `rag eval` counts as right."""
    from eval.metrics import contains_answer

    return question.answerable and contains_answer(
        candidate.sentence.citation.quote, question.answers
    )


def pairs_of(read: Read, origin: str) -> list[Pair]:
    """One pair per candidate read; an impossible question's are all negatives."""
    origin += "" if read.question.answerable else "-impossible"
    return [
        Pair(
            read.question.question,
            c.sentence.citation.quote,
            float(holds_answer(read.question, c)),
            origin,
        )
        for c in read.candidates
    ]


def article_subset(squad_file: Path, n_articles: int, rng: random.Random, folder: Path) -> Path:
    """A SQuAD file of `n_articles` articles drawn from `squad_file`, written into `folder`.

    An index of a few dozen articles is what `rag eval --squad` builds (SQuAD 1.1 dev has
    48), so the distractors retrieval returns are as many and as close as at evaluation.
    """
    data = json.loads(Path(squad_file).read_text(encoding="utf-8"))
    chosen = sorted(rng.sample(range(len(data["data"])), min(n_articles, len(data["data"]))))
    subset = {"version": data.get("version", ""), "data": [data["data"][a] for a in chosen]}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(squad_file).stem}-articles-{'-'.join(map(str, chosen))[:80]}.json"
    path.write_text(json.dumps(subset), encoding="utf-8")
    return path


def fit_part(squad20: Path, part: str) -> tuple[list[Question], set[str]]:
    """One part ("train" or "calibrate") of SQuAD 2.0 dev's fit half: its questions, and
    the ids of its paragraphs in the fit half's index."""
    from eval.datasets import load_squad, squad_v2_fit_part, squad_v2_half

    articles = json.loads(Path(squad20).read_text(encoding="utf-8"))["data"]
    in_part = [
        a
        for a in range(len(articles))
        if squad_v2_half(a) == "fit" and squad_v2_fit_part(a) == part
    ]
    ids = {qa["id"] for a in in_part for p in articles[a]["paragraphs"] for qa in p["qas"]}
    titles = {str(articles[a].get("title", f"article {a}")).replace("_", " ") for a in in_part}
    fit_half = load_squad(squad20, None, half="fit")
    return (
        [q for q in fit_half.questions if q.id in ids],
        {d.doc_id for d in fit_half.documents if d.title in titles},
    )


def retrieved_pairs(
    squad11: Path,
    squad20: Path,
    n_questions: int,
    n_articles: int,
    depth: int,
    rng: random.Random,
    index_dir: Path,
) -> list[Pair]:
    """Pairs from what retrieval and the signals put before the reader.

    SQuAD 1.1 train: `n_questions` questions of `n_articles` articles drawn at random, every
    paragraph of those articles indexed. SQuAD 2.0 dev: every question of the fit half's
    training part, through the index of the whole fit half (the one the calibration
    uses), keeping only sentences of the training part's articles (never the calibration
    part's or the report half's); its impossible questions give only negatives.
    """
    from eval.datasets import load_squad

    subset = article_subset(squad11, n_articles, rng, Path(index_dir).parent / "train-data")
    pipeline = squad_pipeline(subset, index_dir, None, None)
    questions = load_squad(subset).questions
    questions = rng.sample(questions, min(n_questions, len(questions)))
    pairs = [
        p
        for read in read_questions(pipeline, questions, depth)
        for p in pairs_of(read, "squad1.1-retrieved")
    ]

    fit_pipeline = squad_pipeline(squad20, index_dir, 300, "fit")
    fit_questions, training_docs = fit_part(squad20, "train")
    for read in read_questions(fit_pipeline, fit_questions, depth):
        # Sentences of the calibration part's articles stay unseen, as negatives too: the
        # threshold is fitted there on what the reader has never read.
        read.candidates = [
            c for c in read.candidates if c.sentence.citation.doc_id in training_docs
        ]
        pairs += pairs_of(read, "squad2.0-retrieved")
    return pairs
