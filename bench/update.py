"""Update: what adding, changing and removing one document costs on a big index.

An index of `size` synthetic chunks (`scale.synthetic_index`: real SQuAD sentences,
synthetic vectors, 10 chunks a document) is built once; then, in a new process with
the model already loaded, one 5-page document is added, changed and removed through
`Pipeline.ingest_documents` and `Pipeline.remove`, as `rag ingest` and `rag remove` do.

For each step: seconds (and the embedding's share of them, which does not depend on
the index), and the bytes the process wrote (`/proc/self/io`: `wchar` is what it handed
to write(); `write_bytes` what reached the block device). Retrieval is timed (p50 of
20, question vector given) on the index as built, once the document is added, and once
further documents, each added alone, have grown the index to `MAX_SEGMENTS` segments:
the most a query searches before the smaller ones are merged.

`python -m bench update` measures the code it runs; `python -m bench.update --label
before --out FILE` on another checkout (main) gives the figures to compare, and
`--merge FILE` puts them beside this run's in `bench/results/update.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Timer, folder_mb, print_table, run_worker, write_result

DEFAULT_SIZES = (10_000, 100_000)
# A page of a report is about 3,000 characters: the "5-page document".
PAGE_CHARACTERS = 3_000
PAGES = 5
DOC_ID = "bench-update-document"
QUERY_RUNS = 20
QUESTION = "What did the committee decide about the new building?"
COLUMNS = (
    "label",
    "size",
    "step",
    "seconds",
    "embed_s",
    "index_s",
    "written_mb",
    "disk_written_mb",
    "index_mb",
    "segments",
    "dense_p50_ms",
    "bm25_p50_ms",
    "hybrid_p50_ms",
)


def document(version: int, doc_id: str = DOC_ID):
    """A 5-page document of real sentences; each `version` has other sentences."""
    from bench import synthetic
    from rag.types import Document

    pool = synthetic.sentences()
    sentences, length, at = [], 0, 7_919 * (version + 1)
    while length < PAGES * PAGE_CHARACTERS:
        sentence = pool[at % len(pool)]
        sentences.append(sentence)
        length += len(sentence) + 1
        at += 13
    return Document(doc_id, "Bench update", " ".join(sentences), f"bench/{doc_id}.txt")


def _written() -> dict[str, int]:
    fields = dict(
        line.split(": ") for line in Path("/proc/self/io").read_text().splitlines() if line
    )
    return {"wchar": int(fields["wchar"]), "write_bytes": int(fields["write_bytes"])}


def _step(name: str, action, folder: Path, pipeline) -> dict[str, Any]:
    before = _written()
    with Timer() as took:
        report = action()
    after = _written()
    timings = report.timings_s
    return {
        "step": name,
        "seconds": took.seconds,
        "embed_s": timings.get("embed", 0.0) + timings.get("chunk", 0.0),
        "index_s": timings.get("index", 0.0),
        "written_mb": (after["wchar"] - before["wchar"]) / 2**20,
        "disk_written_mb": (after["write_bytes"] - before["write_bytes"]) / 2**20,
        "index_mb": folder_mb(folder),
        "segments": len(pipeline.index().segments),
        "chunks": report.n_chunks,
    }


def _query_p50s(pipeline) -> dict[str, float]:
    """Retrieval p50 per mode on the live index, with a fixed question vector."""
    from bench import synthetic
    from bench.scale import retrieval_p50s
    from rag.query import Query
    from rag.retrieval import Retriever

    data = pipeline.index()
    vector = synthetic.queries(data.n_chunks, 1)[0]
    retriever = Retriever(data, lambda _question: vector)
    retriever.retrieve(Query(QUESTION, mode="hybrid", k=5))
    return retrieval_p50s(retriever, QUESTION, QUERY_RUNS)


def update_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Add, change and remove one document in the index at `folder`."""
    from rag.config import Settings
    from rag.pipeline import Pipeline

    folder = Path(arguments["folder"])
    pipeline = Pipeline(Settings(index_dir=folder))
    pipeline.embedder.warm_up()
    from rag.store import MAX_SEGMENTS

    built = {
        "step": "as built",
        "segments": len(pipeline.index().segments),
        **_query_p50s(pipeline),
    }
    added = _step("add", lambda: pipeline.ingest_documents([document(0)]), folder, pipeline)
    added.update(_query_p50s(pipeline))
    steps = [
        built,
        added,
        _step("change", lambda: pipeline.ingest_documents([document(1)]), folder, pipeline),
        _step("remove", lambda: pipeline.remove([DOC_ID]), folder, pipeline),
    ]
    # Documents added one at a time, each its own segment, up to the most a query searches.
    version = 2
    while len(pipeline.index().segments) < MAX_SEGMENTS:
        added = _step(
            f"add {version - 1}",
            lambda v=version: pipeline.ingest_documents([document(v, f"{DOC_ID}-{v}")]),
            folder,
            pipeline,
        )
        version += 1
    steps.append({**added, "step": f"{added['step']} ({added['segments']} segments)"})
    steps[-1].update(_query_p50s(pipeline))
    return {"steps": steps}


def build_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    from bench.scale import synthetic_index

    with Timer() as built:
        synthetic_index(Path(arguments["folder"]), arguments["size"])
    return {"build_s": built.seconds}


PARTS = {"build": build_worker, "update": update_worker}


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    return PARTS[arguments["part"]](arguments)


def run(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    label: str = "after",
    write: bool = True,
    out: Path | None = None,
    merge: Path | None = None,
) -> dict[str, Any]:
    """Each size: build the index, then time one document's add, change and removal."""
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if merge is not None:
        rows.extend(json.loads(merge.read_text(encoding="utf-8"))["rows"])
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rag-bench-update-") as scratch:
            folder = str(Path(scratch) / "index")
            built = run_worker("update", {"part": "build", "size": size, "folder": folder})
            steps = run_worker("update", {"part": "update", "folder": folder})["steps"]
        for step in steps:
            rows.append({"label": label, "size": size, "build_s": built["build_s"], **step})
        print_table("One document, added, changed, removed", rows, COLUMNS)
    figures = {
        "document_characters": len(document(0).text),
        "rows": rows,
        "seconds": time.perf_counter() - started,
    }
    if out is not None:
        out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    elif write:
        write_result("update", figures)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.update", description=__doc__)
    parser.add_argument("--sizes", default=None, help="comma-separated chunk counts")
    parser.add_argument("--label", default="after", help="the name of this code in the table")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here only")
    parser.add_argument("--merge", type=Path, default=None, help="rows of an earlier --out run")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else DEFAULT_SIZES
    run(sizes, args.label, out=args.out, merge=args.merge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
