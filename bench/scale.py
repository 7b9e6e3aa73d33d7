"""Scale: vector indexes, BM25 and a whole index on disk at 10k, 100k and 1M chunks.

- vectors: build time, size on disk, memory, single-question search latency
  p50/p95 and recall@10 against exact search, for flat, HNSW (several efSearch
  values) and IVF (several nprobe values), on synthetic vectors (see synthetic.py).
- bm25: real English text (SQuAD sentences, reshuffled beyond the corpus):
  analysis and build time, size, load time, memory and search latency.
- store: a whole synthetic index (documents, chunks, sentences, vectors, BM25)
  committed through `IndexStore`, then `Pipeline.index()` loaded in a new
  process and one retrieval run, as `rag ask` would.

Each part runs in its own process so its memory figures are its own.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    Timer,
    folder_mb,
    percentiles,
    print_table,
    rss_mb,
    run_worker,
    write_result,
)

DEFAULT_SIZES = (10_000, 100_000)
QUERIES = 200
K = 10
EF_SEARCH = (16, 32, 64, 128)
NPROBE = (8, 16, 32)
HNSW_M = 32
EF_CONSTRUCTION = 80
STORE_SIZE = 100_000


# -- vectors ----------------------------------------------------------------------------
def _latencies(index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    """One question at a time, through the product's own search."""
    from rag import vectors as rag_vectors

    samples, found = [], np.full((len(queries), k), -1, dtype=np.int64)
    for row, query in enumerate(queries):
        started = time.perf_counter()
        _, ids = rag_vectors.search(index, query, k)
        samples.append((time.perf_counter() - started) * 1000)
        found[row, : len(ids)] = ids
    return samples, found


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t) - {-1}) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def _set_ef(index, ef: int) -> None:
    index.hnsw.efSearch = ef


def _set_nprobe(index, nprobe: int) -> None:
    import faiss

    faiss.extract_index_ivf(index).nprobe = nprobe


def index_configs(size: int):
    """(label, spec, [(search label, setter)]) for each index measured at `size`."""
    from rag.vectors import VectorIndexSpec, ivf_lists

    hnsw = VectorIndexSpec("hnsw", HNSW_M, EF_CONSTRUCTION)
    ivf = VectorIndexSpec("ivf", ivf_nlist=ivf_lists(size))
    return [
        ("flat", VectorIndexSpec("flat"), [("exact", None)]),
        (
            f"hnsw M={HNSW_M} efC={EF_CONSTRUCTION}",
            hnsw,
            [(f"efSearch={ef}", lambda i, ef=ef: _set_ef(i, ef)) for ef in EF_SEARCH],
        ),
        (
            f"ivf nlist={ivf.ivf_nlist}",
            ivf,
            [(f"nprobe={p}", lambda i, p=p: _set_nprobe(i, p)) for p in NPROBE],
        ),
    ]


def vectors_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Every vector index type over `size` synthetic vectors."""
    from bench import synthetic
    from rag import vectors as rag_vectors

    size, kind = arguments["size"], arguments.get("data", "clustered")
    wanted = arguments.get("indexes")
    data = synthetic.vectors(size, kind)
    queries = synthetic.queries(size, arguments.get("queries", QUERIES), kind)
    exact = rag_vectors.build(data, rag_vectors.VectorIndexSpec("flat"))
    _, truth = exact.search(queries, K)
    del exact
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-vectors-") as scratch:
        for label, spec, searches in index_configs(size):
            if wanted and spec.kind not in wanted:
                continue
            before = rss_mb()
            with Timer() as built:
                index = rag_vectors.build(data, spec)
            memory = rss_mb() - before
            path = Path(scratch) / "vectors.faiss"
            rag_vectors.save(index, path)
            del index
            with Timer() as loaded:
                index = rag_vectors.load(path, spec)
            for search_label, apply in searches:
                if apply is not None:
                    apply(index)
                samples, found = _latencies(index, queries, K)
                rows.append(
                    {
                        "size": size,
                        "data": kind,
                        "index": label,
                        "search": search_label,
                        "build_s": built.seconds,
                        "load_s": loaded.seconds,
                        "disk_mb": path.stat().st_size / 2**20,
                        "build_rss_mb": memory,
                        **{f"{p}_ms": v for p, v in percentiles(samples).items()},
                        "recall@10": _recall(found, truth),
                    }
                )
            del index
            path.unlink()
    return {"rows": rows}


# -- BM25 -------------------------------------------------------------------------------
def milvus_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Milvus Lite over the same vectors: insert rate, then search p50 and recall@10."""
    from bench import synthetic
    from rag import vectors as rag_vectors
    from rag.vector_stores.milvus_store import MilvusOptions, MilvusVectorStore

    size, kind = arguments["size"], arguments.get("data", "clustered")
    data = synthetic.vectors(size, kind)
    queries = synthetic.queries(size, arguments.get("queries", QUERIES), kind)
    _, truth = rag_vectors.build(data, rag_vectors.VectorIndexSpec("flat")).search(queries, K)
    per_document = 10
    with tempfile.TemporaryDirectory(prefix="rag-bench-milvus-") as scratch:
        store = MilvusVectorStore(
            MilvusOptions(str(Path(scratch) / "bench.db")),
            "bench",
            model="synthetic",
            dimension=synthetic.DIMENSION,
        )
        store.begin(None)
        with Timer() as inserted:
            for first in range(0, size, per_document):
                store.add(f"doc-{first // per_document:07d}", data[first : first + per_document])
        store.after_commit()
        samples, found = [], np.full((len(queries), K), -1, dtype=np.int64)
        for row, query in enumerate(queries):
            started = time.perf_counter()
            hits = store.search(query, K)
            samples.append((time.perf_counter() - started) * 1000)
            rows = [
                int(d[4:]) * per_document + int(n)
                for d, n in zip(hits.doc_ids, hits.numbers, strict=True)
            ]
            found[row, : len(rows)] = rows
        disk = folder_mb(Path(scratch))
    return {
        "size": size,
        "data": kind,
        "index": "milvus lite FLAT",
        "search": "exact",
        "build_s": inserted.seconds,
        "inserted_per_s": size / inserted.seconds,
        "disk_mb": disk,
        **{f"{p}_ms": v for p, v in percentiles(samples).items()},
        "recall@10": _recall(found, truth),
    }


def bm25_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """BM25 over `size` chunks of real sentences: build, save, load and search."""
    from bench import synthetic
    from bench.query import load_questions
    from rag.lexical import LexicalIndex
    from rag.text import analyze, analyze_many

    size = arguments["size"]
    texts = [" ".join(sentences) for sentences in synthetic.chunk_texts(size)]
    words = sum(len(text.split()) for text in texts)
    before = rss_mb()
    with Timer() as analysed:
        tokens = analyze_many(texts)
    with Timer() as built:
        index = LexicalIndex.build(tokens)
    del tokens
    build_memory = rss_mb() - before
    questions = load_questions() + [" ".join(s.split()[:8]) for s in synthetic.sentences()[:100]]
    with tempfile.TemporaryDirectory(prefix="rag-bench-bm25-") as scratch:
        folder = Path(scratch) / "bm25"
        with Timer() as saved:
            index.save(folder)
        del index
        before = rss_mb()
        with Timer() as loaded:
            index = LexicalIndex.load(folder)
        index.top(analyze(questions[0]), 20)
        load_memory = rss_mb() - before
        samples = []
        for question in questions:
            started = time.perf_counter()
            index.top(analyze(question), 20)
            samples.append((time.perf_counter() - started) * 1000)
        disk = folder_mb(folder)
    return {
        "size": size,
        "words": words,
        "analyze_s": analysed.seconds,
        "build_s": built.seconds,
        "save_s": saved.seconds,
        "disk_mb": disk,
        "load_s": loaded.seconds,
        "build_rss_mb": build_memory,
        "loaded_rss_mb": load_memory,
        **{f"{p}_ms": v for p, v in percentiles(samples).items()},
    }


# -- a whole index on disk --------------------------------------------------------------
def synthetic_index(folder: Path, size: int, chunks_per_document: int = 10):
    """Commit an index of `size` chunks of real sentences with synthetic vectors."""
    from bench import synthetic
    from rag import vectors as rag_vectors
    from rag.chunking import ChunkerSettings, chunker_settings
    from rag.config import Settings
    from rag.embedding import model_label
    from rag.store import DocumentRows, IndexData, IndexSettings, IndexStore
    from rag.types import Document

    settings = Settings(index_dir=folder)
    rows = []
    texts = synthetic.chunk_texts(size)
    chunk_vectors = synthetic.vectors(size)
    for row in range((size + chunks_per_document - 1) // chunks_per_document):
        parts, at = [], 0
        chunk_spans, sentence_spans = [], []
        for _ in range(min(chunks_per_document, size - row * chunks_per_document)):
            sentences = next(texts)
            chunk_start = at
            for sentence in sentences:
                sentence_spans.append((at, at + len(sentence)))
                parts.append(sentence)
                at += len(sentence) + 1
            chunk_spans.append((chunk_start, at - 1))
        doc_id = f"doc-{row:07d}"
        first = row * chunks_per_document
        rows.append(
            DocumentRows(
                document=Document(doc_id, doc_id, " ".join(parts), f"synthetic/{doc_id}.txt"),
                digest=f"{row:064x}",
                chunk_spans=np.asarray(chunk_spans, dtype=np.int64),
                chunk_tokens=np.full(len(chunk_spans), 150, dtype=np.int32),
                chunk_vectors=chunk_vectors[first : first + len(chunk_spans)],
                sentence_spans=np.asarray(sentence_spans, dtype=np.int64),
                sentence_vectors=np.zeros((0, synthetic.DIMENSION), dtype=np.float32),
            )
        )
    # One draw for every sentence, as before, then each document's slice.
    sentence_vectors = synthetic.vectors(sum(len(r.sentence_spans) for r in rows), seed=2)
    at = 0
    for document_rows in rows:
        n_sentences = len(document_rows.sentence_spans)
        document_rows.sentence_vectors = sentence_vectors[at : at + n_sentences]
        at += n_sentences
    data = IndexData.from_rows(
        IndexSettings(model_label(settings.model), synthetic.DIMENSION, chunker_settings(settings)),
        rows,
        lambda n_chunks: rag_vectors.spec_for(settings, n_chunks),
    )
    assert isinstance(data.settings.chunker, ChunkerSettings)
    IndexStore(folder).commit(data)
    return data


def store_build_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    with Timer() as built:
        data = synthetic_index(Path(arguments["folder"]), arguments["size"])
    return {
        "build_s": built.seconds,
        "documents": len(data.documents),
        "sentences": len(data.sentence_doc),
        "vector_index": data.vector_spec.kind,
    }


def store_load_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Load the index as `rag ask` does and answer from it (a random question vector)."""
    from bench import synthetic
    from rag.config import Settings
    from rag.pipeline import Pipeline
    from rag.query import Query
    from rag.retrieval import Retriever

    before = rss_mb()
    pipeline = Pipeline(Settings(index_dir=Path(arguments["folder"])))
    with Timer() as loaded:
        data = pipeline.index()
    load_memory = rss_mb() - before
    query = synthetic.queries(data.n_chunks, 1)[0]
    retriever = Retriever(data, lambda _question: query)
    question = "What did the committee decide about the new building?"
    with Timer() as first:
        retriever.retrieve(Query(question, mode="hybrid", k=5))
    figures = {
        "load_s": loaded.seconds,
        "loaded_rss_mb": load_memory,
        "first_retrieve_s": first.seconds,
    }
    figures.update(retrieval_p50s(retriever, question))
    return figures


def retrieval_p50s(retriever, question: str, runs: int = 20) -> dict[str, float]:
    """p50 of `runs` retrievals per mode; the question vector is given, so no model runs."""
    from rag.query import Query

    figures = {}
    for mode in ("dense", "bm25", "hybrid"):
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            retriever.retrieve(Query(question, mode=mode, k=5))
            samples.append((time.perf_counter() - started) * 1000)
        figures[f"{mode}_p50_ms"] = percentiles(samples)["p50"]
    return figures


def store_ingest_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Add one small document to the big index: what every later ingest pays."""
    from bench.common import REPO
    from rag.config import Settings
    from rag.pipeline import Pipeline

    pipeline = Pipeline(Settings(index_dir=Path(arguments["folder"])))
    pipeline.embedder.warm_up()
    seed = sorted((REPO / "seeds").glob("*.txt"))[0]
    with Timer() as took:
        report = pipeline.ingest([seed])
    return {"add_one_s": took.seconds, **{f"add_{k}_s": v for k, v in report.timings_s.items()}}


# -- the benchmark ----------------------------------------------------------------------
VECTOR_COLUMNS = (
    "size",
    "index",
    "search",
    "build_s",
    "disk_mb",
    "build_rss_mb",
    "load_s",
    "p50_ms",
    "p95_ms",
    "recall@10",
)
BM25_COLUMNS = (
    "size",
    "words",
    "analyze_s",
    "build_s",
    "disk_mb",
    "load_s",
    "loaded_rss_mb",
    "p50_ms",
    "p95_ms",
)
STORE_COLUMNS = (
    "size",
    "documents",
    "sentences",
    "vector_index",
    "disk_mb",
    "load_s",
    "loaded_rss_mb",
    "first_retrieve_s",
    "dense_p50_ms",
    "bm25_p50_ms",
    "hybrid_p50_ms",
    "add_one_s",
)


def result_name(sizes: tuple[int, ...], data: str, milvus: bool = False) -> str:
    """`scale` for the default run; other runs get their own file beside it."""
    if tuple(sizes) == DEFAULT_SIZES and data == "clustered" and not milvus:
        return "scale"
    labels = [f"{s // 1_000_000}m" if s % 1_000_000 == 0 else f"{s // 1000}k" for s in sizes]
    return "-".join(
        [
            "scale",
            *labels,
            *([data] if data != "clustered" else []),
            *(["milvus"] if milvus else []),
        ]
    )


def run(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    data: str = "clustered",
    store_size: int | None = STORE_SIZE,
    bm25: bool = True,
    add_one: bool = False,
    indexes: tuple[str, ...] = (),
    write: bool = True,
    milvus: bool = False,
) -> dict[str, Any]:
    """Every part at every size; print and save the figures."""
    started = time.perf_counter()
    vector_rows: list[dict[str, Any]] = []
    bm25_rows: list[dict[str, Any]] = []
    for size in sizes:
        vector_rows.extend(
            run_worker(
                "scale", {"part": "vectors", "size": size, "data": data, "indexes": list(indexes)}
            )["rows"]
        )
        print_table(
            f"Vector search, {data} vectors, k={K}, one question at a time",
            vector_rows,
            VECTOR_COLUMNS,
        )
        if milvus:
            vector_rows.append(run_worker("scale", {"part": "milvus", "size": size, "data": data}))
            for row in vector_rows:
                row.setdefault("inserted_per_s", row["size"] / row["build_s"])
            print_table(
                f"FAISS and Milvus Lite, {data} vectors, k={K}, one question at a time",
                vector_rows,
                (*VECTOR_COLUMNS, "inserted_per_s"),
            )
        if bm25:
            bm25_rows.append(run_worker("scale", {"part": "bm25", "size": size}))
            print_table("BM25 over real text (5 sentences a chunk)", bm25_rows, BM25_COLUMNS)
    store_rows = []
    if store_size:
        with tempfile.TemporaryDirectory(prefix="rag-bench-store-") as scratch:
            folder = str(Path(scratch) / "index")
            row = {"size": store_size}
            row.update(
                run_worker("scale", {"part": "store_build", "size": store_size, "folder": folder})
            )
            row["disk_mb"] = folder_mb(Path(folder))
            row.update(run_worker("scale", {"part": "store_load", "folder": folder}))
            if add_one:
                row.update(run_worker("scale", {"part": "store_ingest", "folder": folder}))
            store_rows.append(row)
        print_table(
            "A whole index on disk: Pipeline.index() in a new process", store_rows, STORE_COLUMNS
        )
    figures = {
        "data": data,
        "k": K,
        "queries": QUERIES,
        "vectors": vector_rows,
        "bm25": bm25_rows,
        "store": store_rows,
        "seconds": time.perf_counter() - started,
    }
    if write:
        write_result(result_name(sizes, data, milvus), figures)
    return figures


PARTS = {
    "vectors": vectors_worker,
    "bm25": bm25_worker,
    "store_build": store_build_worker,
    "store_load": store_load_worker,
    "store_ingest": store_ingest_worker,
    "milvus": milvus_worker,
}


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    return PARTS[arguments["part"]](arguments)
