"""Checking a generated answer against the passages it was given.

A language model's `[n]` markers are claims, not facts. `check_answer` keeps
the markers that point at a passage that was given, flags the sentences their
passages do not support, and turns each marker into a verbatim citation: the
sentence of the cited passage that best supports the answer sentence, so that
`document.text[start:end] == quote` holds as it does for the extractive backend.

Support is token overlap with the analyser the index uses (stemmed content
words), plus one hard rule: every number in an answer sentence must appear in
the passages it cites. Overlap misses clever paraphrase, but it needs no model
(a backend gets no embedder) and it catches what models most often get wrong:
names, numbers and dates the passages never mention.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.backends.base import ABSTAIN_PREFIX
from rag.text import analyze, sentence_spans, words
from rag.types import Citation, Marker, Passage, cited_text

# Share of an answer sentence's content terms that its cited passages must contain.
MIN_COVERAGE = 0.5
# Sentences with fewer content terms than this ("In short, yes.") claim nothing to check.
MIN_TERMS = 2

# "[1]", "[1, 2]", "[Passage 3]"; at most three digits so a bracketed year is left alone.
_MARKER = re.compile(r"(\s*)\[(?:passages?\s*)?(\d{1,3}(?:\s*,\s*\d{1,3})*)\]", re.IGNORECASE)
_LEADING_MARKERS = re.compile(
    r"(?:\s*\[(?:passages?\s*)?\d{1,3}(?:\s*,\s*\d{1,3})*\])+", re.IGNORECASE
)
# How models say "not in the passages" when they do not use the exact words asked for.
_ABSTENTION = re.compile(
    r"\b(?:do(?:es)?\s+not|don['’]t|doesn['’]t|cannot|can['’]t|no|not)\b.{0,60}?"
    r"\b(?:contain|say|mention|provide|include|answer|information|state|hold|address)",
    re.IGNORECASE,
)
_SOURCES = re.compile(
    r"\b(?:passages?|documents?|context|sources?|texts?|information|provided)\b", re.I
)


@dataclass(frozen=True)
class CheckedAnswer:
    """A generated answer after checking: markers renumbered to `citations`."""

    text: str
    citations: tuple[Citation, ...]
    notices: tuple[str, ...]
    unsupported: tuple[str, ...]
    # How many sentences the answer has, supported or not.
    sentences: int = 0
    # Where `text` shows the renumbered markers.
    markers: tuple[Marker, ...] = ()

    @property
    def grounded(self) -> bool:
        """Whether the answer may stand as the answer: it cites a passage that supports it.

        An answer that cites nothing, or none of whose sentences its passages support,
        is no answer from the documents, however fluent.
        """
        return bool(self.citations) and len(self.unsupported) < self.sentences


def is_abstention(text: str) -> bool:
    """Whether a reply says the passages do not hold the answer (and cites nothing)."""
    if _MARKER.search(text):
        return False  # "The documents do not say when, but ... [1]" is an answer
    if text.strip().strip("\"'“”").lower().startswith(ABSTAIN_PREFIX.lower()):
        return True
    spans = sentence_spans(text)
    first = text[spans[0].start : spans[0].end] if spans else text
    return len(spans) <= 2 and bool(_ABSTENTION.search(first) and _SOURCES.search(first))


def answer_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of `text`, with markers written after the full stop kept with their sentence."""
    spans: list[list[int]] = []
    for span in sentence_spans(text):
        start, end = span.start, span.end
        leading = _LEADING_MARKERS.match(text, start)
        if spans and leading:
            spans[-1][1] = leading.end()
            start = leading.end()
            while start < end and text[start].isspace():
                start += 1
        if start < end:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def check_answer(text: str, passages: Sequence[Passage]) -> CheckedAnswer:
    """Validate the markers of `text`, check each sentence's support, and cite verbatim quotes."""
    citations: list[Citation] = []
    numbers: dict[tuple[str, int, int], int] = {}
    phantoms: list[int] = []
    unsupported: list[str] = []
    passage_terms = [set(analyze(p.citation.quote)) for p in passages]
    passage_words = [set(words(p.citation.quote)) for p in passages]

    def cite(passage: Passage, terms: set[str]) -> int:
        citation = best_sentence(passage, terms)
        key = (citation.doc_id, citation.start, citation.end)
        if key not in numbers:
            citations.append(citation)
            numbers[key] = len(citations)
        return numbers[key]

    # The answer as text and citation numbers: markers are placed here, never re-parsed.
    parts: list[str | int] = []
    position = 0
    spans = answer_sentences(text)
    for start, end in spans:
        sentence = text[start:end]
        plain = _MARKER.sub("", sentence).strip()
        terms = set(analyze(plain))
        cited: list[int] = []
        for match in _MARKER.finditer(sentence):
            for number in (int(n) for n in match.group(2).split(",")):
                if 1 <= number <= len(passages):
                    cited.append(number - 1)
                elif number not in phantoms:
                    phantoms.append(number)
        cited = list(dict.fromkeys(cited))

        rewritten: list[str | int] = []
        at = 0
        for match in _MARKER.finditer(sentence):
            rewritten.append(sentence[at : match.start()])
            given = [int(n) - 1 for n in match.group(2).split(",")]
            kept = dict.fromkeys(cite(passages[i], terms) for i in given if 0 <= i < len(passages))
            if kept:
                rewritten += [match.group(1), *kept]
            at = match.end()
        rewritten.append(sentence[at:])
        if not _supported(
            plain,
            terms,
            cited or range(len(passages)),
            passage_terms,
            passage_words,
            any_one=not cited,
        ):
            unsupported.append(cited_text(rewritten)[0])
        parts += [text[position:start], *rewritten]
        position = end
    parts.append(text[position:])

    notices: list[str] = []
    if phantoms:
        listed = ", ".join(f"[{n}]" for n in phantoms)
        were = "that marker was" if len(phantoms) == 1 else "those markers were"
        notices.append(
            f"The answer cited {listed}, but only {len(passages)} passages were given; {were} removed."
        )
    if unsupported:
        count = "1 sentence" if len(unsupported) == 1 else f"{len(unsupported)} sentences"
        notices.append(
            f"{count} of the answer {'is' if len(unsupported) == 1 else 'are'} not supported by "
            "the passages cited; check against the quotes before relying on "
            f"{'it' if len(unsupported) == 1 else 'them'}."
        )
    if not citations:
        notices.append("The answer cites none of the passages.")
    answer_text, markers = cited_text(parts)
    return CheckedAnswer(
        answer_text,
        tuple(citations),
        tuple(notices),
        tuple(unsupported),
        sentences=len(spans),
        markers=markers,
    )


def best_sentence(passage: Passage, terms: set[str]) -> Citation:
    """The sentence of `passage` sharing most content terms with `terms` (the passage if none)."""
    if not passage.sentences:
        return passage.citation
    best = max(
        passage.sentences,
        key=lambda s: _match_key(terms, set(analyze(s.citation.quote)), s.dense, s.position),
    )
    shared = len(terms & set(analyze(best.citation.quote)))
    score = shared / len(terms) if terms else best.dense
    return dataclasses.replace(best.citation, score=round(score, 4))


def _match_key(terms: set[str], sentence_terms: set[str], dense: float, position: int):
    shared = len(terms & sentence_terms)
    union = len(terms | sentence_terms) or 1
    # Most shared terms first; then the tighter sentence; then what the retriever liked.
    return (shared, shared / union, dense, -position)


def _supported(
    plain: str,
    terms: set[str],
    candidates: Sequence[int] | range,
    passage_terms: list[set[str]],
    passage_words: list[set[str]],
    any_one: bool,
) -> bool:
    """Whether the passages in `candidates` (together, or `any_one` of them) support a sentence."""
    if len(terms) < MIN_TERMS:
        return True
    numbers = {word for word in words(plain) if any(ch.isdigit() for ch in word)}
    groups = [[i] for i in candidates] if any_one else [list(candidates)]
    for group in groups:
        pool_terms = set().union(*(passage_terms[i] for i in group))
        pool_words = set().union(*(passage_words[i] for i in group))
        if len(terms & pool_terms) / len(terms) >= MIN_COVERAGE and numbers <= pool_words:
            return True
    return False
