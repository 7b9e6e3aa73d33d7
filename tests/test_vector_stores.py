"""The vector-store contract: FAISS (each index kind) behind it, and document filters in search."""

from __future__ import annotations

import numpy as np
import pytest

from rag import vectors
from rag.query import Query
from rag.types import Document
from rag.vector_stores.faiss_store import FaissVectorStore

DIMENSION = 16


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def documents_of_vectors(n_documents: int = 30, chunks: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        f"doc-{d:02d}": unit(rng.standard_normal((chunks, DIMENSION))) for d in range(n_documents)
    }


@pytest.mark.parametrize(
    "spec",
    [
        vectors.VectorIndexSpec("flat"),
        vectors.VectorIndexSpec("hnsw", ef_search=200),
        vectors.VectorIndexSpec("ivf", ivf_nlist=4, ivf_nprobe=4),
    ],
    ids=lambda spec: spec.kind,
)
def test_faiss_store_adds_deletes_and_filters_inside_the_search(spec):
    by_document = documents_of_vectors()
    all_vectors = np.concatenate(list(by_document.values()))
    # IVF needs training: built over everything, then emptied and filled document by document.
    index = vectors.build(all_vectors, spec)
    index.reset()
    store = FaissVectorStore(index, [], np.zeros(0, np.int64), model="m", spec=spec)
    for doc_id, chunk_vectors in by_document.items():
        store.add(doc_id, chunk_vectors)
    assert store.count() == len(all_vectors)
    assert store.describe().dimension == DIMENSION and store.describe().model == "m"
    np.testing.assert_allclose(store.vectors("doc-03"), by_document["doc-03"], atol=1e-6)

    # The query is chunk 5 of doc-03: unfiltered, it is the nearest.
    question = by_document["doc-03"][5]
    hits = store.search(question, 3)
    assert (hits.doc_ids[0], int(hits.numbers[0])) == ("doc-03", 5)
    assert hits.scores[0] == pytest.approx(1.0, abs=1e-5)

    # Filtered to two other documents: all k hits are theirs, and they are those
    # documents' true nearest (not what is left of a global top-k).
    chosen = frozenset({"doc-10", "doc-20"})
    hits = store.search(question, 10, chosen)
    assert len(hits) == 10 and set(hits.doc_ids) <= chosen
    candidates = np.concatenate([by_document[d] for d in sorted(chosen)])
    expected = np.sort(candidates @ question)[::-1][:10]
    np.testing.assert_allclose(hits.scores, expected, atol=1e-5)
    # More asked for than the filter holds: every chunk of the chosen document, no padding.
    assert len(store.search(question, 50, frozenset({"doc-10"}))) == 8
    assert len(store.search(question, 5, frozenset())) == 0

    # Replacing and deleting a document renumbers nobody else.
    store.add("doc-03", by_document["doc-03"][:2])
    store.delete(["doc-10", "never-indexed"])
    assert store.count() == len(all_vectors) - 6 - 8
    assert len(store.search(question, 5, frozenset({"doc-10"}))) == 0
    hits = store.search(by_document["doc-20"][6], 1)
    assert (hits.doc_ids[0], int(hits.numbers[0])) == ("doc-20", 6)


def test_retrieval_with_a_document_filter_quotes_only_those_documents(seed_pipeline):
    index = seed_pipeline.index()
    question = "When was the Bicentennial Framework launched?"
    unfiltered = seed_pipeline.retrieve(question)
    top_document = unfiltered.passages[0].citation.doc_id
    others = frozenset(index.doc_ids) - {top_document}
    for mode in ("dense", "bm25", "hybrid"):
        retrieval = seed_pipeline.retrieve(Query(question, mode=mode, k=5, doc_ids=others))
        assert retrieval.passages, mode
        assert {p.citation.doc_id for p in retrieval.passages} <= others
        for passage in retrieval.passages:
            document = index.documents[index.doc_rows[passage.citation.doc_id]]
            citation = passage.citation
            assert document.text[citation.start : citation.end] == citation.quote
    only = seed_pipeline.retrieve(Query(question, k=5, doc_ids={top_document}))
    assert {p.citation.doc_id for p in only.passages} == {top_document}


def test_ingest_documents_indexes_text_from_memory(scratch_pipeline):
    report = scratch_pipeline.ingest_documents(
        [Document("memo-1", "Memo", "The Quillon ferry first sailed in 1932.", "memory:memo-1")]
    )
    assert report.added == ["memo-1"] and report.written
    answer = scratch_pipeline.ask(
        Query("When did the Quillon ferry first sail?", doc_ids={"memo-1"})
    )
    assert "1932" in answer.text
    # The same document again: nothing to embed, nothing written.
    again = scratch_pipeline.ingest_documents(
        [Document("memo-1", "Memo", "The Quillon ferry first sailed in 1932.", "memory:memo-1")]
    )
    assert again.unchanged == ["memo-1"] and not again.written


def test_ingest_documents_refuses_two_documents_with_one_id(scratch_pipeline):
    from rag.errors import RagError

    twice = [Document("same", "A", "One text.", "a"), Document("same", "B", "Another.", "b")]
    with pytest.raises(RagError, match="'same'"):
        scratch_pipeline.ingest_documents(twice)


def test_index_rows_round_trip(seed_pipeline):
    from rag.store import IndexData

    data = seed_pipeline.index()
    rows = data.rows()
    again = IndexData.from_rows(data.settings, list(rows.values()), lambda n: data.vector_spec)
    assert again.doc_ids == data.doc_ids
    for name in ("chunk_doc", "chunk_start", "chunk_end", "chunk_tokens", "sentence_start"):
        np.testing.assert_array_equal(getattr(again, name), getattr(data, name))
    # Each is one segment: compare the vectors its own FAISS index holds.
    (again_segment,) = again.segments
    (segment,) = data.segments
    np.testing.assert_allclose(
        vectors.all_vectors(again_segment.vector_index), vectors.all_vectors(segment.vector_index)
    )


def test_a_store_hit_of_no_chunk_of_the_index_is_the_stores_error(seed_pipeline):
    """A number past a document's last chunk became a chunk of the next document, and
    let passages of other documents through a document filter."""
    import numpy as np

    from rag.errors import RagError
    from rag.vector_stores.base import VectorHits

    data = seed_pipeline.index()
    first = data.doc_ids[0]
    chunks = int(data.chunk_bounds[1] - data.chunk_bounds[0])
    ok = data.chunk_rows(VectorHits((first,), np.array([chunks - 1]), np.array([0.5])))
    assert ok.tolist() == [chunks - 1]
    for doc_id, number in ((first, chunks), ("no-such-doc", 0), (first, -1)):
        hits = VectorHits((doc_id,), np.array([number]), np.array([0.5], dtype=np.float32))
        with pytest.raises(RagError, match="Vector store 'faiss' returned chunk"):
            data.chunk_rows(hits)
