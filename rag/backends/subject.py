"""What a question names against what the passages hold: when the documents never
mention its subject ("the Berlin office"), when no passage found holds its version
("tidewatch 3.0"), or when the sentence chosen speaks of a sibling ("the Pro 3" for "the
Pro 2"), a quote would answer a question nobody asked, and the backend abstains saying why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from rag.backends.base import AnswerRequest
from rag.backends.vocabulary import MONTHS, ORDINALS, TIME_WORDS, is_demonym
from rag.text import CAPITALISED_RUN, analyze, words
from rag.types import Citation, Passage


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


def literal_not_in_passages(asked: str, passages: Sequence[Passage]) -> str:
    """A version, decimal number or code name of `asked` ("3.0", "2.5", "max_list_depth",
    "retryDelay") that none of `passages` holds as written ("" if none).

    The index reads "3.0" as the words "3" and "0", and "max_list_depth" as "max", "list"
    and "depth", which any document may hold, so `_unknown_number` and `_unknown_name`
    cannot see them; yet a question on version 3.0 is not answered by a passage on
    version 4.2, nor one on `max_list_depth` by the row of `max_heading_depth`. "3.0.1"
    and "v3.0" hold "3.0"; "13.05" does not. A code name matches in any case.
    """
    # A passage's text, and the headings of the sections it is in: a changelog's
    # "## [2.4.0]" above a chunk of its lines.
    texts = [t for p in passages for t in (p.citation.quote, *(h.quote for h in p.headings))]
    literals = [
        *((n, re.compile(rf"(?<![\d.]){re.escape(n)}(?!\d)")) for n in _DECIMAL.findall(asked)),
        *(
            (n, re.compile(rf"(?<!\w){re.escape(n)}(?!\w)", re.I))
            for n in _CODE_NAME.findall(asked)
        ),
    ]
    return next((n for n, held in literals if not any(held.search(t) for t in texts)), "")


# A name written as code: words joined by "_" ("max_list_depth") or in camelCase
# ("retryDelay"); not "Wi-Fi", "McDonald" or "iPhone" (one capital after one letter).
_CODE_NAME = re.compile(r"(?<![\w-])(?:[A-Za-z]\w*_\w*[A-Za-z0-9]|[a-z]{2,}[A-Z]\w*)(?![\w-])")


def asks_which_version(asked: str) -> bool:
    """Whether `asked` asks in which version or release something happened."""
    return bool(_ASKS_FOR_VERSION.search(asked))


def version_heading(quote: str, headings: Sequence[Citation]) -> Citation | None:
    """The heading naming the version of the section a quote is in ("## [3.1.0] -
    2024-05-10"), when the quote does not name that version itself: a changelog's "- The
    `migrate` command has been removed." says what, and only its heading in which version
    (for a question that `asks_which_version`)."""
    heading = next((heading for heading in headings if _DECIMAL.search(heading.quote)), None)
    # "deprecated since 2.8, has been removed" under "## [3.1.0]": 2.8 is not the answer.
    if heading is None or any(v in quote for v in _DECIMAL.findall(heading.quote)):
        return None
    return heading


_ASKS_FOR_VERSION = re.compile(r"\b(which|what) (version|release)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Qualifiers:
    """What a question qualifies, each as (word's term, value) → the phrase as written:
    "the first quarter" → {("quarter", "1"): "first quarter"}, "Pro 2" → {("pro", "2"):
    "Pro 2"}.

    A qualifier is an ordinal before a word ("first quarter", "4th son", "the opening
    round"), a number after one ("Pro 2", "version 3.0", "Phase II", "round two",
    "released in 1982") or a year before one ("the 2022 season"); "Q1" is the first
    quarter, "v2.0" version 2. Such a question is answered by the sentence on its own
    quarter or model, never by a sibling's, however close in meaning: "the second quarter
    ended with £48,320" does not say how the first one ended.
    """

    pairs: dict[tuple[str, str], str]

    @classmethod
    def of(cls, asked: str) -> Qualifiers:
        return cls(_qualified(asked))

    def _may_name(self, text: str) -> bool:
        """Whether `text` may name a qualified word at all: most sentences hold none of
        the question's qualified words, and reading their qualifiers is the cost."""
        words_of_text = set(analyze(text))
        return any(word in words_of_text or word in _written_short() for word, _ in self.pairs)

    def sibling_in(self, text: str) -> tuple[str, str]:
        """A qualifier that `text` gives another value, as (asked, sibling): ("Pro 2",
        "Pro 3"), or ("", "") if none.

        Only a text that names the same word with another value, and nowhere the
        question's own, speaks of a sibling: "from 2000 to 2005 ... 18% higher than 1995
        to 2000" is no sibling of a question on 1995. `text` may be many passages: the
        question's qualifier in none of them, and a sibling's in one, is a question they
        cannot answer.
        """
        if not self.pairs or not self._may_name(text):
            return "", ""
        found = _qualified(text)
        for (word, value), written in self.pairs.items():
            if (word, value) in found or _names_value(text, value):
                continue
            sibling = next((w for (k, v), w in found.items() if k == word and v != value), "")
            if sibling:
                return written, sibling
        return "", ""

    def section_sibling(self, headings: Sequence[str]) -> tuple[str, str]:
        """A version that a sentence's section headings (nearest first) name in place of
        the question's version, as (asked, sibling): ("timeout in 3.2.0", "3.1.0") under
        a changelog's "## [3.1.0]" and "### Changed"; ("", "") if none. The nearest
        heading naming a version decides: a line there says what changed in that version,
        however close its words come to the question's."""
        for heading in headings if self.versions else ():
            if named := _DECIMAL.findall(heading):
                if any(_names_value(heading, value) for value in self.versions):
                    return "", ""
                return next(iter(self.versions.values())), named[0]
        return "", ""

    @cached_property
    def versions(self) -> dict[str, str]:
        """The question's values written with a dot ("3.2.0" → "3.2"), each as written."""
        return {value: w for (_, value), w in self.pairs.items() if _DECIMAL.search(w)}

    def answered_under(self, headings: Sequence[str], text: str) -> bool:
        """Whether a sentence (`text`) under section `headings` answers for the question's
        value: a heading names the value ("## 2.1.0" is the section on version 2.1) and
        the sentence holds the word the value qualifies, unless that word is the version
        itself ("What changed in version 2.1?": any line of the section answers; "the
        timeout in 3.2.0": only one on the timeout)."""
        text_terms: set[str] | None = None
        for word, value in self.pairs:
            if word in _section_words():
                # As a version: "## 2.1.0", "## Version 2"; not "## Section 2: Leave".
                if any(_names_version(heading, value) for heading in headings):
                    return True
            elif any(_names_value(heading, value) for heading in headings):
                text_terms = set(analyze(text)) if text_terms is None else text_terms
                if word in text_terms:
                    return True
        return False

    def named_in(self, text: str) -> bool:
        """Whether `text` names what the question qualifies, with the question's value
        ("the Pro 2", "in Q1"; a "2" of "every 2 months" does not)."""
        return self._may_name(text) and not self.pairs.keys().isdisjoint(_qualified(text))


def _qualified(text: str) -> dict[tuple[str, str], str]:
    """The qualified words of `text` (see `Qualifiers`). A word no term stands for ("in",
    "than"), a preposition ("between 1980") or a possessive's "s" qualifies nothing."""
    found: dict[tuple[str, str], str] = {}
    for match in _ORDINAL_BEFORE.finditer(text):
        if terms := analyze(match.group(2)):
            found.setdefault((terms[0], _value(match.group(1))), match.group())
    for match in _NUMBER_AFTER.finditer(text):
        if match.group(1).lower() in _NOT_QUALIFIED:
            continue
        if terms := analyze(match.group(1)):
            found.setdefault((terms[-1], _value(match.group(2))), match.group())
    for match in _YEAR_BEFORE.finditer(text):  # "the 2022 season", "Apple's 2023 budget"
        if terms := analyze(match.group(2)):
            found.setdefault((terms[0], match.group(1)), match.group(1) + " " + match.group(2))
    for match in _PERIOD.finditer(text):  # "Q1", "H2"
        period = "quarter" if match.group(1).upper() == "Q" else "half"
        found.setdefault((analyze(period)[0], match.group(2)), match.group())
    for match in _VERSION.finditer(text):  # "v2.0"
        found.setdefault((analyze("version")[0], _value(match.group(1))), match.group())
    return found


def _value(written: str) -> str:
    """The number a value stands for, so that "first", "1st", "one", "I" and "1" agree,
    and "2.0" and "2"."""
    lowered = written.lower()
    if lowered in _WORD_VALUES:
        return _WORD_VALUES[lowered]
    if written in _ROMAN:
        return _ROMAN[written]
    if match := _NUMBERED_ORDINAL.match(lowered):
        return match.group(1)
    return _TRAILING_ZEROS.sub("", written)


def _names_value(text: str, value: str) -> bool:
    """Whether `text` names `value` anywhere: as a number ("2", "2.0"; not the "1" of
    "$13.1"), a clause under it ("4.2" is in section 4) or an ordinal ("second"). Not as a
    count: "three weeks late" does not name phase 3."""
    number = rf"(?<![\d.,]){re.escape(value)}(?:\.0)*(?![\d]|,\d)"
    if re.search(number, text) or any(_value(w) == value for w in _VALUE_WORD.findall(text)):
        return True
    # "MHC Class I" names class 1. So does the pronoun "I" here, which at worst keeps a
    # sibling from being seen: the safe side.
    numeral = _NUMERAL_OF.get(value)
    return bool(numeral and re.search(rf"\b{numeral}\b", text))


# Words a number follows that are no thing of its own: "between 1980 and 1985" and
# "between 1975 and 1985" are two spans, not two siblings named "between".
_NOT_QUALIFIED = frozenset(
    "between since until till after before around over under nearly approximately almost "
    "circa ca last next per every top only roughly least most during within through among "
    "against across vs versus".split()
)
_COUNTS = "one two three four five six seven eight nine ten eleven twelve".split()
_ROMAN = {
    numeral: str(n)
    for n, numeral in enumerate("I II III IV V VI VII VIII IX X XI XII".split(), start=1)
}
_NUMERAL_OF = {n: numeral for numeral, n in _ROMAN.items()}
# "the original warehouse" and "the opening round" are the first.
_WORD_VALUES = {
    **{word: str(n) for n, word in enumerate(ORDINALS, start=1)},
    **{word: str(n) for n, word in enumerate(_COUNTS, start=1)},
    "original": "1",
    "opening": "1",
    "initial": "1",
}
_FIRSTS = "|".join([*ORDINALS, "original", "opening", "initial"])
_NUMBERED_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_TRAILING_ZEROS = re.compile(r"(?:\.0+)+$")
_ORDINAL_BEFORE = re.compile(
    rf"(?<![\w-])({_FIRSTS}|\d+(?:st|nd|rd|th))\s+([^\W\d_][\w-]*)", re.IGNORECASE
)
# A label of two letters or more, not a possessive's "s" ("the team's 11 players"); a
# Roman numeral ("Phase II") but the lone "I", which is mostly the pronoun.
_NUMBER_AFTER = re.compile(
    r"(?<!['’])\b([^\W\d_][\w-]+)\s+(?:in\s+)?"
    r"(\d+(?:\.\d+)*(?![\d.]*\d)(?!\s*%)|[IVX]{2,4}\b|[VX]\b|(?i:" + "|".join(_COUNTS) + r")\b)",
)
# A year between a determiner or a possessive and a word qualifies the word: "the 2021
# season" is no answer on the 2022 season. Only after those, as "2000 people" counts.
_YEAR_BEFORE = re.compile(
    r"(?:\b(?i:the|its|their|our|his|her|this|that|a|an)\s+|\w['’]s?\s+)"
    r"((?:1[89]|20)\d\d)\s+([^\W\d_][\w-]*)"
)
_PERIOD = re.compile(r"\b([QH])([1-4])\b")
_VERSION = re.compile(r"\bv(\d+(?:\.\d+)*)\b")
_VALUE_WORD = re.compile(rf"\b(?:{_FIRSTS}|\d+(?:st|nd|rd|th))\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _written_short() -> frozenset[str]:
    """The terms of the words "Q1", "H2" and "v2.0" stand for, which a text may name
    without writing them (read on first use: the stemmer is not loaded at import)."""
    return frozenset(analyze("quarter half version"))


def _names_version(heading: str, value: str) -> bool:
    """Whether `heading` names version `value`: "2.1.0" or "[2.1.0]" is version 2.1,
    "v2" and "Release 2" version 2."""
    return any(_value(number) == value for number in _DECIMAL.findall(heading)) or any(
        named == value for word, named in _qualified(heading) if word in _section_words()
    )


@lru_cache(maxsize=1)
def _section_words() -> frozenset[str]:
    """The terms of the words a changelog's sections are: a heading's value is one."""
    return frozenset(analyze("version release"))


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
# "I've" and "I'll" are the asker's.
_NOT_NAMES = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sir", *MONTHS, *TIME_WORDS}
    | {f"i{apostrophe}{end}" for apostrophe in "'’" for end in ("ve", "ll", "d", "m")}
)


# Where one sentence of a question ends and the next begins ("... in 2017. How many ...").
_ASKING_SENTENCE = re.compile(
    r"(?<=[.!?])(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!\bProf\.)\s+(?=[A-Z\d“\"'(])"
)
