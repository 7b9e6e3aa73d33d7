"""Shared fixtures: one real model and one real index over seeds/, built once per session."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from seed_facts import SEEDS


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory):
    """Settings pointing at a fresh index folder (not yet built)."""
    from rag.config import Settings

    folder = tmp_path_factory.mktemp("seed-index")
    return Settings(index_dir=folder / "index", seeds_dir=SEEDS)


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings):
    """A Pipeline whose index over seeds/ is built once; tests must not change it."""
    from rag.pipeline import Pipeline

    pipeline = Pipeline(seed_settings)
    pipeline.ensure_index()
    return pipeline


@pytest.fixture
def scratch_pipeline(seed_pipeline, tmp_path):
    """A Pipeline on a private copy of the seed index that a test may change freely.

    Shares the loaded model with `seed_pipeline`, so it costs no model load.
    """
    from rag.pipeline import Pipeline

    folder = tmp_path / "index"
    shutil.copytree(seed_pipeline.settings.index_dir, folder)
    return Pipeline(
        seed_pipeline.settings.replace(index_dir=folder), embedder=seed_pipeline.embedder
    )
