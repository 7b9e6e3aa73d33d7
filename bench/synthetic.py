"""Synthetic corpora for the scale benchmark: vectors with structure, and real English text.

Uniform random unit vectors in 384 dimensions are the worst case for any
approximate index (every point is about equally far from every other), and
nothing like sentence embeddings, which crowd around topics. So the default
vectors are drawn around topic centres; `uniform` is there to show the worst case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from bench.common import squad_paragraphs

DIMENSION = 384
TOPICS_PER_MILLION = 20_000
# How far a vector strays from its topic centre, relative to the centre's length.
SPREAD = 0.9
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


def _normalized(matrix: np.ndarray) -> np.ndarray:
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def vectors(n: int, kind: str = "clustered", seed: int = 0, batch: int = 100_000) -> np.ndarray:
    """`n` unit float32 vectors, `clustered` around topics or `uniform` on the sphere."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    centres = _centres(n, rng) if kind == "clustered" else None
    for begin in range(0, n, batch):
        size = min(batch, n - begin)
        block = rng.standard_normal((size, DIMENSION), dtype=np.float32)
        if centres is not None:
            topics = rng.integers(0, len(centres), size)
            block = centres[topics] + block * (SPREAD / np.sqrt(DIMENSION))
        out[begin : begin + size] = _normalized(block)
    return out


def queries(n_data: int, count: int, kind: str = "clustered", seed: int = 0) -> np.ndarray:
    """Questions from the same distribution as `vectors(n_data, kind, seed)`, but new points."""
    if kind != "clustered":
        return vectors(count, kind, seed=seed + 1)
    rng = np.random.default_rng(seed)
    centres = _centres(n_data, rng)
    rng = np.random.default_rng(seed + 1)
    topics = rng.integers(0, len(centres), count)
    block = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    return _normalized(centres[topics] + block * (SPREAD / np.sqrt(DIMENSION)))


def _centres(n: int, rng: np.random.Generator) -> np.ndarray:
    count = max(10, n * TOPICS_PER_MILLION // 1_000_000)
    return _normalized(rng.standard_normal((count, DIMENSION), dtype=np.float32))


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """English sentences from SQuAD's training paragraphs (or the dev set, or the seeds)."""
    paragraphs = squad_paragraphs("train-v1.1.from-explorer.json")
    if len(paragraphs) < 1000:
        paragraphs = squad_paragraphs()
    found = []
    for _, paragraph in paragraphs:
        found.extend(s.strip() for s in _SENTENCE_END.split(paragraph) if len(s.split()) >= 4)
    return tuple(found)


def chunk_texts(n: int, per_chunk: int = 5, seed: int = 0) -> Iterator[list[str]]:
    """`n` chunks, each a list of `per_chunk` real sentences; beyond the corpus, reshuffled."""
    pool = sentences()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    at = 0
    for _ in range(n):
        if at + per_chunk > len(order):
            order, at = rng.permutation(len(pool)), 0
        yield [pool[i] for i in order[at : at + per_chunk]]
        at += per_chunk
