"""The index on Milvus Lite: ingest, re-ingest, remove, ask, filters, moving, faults."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from seed_facts import SEEDS  # noqa: E402

from rag.errors import RagError  # noqa: E402
from rag.query import Query  # noqa: E402
from rag.types import Document  # noqa: E402

# Milvus Lite starts in seconds: out of the fast lane; `pytest -m milvus` runs them alone.
pytestmark = [pytest.mark.milvus, pytest.mark.slow]

QUESTION = "When was the Bicentennial Framework launched?"


@pytest.fixture(scope="module")
def milvus_pipeline(seed_pipeline, tmp_path_factory):
    """The seed index moved onto Milvus Lite (no file read, nothing embedded)."""
    from rag.pipeline import Pipeline

    folder = tmp_path_factory.mktemp("milvus") / "index"
    shutil.copytree(seed_pipeline.settings.index_dir, folder)
    settings = seed_pipeline.settings.replace(index_dir=folder, vector_store="milvus")
    pipeline = Pipeline(settings, embedder=seed_pipeline.embedder)
    report = pipeline.move_vectors()
    assert report.written and report.n_embedded == 0
    return pipeline


def spans(retrieval) -> list[tuple[str, int, int]]:
    return [(p.citation.doc_id, p.citation.start, p.citation.end) for p in retrieval.passages]


def live_manifest(pipeline) -> dict:
    return pipeline.store.read_manifest()


def test_moving_a_faiss_index_keeps_every_answer(seed_pipeline, milvus_pipeline):
    manifest = live_manifest(milvus_pipeline)
    assert manifest["vector_store"]["kind"] == "milvus"
    generation = milvus_pipeline.store.current_generation()
    assert not any(generation.rglob("vectors.faiss"))
    store = milvus_pipeline.index().vector_store
    assert store.count() == seed_pipeline.index().n_chunks
    assert store.describe().dimension == seed_pipeline.embedder.dimension
    for mode in ("dense", "hybrid"):
        on_faiss = seed_pipeline.retrieve(Query(QUESTION, mode=mode))
        on_milvus = milvus_pipeline.retrieve(Query(QUESTION, mode=mode))
        # Scores agree to float32 rounding (Milvus sums in another order).
        assert spans(on_milvus) == spans(on_faiss), mode
    answer = milvus_pipeline.ask(QUESTION)
    assert answer.citations
    data = milvus_pipeline.index()
    for citation in answer.citations:
        document = data.documents[data.doc_rows[citation.doc_id]]
        assert document.text[citation.start : citation.end] == citation.quote


def test_bm25_and_filters_run_inside_milvus(seed_pipeline, milvus_pipeline):
    data = milvus_pipeline.index()
    assert data.vector_store.full_text
    top = milvus_pipeline.retrieve(Query(QUESTION, mode="bm25")).passages[0].citation.doc_id
    others = frozenset(data.doc_ids) - {top}
    for mode in ("dense", "bm25", "hybrid"):
        query = Query(QUESTION, mode=mode, k=5, doc_ids=others)
        retrieval = milvus_pipeline.retrieve(query)
        assert retrieval.passages, mode
        assert {p.citation.doc_id for p in retrieval.passages} <= others
        if mode == "dense":
            # The same neighbours as FAISS's filtered search: none lost to a filter after it.
            on_faiss = seed_pipeline.retrieve(query)
            assert spans(retrieval) == spans(on_faiss)


def test_ingest_update_and_remove_on_milvus(milvus_pipeline, tmp_path):
    memo = Document("memo-ferry", "Memo", "The Quillon ferry first sailed in 1932.", "memory:memo")
    report = milvus_pipeline.ingest_documents([memo])
    assert report.added == ["memo-ferry"]
    assert "1932" in milvus_pipeline.ask("When did the Quillon ferry first sail?").text
    changed = Document(
        "memo-ferry", "Memo", "The Quillon ferry first sailed in 1947.", "memory:memo"
    )
    milvus_pipeline.ingest_documents([changed])
    store = milvus_pipeline.index().vector_store
    # The superseded version's rows are gone, not merely hidden.
    assert len(store.vectors("memo-ferry")) == 1
    assert (
        store.client.query(
            store.collection, filter='doc_id == "memo-ferry"', output_fields=["born"]
        )[0]["born"]
        == store.visible
    )
    assert "1947" in milvus_pipeline.ask("When did the Quillon ferry first sail?").text
    milvus_pipeline.remove(["memo-ferry"])
    assert len(milvus_pipeline.index().vector_store.vectors("memo-ferry")) == 0
    assert "memo-ferry" not in milvus_pipeline.index().doc_ids


def test_a_killed_ingest_leaves_nothing_visible(milvus_pipeline):
    """Rows written by an ingest that died before the flip are never seen, then cleaned."""
    import numpy as np

    data = milvus_pipeline.index()
    reader = data.vector_store
    before = reader.count()
    writer = milvus_pipeline._ingester()._open_writer(
        live_manifest(milvus_pipeline)["vector_store"]
    )
    writer.begin(frozenset({"ghost"}))
    vector = np.ones(reader.dimension, dtype=np.float32) / np.sqrt(reader.dimension)
    writer.add("ghost", vector.reshape(1, -1), ["ghost text"])
    # ... and the process dies here: CURRENT still names the old generation.
    assert reader.count() == before
    assert "ghost" not in reader.search(vector, 50).doc_ids
    milvus_pipeline.ingest_documents(
        [Document("memo-2", "Memo", "The lighthouse was painted red in 1911.", "memory:2")]
    )
    store = milvus_pipeline.index().vector_store
    leftovers = store.client.query(
        store.collection, filter='doc_id == "ghost"', output_fields=["pk"]
    )
    assert leftovers == []
    milvus_pipeline.remove(["memo-2"])


def test_a_model_mismatch_is_refused_with_the_rebuild_command(milvus_pipeline):
    from rag.vector_stores.milvus_store import MilvusVectorStore

    entry = live_manifest(milvus_pipeline)["vector_store"]
    store = milvus_pipeline.index().vector_store
    other = MilvusVectorStore(
        store.options, store.collection, model="another-model", dimension=store.dimension
    )
    with pytest.raises(RagError, match="rag ingest --rebuild --vector-store milvus") as error:
        other.check()
    assert entry["uri"] in str(error.value)


def test_a_dropped_collection_and_an_unreachable_server_are_named(milvus_pipeline, tmp_path):
    from rag.pipeline import Pipeline
    from rag.vector_stores.milvus_store import MilvusOptions, MilvusVectorStore

    copy = tmp_path / "index"
    shutil.copytree(
        milvus_pipeline.settings.index_dir, copy, ignore=shutil.ignore_patterns("milvus.db*")
    )
    manifest_path = milvus_pipeline.store.current_generation().name
    # The copy's manifest names a collection in a Milvus Lite file that holds none.
    moved = copy / manifest_path / "manifest.json"
    manifest = json.loads(moved.read_text())
    manifest["vector_store"]["uri"] = str(tmp_path / "empty.db")
    moved.write_text(json.dumps(manifest))
    pipeline = Pipeline(
        milvus_pipeline.settings.replace(index_dir=copy), embedder=milvus_pipeline.embedder
    )
    with pytest.raises(RagError, match="is gone.*rag ingest --rebuild"):
        pipeline.retrieve(QUESTION)

    unreachable = MilvusVectorStore(
        MilvusOptions("http://127.0.0.1:9"), "rag_x", model="m", dimension=4
    )
    with pytest.raises(RagError, match="http://127.0.0.1:9"):
        unreachable.count()


def test_a_token_variable_that_is_not_set_is_named(monkeypatch):
    from rag.vector_stores.milvus_store import MilvusOptions

    monkeypatch.delenv("NO_SUCH_MILVUS_TOKEN", raising=False)
    with pytest.raises(RagError, match=r"\$NO_SUCH_MILVUS_TOKEN"):
        MilvusOptions("http://127.0.0.1:19530", "NO_SUCH_MILVUS_TOKEN").token()


def copy_set_to_faiss(milvus_pipeline, tmp_path):
    """A Pipeline on a copy of the Milvus index whose settings say faiss (the default).

    The copy's Lite file is its own (recorded relative to the index folder).
    """
    from rag.pipeline import Pipeline

    copy = tmp_path / "index"
    shutil.copytree(milvus_pipeline.settings.index_dir, copy)
    return Pipeline(
        milvus_pipeline.settings.replace(index_dir=copy, vector_store="faiss"),
        embedder=milvus_pipeline.embedder,
    )


def test_moving_back_to_faiss(milvus_pipeline, tmp_path):
    back = copy_set_to_faiss(milvus_pipeline, tmp_path)
    back.move_vectors()
    assert live_manifest(back)["vector_store"] == {"kind": "faiss"}
    assert sum(s.vector_index.ntotal for s in back.index().segments) == (
        milvus_pipeline.index().n_chunks
    )


def test_an_ingest_that_moves_the_vectors_back_says_so(milvus_pipeline, tmp_path):
    # After `rag migrate --vector-store milvus`, the setting left at its default (faiss).
    default = copy_set_to_faiss(milvus_pipeline, tmp_path)
    [notice] = default.ingest([SEEDS]).notices
    assert "moved from milvus to faiss" in notice and "set vector_store" in notice


def test_a_removal_with_the_settings_left_at_faiss_moves_the_vectors_back(
    milvus_pipeline, tmp_path
):
    """It wrote a generation that said faiss and held no vectors, and deleted the one
    before: every question then failed on a "damaged" index."""
    default = copy_set_to_faiss(milvus_pipeline, tmp_path)
    removed = default.documents()[0].doc_id
    report = default.remove([removed])
    [notice] = report.notices
    assert "moved from milvus to faiss" in notice
    assert live_manifest(default)["vector_store"] == {"kind": "faiss"}
    data = default.index()
    assert sum(s.vector_index.ntotal for s in data.segments) == data.n_chunks > 0
    answer = default.ask(Query(QUESTION, mode="dense"))
    assert answer.citations and removed not in {c.doc_id for c in answer.citations}


def test_the_cli_moves_with_a_rebuild_and_with_migrate(seed_pipeline, tmp_path):
    """`rag ingest --rebuild --vector-store milvus` embeds nothing; `rag migrate` reads no file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import rag

    index = tmp_path / "index"
    shutil.copytree(seed_pipeline.settings.index_dir, index)
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(rag.__file__).parents[1]),
        "RAG_MILVUS_URI": str(tmp_path / "cli.db"),
    }

    def run(*arguments: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "rag", *arguments, "--index", str(index)],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    moved = run("ingest", str(SEEDS), "--rebuild", "--vector-store", "milvus", "--quiet")
    assert "0 added" in moved and "unchanged" in moved
    assert "embed" not in moved.split("time:")[-1]
    assert "milvus" in run("migrate", "--vector-store", "milvus")
    back = run("migrate", "--vector-store", "faiss")
    assert "faiss" in back
    answer = run("ask", QUESTION)
    assert "Bicentennial" in answer or "launched" in answer


def test_an_index_folder_on_milvus_lite_can_be_moved_and_copied(seed_pipeline, tmp_path):
    """Its Lite file is recorded relative to the folder: a moved folder opened the old path
    (gone), and a copy read the original's file, losing what the original later removed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import rag
    from rag.store import IndexStore

    # A process per step, as a user's commands are: Milvus Lite locks its file per process.
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(rag.__file__).parents[1]),
        "RAG_VECTOR_STORE": "milvus",
    }

    def run(*arguments: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "rag", *arguments],
            capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def passages_of(folder: Path, doc_id: str) -> int:
        found = run("ask", QUESTION, "--index", str(folder), "--mode", "dense", "--doc", doc_id,
                    "--json")  # fmt: skip
        return len(json.loads(found)["passages"])

    first = tmp_path / "first" / "index"
    shutil.copytree(seed_pipeline.settings.index_dir, first)
    run("migrate", "--vector-store", "milvus", "--index", str(first))
    assert IndexStore(first).read_manifest()["vector_store"]["uri"] == "milvus.db"
    doc_id = seed_pipeline.documents()[0].doc_id

    moved = tmp_path / "moved" / "index"
    moved.parent.mkdir()
    shutil.move(first, moved)
    assert passages_of(moved, doc_id) > 0
    copy = tmp_path / "copy" / "index"
    shutil.copytree(moved, copy)
    run("remove", doc_id, "--index", str(moved))
    run("ingest", str(SEEDS), "--index", str(copy), "--quiet")  # the copy writes its own file
    assert passages_of(copy, doc_id) > 0
    with pytest.raises(AssertionError, match="Not in the index"):
        passages_of(moved, doc_id)


def test_a_collection_that_lost_vectors_is_refused_not_searched_empty(milvus_pipeline, tmp_path):
    """Milvus Lite restored from an older state answered "the documents do not say" to
    everything while `rag docs` listed every document."""
    from rag.pipeline import Pipeline

    copy = tmp_path / "index"
    shutil.copytree(milvus_pipeline.settings.index_dir, copy)
    pipeline = Pipeline(
        milvus_pipeline.settings.replace(index_dir=copy), embedder=milvus_pipeline.embedder
    )
    data = pipeline.index()
    data.vector_store.delete([data.doc_ids[0]])  # behind the index's back
    again = Pipeline(
        milvus_pipeline.settings.replace(index_dir=copy), embedder=milvus_pipeline.embedder
    )
    with pytest.raises(RagError, match=r"Vector store 'milvus' holds \d+ vectors of this index's"):
        again.ask(QUESTION)


def test_a_lite_file_another_process_holds_is_named_without_a_traceback(milvus_pipeline, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import rag

    milvus_pipeline.ask(QUESTION)  # this process holds the Lite file
    done = subprocess.run(
        [sys.executable, "-m", "rag", "ask", QUESTION, "--index", str(milvus_pipeline.settings.index_dir)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(rag.__file__).parents[1])},
    )  # fmt: skip
    assert done.returncode == 1
    assert "not opened by another process" in done.stderr
    assert "Traceback" not in done.stderr
