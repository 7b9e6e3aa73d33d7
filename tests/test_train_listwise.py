"""The listwise loss (`python -m train reader --listwise W`) and its question-whole batches."""

from __future__ import annotations

import math
import random

import pytest

torch = pytest.importorskip("torch")

from train.reader import listwise_loss, parse_args, question_grouped_batches  # noqa: E402
from train.reader_data import Pair  # noqa: E402


def pairs_of(question: str, labels: list[float]) -> list[Pair]:
    return [
        Pair(question, f"{question} sentence {n}", label, "test") for n, label in enumerate(labels)
    ]


def test_the_loss_is_minus_the_log_of_the_softmax_mass_on_the_answering_sentences():
    batch = pairs_of("q1", [1.0, 0.0, 1.0])
    logits = torch.tensor([1.0, 2.0, 0.0])
    expected = math.log(math.e + math.e**2 + 1) - math.log(math.e + 1)
    assert listwise_loss(logits, batch).item() == pytest.approx(expected, rel=1e-5)


def test_it_falls_as_the_answering_sentence_rises_above_the_others():
    batch = pairs_of("q1", [1.0, 0.0, 0.0])
    low = listwise_loss(torch.tensor([0.0, 1.0, 1.0]), batch).item()
    high = listwise_loss(torch.tensor([3.0, 1.0, 1.0]), batch).item()
    assert high < low


def test_questions_with_no_answering_sentence_or_only_answering_ones_are_left_out():
    answered = pairs_of("q1", [1.0, 0.0])
    impossible = pairs_of("q2", [0.0, 0.0, 0.0])
    all_right = pairs_of("q3", [1.0, 1.0])
    logits = torch.tensor([2.0, 0.0, 5.0, -5.0, 0.0, -9.0, 9.0])
    alone = listwise_loss(torch.tensor([2.0, 0.0]), answered).item()
    assert listwise_loss(logits, answered + impossible + all_right).item() == pytest.approx(alone)
    # No question qualifies: zero, and still part of the graph (backward works).
    logits = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = listwise_loss(logits, impossible)
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_batches_hold_every_pair_once_and_never_split_a_question():
    rng = random.Random(3)
    pairs = [p for q in range(200) for p in pairs_of(f"q{q}", [1.0] + [0.0] * rng.randint(1, 6))]
    batches = question_grouped_batches(pairs, 32, random.Random(0))
    assert sorted(id(p) for b in batches for p in b) == sorted(id(p) for p in pairs)
    home = {}
    for n, batch in enumerate(batches):
        assert len(batch) <= 32
        for pair in batch:
            assert home.setdefault(pair.question, n) == n
    # Packed, not one question a batch.
    assert len(batches) < len(pairs) / 20


def test_a_weight_outside_0_to_10_is_refused_naming_the_flag(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--listwise", "-1"])
    assert "--listwise" in capsys.readouterr().err
    assert parse_args(["--listwise", "0.5"]).listwise == 0.5
