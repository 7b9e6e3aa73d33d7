"""Invariants over arbitrary Unicode: CRLF, lone CR, zero-width and RTL marks, NUL, emoji,
combining marks. Every chunk and sentence is the document's exact text at its offsets,
chunks cover the text in order, and no chunk exceeds the model's word-piece limit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import Chunker, ChunkerSettings
from rag.text import sentence_spans
from rag.types import Document

TRICKY = [
    "\r\n", "\r", "\n\n", "\u200b", "\u200d", "\u200e", "\u200f", "\u202e", "\u2066", "\x00",
    "\ufeff", "😀", "👩‍👩‍👧", "🇲🇽", "e\u0301", "a\u0308\u0323", "שלום", "مرحبا", "東京", "\t",
    "\u2028", "\u00a0", ". ", "? ", "Dr.", "U.S.", "2010", "fentanyl", "Mexico", " ", " ",
]  # fmt: skip
PIECES = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12),
)
TEXTS = st.lists(PIECES, min_size=1, max_size=300).map("".join)


@pytest.fixture(scope="module")
def guarded_chunker(seed_pipeline):
    embedder = seed_pipeline.embedder
    return Chunker(ChunkerSettings(), embedder.count_tokens, embedder.max_tokens), embedder


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(text=TEXTS)
def test_chunks_and_sentences_are_exact_in_order_covering_and_within_the_model_limit(
    guarded_chunker, text
):
    chunker, embedder = guarded_chunker
    sentences, chunks = chunker.split(Document("doc", "doc", text))

    for span in [*sentence_spans(text), *sentences]:
        assert 0 <= span.start < span.end <= len(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
    starts = [(c.start, c.end) for c in chunks]
    assert starts == sorted(starts)
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace()), "a word was lost"
    if chunks:
        assert max(embedder.count_tokens([c.text for c in chunks])) <= embedder.max_tokens
