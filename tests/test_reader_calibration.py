"""The reader's calibration: how many sentences it reads and where it abstains."""

from __future__ import annotations

import numpy as np

from train.reader_calibration import QuestionCandidates, fit


def _question(answer_at: int | None, depth: int = 20) -> QuestionCandidates:
    """A question whose sentence `answer_at` (None: none; it is unanswerable) answers, and
    which the reader scores high; every other sentence it scores low."""
    logits = np.full(depth, -4.0)
    if answer_at is not None:
        logits[answer_at] = 4.0
    return QuestionCandidates(
        answerable=answer_at is not None,
        features=np.column_stack([logits, np.zeros(depth), np.zeros(depth), np.ones(depth)]),
        holds_answer=np.arange(depth) == answer_at
        if answer_at is not None
        else np.zeros(depth, bool),
        passage_ranks=[1] * depth,
        gold_rank=1 if answer_at is not None else None,
        text_keys=[f"sentence {i}" for i in range(depth)],
        on_topic=True,
    )


def test_the_narrowest_width_within_a_question_or_so_of_the_best_is_read():
    # Reading 20 sentences finds one answer more in 100 than reading 3: noise, not worth
    # reading seventeen more sentences for every question.
    collected = [_question(0)] * 60 + [_question(2)] * 39 + [_question(15)] + [_question(None)] * 20
    result = fit(collected, depth=20)
    assert result["never_abstaining"]["width"] == 3
    assert result["chosen"]["width"] == 3
    # The unanswerable ones score low throughout: a threshold abstains on all of them.
    assert result["chosen"]["abstention_recall"] == 1.0
    assert result["chosen"]["accuracy"] >= 0.99


def test_a_width_that_finds_clearly_more_answers_is_read():
    collected = [_question(0)] * 60 + [_question(6)] * 40 + [_question(None)] * 20
    assert fit(collected, depth=20)["chosen"]["width"] == 8
