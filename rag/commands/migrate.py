"""`rag migrate`: move the index's vectors to another vector store."""

from __future__ import annotations

import argparse

HELP = (
    "Move the index's vectors to another vector store (--vector-store milvus or faiss): "
    "no file is read, nothing is embedded again."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vector-store",
        required=True,
        metavar="NAME",
        help="where the vectors go: faiss (the index folder) or milvus (milvus_uri)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for an ingest in progress to finish (default: fail at once)",
    )


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.pipeline import Pipeline

    settings = settings_from(args, vector_store=args.vector_store)
    report = Pipeline(settings).move_vectors(lock_timeout=args.wait)
    entry = Pipeline(settings).store.read_manifest()["vector_store"]
    where = entry.get("uri", settings.index_dir)
    extra = f", collection {entry['collection']}" if "collection" in entry else ""
    print(
        f"{report.n_chunks} chunk vectors of {report.n_documents} documents now in "
        f"{entry['kind']} ({where}{extra})."
    )
    if settings.vector_store != "faiss":
        print(
            f'Set vector_store = "{settings.vector_store}" in rag.toml (or RAG_VECTOR_STORE) '
            "so that every command uses it."
        )
    return 0
