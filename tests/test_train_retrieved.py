"""Training pairs from what retrieval and the signals put before the reader (train.retrieved)."""

from __future__ import annotations

import json
import random

import pytest
from test_train_reader import FACTS, squad_file

pytestmark = pytest.mark.slow

OTHER_TOPIC = [
    ("Copper conducts electricity well.", "What does copper conduct well?", "electricity"),
    ("Lead was used in Roman water pipes.", "What did Romans make water pipes of?", "Lead"),
]


def two_article_file(path, impossible: bool):
    """`squad_file`'s article (position 0: SQuAD 2.0's fit half, training part) and a second
    one (position 1: the report half, which training must never read)."""
    data = json.loads(squad_file(path, impossible).read_text(encoding="utf-8"))
    context = " ".join(sentence for sentence, _, _ in OTHER_TOPIC)
    qas = [
        {
            "id": f"report{n}",
            "question": question,
            "answers": [{"text": answer, "answer_start": context.index(answer)}],
        }
        for n, (_, question, answer) in enumerate(OTHER_TOPIC)
    ]
    data["data"].append({"title": "Metals", "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_retrieved_pairs_label_what_the_reader_would_read(tmp_path):
    from train.retrieved import retrieved_pairs

    squad11 = two_article_file(tmp_path / "train11.json", impossible=False)
    squad20 = two_article_file(tmp_path / "dev20.json", impossible=True)
    pairs = retrieved_pairs(
        squad11, squad20, 100, 2, 3, random.Random(1), tmp_path / "work" / "index"
    )
    sentences = {s for s, _, _ in FACTS + OTHER_TOPIC}
    by_question: dict[str, list] = {}
    for pair in pairs:
        assert pair.sentence in sentences  # verbatim, cut by the product's splitter
        by_question.setdefault((pair.origin, pair.question), []).append(pair)
    answers = {q: (s, a) for s, q, a in FACTS + OTHER_TOPIC}
    squad11_questions = {q for origin, q in by_question if origin == "squad1.1-retrieved"}
    # Both articles of the SQuAD 1.1 file were drawn and indexed.
    assert squad11_questions == {q for _, q, _ in FACTS + OTHER_TOPIC}
    for (origin, question), group in by_question.items():
        assert len(group) <= 3  # depth
        if origin.endswith("-impossible"):
            assert question == "What colour is the queen's crown?"
            assert all(p.label == 0.0 for p in group)
            continue
        sentence, answer = answers[question]
        for pair in group:
            assert pair.label == float(answer.lower() in pair.sentence.lower()), pair
        # Retrieval found the answer sentence among the few indexed, so it is a positive.
        assert any(p.label == 1.0 and p.sentence == sentence for p in group)
    squad20_questions = {q for origin, q in by_question if origin.startswith("squad2.0")}
    # Only the fit half's training part: never a question of the report half.
    assert squad20_questions == {q for _, q, _ in FACTS} | {"What colour is the queen's crown?"}


def test_training_on_retrieved_pairs_logs_where_they_came_from(tmp_path):
    from train.reader import main

    squad11 = two_article_file(tmp_path / "train11.json", impossible=False)
    squad20 = two_article_file(tmp_path / "dev20.json", impossible=True)
    out = tmp_path / "reader"
    args = [
        *("--squad11", str(squad11), "--squad20", str(squad20), "--heldout11", str(squad11)),
        *("--out", str(out), "--pairs", "retrieved", "--questions", "8", "--articles", "2"),
        *("--depth", "2", "--index-dir", str(tmp_path / "work" / "index"), "--batch", "8"),
        *("--heldout", "2", "--log-every", "1"),
    ]
    assert main(args) == 0
    log = [json.loads(line) for line in (out / "training-log.jsonl").read_text().splitlines()]
    data = next(entry for entry in log if entry["event"] == "data")
    assert set(data["counts"]) == {
        "squad1.1-retrieved:0",
        "squad1.1-retrieved:1",
        "squad2.0-retrieved:0",
        "squad2.0-retrieved:1",
        "squad2.0-retrieved-impossible:0",
    }
    assert data["args"]["pairs"] == "retrieved"
    assert (out / "model.safetensors").is_file()
