"""A workbook's shared strings held packed, so that a large .xlsx is read in bounded memory.

Excel writes every text of a workbook once, into xl/sharedStrings.xml, and the cells point
into that table by number. openpyxl, even in read-only mode, keeps the table as a list of
Python strings, and its parser keeps an emptied element per string: a 50 MB workbook of
2.85 million distinct texts took 627 MB (bench/results/spreadsheet.json). Here the same
texts, read by openpyxl's own `Text` parser, are packed a few thousand to one string with
an array of offsets, so the table costs about the size of its text. The rest of the
reading is openpyxl's (`ExcelReader`, the reader `load_workbook` uses).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, overload

# Texts packed into one string; each pack has an array of their offsets.
TEXTS_PER_PACK = 4096


class PackedStrings(Sequence[str]):
    """A read-only list of strings stored as a few large strings and their offsets."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._packs: list[str] = []
        self._offsets: list[array] = []
        self._length = 0
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == TEXTS_PER_PACK:
                self._pack(batch)
                batch = []
        if batch:
            self._pack(batch)

    def _pack(self, batch: list[str]) -> None:
        offsets = array("I", [0])
        for text in batch:
            offsets.append(offsets[-1] + len(text))
        self._packs.append("".join(batch))
        self._offsets.append(offsets)
        self._length += len(batch)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[n] for n in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(f"shared string {index} is not in the table of {self._length}")
        pack, at = divmod(index, TEXTS_PER_PACK)
        offsets = self._offsets[pack]
        return self._packs[pack][offsets[at] : offsets[at + 1]]


def open_workbook(path: str) -> Any:
    """openpyxl's read-only workbook of cell values, its shared strings packed."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class PackedStringsReader(ExcelReader):
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings = PackedStrings(_shared_texts(source))

    reader = PackedStringsReader(path, read_only=True, data_only=True)
    reader.read()
    return reader.wb


def _shared_texts(source: IO[bytes]) -> Iterator[str]:
    """The texts of a shared-strings table in order, as openpyxl's read_string_table reads
    them, without keeping each parsed element."""
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    string_tag = f"{{{SHEET_MAIN_NS}}}si"
    root = None
    for event, node in iterparse(source, events=("start", "end")):
        if root is None:
            root = node
        if event == "end" and node.tag == string_tag:
            yield Text.from_tree(node).content.replace("x005F_", "")
            root.clear()  # the table's element would otherwise keep every string's
