"""`python -m bench [NAME ...]`: run benchmarks, print tables, save bench/results/*.json.

With no names, all run at their default sizes. On this project's 2-core
machine that took 53 minutes while the machine was shared (load average
9-12); most of it is embedding (ingest, embedding) and building the 100k-chunk
indexes (scale). `scale --sizes 10000,100000,1000000` adds the 1M-chunk corpus,
where the IVF build alone took 14 minutes and HNSW's 26.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

NAMES = ("ingest", "embedding", "query", "coldstart", "scale", "update", "serve", "spreadsheet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(NAMES))
    parser.add_argument(
        "--paragraphs", type=int, default=None, help="ingest: SQuAD paragraphs (300)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="query: passes over the questions")
    parser.add_argument(
        "--sizes",
        default=None,
        help="scale, update: comma-separated chunk counts (10000,100000)",
    )
    parser.add_argument(
        "--data", choices=("clustered", "uniform"), default="clustered", help="scale: vectors"
    )
    parser.add_argument(
        "--store-size",
        type=int,
        default=None,
        help="scale: chunks in the on-disk index (100000; 0 leaves it out)",
    )
    parser.add_argument(
        "--indexes", default="", help="scale: only these vector index kinds (flat,hnsw,ivf)"
    )
    parser.add_argument("--no-bm25", action="store_true", help="scale: leave BM25 out")
    parser.add_argument(
        "--store",
        choices=("faiss", "milvus"),
        default="faiss",
        help="scale: milvus adds Milvus Lite (insert rate, search p50, recall@10) beside FAISS",
    )
    parser.add_argument(
        "--add-one",
        action="store_true",
        help="scale: also time adding one document to the on-disk index (bench update: more)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the tables but leave bench/results alone"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(NAMES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    write = not args.no_write
    started = time.perf_counter()
    for name in args.names or NAMES:
        if name == "ingest":
            from bench import ingest

            ingest.run(paragraphs=args.paragraphs or ingest.DEFAULT_PARAGRAPHS, write=write)
        elif name == "embedding":
            from bench import embedding

            embedding.run(write=write)
        elif name == "query":
            from bench import query

            query.run(rounds=args.rounds, write=write)
        elif name == "coldstart":
            from bench import coldstart

            coldstart.run(write=write)
        elif name == "serve":
            from bench import serve

            serve.run(write=write)
        elif name == "update":
            from bench import update

            update.run(
                sizes=tuple(int(s) for s in args.sizes.split(","))
                if args.sizes
                else update.DEFAULT_SIZES,
                write=write,
            )
        elif name == "spreadsheet":
            from bench import spreadsheet

            spreadsheet.run(write=write)
        elif name == "scale":
            from bench import scale

            sizes = (
                tuple(int(s) for s in args.sizes.split(",")) if args.sizes else scale.DEFAULT_SIZES
            )
            scale.run(
                sizes=sizes,
                data=args.data,
                store_size=scale.STORE_SIZE if args.store_size is None else args.store_size,
                bm25=not args.no_bm25,
                add_one=args.add_one,
                indexes=tuple(kind for kind in args.indexes.split(",") if kind),
                write=write,
                milvus=args.store == "milvus",
            )
    print(f"\nbenchmarks took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
