"""SQuAD and BEIR files as users bring them: each malformed part named, nothing misread."""

from __future__ import annotations

import json
import re

import pytest

from eval.datasets import DatasetError, load_beir, load_squad


def squad_file(tmp_path, qas, context="Paris is the capital of France."):
    data = {"data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def qa(**fields):
    return {"id": "x", "question": "What is the capital?", "answers": [{"text": "Paris"}], **fields}


def test_plain_string_answers_are_read_like_squads_own(tmp_path):
    squad = load_squad(squad_file(tmp_path, [qa(answers=["Paris", "paris"])]))
    assert squad.questions[0].answers == ("Paris", "paris")


@pytest.mark.parametrize(
    ("qas", "context", "message"),
    [
        (
            [{"id": "x", "answers": [{"text": "P"}]}],
            "C.",
            "article 0 paragraph 0 question 0 'question'",
        ),
        (["hello"], "C.", "article 0 paragraph 0 question 0 must be an object, not str"),
        ([qa(answers=[{"answer_start": 0}])], "C.", "answer 0 must have a 'text'"),
        # An answerable question without answer texts was scored as unanswerable.
        (
            [qa(answers=[])],
            "C.",
            'has no answer text; give its answers, or mark it "is_impossible"',
        ),
        ([qa(), qa()], "C.", "the id 'x' is used twice"),
        ([qa()], 5, "paragraph 0 'context' must be text, not int"),
    ],
)
def test_a_malformed_squad_file_names_the_part_at_fault(tmp_path, qas, context, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_squad(squad_file(tmp_path, qas, context))


def test_an_article_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": ["hello"]}), encoding="utf-8")
    with pytest.raises(DatasetError, match="article 0 must be an object, not str"):
        load_squad(path)


def test_impossible_questions_are_unanswerable(tmp_path):
    squad = load_squad(squad_file(tmp_path, [qa(answers=[], is_impossible=True)]))
    assert not squad.questions[0].answerable


def beir_folder(tmp_path, corpus: bytes):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "what?"}\n')
    (tmp_path / "corpus.jsonl").write_bytes(corpus)
    return tmp_path


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        (b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "caf\xe9"}\n', "line 2: not UTF-8"),
        (b'{"_id": "d1", "text": "ok"}\n["_id", "d2"]\n', "line 2: must be a JSON object"),
    ],
)
def test_a_malformed_beir_line_is_named(tmp_path, corpus, message):
    with pytest.raises(DatasetError, match=message):
        load_beir(beir_folder(tmp_path, corpus))


def test_a_beir_corpus_with_a_byte_order_mark_is_read(tmp_path):
    beir = load_beir(beir_folder(tmp_path, b'\xef\xbb\xbf{"_id": "d1", "text": "ok"}\n'))
    assert [d.doc_id for d in beir.documents] == ["d1"]


def test_a_beir_folder_without_the_split_names_the_ones_it_has(tmp_path):
    folder = beir_folder(tmp_path, b'{"_id": "d1", "text": "ok"}\n')
    (folder / "qrels" / "test.tsv").rename(folder / "qrels" / "dev.tsv")
    with pytest.raises(DatasetError, match=r"has no qrels/test.tsv; it has dev \(--beir-split"):
        load_beir(folder)
    assert [q for q in load_beir(folder, split="dev").qrels] == ["q1"]
