"""Reading large spreadsheets: peak memory stays bounded however large the file is.

Each file is read by the product's loader in a fresh process, so that every peak RSS is
that read's own. The loaders stream rows (openpyxl read-only; .csv decoded as it is read)
and stop at `max_rows_per_sheet` (100,000) per sheet.

Workbooks come in two kinds. openpyxl's write-only mode ("inline") writes each text into
its cell; Excel ("shared") writes every text once into a shared-strings table that the
cells point into, and openpyxl's reader holds that whole table in memory, so a workbook
of mostly distinct texts costs memory by its size, whatever the row cap.

The ~100 MB files the issue names (workbooks of three sheets, Excel's limit being about a
million rows a sheet, and a .csv) take minutes to write, so they are kept in a cache
folder (`RAG_BENCH_CACHE`, default: the system's temp folder) and written only once.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, print_table, run_worker, write_result

COLUMNS = ("id", "date", "customer", "city", "amount", "note")
# (kind, sheets, rows per sheet): a 3.5 MB sheet, then about 100 MB of each kind (and the
# shared-strings workbook at half that).
DEFAULT_FILES = (
    ("xlsx-inline", 1, 100_000),
    ("xlsx-inline", 3, 950_000),
    ("xlsx-shared", 3, 950_000),
    ("xlsx-shared", 6, 950_000),
    ("csv", 1, 1_550_000),
)
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
    suffix = kind.split("-")[0]
    path = folder / f"orders-v{GENERATOR_VERSION}-{kind}-{sheets}x{rows}.{suffix}"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_name(f".{path.name}.partial")
        writer = {"xlsx-inline": _write_workbook, "xlsx-shared": _write_orders_as_excel}
        writer.get(kind, _write_csv)(partial, sheets, rows)
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


def _write_orders_as_excel(path: Path, sheets: int, rows: int) -> None:
    write_excel_workbook(
        path,
        {
            f"Orders {n + 1}": (lambda first=n * rows: [COLUMNS, *_orders(rows, first)])
            for n in range(sheets)
        },
    )


def write_excel_workbook(
    path: Path, sheets: dict[str, Callable[[], Iterable[Sequence[object]]]]
) -> None:
    """A workbook as Excel saves one: its texts in xl/sharedStrings.xml, cells by index.

    `sheets` gives each sheet's rows by a function, called twice (the texts, then the cells),
    so that no sheet is held whole.
    """
    import zipfile
    from xml.sax.saxutils import escape

    table: dict[str, int] = {}
    for rows in sheets.values():
        for row in rows():
            for value in row:
                if not isinstance(value, int | float):
                    table.setdefault(str(value), len(table))
    count = len(sheets)
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{kinds}.sheet.main+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kinds}.sharedStrings+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
                f'ContentType="{kinds}.worksheet+xml"/>'
                for n in range(1, count + 1)
            )
            + "</Types>",
        )
        book.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" Type="{relationships}/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        book.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{relationships}"><sheets>'
            + "".join(
                f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{n}" r:id="rId{n}"/>'
                for n, name in enumerate(sheets, start=1)
            )
            + "</sheets></workbook>",
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{package}">'
            + "".join(
                f'<Relationship Id="rId{n}" Type="{relationships}/worksheet" '
                f'Target="worksheets/sheet{n}.xml"/>'
                for n in range(1, count + 1)
            )
            + f'<Relationship Id="rId{count + 1}" Type="{relationships}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        with book.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(f'<sst xmlns="{main}" uniqueCount="{len(table)}">'.encode())
            for text in table:
                out.write(f'<si><t xml:space="preserve">{escape(text)}</t></si>'.encode())
            out.write(b"</sst>")
        for number, rows in enumerate(sheets.values(), start=1):
            with book.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True) as out:
                out.write(f'<worksheet xmlns="{main}"><sheetData>'.encode())
                for row in rows():
                    cells = "".join(
                        f"<c><v>{value}</v></c>"
                        if isinstance(value, int | float)
                        else f'<c t="s"><v>{table[str(value)]}</v></c>'
                        for value in row
                    )
                    out.write(f"<row>{cells}</row>".encode())
                out.write(b"</sheetData></worksheet>")
