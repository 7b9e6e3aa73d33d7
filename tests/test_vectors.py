"""Every vector index kind finds what exact search finds, and survives the trip to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag import vectors
from rag.query import Query
from rag.vectors import VectorIndexSpec


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((n, 32)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", vectors.KINDS)
def test_each_kind_finds_a_stored_vector_after_loading_from_disk(kind, tmp_path):
    data = unit_vectors(2000)
    spec = VectorIndexSpec.choose(kind, len(data), 1, 16, 40, 64, nprobe=8)
    path = tmp_path / "vectors.faiss"
    vectors.save(vectors.build(data, spec), path)
    index = vectors.load(path, VectorIndexSpec.from_json(spec.to_json()))
    scores, ids = vectors.search(index, data[123], 5)
    assert ids[0] == 123 and scores[0] == pytest.approx(1.0, abs=1e-5)
    # Unchanged documents carry their vectors over from the stored index.
    assert np.allclose(vectors.all_vectors(index)[:10], data[:10])
    assert np.allclose(index.reconstruct(7), data[7])


def test_auto_switches_to_an_approximate_index_at_the_threshold():
    assert VectorIndexSpec.choose("auto", 999, 1000, 32, 80, 64).kind == "flat"
    approximate = VectorIndexSpec.choose("auto", 1000, 1000, 32, 80, 64)
    assert approximate.kind in ("hnsw", "ivf")
    # What was built is written down, so a reader searches it the same way.
    assert json.loads(json.dumps(approximate.to_json()))["kind"] == approximate.kind


def test_an_unknown_kind_in_a_manifest_is_refused():
    with pytest.raises(ValueError, match="unknown vector index kind"):
        VectorIndexSpec.from_json({"kind": "annoy"})


@pytest.mark.slow
def test_an_ivf_index_answers_like_the_exact_one_on_the_seeds(seed_pipeline, tmp_path):
    from rag.pipeline import Pipeline

    settings = seed_pipeline.settings.replace(index_dir=tmp_path / "index", index_type="ivf")
    ivf = Pipeline(settings, embedder=seed_pipeline.embedder)
    ivf.ingest([settings.seeds_dir])
    manifest = ivf.store.read_manifest()
    assert manifest["vector_index"]["kind"] == "ivf"
    question = "When was the Bicentennial Framework launched?"
    exact = seed_pipeline.retrieve(Query(question, mode="dense"))
    approximate = ivf.retrieve(Query(question, mode="dense"))
    assert [p.citation.quote for p in approximate.passages] == [
        p.citation.quote for p in exact.passages
    ]
