"""The records that flow between stages: document → chunk → passage → answer.

Every record is a frozen dataclass so that a stage can hand it on without
fearing the next one will change it underneath.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One source file, reduced to the plain text that is indexed and quoted."""

    doc_id: str
    title: str
    text: str
    source: str = ""
    # Character offset at which each page (slide, sheet) starts; empty for a file without.
    page_starts: tuple[int, ...] = ()
    # Each page's name when it is not "page N": "slide 2", "sheet Budget"; else empty.
    page_names: tuple[str, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding character `offset`, or None if the document has no pages."""
        if not self.page_starts:
            return None
        return max(bisect.bisect_right(self.page_starts, offset), 1)

    def place_at(self, offset: int) -> str:
        """Where character `offset` is, for a citation: "page 3", "slide 2", "sheet Budget" or ""."""
        page = self.page_at(offset)
        if page is None:
            return ""
        return self.page_names[page - 1] if self.page_names else f"page {page}"


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) of a document."""

    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A token-bounded run of whole sentences (where possible) of one document."""

    doc_id: str
    start: int
    end: int
    text: str
    n_tokens: int


@dataclass(frozen=True)
class Citation:
    """Where a quote comes from. Always: `document.text[start:end] == quote`."""

    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    page: int | None = None
    score: float = 0.0
    # The page's name as shown: "page 3", "slide 2", "sheet Budget"; "" for no pages.
    place: str = ""

    def to_json(self, n: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {} if n is None else {"n": n}
        data.update(
            doc_id=self.doc_id,
            title=self.title,
            page=self.page,
            place=self.place,
            start=self.start,
            end=self.end,
            quote=self.quote,
            score=round(float(self.score), 4),
        )
        return data


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence inside a retrieved passage, with how well it matches the question."""

    citation: Citation
    dense: float
    matched_terms: frozenset[str]
    # Position of the sentence inside its passage (0 = first).
    position: int


@dataclass(frozen=True)
class QueryTerm:
    """A content word of the question after stemming, with its rarity in the corpus."""

    term: str
    idf: float
    # False when no indexed document uses the word at all.
    in_corpus: bool


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: its rank, score and citation, and its scored sentences."""

    rank: int
    score: float
    citation: Citation
    chunk_id: int
    sentences: tuple[ScoredSentence, ...] = ()
    # Score per retrieval signal ("dense", "bm25"), for display and debugging.
    signals: dict[str, float] = field(default_factory=dict)
    # The Markdown headings of the sections the passage starts in, nearest first, each
    # quoted where it is (`rag.text.headings_above`): a changelog's "## [3.1.0]" above a
    # chunk of its lines.
    headings: tuple[Citation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = self.citation.to_json()
        data.update(rank=self.rank, score=round(float(self.score), 4), chunk_id=self.chunk_id)
        data["text"] = data.pop("quote")
        data["signals"] = {key: round(float(value), 4) for key, value in self.signals.items()}
        return data


@dataclass(frozen=True)
class Retrieval:
    """What the retriever found for one question."""

    question: str
    mode: str
    passages: tuple[Passage, ...]
    query_terms: tuple[QueryTerm, ...] = ()


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a chat, for backends that use the history."""

    question: str
    answer: str


@dataclass(frozen=True)
class Marker:
    """A citation marker in an answer's text: `text[start:end] == f"[{n}]"`, pointing at
    `answer.citations[n - 1]`. Set by the backend that placed it; "[2]" inside a quoted
    sentence is the document's text, not a marker."""

    start: int
    end: int
    n: int


def cited_text(parts: Iterable[str | int]) -> tuple[str, tuple[Marker, ...]]:
    """Text and its markers from pieces of text and citation numbers, stripped at both ends.

    `cited_text(["Quote one.", " ", 1])` is `("Quote one. [1]", (Marker(11, 14, 1),))`.
    """
    pieces: list[str] = []
    markers: list[Marker] = []
    at = 0
    for part in parts:
        piece = part if isinstance(part, str) else f"[{part}]"
        if not isinstance(part, str):
            markers.append(Marker(at, at + len(piece), part))
        pieces.append(piece)
        at += len(piece)
    text = "".join(pieces)
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    shifted = (Marker(m.start - lead, m.end - lead, m.n) for m in markers)
    return text, tuple(m for m in shifted if 0 <= m.start and m.end <= len(text))


@dataclass(frozen=True)
class Answer:
    """An answer with the citations its `[n]` markers point to (n = position + 1)."""

    question: str
    text: str
    abstained: bool
    backend: str
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Things the user should know: a fallback, a dropped marker, an unsupported sentence.
    notices: tuple[str, ...] = ()
    # Sentences of the answer that no cited passage supports (LLM backends).
    unsupported: tuple[str, ...] = ()
    mode: str = ""
    # Where `text` shows its `[n]` markers (see Marker); only these are markers.
    markers: tuple[Marker, ...] = ()
    # A language model's own reply when it was not fit to be the answer (it cited no
    # passage, or none supports it): kept for the user to look at, never shown as the answer.
    model_text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "backend": self.backend,
            "mode": self.mode,
            "citations": [c.to_json(n) for n, c in enumerate(self.citations, start=1)],
            "markers": [{"start": m.start, "end": m.end, "n": m.n} for m in self.markers],
            "passages": [p.to_json() for p in self.passages],
            "notices": list(self.notices),
            "unsupported": list(self.unsupported),
            "model_text": self.model_text,
            "timings_ms": {key: round(value, 2) for key, value in self.timings_ms.items()},
        }
