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
# On the very topic of FACTS, so retrieval brings its sentences to FACTS' questions.
CALIBRATION_TOPIC = [
    ("A honey bee queen lays up to two thousand eggs a day.", "How many eggs?", "two thousand"),
    ("Drones are the male bees of the colony.", "What are drones?", "the male bees"),
]
FILLER = [("Rivers carry sediment to the sea.", "What do rivers carry?", "sediment")]
LAKES = [("Lakes hold fresh water.", "What do lakes hold?", "fresh water")]


def article(title: str, facts, prefix: str) -> dict:
    context = " ".join(sentence for sentence, _, _ in facts)
    qas = [
        {
            "id": f"{prefix}{n}",
            "question": question,
            "answers": [{"text": answer, "answer_start": context.index(answer)}],
        }
        for n, (_, question, answer) in enumerate(facts)
    ]
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def squad_articles(path, impossible: bool):
    """`squad_file`'s article at position 0 (SQuAD 2.0's fit half, training part), then the
    report half (1, 3), the training part again (2) and the calibration part (4)."""
    data = json.loads(squad_file(path, impossible).read_text(encoding="utf-8"))
    data["data"] += [
        article("Metals", OTHER_TOPIC, "metals"),
        article("Rivers", FILLER, "train"),
        article("Lakes", LAKES, "report"),
        article("Queens", CALIBRATION_TOPIC, "calibrate"),
    ]
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


ARTICLES = {
    "Nature": FACTS,
    "Metals": OTHER_TOPIC,
    "Rivers": FILLER,
    "Lakes": LAKES,
    "Queens": CALIBRATION_TOPIC,
}


def test_retrieved_pairs_label_what_the_reader_would_read(tmp_path):
    from train.retrieved import read_questions, retrieved_pairs, squad_pipeline

    squad11 = squad_articles(tmp_path / "train11.json", impossible=False)
    squad20 = squad_articles(tmp_path / "dev20.json", impossible=True)
    index_dir = tmp_path / "work" / "index"
    pairs = retrieved_pairs(squad11, squad20, 100, 2, 3, random.Random(1), index_dir)
    everything = [fact for facts in ARTICLES.values() for fact in facts]
    by_question: dict[tuple[str, str], list] = {}
    for pair in pairs:
        # Verbatim, cut by the product's splitter.
        assert pair.sentence in {s for s, _, _ in everything}
        by_question.setdefault((pair.origin, pair.question), []).append(pair)
    answers = {q: (s, a) for s, q, a in everything}
    for (origin, question), group in by_question.items():
        assert len(group) <= 3  # depth
        if origin.endswith("-impossible"):
            assert question == "What colour is the queen's crown?"
            assert all(p.label == 0.0 for p in group)
            continue
        sentence, answer = answers[question]
        for pair in group:
            assert pair.label == float(answer.lower() in pair.sentence.lower()), pair
        if origin.startswith("squad1.1"):
            # Retrieval found the answer sentence among the few indexed: a positive.
            assert any(p.label == 1.0 and p.sentence == sentence for p in group)

    # SQuAD 1.1: every question of two articles drawn at random, and no other.
    asked = {q for origin, q in by_question if origin == "squad1.1-retrieved"}
    drawn = [t for t, facts in ARTICLES.items() if any(q in asked for _, q, _ in facts)]
    assert len(drawn) == 2
    assert asked == {q for t in drawn for _, q, _ in ARTICLES[t]}

    # SQuAD 2.0: only the fit half's training part, never a question of the report half or
    # of the calibration part, nor a sentence of the calibration part ...
    squad20_groups = [
        (q, group) for (origin, q), group in by_question.items() if origin.startswith("squad2.0")
    ]
    assert {q for q, _ in squad20_groups} == {q for _, q, _ in FACTS + FILLER} | {
        "What colour is the queen's crown?"
    }
    calibration_sentences = {s for s, _, _ in CALIBRATION_TOPIC}
    assert not any(p.sentence in calibration_sentences for _, g in squad20_groups for p in g)
    # ... which retrieval does bring to the bee questions.
    from train.retrieved import fit_part

    bee_questions = [q for q in fit_part(squad20, "train")[0] if q.question in answers]
    fit_index = squad_pipeline(squad20, index_dir, 300, "fit")
    read = [
        c.sentence.citation.quote
        for r in read_questions(fit_index, bee_questions, 3)
        for c in r.candidates
    ]
    assert calibration_sentences & set(read)


def test_training_on_retrieved_pairs_logs_where_they_came_from(tmp_path):
    from train.reader import main

    squad11 = squad_articles(tmp_path / "train11.json", impossible=False)
    squad20 = squad_articles(tmp_path / "dev20.json", impossible=True)
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
