"""The ONNX Runtime path: the same vectors as torch, a cache that heals, no torch to ask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from seed_facts import REPO, SEEDS, rag_command

from rag.config import Settings
from rag.embedding import Embedder, TorchEncoder, resolve_model
from rag.onnx_model import INFO_FILE, ONNX_FILE, ExportError, OnnxModel, prepare

# The bar: every sentence's ONNX vector within this cosine of torch's.
MIN_COSINE = 0.9999
SQUAD_PARAGRAPHS = 30
# scipy comes with bm25s, which only building the BM25 index needs; nor does a question
# need the ingest stage and its file loaders (a cold `rag ask` imports what it uses).
HEAVY_MODULES = (
    "torch",
    "transformers",
    "sentence_transformers",
    "bm25s",
    "scipy",
    "rag.ingest",
    "rag.loading",
)


def bundled() -> Path:
    return Path(resolve_model("default"))


@pytest.fixture(scope="session")
def torch_encoder():
    return TorchEncoder("default")


@pytest.fixture(scope="session")
def onnx_embedder(seed_pipeline):
    """The seed pipeline's embedder, which runs on ONNX by default."""
    embedder = seed_pipeline.embedder
    embedder.warm_up()
    assert embedder.runtime == "onnx"
    return embedder


def seed_and_squad_texts(embedder) -> list[str]:
    """Every sentence and chunk of the seeds and of a SQuAD dev slice, as ingest splits them."""
    from rag.chunking import Chunker, chunker_settings
    from rag.loading import find_files, load_document
    from rag.types import Document

    documents = [load_document(f.path, f.doc_id) for f in find_files([SEEDS])[0]]
    squad = REPO.parent / "shared" / "data" / "squad" / "dev-v1.1.from-explorer.json"
    if not squad.is_file():
        squad = Path("/work/shared/data/squad/dev-v1.1.from-explorer.json")
    if not squad.is_file():
        pytest.skip(f"SQuAD dev set not found at {squad}")
    paragraphs = [
        p["context"]
        for article in json.loads(squad.read_text(encoding="utf-8"))["data"]
        for p in article["paragraphs"]
    ]
    stride = len(paragraphs) // SQUAD_PARAGRAPHS
    documents += [Document(f"squad-{n}", "", text) for n, text in enumerate(paragraphs[::stride])]
    chunker = Chunker(chunker_settings(Settings()), embedder.count_tokens, embedder.max_tokens)
    texts = []
    for document in documents:
        sentences, chunks = chunker.split(document)
        texts += [document.text[s.start : s.end] for s in sentences]
        texts += [chunk.text for chunk in chunks]
    return texts


@pytest.mark.slow
def test_onnx_vectors_match_torch_on_every_seed_and_squad_sentence(onnx_embedder, torch_encoder):
    texts = seed_and_squad_texts(onnx_embedder)
    assert len(texts) > 200
    ours = onnx_embedder.embed(texts)
    theirs = torch_encoder.embed(texts, batch_size=32)
    cosines = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines[worst] >= MIN_COSINE, texts[worst]
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Word pieces are counted alike too: chunking depends on them.
    assert onnx_embedder.count_tokens(texts) == torch_encoder.count_tokens(texts)
    assert onnx_embedder.max_tokens == torch_encoder.max_length == 256


def test_a_question_is_answered_without_importing_torch(seed_pipeline):
    script = (
        "import json, sys\n"
        "from rag.cli import main\n"
        f"code = main(['ask', 'When was the Bicentennial Framework launched?', '--json', "
        f"'--index', {str(seed_pipeline.settings.index_dir)!r}])\n"
        f"heavy = [name for name in {HEAVY_MODULES!r} if name in sys.modules]\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    verdict = json.loads(completed.stderr.strip().splitlines()[-1])
    assert verdict == {"code": 0, "heavy": []}, completed.stderr
    answer = json.loads(completed.stdout)
    assert "2010" in answer["answer"]
    # Loading the model is timed apart from embedding the question.
    timings = answer["timings_ms"]
    assert {"load_model", "load_index", "embed_question", "total"} <= set(timings)
    assert timings["embed_question"] < timings["load_model"]


def test_second_question_in_a_process_reports_no_loading(seed_pipeline):
    seed_pipeline.ask("Who is Ovidio Guzmán López?")
    timings = seed_pipeline.ask("When was the Bicentennial Framework launched?").timings_ms
    assert "load_model" not in timings and "load_index" not in timings
    assert timings["embed_question"] > 0


@pytest.fixture
def private_cache(onnx_embedder, tmp_path):
    """A cache folder holding a copy of the bundled model's export (no export needed)."""
    folder, _ = prepare(bundled(), "bi-encoder", onnx_embedder.cache_dir)
    cache = tmp_path / "cache"
    shutil.copytree(folder, cache / folder.name)
    return cache, cache / folder.name


def truncate(export: Path) -> None:
    path = export / ONNX_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bytes(export: Path) -> None:
    # Same size, same structure: only the SHA-256 can tell (a weight changed on disk).
    path = export / ONNX_FILE
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(b"\x00\x01\x02\x03" * 64)


def unfinished(export: Path) -> None:
    # A crash before the info file (written last) was in place.
    (export / INFO_FILE).unlink()


@pytest.mark.slow
@pytest.mark.parametrize("damage", [truncate, flip_bytes, unfinished])
def test_a_damaged_export_is_detected_and_made_again(private_cache, damage, torch_encoder):
    cache, export = private_cache
    damage(export)
    notices: list[str] = []
    model = OnnxModel(bundled(), cache_dir=cache, notify=notices.append).load()
    assert any("damaged" in notice and str(export) in notice for notice in notices), notices
    vector = model.embed(["When was the Bicentennial Framework launched?"])
    expected = torch_encoder.embed(["When was the Bicentennial Framework launched?"], 32)
    assert float(vector[0] @ expected[0]) >= MIN_COSINE
    # Healed: the next process loads it silently.
    notices.clear()
    OnnxModel(bundled(), cache_dir=cache, notify=notices.append).load()
    assert notices == []


def test_a_model_at_another_path_shares_the_export(private_cache, tmp_path):
    """The cache is keyed by content, so a copy of the model needs no new export."""
    cache, _ = private_cache
    copy = tmp_path / "my-model"
    shutil.copytree(bundled(), copy)
    notices: list[str] = []
    embedder = Embedder(str(copy), cache_dir=cache, notify=notices.append)
    embedder.warm_up()
    assert embedder.runtime == "onnx" and notices == []
    assert embedder.label != Embedder("default").label


@pytest.mark.slow  # imports torch
def test_a_model_that_cannot_be_exported_runs_on_torch_with_one_notice(private_cache, tmp_path):
    cache, export = private_cache
    # The cache remembers a model whose export was refused (e.g. its ONNX outputs differed).
    export.with_name(export.name + ".refused").write_text("x on ONNX Runtime gives other vectors.")
    shutil.rmtree(export)
    notices: list[str] = []
    embedder = Embedder(cache_dir=cache, notify=notices.append)
    vector = embedder.embed_query("When was the Bicentennial Framework launched?")
    assert embedder.runtime == "torch"
    assert len(notices) == 1 and "torch" in notices[0] and "other vectors" in notices[0]
    assert vector.shape == (384,)


@pytest.mark.slow  # imports torch
def test_runtime_torch_setting_uses_sentence_transformers():
    embedder = Embedder.from_settings(Settings(model_runtime="torch"))
    assert embedder.runtime == "torch"
    embedder.warm_up()
    assert isinstance(embedder.encoder, TorchEncoder)


def test_a_model_folder_that_is_not_one_is_refused_clearly(tmp_path):
    with pytest.raises(ExportError, match="not a model folder"):
        OnnxModel(tmp_path, cache_dir=tmp_path / "cache").load()
    with pytest.raises(ValueError, match="kind"):
        OnnxModel(tmp_path, kind="reader")


@pytest.mark.slow
def test_a_cross_encoder_runs_on_onnx_with_the_scores_of_torch(tmp_path):
    """The reader's kind of model: CrossEncoder with one logit, saved with `save`."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path / "reader"
    CrossEncoder(str(bundled()), num_labels=1, max_length=96).save(str(folder))
    reference = CrossEncoder(str(folder))
    pairs = [
        ("When was the framework launched?", "The framework was launched in 2010."),
        ("Who leads it?", "Nobody knows. " * 80),
        ("¿Dónde?", "En México — la capital."),
    ]
    notices: list[str] = []
    model = OnnxModel(folder, "cross-encoder", tmp_path / "cache", notify=notices.append).load()
    assert model.info.activation == "sigmoid" and model.max_length == 96
    assert np.allclose(model.scores(pairs), reference.predict(pairs), atol=1e-4)
    assert model.logits(pairs).shape == (3, 1)
    assert any("one-time export" in notice for notice in notices)


def test_rag_config_shows_the_runtime_and_cache(tmp_path):
    completed = subprocess.run(
        rag_command("config"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "RAG_MODEL_RUNTIME": "torch"},
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "model_runtime" in completed.stdout and "torch" in completed.stdout
    assert "model_cache_dir" in completed.stdout


def test_a_span_covering_a_whole_text_pools_close_to_the_text_vector(onnx_embedder):
    text = "The framework was launched in 2010. It commemorates the bicentennial."
    first = (0, text.index(".") + 1)
    vectors, spans = onnx_embedder.embed_with_spans(
        [text, "no spans here"], [[first, (0, len(text))], []]
    )
    assert vectors.shape == (2, 384) and [len(s) for s in spans] == [2, 0]
    whole = onnx_embedder.embed([text])[0]
    # Pooled without the [CLS] and [SEP] tokens the whole text's own vector counts in.
    assert float(spans[0][1] @ whole) > 0.97
    assert float(spans[0][0] @ onnx_embedder.embed([text[slice(*first)]])[0]) > 0.6
    # A span no token covers (white space) is embedded alone rather than left empty.
    _, blank = onnx_embedder.embed_with_spans(["a  b"], [[(1, 3)]])
    assert abs(float(np.linalg.norm(blank[0][0])) - 1.0) < 1e-4


def test_onnx_sessions_stop_spinning_when_a_run_ends(onnx_embedder):
    # With the reader on, two sessions take turns on the same cores: threads left spinning
    # by the embedder held them while the reader ran (its time doubled, bench query).
    options = onnx_embedder.encoder._session.get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
