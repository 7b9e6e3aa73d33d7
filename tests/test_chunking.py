"""Chunks: token bounds, exact offsets, sentence ends, and the model's input limit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import Chunker, ChunkerSettings, count_tokens
from rag.types import Document

WORDS = [
    "fentanyl",
    "Mexico",
    "the",
    "framework",
    "2010",
    "Dr.",
    "U.S.",
    "cooperation",
    "“quoted”",
    "naïve",
    "東京",
    "—",
    "e.g.",
    "x" * 30,
]
SEPARATORS = [" ", " ", " ", ". ", "? ", "\n", "\n\n", ", ", "!\n\n"]


@st.composite
def texts(draw):
    parts = draw(
        st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=400)
    )
    return "".join(word + separator for word, separator in parts)


def check_chunks(text: str, chunker: Chunker) -> None:
    document = Document("doc", "doc", text)
    sentences, chunks = chunker.split(document)
    limit = chunker.settings.max_tokens
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.n_tokens == count_tokens(chunk.text) <= limit
        assert chunk.text == chunk.text.strip() and chunk.text
    # Chunks run in order and together cover every word of the text.
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    for span in sentences:
        assert text[span.start : span.end].strip() == text[span.start : span.end]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts(), st.sampled_from([(32, 0), (64, 10), (200, 40)]))
def test_chunks_are_bounded_exact_and_cover_the_text(text, bounds):
    max_tokens, overlap = bounds
    check_chunks(text, Chunker(ChunkerSettings(max_tokens=max_tokens, overlap_tokens=overlap)))


def test_chunks_end_on_sentence_boundaries_and_overlap():
    sentence = (
        "The framework was launched in 2010 to commemorate the bicentennial of independence. "
    )
    text = sentence * 30
    chunks = Chunker(ChunkerSettings(max_tokens=60, overlap_tokens=20)).chunk(
        Document("d", "d", text)
    )
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text.endswith("independence.")
        assert chunk.text.startswith("The framework")
    # Consecutive chunks share a sentence: the overlap.
    assert all(
        later.start < earlier.end for earlier, later in zip(chunks, chunks[1:], strict=False)
    )


def test_a_sentence_longer_than_a_chunk_is_cut_by_tokens():
    text = "word " * 1000  # one "sentence" of 1000 tokens
    check_chunks(text, Chunker(ChunkerSettings(max_tokens=100, overlap_tokens=0)))


@pytest.mark.slow
def test_a_megabyte_line_without_spaces_is_chunked():
    text = "abcdefghij" * 100_000
    chunker = Chunker(ChunkerSettings(max_tokens=200, overlap_tokens=40))
    chunks = chunker.chunk(Document("d", "d", text))
    assert "".join(chunk.text for chunk in chunks) == text
    assert max(chunk.n_tokens for chunk in chunks) <= 200


def test_model_limit_splits_chunks_the_model_would_truncate():
    """'@@##$$%%' costs 4 tiktoken tokens but 8 word pieces: 200 tokens would be 400 pieces."""
    text = ". ".join("@@##$$%% " * 8 for _ in range(40))
    calls = []

    def pieces(texts):
        calls.append(len(texts))
        return [2 * count_tokens(t) + 2 for t in texts]

    chunker = Chunker(ChunkerSettings(max_tokens=200, overlap_tokens=0), pieces, 256)
    chunks = chunker.chunk(Document("d", "d", text))
    assert calls, "the model's counter was consulted"
    assert all(2 * count_tokens(chunk.text) + 2 <= 256 for chunk in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)


@pytest.mark.slow
def test_no_chunk_exceeds_the_real_models_word_piece_limit(seed_pipeline):
    embedder = seed_pipeline.embedder
    text = ". ".join("@@##$$%% " * 8 for _ in range(40))
    unguarded = Chunker(ChunkerSettings()).chunk(Document("d", "d", text))
    assert max(embedder.count_tokens([c.text for c in unguarded])) > embedder.max_tokens
    guarded = Chunker(ChunkerSettings(), embedder.count_tokens, embedder.max_tokens).chunk(
        Document("d", "d", text)
    )
    assert max(embedder.count_tokens([c.text for c in guarded])) <= embedder.max_tokens


def test_list_items_headings_and_title_lines_are_sentences_of_their_own():
    """A Markdown list was one "sentence" (quoted whole or not at all), and a title on a
    line of its own was glued to the first sentence under it."""
    from rag.text import sentence_spans

    text = (
        "Warranty\nThe BrewMaster 3000 is covered by a 2-year warranty. It is transferable.\n\n"
        "## Ingredients\n- 2 tablespoons olive oil\n- 6 eggs\n1. Heat the oil.\n2. Add the eggs.\n\n"
        "The framework was launched in\n2010 to mark the bicentennial.\n\n"
        "The deal was signed by the Mexican\nPresident in Washington.\n\n"
        "The European Central Bank President Christine\nLagarde said rates will rise.\n\n"
        "Our partner Acme\nCorporation said profits rose.\n\n"
        "The contract was signed on\n3. March 2021 by both parties.\n\n"
        "He paid the fee\n- a small one - and left.\n\n"
        "Please quote the order\n#12345 in all letters.\n"
        "- 6 eggs\n## Method\nBeat the eggs."
    )
    assert [text[s.start : s.end] for s in sentence_spans(text)] == [
        "Warranty",
        "The BrewMaster 3000 is covered by a 2-year warranty.",
        "It is transferable.",
        "## Ingredients",
        "- 2 tablespoons olive oil",
        "- 6 eggs",
        "1. Heat the oil.",
        "2. Add the eggs.",
        # Prose broken across lines stays one sentence.
        "The framework was launched in\n2010 to mark the bicentennial.",
        "The deal was signed by the Mexican\nPresident in Washington.",
        # A PDF's wrapped lines may open with a name, "3. March", "- a small one", "#12345".
        "The European Central Bank President Christine\nLagarde said rates will rise.",
        "Our partner Acme\nCorporation said profits rose.",
        "The contract was signed on\n3. March 2021 by both parties.",
        "He paid the fee\n- a small one - and left.",
        "Please quote the order\n#12345 in all letters.",
        "- 6 eggs",
        "## Method",
        "Beat the eggs.",
    ]


def test_field_lines_of_a_form_or_minutes_header_are_sentences_of_their_own():
    """A minutes' header ("**Present:** ...", "**Apologies:** ...") was one block: "Who
    sent apologies?" quoted all of it. Prose wrapped onto a "Note: ..." line stays whole."""
    from rag.text import sentence_spans

    text = (
        "**Date:** 4 May 2024\n**Present:** Margaret Okafor, Lena Fox\n"
        "**Apologies:** George Mbeki\nVenue: Room 4\n\n"
        "The chair welcomed the guests and\nNote: this line wraps prose.\n"
    )
    assert [text[s.start : s.end] for s in sentence_spans(text)] == [
        "**Date:** 4 May 2024",
        "**Present:** Margaret Okafor, Lena Fox",
        "**Apologies:** George Mbeki",
        "Venue: Room 4",
        "The chair welcomed the guests and\nNote: this line wraps prose.",
    ]


def test_an_acronym_ends_its_sentence_before_a_capitalised_word():
    """nupunkt kept "... with SAML. Only the Enterprise plan ..." as one sentence."""
    from rag.text import sentence_spans

    text = "Business adds single sign-on with SAML. Only Enterprise has 24/7 support. He moved to the U.S. The year after, he left."
    assert [text[s.start : s.end] for s in sentence_spans(text)] == [
        "Business adds single sign-on with SAML.",
        "Only Enterprise has 24/7 support.",
        "He moved to the U.S.",
        "The year after, he left.",
    ]
