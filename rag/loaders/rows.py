"""Table rows as text: one row a sentence that names its columns, for every loader of tables.

"Header: value; Header: value." a row, so that a row answers a question on its own (a
row "Aurora | 12 people" never says what 12 is). Spreadsheets, CSV files and the tables
of Word and PowerPoint files are read alike.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any


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
        lines.append(as_sentence("; ".join(named)))
    if headers is not None and not lines:
        # A table of one row: its cells are the content.
        lines.append(as_sentence("; ".join(header for header in headers if header)))
    return "\n".join(lines), False


def as_sentence(line: str) -> str:
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
