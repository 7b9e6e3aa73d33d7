"""Reading large spreadsheets: peak memory stays bounded however many rows a sheet has.

A workbook of each size is written (openpyxl, write-only), then read by the product's
.xlsx loader in a fresh process each, so that every peak RSS is that read's own. The
loader streams rows (openpyxl read-only) and stops at `max_rows_per_sheet` (100,000).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, print_table, run_worker, write_result

DEFAULT_ROWS = (100_000, 500_000)
COLUMNS = ("id", "date", "customer", "city", "amount", "note")


def run(rows: tuple[int, ...] = DEFAULT_ROWS, write: bool = True) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for count in rows:
            path = Path(folder) / f"sheet-{count}.xlsx"
            _write_workbook(path, count)
            figures = run_worker("spreadsheet", {"path": str(path)})
            results.append(
                {"rows": count, "file_mb": round(path.stat().st_size / 2**20, 1), **figures}
            )
    print_table(
        "Reading one .xlsx sheet (rows capped at 100,000, streamed)",
        results,
        ("rows", "file_mb", "rows_read", "characters", "seconds", "peak_rss_mb"),
    )
    figures = {"sizes": results}
    if write:
        write_result("spreadsheet", figures)
    return figures


def worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """Read one workbook with the product's loader (in its own process)."""
    from rag.loading import extract

    started = time.perf_counter()
    extracted = extract(Path(arguments["path"]))
    return {
        "rows_read": extracted.text.count("\n") + 1,
        "characters": len(extracted.text),
        "notices": list(extracted.notices),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _write_workbook(path: Path, rows: int) -> None:
    import datetime

    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Orders")
    sheet.append(COLUMNS)
    day = datetime.date(2024, 1, 1)
    for n in range(rows):
        sheet.append(
            [
                n,
                day + datetime.timedelta(days=n % 365),
                f"Customer {n % 9973}",
                ("Lisbon", "Porto", "Braga")[n % 3],
                round(n * 0.37, 2),
                f"order note {n}",
            ]
        )
    workbook.save(path)
