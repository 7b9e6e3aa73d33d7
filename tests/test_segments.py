"""Updates in proportion to the change: an index of segments answers as if built at once.

Adding, changing or removing a document writes one new segment (or only a list of
documents no longer counted) and links every older segment's files; the passages
and their scores must be those of the same documents ingested in one go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from seed_facts import SEEDS

from rag.pipeline import Pipeline
from rag.query import Query
from rag.types import Document

QUESTIONS = (
    "When was the Bicentennial Framework launched?",
    "fentanyl trafficking Mexico extradition",
    "Who headed the senior American team?",
)
MODES = ("dense", "bm25", "hybrid")


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    """The seeds, and each seed again with its paragraphs in reverse order (other chunks)."""
    found = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        found.append(Document(path.stem, path.stem, text, str(path)))
        backwards = "\n\n".join(reversed(text.split("\n\n")))
        found.append(Document(f"{path.stem}-reversed", "Reversed", backwards, f"r/{path.name}"))
    return found


def pipeline_over(seed_pipeline, folder, *batches: list[Document]) -> Pipeline:
    """A new index at `folder`, each batch ingested in its own generation."""
    pipeline = Pipeline(
        seed_pipeline.settings.replace(index_dir=folder), embedder=seed_pipeline.embedder
    )
    for batch in batches:
        pipeline.ingest_documents(batch)
    return pipeline


def answers(pipeline: Pipeline) -> list[tuple]:
    """Every question in every mode: each passage's quote, place, score and sentence scores."""
    found = []
    for question in QUESTIONS:
        for mode in MODES:
            retrieval = pipeline.retrieve(Query(question, mode=mode, k=5))
            for passage in retrieval.passages:
                citation = passage.citation
                sentences = tuple(round(s.dense, 5) for s in passage.sentences)
                found.append(
                    (
                        question,
                        mode,
                        citation.doc_id,
                        citation.start,
                        citation.end,
                        passage.chunk_id,
                        passage.score,
                        passage.signals["bm25"],
                        sentences,
                    )
                )
            found.append(
                (
                    question,
                    mode,
                    tuple((t.term, round(t.idf, 6), t.in_corpus) for t in retrieval.query_terms),
                )
            )
    return found


def assert_same_answers(got: list[tuple], expected: list[tuple]) -> None:
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        if len(theirs) == 3:
            assert mine == theirs
            continue
        # Which passages, where, in which order: exactly; scores: within float rounding.
        assert mine[:6] == theirs[:6]
        assert mine[6:8] == pytest.approx(theirs[6:8], rel=1e-5, abs=1e-6)
        assert mine[8] == pytest.approx(theirs[8], abs=1e-4)


def segment_files(pipeline: Pipeline) -> dict[str, int]:
    generation = pipeline.store.current_generation()
    return {
        str(path.relative_to(generation)): path.stat().st_ino
        for path in generation.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }


def test_documents_added_one_by_one_answer_as_if_ingested_at_once(
    seed_pipeline, documents, tmp_path
):
    at_once = pipeline_over(seed_pipeline, tmp_path / "at-once", documents)
    one_by_one = pipeline_over(
        seed_pipeline, tmp_path / "one-by-one", *[[d] for d in documents[:-1]]
    )
    before = segment_files(one_by_one)
    one_by_one.ingest_documents(documents[-1:])
    after = segment_files(one_by_one)

    assert_same_answers(answers(one_by_one), answers(at_once))
    assert [d.doc_id for d in one_by_one.index().documents] == sorted(d.doc_id for d in documents)
    # The older segments were taken over, not copied: the very same files (inodes).
    assert before and all(after[name] == inode for name, inode in before.items())
    assert len(one_by_one.store.read_manifest()["segments"]) == len(documents)
    assert len(list(one_by_one.store.folder.glob("gen-*"))) == 1


def test_a_changed_and_a_removed_document_answer_as_a_fresh_index_would(
    seed_pipeline, documents, tmp_path
):
    first, second, *rest = documents
    changed = Document(
        first.doc_id, first.title, first.text + "\n\nA sentence added later.", first.source
    )
    updated = pipeline_over(seed_pipeline, tmp_path / "updated", documents)
    report = updated.ingest_documents([changed])
    assert report.updated == [first.doc_id] and report.n_embedded > 0
    assert updated.remove([second.doc_id]).removed == [second.doc_id]
    fresh = pipeline_over(seed_pipeline, tmp_path / "fresh", [changed, *rest])

    assert_same_answers(answers(updated), answers(fresh))
    # The first segment still holds the old versions, no longer counted.
    segments = updated.store.read_manifest()["segments"]
    assert segments[0]["deleted"] == sorted([first.doc_id, second.doc_id])
    quotes = [
        p.citation.quote for p in updated.retrieve(Query("A sentence added later", k=3)).passages
    ]
    assert any("A sentence added later." in quote for quote in quotes)
    texts = {document.doc_id: document.text for document in updated.index().documents}
    assert second.doc_id not in texts and texts[first.doc_id] == changed.text


def test_segments_past_the_limit_are_merged_without_changing_answers(
    seed_pipeline, documents, tmp_path, monkeypatch
):
    import rag.store

    monkeypatch.setattr(rag.store, "MAX_SEGMENTS", 2)
    at_once = pipeline_over(seed_pipeline, tmp_path / "at-once", documents)
    merged = pipeline_over(seed_pipeline, tmp_path / "merged", *[[d] for d in documents])
    assert len(merged.store.read_manifest()["segments"]) <= 2
    assert_same_answers(answers(merged), answers(at_once))
    # A rebuild writes one segment.
    merged.ingest_documents(documents, rebuild=True)
    assert len(merged.store.read_manifest()["segments"]) == 1
    assert_same_answers(answers(merged), answers(at_once))


def test_a_reader_reloads_when_a_segment_is_added(seed_pipeline, documents, tmp_path):
    writer = pipeline_over(seed_pipeline, tmp_path / "index", documents[:2])
    reader = Pipeline(writer.settings, embedder=writer.embedder)
    assert len(reader.index().doc_ids) == 2
    writer.ingest_documents(documents[2:3])
    assert reader.index().doc_ids == sorted(d.doc_id for d in documents[:3])
    vectors = np.asarray(reader.index().sentence_vectors)
    assert vectors.shape[0] == len(reader.index().sentence_doc)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert len(list(writer.store.folder.glob("gen-*"))) == 1


def test_an_index_from_before_segments_reads_and_is_rewritten_at_the_next_ingest(
    seed_pipeline, documents, tmp_path
):
    """Format 2: one segment's files in the generation folder, and bm25s's own scores."""
    import json
    import shutil

    from rag.lexical import LexicalIndex
    from rag.text import analyze_many

    pipeline = pipeline_over(seed_pipeline, tmp_path / "index", documents[:2])
    expected = answers(pipeline)
    data = pipeline.index()
    texts = [data.chunk_text(row) for row in range(data.n_chunks)]
    generation = pipeline.store.current_generation()
    segment = next(generation.glob("seg-*"))
    LexicalIndex.build(analyze_many(texts)).save(generation / "bm25-chunks")
    for path in segment.iterdir():
        if path.name not in ("bm25-terms", "segment.json"):
            shutil.move(path, generation / path.name)
    shutil.rmtree(segment)
    manifest = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
    del manifest["segments"]
    manifest["format"] = 2
    (generation / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    old = Pipeline(pipeline.settings, embedder=pipeline.embedder)
    assert_same_answers(answers(old), expected)
    old.ingest_documents(documents[2:3])
    manifest = old.store.read_manifest()
    assert manifest["format"] == 3 and len(manifest["segments"]) == 1
    fresh = pipeline_over(seed_pipeline, tmp_path / "fresh", documents[:3])
    assert_same_answers(answers(old), answers(fresh))


def test_segments_copied_where_hard_links_fail_are_flushed_and_answer_the_same(
    seed_pipeline, documents, tmp_path, monkeypatch
):
    """On a file system without hard links the older segments are copied, and flushed."""
    import errno
    import os

    import rag.durable

    at_once = pipeline_over(seed_pipeline, tmp_path / "at-once", documents)
    updated = pipeline_over(seed_pipeline, tmp_path / "updated", documents[:-1])
    before = segment_files(updated)

    def no_links(source, destination):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(source))

    flushed: set[str] = set()  # each file's path inside the generation being written
    fsync_file = rag.durable.fsync_file

    def recording(path):
        parts = Path(path).parts
        staging = [n for n, part in enumerate(parts) if part.startswith(".gen-")]
        if staging:
            flushed.add(str(Path(*parts[staging[-1] + 1 :])))
        fsync_file(path)

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(rag.durable, "fsync_file", recording)
    updated.ingest_documents(documents[-1:])
    monkeypatch.undo()

    after = segment_files(updated)
    # The older segment's files are copies (new inodes), every one flushed before CURRENT moved.
    assert before and all(after[name] != inode for name, inode in before.items())
    assert set(before) <= flushed
    reopened = Pipeline(updated.settings, embedder=updated.embedder)
    assert_same_answers(answers(reopened), answers(at_once))


def test_a_write_that_fails_midway_leaves_no_staging_folder_and_the_old_index_live(
    seed_pipeline, documents, tmp_path, monkeypatch
):
    import errno

    from rag.segments import Segment

    pipeline = pipeline_over(seed_pipeline, tmp_path / "index", documents[:-1])
    live = pipeline.store.current_generation()
    expected = answers(pipeline)
    write = Segment.write

    def disk_full(self, folder):
        write(self, folder)  # the segment's files are on disk, half a generation
        raise OSError(errno.ENOSPC, "No space left on device", str(folder))

    monkeypatch.setattr(Segment, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pipeline.ingest_documents(documents[-1:])
    monkeypatch.undo()

    assert [entry.name for entry in pipeline.store.folder.glob(".gen-*")] == []
    assert pipeline.store.current_generation() == live
    reopened = Pipeline(pipeline.settings, embedder=pipeline.embedder)
    assert_same_answers(answers(reopened), expected)
