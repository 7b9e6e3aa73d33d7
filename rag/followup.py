"""Follow-up questions: make "when was it launched?" stand alone for retrieval.

A question that leans on the chat history retrieves poorly on its own: "it"
matches every passage and none. The rule here is deliberately simple and
predictable. A question leans on the history when it has a pronoun that points
back ("it", "their", "that" at the end) or fewer than two content words
("and in 2020?"). Then the topic of the latest earlier question (its
capitalised name, else its content words) takes the pronoun's place, or is
added to the question when there is no pronoun to replace. A backend with a
language model can do better; see `Backend.standalone_question`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import CAPITALISED_RUN, analyze, stopwords, words
from rag.types import Turn

# A question with fewer content words than this cannot name its own topic.
MIN_CONTENT_TERMS = 2
# Topic words taken from an earlier question, at most.
MAX_TOPIC_WORDS = 6

_VERB_AFTER_DEMONSTRATIVE = (
    "is|was|are|were|do|does|did|mean|means|meant|happen|happens|happened|have|has|had|"
    "cost|costs|start|started|end|ended|work|works|worked|change|changed|include|includes"
)
_POINTER = re.compile(
    r"\b(?:(?P<possessive>its|their|his)"
    r"|(?P<personal>it|they|them|he|she|him|her)"
    # "that" is usually a relative pronoun ("the agency that runs it"); it points back
    # only at the end of the question or before a verb ("when did that happen?").
    rf"|(?P<demonstrative>this|that|these|those)(?=\s*(?:[?.!,;]|$|(?:{_VERB_AFTER_DEMONSTRATIVE})\b)))"
    r"\b",
    re.IGNORECASE,
)
_TRAILING_PUNCTUATION = re.compile(r"[\s?.!]*$")


def leans_on_history(question: str) -> bool:
    """Whether `question` needs the conversation to be understood."""
    if _POINTER.search(question):
        return True
    return len(set(analyze(question))) < MIN_CONTENT_TERMS


def topic_of(question: str) -> str:
    """The topic an earlier question names: its capitalised names, else its content words."""
    names = [
        match.group().rstrip(".")
        for match in CAPITALISED_RUN.finditer(question)
        # A question's first word is capitalised anyway; a lone one names nothing.
        if match.start() > 0 or " " in match.group()
    ]
    names = [name for name in names if name.lower() not in stopwords()]
    if names:
        return " ".join(names)
    stop = stopwords()
    content = [
        word
        for word in re.findall(r"[\w’'-]+", question)
        if word.lower() not in stop and not word.isdigit()
    ]
    return " ".join(content[:MAX_TOPIC_WORDS])


def standalone_question(question: str, history: Sequence[Turn]) -> str:
    """`question` with the topic of the conversation filled in, when it leans on the history."""
    if not history or not leans_on_history(question):
        return question
    topic = ""
    for turn in reversed(history):
        topic = topic_of(turn.question)
        if topic:
            break
    if not topic or set(words(topic)) <= set(words(question)):
        return question
    match = _POINTER.search(question)
    if match is None:
        body = _TRAILING_PUNCTUATION.sub("", question)
        end = question[len(body) :].strip()
        return f"{body} ({topic}){end}"
    replacement = f"{topic}’s" if match.group("possessive") else topic
    return question[: match.start()] + replacement + question[match.end() :]
