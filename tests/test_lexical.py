"""BM25 read with numpy alone: the scores bm25s itself gives, from the same files."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import RagError
from rag.lexical import LexicalIndex
from rag.text import analyze, analyze_many

QUESTIONS = (
    "When was the Bicentennial Framework launched?",
    "fentanyl fentanyl trafficking Mexico",  # a repeated term counts twice, as in bm25s
    "Ovidio Guzmán López extradition",
    "zzzz nothing matches",
)


@pytest.fixture(scope="module")
def saved(seed_pipeline, tmp_path_factory):
    data = seed_pipeline.index()
    texts = [data.chunk_text(row) for row in range(data.n_chunks)]
    texts += [sentence for text in texts for sentence in text.split(". ")]
    folder = tmp_path_factory.mktemp("bm25")
    LexicalIndex.build(analyze_many(texts)).save(folder)
    return folder, len(texts)


def test_scores_are_those_of_bm25s(saved):
    import bm25s

    folder, size = saved
    reference = bm25s.BM25.load(str(folder), mmap=True)
    ours = LexicalIndex.load(folder)
    assert ours.size == size
    for question in QUESTIONS:
        terms = analyze(question)
        known = [term for term in terms if term in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(size)
        assert np.array_equal(ours.scores(terms), expected.astype(np.float32)), question


def test_a_damaged_bm25_index_is_named_with_the_rebuild_command(saved, tmp_path):
    import shutil

    folder, _ = saved
    copy = tmp_path / "bm25"
    shutil.copytree(folder, copy)
    (copy / "vocab.index.json").write_text('{"only": 0}', encoding="utf-8")
    with pytest.raises(RagError, match="damaged.*rag ingest --rebuild"):
        LexicalIndex.load(copy)
    (copy / "params.index.json").unlink()
    with pytest.raises(RagError, match=str(copy)):
        LexicalIndex.load(copy)


def test_segments_scored_together_give_the_scores_of_one_bm25s_index(seed_pipeline):
    """Term counts in three segments, one text no longer counted: bm25s's scores and idf."""
    from rag.lexical import SegmentedBM25, TermCounts

    data = seed_pipeline.index()
    texts = [data.chunk_text(row) for row in range(data.n_chunks)]
    texts += [sentence for text in texts for sentence in text.split(". ")] + [""]
    tokens = analyze_many(texts)
    dropped = 3  # a text of a removed document: counted nowhere
    live = [t for row, t in enumerate(tokens) if row != dropped]
    whole = LexicalIndex.build(live)
    cuts = [0, len(tokens) // 3, 2 * len(tokens) // 3, len(tokens)]
    parts = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        rows = np.arange(start, end)
        index_rows = np.where(rows == dropped, -1, rows - (rows > dropped))
        parts.append((TermCounts.build(tokens[start:end]), index_rows))
    together = SegmentedBM25(parts, len(live))
    # A merge of the three gives the same again, nothing analysed twice.
    kept = [np.flatnonzero(rows >= 0) for _, rows in parts]
    merged = TermCounts.merge([(counts, k) for (counts, _), k in zip(parts, kept, strict=True)])
    one = SegmentedBM25([(merged, np.arange(len(live)))], len(live))
    for question in QUESTIONS:
        terms = analyze(question)
        expected = whole.scores(terms)
        np.testing.assert_allclose(together.scores(terms), expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(one.scores(terms), expected, rtol=1e-6, atol=1e-7)
        for term in terms:
            assert together.idf(term) == pytest.approx(whole.idf(term))
    assert (
        together.top(analyze(QUESTIONS[0]), 5)[1].tolist()
        == whole.top(analyze(QUESTIONS[0]), 5)[1].tolist()
    )


def test_accents_of_latin_letters_are_folded_in_documents_and_questions():
    assert analyze("Poznań, Zürich, Straße, Łódź") == analyze("Poznan, Zurich, Strasse, Lodz")
    assert analyze_many(["Crème brûlée in Poznań"]) == [analyze("Creme brulee in Poznan")]
    # In other scripts a mark makes another word: kept.
    assert analyze("が αθήνα") == ["が", "αθήνα"]


def test_an_index_analysed_before_accents_were_folded_finds_them_typed_without():
    """Indexes written before hold "poznań"; the question's "poznan" must still find it."""
    from rag.lexical import SegmentedBM25, TermCounts

    legacy = TermCounts.build([["poznań", "offic"], ["poznan", "poznań"], ["aarhus"]])
    bm25 = SegmentedBM25([(legacy, np.arange(3))], 3)
    scores = bm25.scores(["poznan"])
    assert scores[0] > 0 and scores[1] > scores[0] and scores[2] == 0
    idf, known = bm25.idf("poznan")
    assert known and idf < bm25.idf("aarhus")[0]  # in two texts, against one
    assert bm25._term("poznan").frequency == 2  # two texts, each counted once
    rows, counts = legacy.postings("poznan")
    assert rows.tolist() == [0, 1] and counts.tolist() == [1.0, 2.0]

    old = LexicalIndex.build([["poznań", "offic"], ["aarhus"]])
    assert old.scores(["poznan"])[0] > 0 and old.scores(["poznan"])[1] == 0
    assert old.idf("poznan") == old.idf("poznań") and old.idf("poznan")[1]
