"""Follow-up questions are searched for as standalone questions (the rule without an LLM)."""

from __future__ import annotations

import pytest

from rag.followup import leans_on_history, standalone_question, topic_of
from rag.query import Query
from rag.types import Turn

FRAMEWORK = (Turn("What is the Bicentennial Framework?", "A partnership [1]."),)


@pytest.mark.parametrize(
    "question",
    [
        "When was it launched?",
        "What are their goals?",
        "When did that happen?",
        "Why?",
        "And in 2020?",
        "Who signed them?",
    ],
)
def test_questions_that_lean_on_the_history(question):
    assert leans_on_history(question)


@pytest.mark.parametrize(
    "question",
    [
        "When was the Bicentennial Framework launched?",
        "Which agency runs the program that targets fentanyl labs?",
        "How many kilograms of fentanyl were seized in 2023?",
    ],
)
def test_questions_that_stand_alone(question):
    assert not leans_on_history(question)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was it launched?", "When was Bicentennial Framework launched?"),
        ("What are its goals?", "What are Bicentennial Framework’s goals?"),
        ("When did that happen?", "When did Bicentennial Framework happen?"),
        ("And in 2020?", "And in 2020 (Bicentennial Framework)?"),
        ("Why?", "Why (Bicentennial Framework)?"),
    ],
)
def test_the_topic_of_the_last_question_fills_in_the_pronoun(question, expected):
    assert standalone_question(question, FRAMEWORK) == expected


def test_a_question_that_stands_alone_is_left_as_it_is():
    question = "Which agency runs the program that targets fentanyl labs?"
    assert standalone_question(question, FRAMEWORK) == question


def test_without_history_nothing_changes():
    assert standalone_question("When was it launched?", ()) == "When was it launched?"


def test_the_topic_comes_from_the_latest_question_that_names_one():
    history = (
        Turn("What is the Bicentennial Understanding?", ""),
        Turn("Why?", ""),  # itself a follow-up: names no topic
    )
    assert standalone_question("Who announced it?", history) == (
        "Who announced Bicentennial Understanding?"
    )


def test_without_a_name_the_topic_is_the_earlier_questions_content_words():
    assert topic_of("How many kilograms were seized in 2019?") == "kilograms seized"
    history = (Turn("How many kilograms were seized in 2019?", ""),)
    assert standalone_question("And in 2020?", history) == "And in 2020 (kilograms seized)?"


def test_the_pipeline_retrieves_a_follow_up_as_its_standalone_question(seed_pipeline):
    """The extractive backend has no LLM: the rule makes "it" the Bicentennial Framework."""
    history = (Turn("What is the Bicentennial Framework?", ""),)
    answer = seed_pipeline.ask(Query("When was it launched?", history=history))
    standalone = seed_pipeline.retrieve("When was Bicentennial Framework launched?")

    assert answer.question == "When was it launched?"
    assert [p.chunk_id for p in answer.passages] == [p.chunk_id for p in standalone.passages]
    assert not answer.abstained
    assert "launched in 2010" in answer.citations[0].quote
