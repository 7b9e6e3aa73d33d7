"""Ingest: documents and chunks per second, split into load, chunk, embed and index; peak RSS.

Each corpus is ingested in a new process, so the peak memory is that ingest's
own. Model loading is timed apart (it is paid once per process, not per
document); `embed` covers chunk and sentence vectors, both of which ingest makes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    Timer,
    folder_mb,
    peak_rss_mb,
    print_table,
    run_worker,
    squad_paragraphs,
    write_result,
)

DEFAULT_PARAGRAPHS = 300
# Before and after, in one run: today's torch path, then ONNX Runtime with sentences
# embedded alone, then with sentence vectors pooled from their chunk's forward pass.
CONFIGS = {
    "torch (before)": {"model_runtime": "torch", "sentence_vectors": "separate"},
    "onnx": {"model_runtime": "onnx", "sentence_vectors": "separate"},
    "onnx, in_chunk": {"model_runtime": "onnx", "sentence_vectors": "in_chunk"},
}
COLUMNS = (
    "corpus",
    "config",
    "docs",
    "chunks",
    "sentences",
    "model_s",
    "load_s",
    "chunk_s",
    "embed_s",
    "index_s",
    "total_s",
    "docs/s",
    "chunks/s",
    "texts/s",
    "reingest_s",
    "index_mb",
    "peak_rss_mb",
)


def write_corpus(folder: Path, paragraphs: int) -> None:
    """The first `paragraphs` SQuAD dev paragraphs, one .txt file each."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, (title, text) in enumerate(squad_paragraphs()[:paragraphs]):
        (folder / f"{number:05d}.txt").write_text(f"{title.replace('_', ' ')}\n\n{text}\n")


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Ingest one corpus into a fresh index and report its figures."""
    from rag.config import Settings
    from rag.pipeline import Pipeline

    overrides = arguments.get("settings", {})
    with tempfile.TemporaryDirectory(prefix="rag-bench-ingest-") as scratch:
        scratch_path = Path(scratch)
        if arguments["corpus"] == "seeds":
            source = REPO / "seeds"
        else:
            source = scratch_path / "corpus"
            write_corpus(source, arguments["paragraphs"])
        settings = Settings(index_dir=scratch_path / "index", seeds_dir=source).replace(**overrides)
        pipeline = Pipeline(settings)
        with Timer() as model:
            pipeline.embedder.warm_up()
        with Timer() as total:
            report = pipeline.ingest([source])
        with Timer() as again:
            pipeline.ingest([source])
        data = pipeline.index()
        n_sentences = len(data.sentence_doc)
        index_mb = folder_mb(settings.index_dir)
    timings = report.timings_s
    seconds = total.seconds
    return {
        "corpus": arguments["label"],
        "config": arguments.get("config", ""),
        "docs": report.n_documents,
        "chunks": report.n_chunks,
        "sentences": n_sentences,
        "model_s": model.seconds,
        **{f"{stage}_s": timings.get(stage, 0.0) for stage in ("load", "chunk", "embed", "index")},
        "total_s": seconds,
        "docs/s": report.n_documents / seconds,
        "chunks/s": report.n_chunks / seconds,
        # Vectors made per second of embedding: every chunk's and every sentence's.
        "texts/s": (report.n_chunks + n_sentences) / max(timings.get("embed", 0.0), 1e-9),
        "reingest_s": again.seconds,
        "index_mb": index_mb,
        "peak_rss_mb": peak_rss_mb(),
        "settings": overrides,
    }


def run(paragraphs: int = DEFAULT_PARAGRAPHS, write: bool = True) -> dict[str, Any]:
    """Ingest the seeds and `paragraphs` SQuAD paragraphs; print and save the figures."""
    started = time.perf_counter()
    corpora = (
        {"corpus": "seeds", "label": "seeds"},
        {"corpus": "squad", "label": f"squad-{paragraphs}", "paragraphs": paragraphs},
    )
    rows = [
        run_worker("ingest", {**corpus, "config": config, "settings": settings})
        for corpus in corpora
        for config, settings in CONFIGS.items()
    ]
    print_table("Ingest (new process per corpus and config; model load timed apart)", rows, COLUMNS)
    speedups = {}
    for corpus in corpora:
        rates = {row["config"]: row["texts/s"] for row in rows if row["corpus"] == corpus["label"]}
        before = rates.pop("torch (before)")
        speedups[corpus["label"]] = {
            config: round(rate / before, 2) for config, rate in rates.items()
        }
    print(f"texts/s over torch's: {speedups}")
    figures = {"rows": rows, "speedup_vs_torch": speedups, "seconds": time.perf_counter() - started}
    if write:
        write_result("ingest", figures)
    return figures
