"""Spreadsheets (.xlsx by openpyxl, streamed) and .csv: one row a line, with its headers."""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.loaders.office import open_office_file
from rag.loading import (
    Extracted,
    Loader,
    LoaderOptions,
    TextOptions,
    clean_text,
    join_parts,
    open_text,
)

# The delimiter is told from the first characters of a .csv file.
CSV_SNIFF_CHARS = 65536


@dataclass(frozen=True)
class TableOptions(LoaderOptions):
    # Rows read from each sheet (or .csv file); the rest are left out, with a notice.
    # A sheet is streamed row by row, so memory stays bounded however large the file.
    max_rows_per_sheet: int = 100_000

    def __post_init__(self) -> None:
        if self.max_rows_per_sheet < 1:
            raise ValueError(
                f"max_rows_per_sheet must be at least 1, got {self.max_rows_per_sheet}"
            )


@dataclass(frozen=True)
class CsvOptions(TableOptions, TextOptions):
    """A text table's options: the row limit, and the text encoding."""

    def __post_init__(self) -> None:
        TableOptions.__post_init__(self)
        TextOptions.__post_init__(self)


def rows_as_text(rows: Iterable[Sequence[Any]], max_rows: int) -> tuple[str, bool]:
    """Rows as lines "Header: value; Header: value", the first non-empty row the headers.

    Returns the text and whether rows were left out after `max_rows`. A row is read only
    when it is needed, so a sheet of any size takes the memory of `max_rows` rows.
    """
    headers: list[str] | None = None
    lines: list[str] = []
    for row in rows:
        values = [_cell_text(value) for value in row]
        if not any(values):
            continue
        if headers is None:
            headers = [value or f"column {n}" for n, value in enumerate(values, start=1)]
            continue
        if len(lines) == max_rows:
            return "\n".join(lines), True
        named = (
            f"{headers[n] if n < len(headers) else f'column {n + 1}'}: {value}"
            for n, value in enumerate(values)
            if value
        )
        lines.append(_as_sentence("; ".join(named)))
    if headers is not None and not lines:
        # A table of one row: its cells are the content.
        lines.append(_as_sentence("; ".join(header for header in headers if header)))
    return "\n".join(lines), False


def _as_sentence(line: str) -> str:
    # A row is a sentence of its own: not run into the next row, nor taken for a heading.
    return line if line.endswith((".", "!", "?")) else line + "."


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime) and value.time() == datetime.time(0):
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return " ".join(str(value).split())


class XlsxLoader(Loader):
    name = "xlsx"
    suffixes = (".xlsx", ".xlsm")
    description = (
        "Excel workbooks, streamed: one row a line with its headers; citations name the sheet"
    )
    Options = TableOptions

    def extract(self, path: Path) -> Extracted:
        from rag.loaders.xlsx_strings import open_workbook

        assert isinstance(self.options, TableOptions)
        # Read-only mode streams rows from the zip instead of building every cell; the
        # shared strings are packed (rag/loaders/xlsx_strings.py).
        workbook = open_office_file(path, "Excel", open_workbook)
        sheets: list[tuple[str, str]] = []
        notices: list[str] = []
        try:
            for sheet in workbook.worksheets:
                text, cut = rows_as_text(
                    sheet.iter_rows(values_only=True), self.options.max_rows_per_sheet
                )
                if cut:
                    notices.append(_cut_notice(f"sheet {sheet.title!r}", self.options))
                if text:
                    sheets.append((f"sheet {sheet.title}", clean_text(text)))
            title = (workbook.properties.title or "").strip()
        finally:
            workbook.close()  # read-only mode keeps the file open until closed
        text, starts, names = join_parts(sheets)
        return Extracted(text, title, starts, names, tuple(notices))


class CsvLoader(Loader):
    name = "csv"
    suffixes = (".csv", ".tsv")
    description = "comma- (or tab-, semicolon-) separated tables: one row a line with its headers"
    Options = CsvOptions

    def extract(self, path: Path) -> Extracted:
        assert isinstance(self.options, CsvOptions)
        # Streamed like a sheet: a 100 MB file is never held whole (bench/spreadsheet.py).
        with open_text(path, self.options.encoding) as text:
            head = text.read(CSV_SNIFF_CHARS)
            text.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(head, delimiters=",;\t|")
            except csv.Error:  # one column, or too irregular to tell: commas
                dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
            rows, cut = rows_as_text(csv.reader(text, dialect), self.options.max_rows_per_sheet)
        notices = (_cut_notice("the file", self.options),) if cut else ()
        return Extracted(clean_text(rows), notices=notices)


def _cut_notice(what: str, options: TableOptions) -> str:
    return (
        f"only the first {options.max_rows_per_sheet:,} rows of {what} were indexed "
        "(loader option max_rows_per_sheet)"
    )
