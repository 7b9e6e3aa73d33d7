"""Retrieval: every mode returns ranked passages whose citations quote the document exactly."""

from __future__ import annotations

import pytest
from seed_facts import FRAMEWORK_DOC

from rag.errors import RagError
from rag.query import Query
from rag.retrieval import reciprocal_rank_fusion


def documents_by_id(pipeline):
    return {document.doc_id: document for document in pipeline.index().documents}


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_framework_passage_with_exact_citations(seed_pipeline, mode):
    retrieval = seed_pipeline.retrieve(
        Query("When was the Bicentennial Framework launched?", mode=mode, k=3)
    )
    assert retrieval.mode == mode
    assert [p.rank for p in retrieval.passages] == [1, 2, 3]
    assert retrieval.passages[0].citation.doc_id == FRAMEWORK_DOC
    assert any("launched in 2010" in p.citation.quote for p in retrieval.passages)
    documents = documents_by_id(seed_pipeline)
    for passage in retrieval.passages:
        citation = passage.citation
        assert documents[citation.doc_id].text[citation.start : citation.end] == citation.quote
        for sentence in passage.sentences:
            c = sentence.citation
            assert documents[c.doc_id].text[c.start : c.end] == c.quote
    scores = [p.score for p in retrieval.passages]
    assert scores == sorted(scores, reverse=True)


def test_overlapping_chunks_do_not_crowd_the_top_k(seed_pipeline):
    retrieval = seed_pipeline.retrieve(Query("fentanyl cooperation Mexico United States", k=7))
    passages = retrieval.passages
    for i, passage in enumerate(passages):
        start, end = passage.citation.start, passage.citation.end
        held = set()
        for before in passages[:i]:
            if before.citation.doc_id == passage.citation.doc_id:
                held.update(range(before.citation.start, before.citation.end))
        added = sum(1 for at in range(start, end) if at not in held)
        assert added >= 0.25 * (end - start)


def test_a_short_last_chunk_with_text_of_its_own_is_not_dropped_as_a_duplicate(
    seed_pipeline, tmp_path
):
    """A document's last chunk shares most of itself with the chunk before (the overlap),
    yet may hold the only copy of its last section: it was dropped whenever that chunk
    ranked first, and its section could never be quoted."""
    from rag.pipeline import Pipeline
    from rag.types import Document

    body = " ".join(
        f"Section {n} of the leave policy explains how requests are filed and approved."
        for n in range(1, 13)
    )
    text = body + "\n\nContact\n\nQuestions go to Maria Kowalski at hr@northwind.example."
    pipeline = Pipeline(
        seed_pipeline.settings.replace(index_dir=tmp_path / "index"),
        embedder=seed_pipeline.embedder,
    )
    pipeline.ingest_documents([Document("policy", "Leave policy", text)])
    [info] = pipeline.documents()
    assert info.chunks == 2  # the last one is three quarters the overlap
    passages = pipeline.retrieve(Query("leave policy requests contact", k=5)).passages
    assert len(passages) == 2
    assert any("Maria Kowalski" in p.citation.quote for p in passages)


def test_bm25_returns_nothing_for_words_no_document_has(seed_pipeline):
    assert seed_pipeline.retrieve(Query("sourdough croissant baguette", mode="bm25")).passages == ()


def test_question_terms_carry_rarity_and_presence(seed_pipeline):
    terms = {t.term: t for t in seed_pipeline.retrieve("fentanyl seized in 2022").query_terms}
    assert terms["fentanyl"].in_corpus and not terms["2022"].in_corpus
    assert terms["2022"].idf > terms["fentanyl"].idf


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and fused[4] == pytest.approx(1 / 63)


@pytest.mark.parametrize("question", ["", "   ", "?!?!", "\x00\x07"])
def test_empty_questions_are_refused_plainly(seed_pipeline, question):
    with pytest.raises(RagError, match="question"):
        seed_pipeline.retrieve(question)


def test_a_very_long_question_is_refused_with_the_limit(seed_pipeline):
    with pytest.raises(RagError, match="2,000"):
        seed_pipeline.retrieve("fentanyl " * 3000)


def test_a_retriever_that_remembered_chunks_is_freed_as_soon_as_it_is_dropped(seed_pipeline):
    # A server reloads the index on every new generation: the old retriever, and the index
    # it holds, must go at once, not wait for Python's cycle collector.
    import gc
    import weakref

    from rag.retrieval import Retriever

    retriever = Retriever(seed_pipeline.index(), seed_pipeline.embedder.embed_query)
    retriever.retrieve("When was the Bicentennial Framework launched?")
    gone = weakref.ref(retriever)
    gc.disable()
    try:
        del retriever
        assert gone() is None
    finally:
        gc.enable()
