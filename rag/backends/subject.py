"""What a question names against what the passages hold: when the documents never
mention its subject ("the Berlin office"), when no passage found holds its version
("tidewatch 3.0"), or when the sentence chosen speaks of a sibling ("the Pro 3" for "the
Pro 2"), a quote would answer a question nobody asked, and the backend abstains saying why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rag.backends.base import AnswerRequest
from rag.backends.vocabulary import MONTHS, ORDINALS, TIME_WORDS, is_demonym
from rag.text import CAPITALISED_RUN, analyze, words
from rag.types import Passage


def asking_sentence(question: str) -> str:
    """The sentence of `question` that asks: in "I started in 2017. How many days of
    leave do I have?" the year is the user's own, not what the documents must name."""
    return _ASKING_SENTENCE.split(question.strip())[-1]


def unknown_subject(request: AnswerRequest, asked: str) -> str:
    """What `asked`, the question's asking sentence, names that no indexed document
    mentions ("" if none)."""
    unknown = {term.term for term in request.query_terms if not term.in_corpus}
    if not unknown:
        return ""
    if number := _unknown_number(asked, unknown):
        # "Pro 2" says more than "2" of what the documents never mention.
        return next((w for (_, value), w in _qualified(asked).items() if value == number), number)
    return _unknown_name(asked, unknown, request.passages)


def version_not_in_passages(asked: str, passages: Sequence[Passage]) -> str:
    """A version or decimal number of `asked` ("3.0", "2.5") that none of `passages`
    holds ("" if none).

    The index reads "3.0" as the words "3" and "0", which any document holds, so
    `_unknown_number` cannot see it; yet a question on version 3.0 is not answered by a
    passage on version 4.2. "3.0.1" and "v3.0" hold "3.0"; "13.05" does not.
    """
    for number in dict.fromkeys(_DECIMAL.findall(asked)):
        held = re.compile(rf"(?<![\d.]){re.escape(number)}(?!\d)")
        if not any(held.search(passage.citation.quote) for passage in passages):
            return number
    return ""


def sibling_in_quote(asked: str, quote: str) -> tuple[str, str]:
    """A qualifier of `asked` that `quote` gives another value ("Pro 2", "Pro 3"), or
    ("", "") if none.

    A qualifier is an ordinal before a word ("first quarter") or a number after one
    ("Pro 2", "version 3.0", "released in 1982"). Such a question is answered by the
    sentence on its own quarter or model, never by a sibling's, however close in meaning:
    "the second quarter ended with £48,320" does not say how the first one ended. Only a
    quote that names the same word with another value, and nowhere the question's own,
    is a sibling: "from 2000 to 2005 ... 18% higher than 1995 to 2000" is no sibling of a
    question on 1995. `quote` may be many passages: the question's qualifier in none of
    them, and a sibling's in one, is a question they cannot answer.
    """
    asked_pairs = _qualified(asked)
    if not asked_pairs:
        return "", ""
    quote_pairs = _qualified(quote)
    quote_values = {_value(word) for word in words(quote)}
    for (word, value), written in asked_pairs.items():
        if (word, value) in quote_pairs or value in quote_values:
            continue
        sibling = next((w for (k, v), w in quote_pairs.items() if k == word and v != value), "")
        if sibling:
            return written, sibling
    return "", ""


def _qualified(text: str) -> dict[tuple[str, str], str]:
    """The qualified words of `text` as (word's term, value) → the phrase as written:
    "the first quarter" → {("quarter", "1"): "first quarter"}; "Pro 2" → {("pro", "2"):
    "Pro 2"}. A word no term stands for ("in", "than") qualifies nothing."""
    found: dict[tuple[str, str], str] = {}
    for match in _ORDINAL_BEFORE.finditer(text):
        if terms := analyze(match.group(2)):
            found.setdefault((terms[0], _value(match.group(1).lower())), match.group())
    for match in _NUMBER_AFTER.finditer(text):
        if match.group(1).lower() in _NOT_QUALIFIED:
            continue
        if terms := analyze(match.group(1)):
            found.setdefault((terms[-1], match.group(2)), match.group())
    return found


def _value(word: str) -> str:
    """The number an ordinal stands for, so that "first", "1st" and "round 1" agree."""
    return _ORDINAL_NUMBERS.get(word) or _NUMBERED_ORDINAL.sub(r"\1", word)


# Words a number follows that are no thing of its own: "between 1980 and 1985" and
# "between 1975 and 1985" are two spans, not two siblings named "between".
_NOT_QUALIFIED = frozenset(
    "between since until till after before around over under nearly approximately almost "
    "circa ca c last next per every top only roughly least most during within through among "
    "against across vs versus".split()
)
_ORDINAL_NUMBERS = {word: str(n) for n, word in enumerate(ORDINALS, start=1)}
_NUMBERED_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_ORDINAL_BEFORE = re.compile(
    r"(?<![\w-])(" + "|".join(ORDINALS) + r"|\d+(?:st|nd|rd|th))\s+([^\W\d_][\w-]*)", re.IGNORECASE
)
_NUMBER_AFTER = re.compile(r"\b([^\W\d_][\w-]*)\s+(?:in\s+)?(\d+(?:\.\d+)*)(?![\d.]*\d)(?!\s*%)")

_DECIMAL = re.compile(r"(?<![\d.])\d+(?:\.\d+)+(?![\d.]*\d)")


def _unknown_number(asked: str, unknown: set[str]) -> str:
    """A number or year of `asked` that no document holds.

    Questions rarely paraphrase numbers: "seized in 2022" over documents that never say
    2022 asks for something they do not hold.
    """
    return next((word for word in words(asked) if word.isdigit() and word in unknown), "")


def _unknown_name(asked: str, unknown: set[str], passages: Sequence[Passage]) -> str:
    """A name in `asked` that no document holds a word of ("the Berlin office" → "Berlin").

    A name the user asks about is the subject; when no document holds any word of it, the
    passages can only be about something else (another office's row), and a quote would
    answer a question nobody asked. A name is a run of capitalised words ("Federal
    Reserve Bank"; "of" parts two names). Questions often paraphrase what the documents
    spell out, so a name is kept when one word of it is known (the documents may say
    "the Reserve Bank"), when it holds an abbreviation ("PPP", "TDs") or a nationality
    adjective ("North American"), and when a word of it shares its stem with a word of
    the passages ("America's" and "American"; "WiFi" and "Wi-Fi").
    """
    passage_words: set[str] | None = None
    for phrase, name in _names_in(asked):
        if any(_is_abbreviation(word) or is_demonym(word.lower()) for word in name):
            continue
        # "Vienna's" and "O'Neill" give "s" and "o", which any document may hold.
        terms = [term for term in analyze(" ".join(name)) if len(term) > 1]
        if not terms or any(term not in unknown for term in terms):
            continue
        if passage_words is None:
            passage_words = _words_and_compounds(p.citation.quote for p in passages)
        name_words = words(" ".join(name))
        if not any(
            same_stem(word, known)
            for word in [*name_words, "".join(name_words)]
            for known in passage_words
        ):
            return phrase
    return ""


def _words_and_compounds(texts: Iterable[str]) -> set[str]:
    """The words of `texts`, and each two neighbours written as one ("Wi-Fi" and "e-mail"
    are "wifi" and "email" too, as questions often write them)."""
    found: set[str] = set()
    for text in texts:
        found.update(text_words := words(text))
        found.update(a + b for a, b in zip(text_words, text_words[1:], strict=False))
    return found


def same_stem(word: str, other: str) -> bool:
    """Whether one word opens the other, with at most three letters more ("America" and
    "American", "Saharan" and "Sahara"; not "Pro" and "Professional", "Mark" and
    "Markowski")."""
    shorter, longer = sorted((word, other), key=len)
    return len(shorter) > 3 and len(longer) - len(shorter) <= 3 and longer.startswith(shorter)


def _names_in(sentence: str) -> list[tuple[str, list[str]]]:
    """The names of `sentence`, each as written and as its name words ("Who runs the
    Bank of England?" → [("Bank", ["Bank"]), ("England", ["England"])]).

    A sentence's first word is capitalised anyway, and a capital after a comma or colon
    may only open a clause ("Sorry, Quick question: ..."): neither starts a name. Titles,
    weekdays and months are no name words ("Dr. Lindqvist", "on Saturday").
    """
    names = []
    for match in CAPITALISED_RUN.finditer(sentence):
        phrase, before = match.group(), sentence[: match.start()].rstrip()
        if before.endswith((",", ":", ";", "–", "—", " -")):
            continue
        if not before:
            phrase = phrase.partition(" ")[2].lstrip()
        # "the Attorney General of Mexico" names two things: documents on Mexico that
        # never name an attorney general do not hold it.
        for part in _NAME_PARTICLE.split(phrase):
            name = [
                word
                for word in part.split()
                if word[0].isupper() and word.lower().rstrip(".") not in _NOT_NAMES
            ]
            if name:
                names.append((part, name))
    return names


def _is_abbreviation(word: str) -> bool:
    letters = word.rstrip(".").removesuffix("s")
    return letters.isupper() or len(letters) < 2


# What joins two names in one capitalised run (`CAPITALISED_RUN`'s particles).
_NAME_PARTICLE = re.compile(r"\s+(?:of|de|la|del|y|the|and|for)\s+")
# Capitalised words of a question that name nothing the documents must hold.
_NOT_NAMES = frozenset({"mr", "mrs", "ms", "dr", "prof", "sir", *MONTHS, *TIME_WORDS})


# Where one sentence of a question ends and the next begins ("... in 2017. How many ...").
_ASKING_SENTENCE = re.compile(
    r"(?<=[.!?])(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!\bProf\.)\s+(?=[A-Z\d“\"'(])"
)
