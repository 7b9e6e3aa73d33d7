"""Fit how the extractive backend uses the reader, on SQuAD 2.0 dev questions it never saw.

    python -m train calibrate        # after `python -m train reader`; ~5 minutes

The reader reads the sentences the hand-weighted signals rank best (coverage of the
question's rare words, the kind of fact asked for, the passage's rank); the backend
quotes the one most likely to answer, or abstains. This fits a small logistic model
over the reader's logit and those signals, on real retrieval output (hybrid, k=5, every
paragraph of the fit-half articles indexed) for questions of the fit half's calibration part
(`eval.datasets.squad_v2_fit_part`: articles the reader did not train on), then picks on
the same questions how many sentences the reader reads and the probability under which
the backend abstains (see `fit`).
The result is written to `calibration.json` beside the model; figures on the report half
come from `rag eval --squad-half report`, never from here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.backends.reader import (
    BUNDLED_READER,
    CALIBRATION,
    FEATURES,
    Calibration,
    write_manifest,
)

SQUAD20 = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "data"
    / "squad"
    / "dev-v2.0.from-explorer.json"
)


@dataclass
class QuestionCandidates:
    answerable: bool
    features: np.ndarray  # one row per candidate, in hand-weighted order
    holds_answer: np.ndarray  # bool per candidate
    passage_ranks: list[int]
    gold_rank: int | None  # rank of the first retrieved passage from the gold paragraph
    text_keys: list[str]  # per candidate: its words, so one text is quoted once
    on_topic: bool  # what the backend's off-topic guard says (`near_the_topic`)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train calibrate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--squad20", type=Path, default=SQUAD20)
    parser.add_argument("--model", type=Path, default=BUNDLED_READER)
    parser.add_argument("--questions", type=int, default=500, help="fit-half questions to use")
    parser.add_argument("--depth", type=int, default=20, help="candidates read per question")
    parser.add_argument("--index-dir", type=Path, default=Path(".rag/index"))
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep what the reader read here (pickle) and reuse it when it exists",
    )
    return parser.parse_args(argv)


def collect(args: argparse.Namespace) -> list[QuestionCandidates]:
    from rag.backends.extractive import ExtractiveBackend, candidate_features
    from rag.backends.reader import Reader
    from rag.text import words
    from train.retrieved import (
        fit_part,
        holds_answer,
        read_questions,
        squad_pipeline,
    )

    # The index `rag eval --squad-half fit --limit 300` builds: every fit-half article.
    pipeline = squad_pipeline(args.squad20, args.index_dir, 300, "fit")
    every, _ = fit_part(args.squad20, "calibrate")
    questions = random.Random(7).sample(every, min(args.questions, len(every)))
    print(f"{len(questions)} of the {len(every)} calibration questions", file=sys.stderr)
    settings = pipeline.settings
    reader = Reader(args.model, runtime=settings.model_runtime, cache_dir=settings.model_cache_dir)
    collected = []
    for read in read_questions(pipeline, questions, args.depth, progress_every=50):
        question, candidates = read.question, read.candidates
        logits = reader.logits(question.question, [c.sentence.citation.quote for c in candidates])
        gold_rank = next(
            (p.rank for p in read.retrieval.passages if p.citation.doc_id in question.sources),
            None,
        )
        collected.append(
            QuestionCandidates(
                answerable=question.answerable,
                features=np.array(
                    [
                        candidate_features(c, float(x))
                        for c, x in zip(candidates, logits, strict=True)
                    ]
                ),
                holds_answer=np.array([holds_answer(question, c) for c in candidates]),
                passage_ranks=[c.passage_rank for c in candidates],
                gold_rank=gold_rank,
                text_keys=[" ".join(words(c.sentence.citation.quote)) for c in candidates],
                on_topic=ExtractiveBackend.near_the_topic(candidates),
            )
        )
    return collected


# The reader may cost answered questions this much accuracy, at most, to abstain where it
# should, measured from the best accuracy of never abstaining.
MAX_ACCURACY_LOSS = 0.05
# Widths whose never-abstaining accuracy is this close count as equal (3 or 4 of 350
# questions): the narrowest is taken.
WIDTH_TOLERANCE = 0.01
# How many of the signals' best sentences the reader may read (1: it vetoes their pick).
WIDTHS = (1, 2, 3, 5, 8, 12, 20)


def decision_figures(
    collected: list[QuestionCandidates], scores: list[np.ndarray], width: int, threshold: float
) -> dict:
    """Accuracy and abstention recall of what the backend does at this width and threshold.

    `scores`: each question's calibrated probability per candidate. Width 1: the signals'
    first-ranked sentence is quoted if its probability reaches the threshold (an
    approximation: the backend then vetoes `_choose_by_weights`'s pick, which may prefer a
    sentence holding the kind of fact asked for). Wider: exactly what the backend does
    (`ExtractiveBackend._choose_by_reader`, `pick_read`).
    """
    from rag.backends.extractive import ExtractiveOptions, pick_read

    answered_right = abstained_right = n_answerable = n_impossible = 0
    for q, question_scores in zip(collected, scores, strict=True):
        read = question_scores[:width]
        if width == 1:
            picked = [0] if read[0] >= threshold else []
        elif not q.on_topic:
            picked = []
        else:
            picked = pick_read(read, q.text_keys, threshold, ExtractiveOptions.max_sentences)
        if q.answerable:
            n_answerable += 1
            answered_right += any(bool(q.holds_answer[i]) for i in picked)
        else:
            n_impossible += 1
            abstained_right += not picked
    return {
        "width": width,
        "threshold": float(threshold),
        "accuracy": answered_right / max(1, n_answerable),
        "abstention_recall": abstained_right / max(1, n_impossible),
    }


def fit(collected: list[QuestionCandidates], depth: int) -> dict:
    """The calibration model over every candidate read, the width and the threshold.

    The width: the narrowest whose never-abstaining accuracy is within WIDTH_TOLERANCE of
    the best (fewer sentences read is less time, and a few questions' difference is
    noise). The threshold: the highest that keeps answer accuracy within
    MAX_ACCURACY_LOSS of that, so a user loses few answers for many honest
    abstentions. In two steps rather than jointly, so that the width is not picked by the
    noise of one question at one threshold.
    """
    from sklearn.linear_model import LogisticRegression

    rows = np.concatenate([q.features[:depth] for q in collected])
    labels = np.concatenate([q.holds_answer[:depth] for q in collected])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(rows, labels)
    weights, bias = model.coef_[0], float(model.intercept_[0])
    # What the backend computes (`Calibration.probabilities`), once per question.
    calibration = Calibration(weights=tuple(weights), bias=bias)
    scores = [calibration.probabilities(q.features) for q in collected]
    curve = [
        decision_figures(collected, scores, width, t)
        for width in WIDTHS
        if width <= depth
        for t in np.round(np.arange(0, 0.61, 0.01), 2)
    ]
    never_abstaining = [row for row in curve if row["threshold"] == 0]
    best = max(row["accuracy"] for row in never_abstaining)
    never = min(
        (row for row in never_abstaining if row["accuracy"] >= best - WIDTH_TOLERANCE),
        key=lambda r: r["width"],
    )
    chosen = max(
        (
            row
            for row in curve
            if row["width"] == never["width"]
            and row["accuracy"] >= never["accuracy"] - MAX_ACCURACY_LOSS
        ),
        key=lambda r: r["threshold"],
    )
    return {
        "weights": weights.tolist(),
        "bias": bias,
        "chosen": chosen,
        "never_abstaining": never,
        "curve": curve,
        # What the backend does with the passages when the reader chooses (width > 1).
        "rerank": rerank_figures(collected, scores, chosen["width"]),
    }


def rerank_figures(
    collected: list[QuestionCandidates], scores: list[np.ndarray], depth: int
) -> dict:
    """Recall@1 and MRR of the gold paragraph, in retrieval's order and re-ranked by the reader.

    Re-ranked as the backend shows them (`rag.backends.extractive.reader_order`): passages in
    order of their best read sentence's probability, those with none read after them.
    """
    from rag.backends.extractive import best_read_by_rank, reader_order

    before, after = [], []
    for q, question_scores in zip(collected, scores, strict=True):
        if not q.answerable or q.gold_rank is None:
            before.append(0.0)
            after.append(0.0)
            continue
        best = best_read_by_rank(
            zip(q.passage_ranks[:depth], map(float, question_scores[:depth]), strict=False)
        )
        order = reader_order(best, range(1, 6))
        before.append(1.0 / q.gold_rank)
        after.append(1.0 / (order.index(q.gold_rank) + 1) if q.gold_rank in order else 0.0)
    answerable = [q for q in collected if q.answerable]
    n = max(1, len(answerable))
    return {
        "questions": len(answerable),
        "recall@1_retrieval": sum(x == 1.0 for x in before) / n,
        "recall@1_reranked": sum(x == 1.0 for x in after) / n,
        "mrr_retrieval": sum(before) / n,
        "mrr_reranked": sum(after) / n,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import pickle

    if args.cache and args.cache.is_file():
        collected = pickle.loads(args.cache.read_bytes())
    else:
        collected = collect(args)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(collected))
    result = fit(collected, args.depth)
    chosen = result["chosen"]
    calibration = {
        "weights": result["weights"],
        "bias": result["bias"],
        "threshold": chosen["threshold"],
        "candidates": chosen["width"],
        "features": list(FEATURES),
        "fitted_on": f"{len(collected)} questions of SQuAD 2.0 dev's calibration articles "
        "(eval.datasets.squad_v2_fit_part), hybrid retrieval, k=5",
        "figures_on_those_questions": {
            "never_abstaining": result["never_abstaining"],
            "at_threshold": chosen,
        },
    }
    print(json.dumps(calibration, indent=2))
    print(json.dumps({"rerank": result["rerank"]}, indent=2))
    (args.model / "training-calibration-search.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    (args.model / CALIBRATION).write_text(json.dumps(calibration, indent=2) + "\n")
    write_manifest(
        args.model,
        trained_by="python -m train reader && python -m train calibrate",
        base_model="all-MiniLM-L6-v2",
    )
    return 0
