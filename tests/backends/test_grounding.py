"""Checking a generated answer: markers, support and verbatim citations (no server needed)."""

from __future__ import annotations

import re

from rag.backends.grounding import answer_sentences, check_answer, is_abstention


def assert_verbatim(citations, documents):
    for citation in citations:
        assert documents[citation.doc_id].text[citation.start : citation.end] == citation.quote


def markers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", text)]


def test_cited_sentences_get_the_best_verbatim_sentence_of_their_passage(passages, documents):
    reply = (
        "The Bicentennial Framework replaced the Merida Initiative [1]. "
        "Most fentanyl seizures happen at official ports of entry [2]."
    )
    checked = check_answer(reply, passages)

    assert checked.unsupported == ()
    assert checked.notices == ()
    assert [c.doc_id for c in checked.citations] == ["framework", "seizures"]
    # Not the passage's first sentence: the one that supports the claim.
    assert checked.citations[0].quote.startswith("It replaced the Merida Initiative")
    assert checked.citations[1].quote.startswith("Most seizures happened at official ports")
    assert_verbatim(checked.citations, documents)
    assert checked.text == reply


def test_markers_are_renumbered_to_the_answers_own_citation_list(passages, documents):
    reply = (
        "Mexico extradited 25 suspects in 2022 [4]. "
        "Authorities dismantled 150 laboratories in Sinaloa [5][4]."
    )
    checked = check_answer(reply, passages)

    # First cited, first numbered; passage 4 cited twice for one sentence keeps one number.
    assert checked.text == (
        "Mexico extradited 25 suspects in 2022 [1]. "
        "Authorities dismantled 150 laboratories in Sinaloa [2][1]."
    )
    assert [c.doc_id for c in checked.citations] == ["extradition", "labs"]
    assert_verbatim(checked.citations, documents)


def test_a_phantom_marker_is_removed_and_flagged(passages):
    checked = check_answer("The framework was launched in October 2021 [1][7].", passages)

    assert checked.text == "The framework was launched in October 2021 [1]."
    assert len(checked.citations) == 1
    assert any("[7]" in notice and "5 passages" in notice for notice in checked.notices)


def test_a_sentence_citing_only_a_phantom_loses_its_marker_and_its_support(passages):
    checked = check_answer("Cartels moved 9 tonnes of cocaine through Panama [9].", passages)

    assert "[9]" not in checked.text
    assert checked.citations == ()
    assert checked.unsupported == ("Cartels moved 9 tonnes of cocaine through Panama.",)
    assert any("cites none" in notice for notice in checked.notices)


def test_an_unsupported_sentence_is_flagged_and_the_supported_one_is_not(passages):
    reply = (
        "The Bicentennial Framework was launched in October 2021 [1]. "
        "Canada paid 40 billion dollars to fund its helicopter fleet [1]."
    )
    checked = check_answer(reply, passages)

    assert checked.unsupported == (
        "Canada paid 40 billion dollars to fund its helicopter fleet [1].",
    )
    assert any("not supported" in notice for notice in checked.notices)
    assert checked.unsupported[0] in checked.text  # the UI can find and mark it


def test_a_number_the_cited_passage_does_not_hold_makes_a_sentence_unsupported(passages):
    # Every word matches passage 1 except the year.
    checked = check_answer("The Bicentennial Framework was launched in October 2019 [1].", passages)

    assert len(checked.unsupported) == 1


def test_support_is_judged_against_the_cited_passage_not_any_passage(passages):
    # True of passage 2, but it cites passage 4.
    checked = check_answer("Border officers seized 12,000 kilograms of fentanyl [4].", passages)

    assert len(checked.unsupported) == 1


def test_an_uncited_sentence_that_some_passage_supports_is_not_flagged(passages):
    reply = (
        "Mexico extradited 25 suspects in 2022. Requests are reviewed by the foreign ministry [4]."
    )
    checked = check_answer(reply, passages)

    assert checked.unsupported == ()
    assert len(checked.citations) == 1


def test_markers_after_the_full_stop_stay_with_their_sentence(passages):
    text = "It replaced the Merida Initiative. [1] Smugglers hide the drug in vehicles. [2]"
    spans = [text[s:e] for s, e in answer_sentences(text)]
    assert spans == [
        "It replaced the Merida Initiative. [1]",
        "Smugglers hide the drug in vehicles. [2]",
    ]
    checked = check_answer(text, passages)
    assert [c.doc_id for c in checked.citations] == ["framework", "seizures"]
    assert checked.unsupported == ()


def test_grouped_and_named_markers_are_understood(passages):
    checked = check_answer("Mexico works with the United States [1, 4] [Passage 2].", passages)

    assert [c.doc_id for c in checked.citations] == ["framework", "extradition", "seizures"]
    assert checked.text == "Mexico works with the United States [1][2] [3]."


def test_a_bracketed_year_is_not_a_marker(passages):
    checked = check_answer("The harbor closed after a storm [1999] [3].", passages)

    assert "[1999]" in checked.text
    assert checked.notices == ()


def test_abstentions_are_recognised():
    assert is_abstention("The documents do not say.")
    assert is_abstention("the documents do not say — sorry")
    assert is_abstention("The passages do not contain information about the budget.")
    assert is_abstention("I cannot find that; the provided passages don't mention it.")
    assert not is_abstention("The framework was launched in 2021 [1].")
    assert not is_abstention(
        "The passages do not give the exact day, but it was launched in October 2021 [1]."
    )
    assert not is_abstention("The documents do not say the day, but it was October 2021 [1].")
    assert not is_abstention("No, the framework does not include Canada.")


def test_markers_are_where_the_check_placed_them_and_nowhere_else(passages):
    from rag.types import Answer
    from ui import render

    reply = "The framework was launched in October 2021 [1]. It replaced the Merida Initiative [1]."
    checked = check_answer(reply, passages)
    assert len(checked.markers) == 2 and len(checked.citations) == 2
    assert [checked.text[m.start : m.end] for m in checked.markers] == ["[1]", "[2]"]
    # Text that only looks like a marker (a document's own "[2]") is not one.
    answer = Answer("q", checked.text.replace("October", "[2] October"), False, "openai",
                    checked.citations, passages)  # fmt: skip
    assert "rag-marker" not in render.answer_text_html(answer)
