"""Embedding throughput: batch size, threads and runtime, on the texts ingest embeds.

Ingest embeds every chunk and every sentence, so both are measured. The
configurations are interleaved round by round, so a busy machine slows them
alike; each figure is the best round. sentence-transformers already sorts a
call's texts by length, so padding costs little at any batch size.

ONNX Runtime is measured through the product's own path (`rag/onnx_model.py`:
the export in the model cache, texts grouped by length).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.common import print_table, run_worker, squad_paragraphs, write_result

BATCH_SIZES = (16, 32, 64)
THREADS = (1, 2)
DEFAULT_PARAGRAPHS = 20
ROUNDS = 2


def _texts(paragraphs: int, embedder) -> tuple[list[str], list[str]]:
    from rag.chunking import Chunker, ChunkerSettings
    from rag.types import Document

    chunker = Chunker(ChunkerSettings(), embedder.count_tokens, embedder.max_tokens)
    chunks, sentences = [], []
    for number, (_, text) in enumerate(squad_paragraphs()[:paragraphs]):
        found_sentences, found_chunks = chunker.split(Document(str(number), "", text))
        chunks.extend(chunk.text for chunk in found_chunks)
        sentences.extend(text[s.start : s.end] for s in found_sentences)
    return chunks, sentences


def _onnx_embedder(threads: int):
    """The product's own ONNX path (rag/onnx_model.py) with `threads` intra-op threads."""
    from rag.config import default_model_cache_dir
    from rag.embedding import local_model_folder
    from rag.onnx_model import OnnxModel

    model = OnnxModel(
        local_model_folder("default"), cache_dir=default_model_cache_dir(), threads=threads
    )
    model.load()
    return lambda texts: model.embed(texts, batch_size=32)


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    import torch

    from rag.embedding import Embedder

    embedder = Embedder(runtime="torch")
    embedder.warm_up()
    chunks, sentences = _texts(arguments["paragraphs"], embedder)
    reference = embedder.embed(chunks + sentences)
    configs: dict[str, tuple[int, Any]] = {}
    for threads in THREADS:
        for batch_size in BATCH_SIZES:

            def run_torch(texts, batch_size=batch_size):
                embedder.batch_size = batch_size
                return embedder.embed(texts)

            configs[f"torch threads={threads} batch={batch_size}"] = (threads, run_torch)
    for threads in THREADS:
        configs[f"onnxruntime threads={threads} batch=32"] = (threads, _onnx_embedder(threads))
    best: dict[str, dict[str, float]] = {label: {} for label in configs}
    agreement: dict[str, float] = {}
    for _ in range(arguments.get("rounds", ROUNDS)):
        for label, (threads, embed) in configs.items():
            torch.set_num_threads(threads)
            for kind, texts in (("chunks", chunks), ("sentences", sentences)):
                started = time.perf_counter()
                vectors = embed(texts)
                rate = len(texts) / (time.perf_counter() - started)
                best[label][kind] = max(best[label].get(kind, 0.0), rate)
                start = 0 if kind == "chunks" else len(chunks)
                same = (vectors * reference[start : start + len(texts)]).sum(1).min()
                agreement[label] = min(agreement.get(label, 1.0), float(same))
    rows = [
        {
            "config": label,
            "chunks/s": rates["chunks"],
            "sentences/s": rates["sentences"],
            "min_cosine_vs_torch": agreement[label],
        }
        for label, rates in best.items()
    ]
    return {
        "chunks": len(chunks),
        "sentences": len(sentences),
        "mean_chunk_tokens": float(np.mean(embedder.count_tokens(chunks))),
        "mean_sentence_tokens": float(np.mean(embedder.count_tokens(sentences))),
        "rows": rows,
    }


def run(
    paragraphs: int = DEFAULT_PARAGRAPHS, rounds: int = ROUNDS, write: bool = True
) -> dict[str, Any]:
    """Measure each configuration in one new process; print and save the figures."""
    result = run_worker("embedding", {"paragraphs": paragraphs, "rounds": rounds})
    print_table(
        f"Embedding throughput, best of {rounds} interleaved rounds "
        f"({result['chunks']} chunks of ~{result['mean_chunk_tokens']:.0f} word pieces, "
        f"{result['sentences']} sentences of ~{result['mean_sentence_tokens']:.0f})",
        result["rows"],
        ("config", "chunks/s", "sentences/s", "min_cosine_vs_torch"),
    )
    if write:
        write_result("embedding", result)
    return result
