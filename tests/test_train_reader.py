"""Training the reader on a tiny slice: the loss falls and the saved model reloads and reads.

Training itself never runs in CI beyond this smoke run of a few seconds' worth of pairs.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

FACTS = [
    (
        "The honey bee colony has one queen.",
        "How many queens does a honey bee colony have?",
        "one queen",
    ),
    (
        "Worker bees build combs from wax secreted by glands in their abdomen.",
        "What do worker bees build combs from?",
        "wax",
    ),
    (
        "Bees communicate the location of flowers with the waggle dance.",
        "How do bees tell where flowers are?",
        "the waggle dance",
    ),
    (
        "The waggle dance was described by Karl von Frisch in 1927.",
        "Who described the waggle dance?",
        "Karl von Frisch",
    ),
    (
        "Mount Etna in Sicily is one of the most active volcanoes in the world.",
        "Where is Mount Etna?",
        "Sicily",
    ),
    (
        "Its eruption in 1669 destroyed parts of Catania.",
        "Which city did the 1669 eruption damage?",
        "Catania",
    ),
]


def squad_file(path, impossible: bool):
    """A SQuAD-layout file whose answer offsets are right (training reads them)."""
    context = " ".join(sentence for sentence, _, _ in FACTS)
    qas = [
        {
            "id": f"q{n}",
            "question": question,
            "answers": [{"text": answer, "answer_start": context.index(answer)}],
        }
        for n, (_, question, answer) in enumerate(FACTS)
    ]
    if impossible:
        qas.append(
            {
                "id": "x",
                "question": "What colour is the queen's crown?",
                "answers": [],
                "is_impossible": True,
            }
        )
    data = {
        "version": "v2.0" if impossible else "1.1",
        "data": [{"title": "Nature", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_tiny_training_run_lowers_the_loss_and_saves_a_model_that_reads(tmp_path):
    from rag.backends.reader import Reader
    from train.reader import main

    squad11 = squad_file(tmp_path / "train11.json", impossible=False)
    squad20 = squad_file(tmp_path / "dev20.json", impossible=True)
    out = tmp_path / "reader"
    args = [
        "--squad11",
        str(squad11),
        "--squad20",
        str(squad20),
        "--heldout11",
        str(squad11),
        "--out",
        str(out),
        "--questions",
        "6",
        "--epochs",
        "20",
        "--batch",
        "8",
        "--lr",
        "2e-4",
        "--heldout",
        "3",
        "--checkpoint-every",
        "1000",
        "--log-every",
        "4",
    ]
    assert main(args) == 0
    log = [json.loads(line) for line in (out / "training-log.jsonl").read_text().splitlines()]
    losses = [entry["loss"] for entry in log if entry["event"] == "step"]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    assert any(entry["event"] == "heldout" for entry in log)
    reader = Reader(out, runtime="torch")  # an ONNX export would cost more than the training
    # The question's answer against the paragraph sentence it was trained to reject (the
    # other waggle-dance sentence, sharing most of its words).
    right, wrong = reader.probabilities(FACTS[3][1], [FACTS[3][0], FACTS[2][0]])
    assert right > wrong

    # Trained further from the saved model (`--start`), it starts where the first run
    # ended rather than from scratch: its first logged loss is already low.
    further = tmp_path / "further"
    again = [*args[: args.index("--out")], "--out", str(further), "--start", str(out)]
    again += args[args.index("--out") + 2 :]
    again[again.index("--epochs") + 1] = "4"
    assert main(again) == 0
    log = [json.loads(line) for line in (further / "training-log.jsonl").read_text().splitlines()]
    further_losses = [entry["loss"] for entry in log if entry["event"] == "step"]
    assert further_losses[0] < losses[0]


def test_a_tiny_listwise_run_lowers_the_loss_and_saves_a_model_that_reads(tmp_path):
    from rag.backends.reader import Reader
    from train.reader import main

    out = tmp_path / "reader"
    squad11 = squad_file(tmp_path / "train11.json", impossible=False)
    args = ["--squad11", str(squad11), "--heldout11", str(squad11), "--out", str(out)]
    args += ["--squad20", str(squad_file(tmp_path / "dev20.json", impossible=True))]
    args += ["--questions", "6", "--epochs", "10", "--batch", "8", "--lr", "2e-4"]
    args += ["--heldout", "3", "--log-every", "4", "--listwise", "1.0"]
    assert main(args) == 0
    log = [json.loads(line) for line in (out / "training-log.jsonl").read_text().splitlines()]
    assert log[0]["args"]["listwise"] == "1.0"
    losses = [entry["loss"] for entry in log if entry["event"] == "step"]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    right, wrong = Reader(out, runtime="torch").probabilities(
        FACTS[3][1], [FACTS[3][0], FACTS[2][0]]
    )
    assert right > wrong
