"""Spreadsheets (.xlsx by openpyxl, streamed) and .csv: one row a line, with its headers."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.loaders.office import open_office_file
from rag.loaders.rows import rows_as_text
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
