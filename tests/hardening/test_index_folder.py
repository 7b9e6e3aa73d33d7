"""A missing, foreign or damaged index folder: `rag ask`, `rag docs` and the chat window
each say what is wrong and what to do, never a traceback; the advice given works."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from seed_facts import SEEDS

from rag.errors import RagError
from rag.pipeline import Pipeline

from .helpers import SEED_ANSWER, SEED_QUESTION, assert_clear_error, run_rag


def shown(page_html: str) -> str:
    """The text a reader sees in a piece of the window's HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))


def edit_manifest(generation, change) -> None:
    path = generation / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def other_format(generation):
    edit_manifest(generation, lambda m: m.update(format=99))


def other_model(generation):
    edit_manifest(generation, lambda m: m.update(model="intfloat/e5-large-v2", dimension=1024))


def segment_of(generation):
    """Where a generation's files are: its first segment, or itself (before segments)."""
    return next(generation.glob("seg-*"), generation)


def truncated_faiss(generation):
    path = segment_of(generation) / "vectors.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def foreign_faiss(generation):
    # A whole, readable FAISS file, but another index's: as many vectors, of another size.
    import faiss
    import numpy as np

    path = segment_of(generation) / "vectors.faiss"
    count = faiss.read_index(str(path)).ntotal
    foreign = faiss.IndexFlatIP(16)
    foreign.add(np.random.default_rng(1).random((count, 16), dtype=np.float32))
    faiss.write_index(foreign, str(path))


def manifest_lists_a_ghost(generation):
    edit_manifest(
        generation, lambda m: m["documents"].update(ghost=dict(m["documents"].popitem()[1]))
    )


def manifest_miscounts_chunks(generation):
    edit_manifest(generation, lambda m: m.update(n_chunks=m["n_chunks"] + 3))


def manifest_documents_mangled(generation):
    edit_manifest(generation, lambda m: m.update(documents=["not", "a", "table"]))


def documents_file_missing(generation):
    for name in ("documents.json", "documents.jsonl"):  # format 2, format 1
        (segment_of(generation) / name).unlink(missing_ok=True)


def documents_file_mangled(generation):
    # Valid JSON of the wrong shape: a list where the table of columns was written.
    (segment_of(generation) / "documents.json").write_text("[]", encoding="utf-8")


def texts_truncated(generation):
    path = segment_of(generation) / "texts.bin"
    path.write_bytes(path.read_bytes()[:-100])


# Each damage, and a word the error must hold to say what to do.
DAMAGES = {
    "other_format": (other_format, "format 99"),
    "other_model": (other_model, "intfloat/e5-large-v2"),
    "truncated_faiss": (truncated_faiss, "vectors.faiss"),
    "foreign_faiss": (foreign_faiss, "dimensions"),
    "manifest_lists_a_ghost": (manifest_lists_a_ghost, "different documents"),
    "manifest_miscounts_chunks": (manifest_miscounts_chunks, "manifest says"),
    "manifest_documents_mangled": (manifest_documents_mangled, "damaged"),
    "documents_file_missing": (documents_file_missing, "documents.json"),
    "documents_file_mangled": (documents_file_mangled, "damaged"),
    "texts_truncated": (texts_truncated, "texts.bin"),
}


@pytest.fixture
def damaged(scratch_pipeline, request):
    """A scratch copy of the seed index with one kind of damage, and the word to expect."""
    damage, word = DAMAGES[request.param]
    damage(scratch_pipeline.store.current_generation())
    return scratch_pipeline, word


@pytest.mark.slow
@pytest.mark.parametrize("damaged", list(DAMAGES), indirect=True)
def test_rag_ask_and_docs_say_how_to_rebuild(damaged, tmp_path):
    pipeline, word = damaged
    index = str(pipeline.settings.index_dir)
    assert_clear_error(
        run_rag("ask", SEED_QUESTION, "--index", index, cwd=tmp_path), word, "rag ingest --rebuild"
    )
    listing = run_rag("docs", "--index", index, cwd=tmp_path)
    # `rag docs` reads the manifest alone: it lists what it can, or says what is wrong.
    if listing.returncode != 0:
        assert_clear_error(listing, "rag ingest --rebuild")
    assert "Traceback" not in listing.stderr


@pytest.mark.parametrize("damaged", list(DAMAGES), indirect=True)
def test_adding_to_a_damaged_index_is_refused_with_the_same_advice(damaged, tmp_path):
    pipeline, word = damaged
    (tmp_path / "new.txt").write_text("The Quillon bridge opened in 1911.", encoding="utf-8")
    with pytest.raises(RagError, match="rag ingest --rebuild") as error:
        pipeline.ingest([tmp_path / "new.txt"])
    assert word in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["foreign_faiss"], indirect=True)
def test_the_advised_rebuild_brings_back_an_index_that_answers(damaged):
    pipeline, _ = damaged
    pipeline.ingest([SEEDS], rebuild=True)
    assert SEED_ANSWER in pipeline.ask(SEED_QUESTION).text


@pytest.fixture(scope="module")
def chat_app_class():
    from ui.app import ChatApp

    return ChatApp


@pytest.mark.slow
@pytest.mark.parametrize("damaged", list(DAMAGES), indirect=True)
def test_the_chat_window_says_it_on_opening_and_on_asking(damaged, chat_app_class):
    pipeline, word = damaged
    app = chat_app_class(Pipeline(pipeline.settings))
    _header, panel = app.on_load(progress=lambda *args, **kwargs: None)
    assert "rag-status-error" in panel and "rag ingest --rebuild" in shown(panel), panel
    updates = list(app.ask(SEED_QUESTION, [], "extractive", "hybrid", 5))
    reply = updates[-1][0][-1]["content"]
    assert "rag-error" in reply and "rag ingest --rebuild" in shown(reply)
    assert word in shown(reply) and "Traceback" not in reply


@pytest.mark.slow
def test_no_index_and_nothing_to_build_it_from(tmp_path, chat_app_class):
    index = tmp_path / "empty-index"
    for command in (["ask", SEED_QUESTION], ["docs"]):
        assert_clear_error(
            run_rag(*command, "--index", str(index), cwd=tmp_path), "no index", "rag ingest"
        )
    from rag.config import Settings

    app = chat_app_class(Pipeline(Settings(index_dir=index, seeds_dir=tmp_path / "no-seeds")))
    _header, panel = app.on_load(progress=lambda *args, **kwargs: None)
    assert "rag-status-error" in panel and "rag ingest" in shown(panel)


@pytest.mark.slow
def test_an_index_path_that_is_a_file(tmp_path, seed_pipeline):
    index = tmp_path / "index.txt"
    index.write_text("not a folder", encoding="utf-8")
    (tmp_path / "seeds").mkdir()
    shutil.copy(next(SEEDS.glob("*.txt")), tmp_path / "seeds")
    for command in (["ingest", str(tmp_path / "seeds")], ["ask", SEED_QUESTION]):
        result = run_rag(
            *command,
            "--index",
            str(index),
            "--quiet" if command[0] == "ingest" else "--json",
            cwd=tmp_path,
        )
        assert_clear_error(result, str(index), "not a folder")
    assert index.read_text(encoding="utf-8") == "not a folder"
