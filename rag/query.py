"""The request: one question with its per-call choices, cleaned and checked once, when built.

Everything downstream (standalone rewrite, retrieval, answering) takes a `Query`
rather than loose arguments, so a new choice (a document filter, say) is one
field here, not a parameter threaded through four signatures. A field left at
None means "the pipeline's setting" (Haystack's `run(query, top_k=None)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.config import MAX_TOP_K, RETRIEVAL_MODES, invalid_setting
from rag.errors import RagError
from rag.types import Turn

MAX_QUESTION_CHARS = 2000
# Lone surrogates come from undecodable bytes (argv in a non-UTF-8 terminal, JSON "\ud800");
# the tokenizer cannot take them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_question(question: str) -> str:
    """The question with control characters removed, or a RagError if there is none to ask."""
    if not isinstance(question, str):
        raise RagError("The question must be text.")
    cleaned = re.sub(r"\s+", " ", _CONTROL.sub(" ", question)).strip()
    if not cleaned:
        raise RagError("The question is empty; type a question about your documents.")
    if not re.search(r"\w", cleaned):
        raise RagError("The question has no words in it; type a question about your documents.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise RagError(
            f"The question is {len(cleaned):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Ask a shorter question."
        )
    return cleaned


@dataclass(frozen=True)
class Query:
    """One question to answer, with what this call chooses over the settings.

    Building one cleans the question and checks every choice, so a `Query` that
    exists is a valid one: no stage checks it again.
    """

    question: str
    # Retrieval mode ("dense", "bm25", "hybrid"); None: the `mode` setting.
    mode: str | None = None
    # Passages to retrieve; None: the `top_k` setting.
    k: int | None = None
    # Answer backend by registered name; None: the `backend` setting.
    backend: str | None = None
    # Earlier turns of a chat, oldest first.
    history: tuple[Turn, ...] = ()
    # Search only these documents (by id); None searches them all. The filter runs inside
    # the dense and BM25 searches, so all k passages come from these documents.
    doc_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # Frozen: the cleaned values are set through object.__setattr__, once, here.
        object.__setattr__(self, "question", clean_question(self.question))
        object.__setattr__(self, "history", tuple(self.history))
        if isinstance(self.doc_ids, str):
            # frozenset("alpha") would search documents 'a', 'h', 'l' and 'p'.
            raise RagError(
                f"doc_ids is a collection of document ids, not one string: give "
                f"[{self.doc_ids!r}] to search that document."
            )
        if self.doc_ids is not None:
            object.__setattr__(self, "doc_ids", frozenset(self.doc_ids))
        if self.mode is not None and self.mode not in RETRIEVAL_MODES:
            raise invalid_setting("mode", f"one of {', '.join(RETRIEVAL_MODES)}", self.mode)
        if self.k is not None and (
            isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= MAX_TOP_K
        ):
            raise invalid_setting("top_k", f"between 1 and {MAX_TOP_K}", self.k)
        if self.backend is not None and not (isinstance(self.backend, str) and self.backend):
            raise invalid_setting(
                "backend", "a registered backend name (see `rag backends`)", self.backend
            )


def as_query(query: Query | str) -> Query:
    """`query` itself, or a Query of the question text with every choice left to the settings."""
    return query if isinstance(query, Query) else Query(query)
