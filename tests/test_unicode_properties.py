"""Invariants over arbitrary Unicode: CRLF, lone CR, zero-width and RTL marks, NUL, emoji,
combining marks. Every chunk and sentence is the document's exact text at its offsets,
chunks cover the text in order, no chunk exceeds the model's word-piece limit, and every
citation of an answer over such documents quotes an indexed document exactly."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rag.chunking import Chunker, ChunkerSettings
from rag.errors import RagError
from rag.query import Query
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


# Sentences a question can match, so that answers hold citations to check.
FACTS = [
    "The Bicentennial Framework was launched in 2010.",
    "Mexico and the U.S. agreed on fentanyl controls [2] in 2019.",
    "Dr. Ruiz said: \u201cthe border is long\u201d \u2014 3,145 km.",
    "Cooperation grew after the meeting in Tokyo (\u6771\u4eac).",
    "Se firm\u00f3 en M\u00e9xico el acuerdo de seguridad.",
]


def hostile_text(rng: random.Random) -> str:
    """Facts spliced with hostile pieces: separators, marks, controls, scripts, emoji."""
    pieces: list[str] = []
    for _ in range(rng.randint(20, 80)):
        pieces.append(rng.choice(FACTS) if rng.random() < 0.25 else rng.choice(TRICKY))
        pieces.append(rng.choice(["", " ", "\r\n", "\r", "\u200b", "\x00", "\n\n"]))
    return "".join(pieces)


# Generated once, so the index is built once; hypothesis varies the questions over them.
HOSTILE_TEXTS = [hostile_text(random.Random(seed)) for seed in range(8)]


@pytest.fixture(scope="module")
def hostile_index(seed_pipeline, tmp_path_factory):
    """A Pipeline over generated hostile documents (built once), and those documents by id."""
    from rag.pipeline import Pipeline

    documents = [
        # A right-to-left letter in the id; an override (U+202E) is refused in an id, as a
        # file's name has it replaced (rag.loading.printable_id).
        Document(f"hostile-{n}-\u05e9", f"Hostile \u202e{n}", text)
        for n, text in enumerate(HOSTILE_TEXTS)
    ]
    folder = tmp_path_factory.mktemp("hostile-index") / "index"
    pipeline = Pipeline(
        seed_pipeline.settings.replace(index_dir=folder), embedder=seed_pipeline.embedder
    )
    pipeline.ingest_documents(documents)
    return pipeline, {document.doc_id: document for document in pipeline.index().documents}


@st.composite
def questions(draw):
    """Part of a fact or of a document's own hostile text, with hostile pieces around it."""
    source = draw(st.sampled_from(FACTS + HOSTILE_TEXTS))
    start = draw(st.integers(0, max(len(source) - 1, 0)))
    part = source[start : start + draw(st.integers(1, 120))]
    return draw(PIECES) + part + draw(st.sampled_from(["", "?", " [1]", " [2]?", "\r\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(question=questions(), mode=st.sampled_from(["dense", "bm25", "hybrid"]))
def test_every_citation_of_an_answer_quotes_an_indexed_document_exactly(
    hostile_index, question, mode
):
    pipeline, indexed = hostile_index
    try:
        query = Query(question, mode=mode)
    except RagError:
        assume(False)  # no words to ask about: refused before anything runs
    answer = pipeline.ask(query)

    cited = [*answer.citations, *(p.citation for p in answer.passages)]
    for citation in cited:
        assert citation.doc_id in indexed, citation.doc_id
        assert indexed[citation.doc_id].text[citation.start : citation.end] == citation.quote
        assert citation.quote
    for marker in answer.markers:
        assert answer.text[marker.start : marker.end] == f"[{marker.n}]"
        assert 1 <= marker.n <= len(answer.citations)


def test_a_fact_asked_about_is_answered_with_a_citation(hostile_index):
    # Keeps the property above from passing on answers that all abstain.
    pipeline, indexed = hostile_index
    answer = pipeline.ask("When was the Bicentennial Framework launched?")
    assert not answer.abstained and answer.citations
    assert "launched in 2010" in answer.citations[0].quote
