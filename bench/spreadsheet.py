"""Reading large spreadsheets: peak memory stays bounded however large the file is.

Each file is read by the product's loader in a fresh process, so that every peak RSS is
that read's own. The loaders stream rows (openpyxl read-only; .csv decoded as it is read)
and stop at `max_rows_per_sheet` (100,000) per sheet.

The ~100 MB files the issue names (a workbook of three sheets, Excel's limit being about a
million rows a sheet, and a .csv) take minutes to write, so they are kept in a cache
folder (`RAG_BENCH_CACHE`, default: the system's temp folder) and written only once.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, print_table, run_worker, write_result

COLUMNS = ("id", "date", "customer", "city", "amount", "note")
# (format, sheets, rows per sheet): a 3.5 MB sheet, then about 100 MB of each format.
DEFAULT_FILES = (("xlsx", 1, 100_000), ("xlsx", 3, 950_000), ("csv", 1, 1_550_000))
# Bump when the generated content changes, so a cached file of the old kind is not reused.
GENERATOR_VERSION = 1


def run(files: tuple[tuple[str, int, int], ...] = DEFAULT_FILES, write: bool = True) -> dict:
    results = []
    for kind, sheets, rows in files:
        path = cached_file(kind, sheets, rows)
        figures = run_worker("spreadsheet", {"path": str(path)})
        results.append(
            {
                "format": kind,
                "sheets": sheets,
                "rows": sheets * rows,
                "file_mb": round(path.stat().st_size / 2**20, 1),
                **figures,
            }
        )
    print_table(
        "Reading one spreadsheet (rows capped at 100,000 a sheet, streamed)",
        results,
        ("format", "rows", "file_mb", "rows_read", "seconds", "cpu_seconds", "peak_rss_mb"),
    )
    figures = {"files": results}
    if write:
        write_result("spreadsheet", figures)
    return figures


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Read one file with the product's loader (in its own process)."""
    import resource

    from rag.loading import extract

    started = time.perf_counter()
    extracted = extract(Path(arguments["path"]))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rows_read": sum(1 for line in extracted.text.split("\n") if line),
        "characters": len(extracted.text),
        "notices": list(extracted.notices),
        "seconds": round(time.perf_counter() - started, 1),
        # On a shared machine the wall clock waits for other jobs; CPU time does not.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def cached_file(kind: str, sheets: int, rows: int) -> Path:
    """The generated file of this shape, written on first use into the cache folder."""
    folder = Path(os.environ.get("RAG_BENCH_CACHE") or tempfile.gettempdir()) / "rag-bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"orders-v{GENERATOR_VERSION}-{sheets}x{rows}.{kind}"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_name(f".{path.name}.partial")
        (_write_workbook if kind == "xlsx" else _write_csv)(partial, sheets, rows)
        partial.replace(path)  # a killed run leaves no half file to be taken for whole
        print(f"wrote {path} in {time.perf_counter() - started:.0f} s")
    return path


def _orders(rows: int, first: int = 0):
    import datetime

    day = datetime.date(2024, 1, 1)
    for n in range(first, first + rows):
        yield (
            n,
            day + datetime.timedelta(days=n % 365),
            f"Customer {n % 9973}",
            ("Lisbon", "Porto", "Braga")[n % 3],
            round(n * 0.37, 2),
            f"order note {n}",
        )


def _write_workbook(path: Path, sheets: int, rows: int) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    for number in range(sheets):
        sheet = workbook.create_sheet(f"Orders {number + 1}")
        sheet.append(COLUMNS)
        for row in _orders(rows, first=number * rows):
            sheet.append(row)
    with path.open("wb") as out:
        workbook.save(out)


def _write_csv(path: Path, sheets: int, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(_orders(rows * sheets))
