"""Embedding throughput: batch size, threads and runtime, on the texts ingest embeds.

Ingest embeds every chunk and every sentence, so both are measured. The
configurations are interleaved round by round, so a busy machine slows them
alike; each figure is the best round. sentence-transformers already sorts a
call's texts by length, so padding costs little at any batch size.

ONNX Runtime is measured when `onnxruntime` and `onnx` are installed (they are
not dependencies): the bundled model is exported once with torch's exporter
into a temporary folder, since sentence-transformers' own ONNX export needs
`optimum`, which does not work with the pinned transformers.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
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


def _onnx_embedder(embedder, folder: Path, threads: int):
    """Embed with ONNX Runtime: the same model, mean pooling and normalisation."""
    import onnxruntime
    import torch

    model = embedder._model
    transformer = model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = model.tokenizer(
        ["an example", "another example text"], return_tensors="pt", padding=True
    )
    path = folder / "model.onnx"
    if not path.exists():
        torch.onnx.export(
            LastHiddenState(transformer),
            tuple(example[name] for name in names),
            str(path),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "hidden"]},
            opset_version=17,
            dynamo=False,
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(texts: list[str], batch_size: int = 32) -> np.ndarray:
        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
        for begin in range(0, len(texts), batch_size):
            rows = order[begin : begin + batch_size]
            encoded = model.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=embedder.max_tokens,
                return_tensors="np",
            )
            hidden = session.run(None, {n: encoded[n].astype(np.int64) for n in names})[0]
            mask = encoded["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return embed


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    import torch

    from rag.embedding import Embedder

    embedder = Embedder()
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
    scratch = tempfile.TemporaryDirectory(prefix="rag-bench-onnx-")
    onnx_note = "onnxruntime or onnx not installed"
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        for threads in THREADS:
            configs[f"onnxruntime threads={threads} batch=32"] = (
                threads,
                _onnx_embedder(embedder, Path(scratch.name), threads),
            )
        onnx_note = "measured"
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
    scratch.cleanup()
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
        "onnx": onnx_note,
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
        f"{result['sentences']} sentences of ~{result['mean_sentence_tokens']:.0f}); ONNX: {result['onnx']}",
        result["rows"],
        ("config", "chunks/s", "sentences/s", "min_cosine_vs_torch"),
    )
    if write:
        write_result("embedding", result)
    return result
