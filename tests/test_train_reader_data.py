"""The reader's training pairs: swapped questions are on topic yet unanswered by the sentence,
thinned questions keep what the sentences lack, and the shares of both are checked."""

from __future__ import annotations

import random

import pytest

from train.reader_data import _article_names, swapped_question

PARAGRAPH = (
    "Karl Benz built the first car in Mannheim in 1885. It was shown to the public a year later."
)
SENTENCE = "Karl Benz built the first car in Mannheim in 1885."


def test_a_shared_name_is_swapped_for_one_the_paragraph_never_mentions():
    rng = random.Random(0)
    swapped = swapped_question(
        "When did Karl Benz build the first car?",
        SENTENCE,
        PARAGRAPH,
        ["Gottlieb Daimler", "Karl Benz"],
        rng,
    )
    assert swapped == "When did Gottlieb Daimler build the first car?"


def test_a_shared_year_is_moved_to_one_the_paragraph_never_mentions():
    for seed in range(20):
        swapped = swapped_question(
            "Where was the first car built in 1885?", SENTENCE, PARAGRAPH, [], random.Random(seed)
        )
        assert swapped is not None and swapped.startswith("Where was the first car built in ")
        year = swapped.removeprefix("Where was the first car built in ").rstrip("?")
        assert year.isdigit() and year != "1885" and year not in PARAGRAPH


def test_a_shared_decade_moves_its_year_and_keeps_the_s():
    # The same year pattern as the backend's (rag.text.YEAR), which reads "1880s" as 1880.
    paragraph = "Motor cars spread in the 1880s across Germany."
    for seed in range(10):
        swapped = swapped_question(
            "Where did cars spread in the 1880s?", paragraph, paragraph, [], random.Random(seed)
        )
        assert swapped is not None and swapped.endswith("s?")
        decade = swapped.removeprefix("Where did cars spread in the ").removesuffix("s?")
        assert decade.isdigit() and decade != "1880" and decade not in paragraph


def test_no_swap_when_the_question_shares_no_name_or_year_with_the_sentence():
    rng = random.Random(0)
    assert (
        swapped_question("What was shown?", SENTENCE, PARAGRAPH, ["Gottlieb Daimler"], rng) is None
    )
    # Nor when every other name is one the paragraph mentions.
    assert swapped_question("Who built a car?", SENTENCE, PARAGRAPH, ["Karl Benz"], rng) is None


def test_names_are_whole_capitalised_phrases_not_sentence_openers():
    article = {
        "paragraphs": [
            {"context": "Then From Beijing came news. The relay reached Buenos Aires, Argentina."},
            {"context": "Ships of the Royal Navy met Karl von Frisch; Gottlieb Daimler drove."},
        ]
    }
    assert _article_names(article) == ["Buenos Aires", "Gottlieb Daimler", "Royal Navy"]


def test_swapped_questions_join_the_pairs_as_negatives_of_the_answer_sentence(tmp_path):
    import json

    from train.reader_data import squad11_pairs

    other = "In 1883 Gottlieb Daimler built an engine in Stuttgart."
    article = {
        "title": "Cars",
        "paragraphs": [
            {
                "context": PARAGRAPH,
                "qas": [
                    {
                        "id": "benz",
                        "question": "When did Karl Benz build the first car?",
                        "answers": [{"text": "1885", "answer_start": PARAGRAPH.index("1885")}],
                    }
                ],
            },
            {"context": other, "qas": []},
        ],
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"version": "1.1", "data": [article]}), encoding="utf-8")
    plain = squad11_pairs(path, 1, random.Random(0))
    assert not [p for p in plain if p.origin == "squad1.1-swapped"]
    pairs = squad11_pairs(path, 1, random.Random(0), swapped_share=1.0)
    swapped = [p for p in pairs if p.origin == "squad1.1-swapped"]
    assert [(p.question, p.sentence, p.label) for p in swapped] == [
        ("When did Gottlieb Daimler build the first car?", SENTENCE, 0.0)
    ]


def test_a_thinned_question_leaves_out_only_content_words_the_sentences_share():
    from train.reader_data import thinned_question

    question = "Which American official phoned Mexico's top diplomat on Tuesday?"
    sentence = "Blinken, the American official, phoned Mexico's top diplomat, Ebrard."
    seen = {thinned_question(question, [sentence], random.Random(seed)) for seed in range(40)}
    assert question in seen and len(seen) > 5  # some questions keep every word
    for thinned in seen:
        kept = thinned.rstrip("?").split()
        # Stop words and the word the sentence lacks always stay, in their order.
        assert kept[0] == "Which" and kept[-2:] == ["on", "Tuesday"], thinned
        assert thinned.endswith("?")
        assert set(kept) <= set(question.rstrip("?").split())


def test_a_question_is_never_thinned_to_no_content_word():
    from train.reader_data import thinned_question

    question = "Who is Blinken?"
    assert thinned_question(question, ["Blinken spoke."], random.Random(0), drop=1.0) == question


def test_a_thinned_question_goes_into_every_pair_of_its_question_alike():
    from train.reader_data import Pair, thin_questions

    question = "When did Karl Benz build the first car in Mannheim?"
    pairs = [
        Pair(question, "Karl Benz built the first car in Mannheim in 1885.", 1.0, "squad"),
        Pair(question, "Benz was born in Karlsruhe.", 0.0, "squad"),
        Pair("Who built it?", "Daimler built an engine.", 1.0, "squad"),
    ]
    assert thin_questions(pairs, 0.0, random.Random(0)) == pairs
    thinned = thin_questions(pairs, 1.0, random.Random(1))
    assert thinned[0].question == thinned[1].question != question
    assert [p.label for p in thinned] == [p.label for p in pairs]
    assert thinned[0].origin == "squad-thinned"
    assert thinned[2] == pairs[2]  # "built", its one content word, stays


@pytest.mark.parametrize("flag", ["--thin", "--swapped"])
@pytest.mark.parametrize("value", ["1.5", "-0.1", "half", "nan"])
def test_a_share_outside_0_to_1_is_refused_naming_the_flag(flag, value, capsys):
    from train.reader import parse_args

    with pytest.raises(SystemExit):
        parse_args([flag, value])
    error = capsys.readouterr().err
    assert f"argument {flag}: must be a number from 0 to 1, not '{value}'" in error


def test_a_share_from_0_to_1_is_read():
    from train.reader import parse_args

    args = parse_args(["--thin", "0.3", "--swapped", "1"])
    assert (args.thin, args.swapped) == (0.3, 1.0)
    assert parse_args([]).thin == 0.0
