"""Text analysis shared by the stages: sentence spans and the lexical analyser.

One analyser serves the BM25 index, question terms and sentence matching, so
a word matched in one place is matched the same way in all of them. Words are
lower-cased and their Latin letters' accents dropped ("Poznań" is matched by
"poznan", "Zürich" by "Zurich"), as people type names without them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from rag.errors import RagError
from rag.types import Span

BLANK_LINE = re.compile(r"\n[ \t\r]*\n")  # \r: a CRLF file's blank line too
# Text that ends a paragraph: a blank line, then only white space.
_PARAGRAPH_END = re.compile(r"\n[ \t\r]*\n\s*$")
# How far back a piece looks for the blank line that opens its paragraph.
_LOOK_BACK = 64
# Capital letters of the Latin, Greek and Cyrillic scripts ("Łódź" and "Ørsted" are names too).
_CAPITAL = "[" + "".join(char for char in map(chr, range(0x530)) if char.isupper()) + "]"
# A run of capitalised words, joined by a lowercase particle ("Secretary of State",
# "Andrés Manuel López Obrador", "Ciudad de México"): how a name shows in English text.
CAPITALISED_RUN = re.compile(
    rf"\b{_CAPITAL}[\w’'.-]*(?:\s+(?:of|de|la|del|y|the|and|for)?\s*{_CAPITAL}[\w’'.-]*)*"
)
# A year from 1500 to 2099, or a decade ("1990s"): the year's digits are group 1.
# Not a number of a code named in capitals ("CVE-2024-2511", "ISO-8601"): no year.
YEAR = re.compile(r"(?<![A-Z]-)\b(1[5-9]\d\d|20\d\d)s?\b")
_WORD = re.compile(r"\w+", re.UNICODE)


def sentence_spans(text: str) -> list[Span]:
    """Sentences of `text` as character spans, without surrounding white space.

    nupunkt finds the sentence ends, and an acronym before a full stop ends one too
    ("... with SAML. Only ..."); a blank line is always a boundary, so a heading never
    fuses with the paragraph under it. So is a line break before a list item ("- 6
    eggs", "2. Fill the tank") or a field line ("Apologies: George Mbeki"), between
    the rows of a Markdown table ("| Solid amber | No internet |"), after a
    Markdown heading, and after a title on a line of its own at the top of a paragraph
    ("Warranty" above its first sentence): each item is a sentence to quote, not a list
    quoted whole.
    """
    import nupunkt

    spans: list[Span] = []
    for start, end in nupunkt.sent_spans(text) if text.strip() else []:
        piece_start = start
        for found in _BLANK_LINE_OR_ACRONYM_END.finditer(text, start, end):
            cut_start, cut_end = found.span("blank" if found.group("blank") else "gap")
            spans.extend(_lines_apart(text, piece_start, cut_start))
            piece_start = cut_end
        spans.extend(_lines_apart(text, piece_start, end))
    return _table_rows_whole(text, spans) if "|" in text else spans


def _table_rows_whole(text: str, spans: list[Span]) -> list[Span]:
    """`spans` with the pieces of one Markdown table row joined: a row is one sentence,
    however many full stops its cells hold ("| Solid amber | No internet. |")."""
    joined: list[Span] = []
    for span in spans:
        if joined and "\n" not in text[joined[-1].end : span.start]:
            line_start = text.rfind("\n", 0, span.start) + 1
            if MARKDOWN_TABLE_ROW.match(text, line_start):
                joined[-1] = Span(joined[-1].start, span.end)
                continue
        joined.append(span)
    return joined


# nupunkt takes some acronyms before a full stop for abbreviations ("... with SAML. Only
# the Enterprise plan ..." stayed one sentence, though "via the API. Only" is two): an
# acronym, a full stop and a capitalised word end a sentence.
_BLANK_LINE_OR_ACRONYM_END = re.compile(
    rf"(?P<blank>{BLANK_LINE.pattern})|\b[A-Z]{{2,}}\.(?P<gap>[ \t]+)(?=[A-Z][a-z])"
)


# A Markdown heading line: "## Contact" (not "#482 fixed ...").
MARKDOWN_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]+\S")
# A line that starts a list item: "- ", "* ", "+ ", "• ", "1. ", "2) ", "a) ".
LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•▪◦‣]|\d{1,3}[.)]|[a-z][)])[ \t]+\S")


def headings_above(text: str, position: int) -> tuple[Span, ...]:
    """Where the Markdown headings of the sections that `position` of `text` is in are,
    nearest first: the nearest heading above it, then the nearest above that of a higher
    level, and so on ("### Changed", "## [3.1.0] - 2024-05-10", "# Changelog"). Reads at
    most HEADINGS_LOOK_BACK characters back."""
    start = max(0, position - HEADINGS_LOOK_BACK)
    if text.find("#", start, position) < 0:
        return ()  # most text has none: every passage of it asks, so answer fast
    found: list[Span] = []
    level = 7
    lines = _HEADING_LINE.finditer(text, start, position)
    for match in reversed(list(lines)):
        if (depth := len(match.group(1))) < level:
            found.extend(trimmed_span(text, match.start(), match.end()))
            level = depth
    return tuple(found)


def heading_level(heading: str) -> int:
    """How deep a Markdown heading is: 2 for "## Setup"."""
    marks = heading.lstrip()
    return len(marks) - len(marks.lstrip("#"))


HEADINGS_LOOK_BACK = 200_000
_HEADING_LINE = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+\S.*$", re.MULTILINE)
# What opens or closes a fenced block of code in Markdown.
CODE_FENCE = re.compile(r"```|~~~")
# A row of a Markdown table: "| Solid amber | No internet connection |".
MARKDOWN_TABLE_ROW = re.compile(r"[ \t]*\|")
# A line that gives a field of a form or a minutes' header: "Present: A, B", "**Date:**
# 4 May" (a label of at most four words, a colon, the value).
FIELD_LINE = re.compile(
    r"[ \t]*(?:\*\*|__)?[A-Z][\w’'/&-]*(?: [\w’'/&-]+){0,3}:(?:\*\*|__)?[ \t]+\S"
)
_CLOSED = (".", "!", "?", ":", ";", ",", "”", '"', "’", "'", ")")
# A heading (a title on a line of its own) holds at most this many words.
HEADING_MAX_WORDS = 8


# Small words: a title does not end with one, though a line broken mid-sentence may
# ("launched in"), and Title Case leaves them in lower case ("Minutes of the Meeting").
_SMALL_WORDS = frozenset(
    "a an and as at by for from in into is of on or the to was were with "
    "mr mrs ms dr prof st dear".split()
)


def _is_title(line: str) -> bool:
    """A line that reads as a title: short, capitalised, unpunctuated, and either of a few
    words ("Making an espresso") or in Title Case ("Minutes of the Board Meeting"), not a
    line of prose broken short ("The deal was signed by the Mexican")."""
    found = _WORD.findall(line)
    if not (
        0 < len(found) <= HEADING_MAX_WORDS
        and line[:1].isupper()
        and not line.endswith(_CLOSED)
        and found[-1].lower() not in _SMALL_WORDS
    ):
        return False
    if in_title_case(line):
        return True
    # A few words in sentence case ("Making an espresso"); not ending in a name that
    # may run on into the next line ("Our partner Acme" above "Corporation said ...").
    return len(found) <= 4 and (len(found) == 1 or not found[-1][:1].isupper())


def in_title_case(line: str) -> bool:
    """Most of its words, small ones aside, capitalised (or numbers): "Trailblazer 2 Hiking
    Backpack", "Minutes of the Board Meeting"; not "6 eggs" or "Book 14 days ahead"."""
    content = [w for w in _WORD.findall(line) if w.lower() not in _SMALL_WORDS]
    capitalised = sum(w[:1].isupper() for w in content)
    numbers = sum(w[:1].isdigit() for w in content)
    return capitalised > numbers and capitalised + numbers >= 0.7 * len(content) > 0


def _lines_apart(text: str, start: int, end: int) -> list[Span]:
    """[start, end) trimmed, cut at the line breaks around a Markdown heading, before a
    list item or a field line ("Present: ...") that follows another or a closed line,
    between a Markdown table's rows, and after a title line opening its paragraph (see
    `sentence_spans`). Prose wrapped across lines (a PDF's) stays whole: a wrapped line
    may open with "3. March", "- a small one" or a name in capitals."""
    spans: list[Span] = []
    # A title opens a paragraph: the text before is a blank line, or nothing.
    # (A short look back: copying all the text before each piece made long texts quadratic.)
    before = text[max(0, start - _LOOK_BACK) : start]
    first = not before.strip() or bool(_PARAGRAPH_END.search(before))
    line_start = start
    newline = text.find("\n", line_start, end)
    while newline >= 0:
        after = newline + 1
        following = text.find("\n", after, end)
        line = text[line_start:newline].strip()
        next_line = text[after : following if following >= 0 else end].strip()
        if (
            line
            and next_line
            and (
                MARKDOWN_HEADING.match(line)
                or MARKDOWN_HEADING.match(next_line)
                or (
                    LIST_ITEM.match(next_line) and (LIST_ITEM.match(line) or line.endswith(_CLOSED))
                )
                or (MARKDOWN_TABLE_ROW.match(line) and MARKDOWN_TABLE_ROW.match(next_line))
                or (
                    FIELD_LINE.match(next_line)
                    and (FIELD_LINE.match(line) or line.endswith((".", "!", "?")))
                    # "(Spanish: Selva Amazónica;\nFrench: Forêt ...)" is wrapped prose.
                    and not line.endswith((",", ";"))
                )
                or (first and _is_title(line) and _opens_its_paragraph(line, next_line))
            )
        ):
            spans.extend(trimmed_span(text, start, newline))
            start = after
        first = False
        line_start, newline = after, following
    spans.extend(trimmed_span(text, start, end))
    return spans


def _opens_its_paragraph(title: str, next_line: str) -> bool:
    """A title line stands well short of the line under it, which opens a sentence; the
    first line of wrapped prose runs about as long as the next ("The European Central
    Bank President Christine" above "Lagarde said ...")."""
    return next_line[:1].isupper() and 2 * len(title) <= len(next_line)


def trimmed_span(text: str, start: int, end: int) -> list[Span]:
    """[start, end) without white space at either end: one span, or none if all blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [Span(start, end)] if end > start else []


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _bm25s_stopwords():
    """bm25s's stopword lists, read without importing bm25s itself.

    Importing the package imports scipy (0.2 s), which a question never needs: only
    building the BM25 index uses bm25s. Its `stopwords` module is plain data.
    """
    import importlib.util

    package = importlib.util.find_spec("bm25s")
    if package is None or package.origin is None:
        raise RagError("The bm25s package is missing: pip install the versions in pyproject.toml.")
    spec = importlib.util.spec_from_file_location(
        "bm25s_stopwords", Path(package.origin).with_name("stopwords.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    english = _bm25s_stopwords().STOPWORDS_EN

    # Question words carry the question's intent, not its topic.
    return frozenset(english) | {
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "did",
        "does",
        "do",
        "has",
        "have",
        "had",
        "was",
        "were",
        "is",
        "are",
        "been",
        "can",
        "could",
        "would",
        "should",
        "may",
        "might",
        "shall",
        "about",
        "from",
        "its",
        "his",
        "her",
        "their",
        "our",
        "your",
        "my",
        "me",
        "i",
        "you",
        "we",
        "he",
        "she",
        "them",
        "him",
        "also",
        "than",
        "so",
        "very",
        "much",
        "many",
        "any",
        "some",
        "all",
        "each",
        "other",
        "according",
        "said",
        "say",
        "says",
    }


# Latin letters that are no base letter with a mark, and how they are typed without it.
_PLAIN_LETTERS = str.maketrans(
    {"ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def folded(word: str) -> str:
    """Lower-case `word` with the accents of its Latin letters dropped ("poznań" → "poznan").

    Only a mark on a Latin letter goes: in other scripts a mark makes another word
    (Japanese "が" is not "か"), so "αθήνα" and "が" stay as they are.
    """
    if word.isascii():
        return word
    kept: list[str] = []
    for char in unicodedata.normalize("NFD", word.translate(_PLAIN_LETTERS)):
        if unicodedata.combining(char) and kept and kept[-1].isascii():
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def words(text: str) -> list[str]:
    """Word tokens of `text` as matched (lower case, accents folded), stop words included."""
    return list(_words(text))


# Every question re-reads the sentences of its passages, mostly the same ones as the last
# question's: remembering them takes ~10 ms off a warm ask (bench query), bounded in memory.
@lru_cache(maxsize=16384)
def _words(text: str) -> tuple[str, ...]:
    return tuple(folded(match.group().lower()) for match in _WORD.finditer(text))


def analyze(text: str) -> list[str]:
    """Stemmed content words of `text`: the terms BM25 and matching work with."""
    return list(_analyzed(text))


# The same reason as `_words`: a warm ask analyses the sentences of its passages, mostly
# the ones the last question saw; stemming them again was a third of its time around
# the question's embedding (profiled on the seed set).
@lru_cache(maxsize=16384)
def _analyzed(text: str) -> tuple[str, ...]:
    stop = stopwords()
    kept = [word for word in words(text) if word not in stop]
    return tuple(_stemmer().stemWords(kept)) if kept else ()


def analyze_many(texts: list[str]) -> list[list[str]]:
    """`analyze` for many texts at once, each distinct word looked up and stemmed once.

    Same terms as `analyze`; about 1.5x faster over a corpus, where most words repeat.
    """
    stop = stopwords()
    stemmer = _stemmer()
    terms: dict[str, str | None] = {}  # word as written → its term, None for a stop word
    analysed = []
    for text in texts:
        found = _WORD.findall(text)
        new = [word for word in dict.fromkeys(found) if word not in terms]
        if new:
            lowered = [folded(word.lower()) for word in new]
            kept = [word for word in dict.fromkeys(lowered) if word not in stop]
            stems = dict(zip(kept, stemmer.stemWords(kept), strict=True))
            terms.update(zip(new, map(stems.get, lowered), strict=True))
        analysed.append([term for term in map(terms.__getitem__, found) if term is not None])
    return analysed
