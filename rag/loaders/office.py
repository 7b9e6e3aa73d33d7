"""Word (.docx) and PowerPoint (.pptx), by python-docx and python-pptx."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rag.loaders.rows import rows_as_text
from rag.loading import Extracted, Loader, LoaderOptions, LoadError, clean_text, join_parts

T = TypeVar("T")
# Encrypted Office files (and the old binary .doc/.xls/.ppt) are OLE compound files, not zips.
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def open_office_file(path: Path, application: str, opener: Callable[[str], T]) -> T:
    """`opener(path)` for an Office Open XML package, or a LoadError saying what to do."""
    check_office_package(path, application)
    try:
        return opener(str(path))
    # A zip of something else: the libraries raise KeyError (no such part) or their own
    # ValueError subclasses (PackageNotFoundError, InvalidFileException).
    except (KeyError, ValueError) as error:
        raise LoadError(
            f"{path}: a zip package, but not a {application} file inside ({error}); "
            f"open it in {application} and save it again as {path.suffix.lower()}."
        ) from None


def check_office_package(path: Path, kind: str) -> None:
    """Raise a LoadError saying what to do when `path` is not an Office Open XML package."""
    with open(path, "rb") as file:
        head = file.read(len(OLE_SIGNATURE))
    if head == OLE_SIGNATURE:
        raise LoadError(
            f"{path}: the file is protected by a password, or is an old binary {kind} file "
            f"under a new name; remove the password (or save it as {path.suffix.lower()}) "
            "and ingest it again."
        )
    if not zipfile.is_zipfile(path):
        raise LoadError(
            f"{path}: not a {path.suffix.lower()} file (an Office file is a zip package); "
            "open it in its application and save it again."
        )


def table_rows(rows: Iterator[list[str]]) -> str:
    """A table as text as a spreadsheet's is (`rows_as_text`: "Header: value; ..." a row,
    so a row answers on its own: "Room: Aurora; Capacity: 12 people."), merged cells once."""
    return rows_as_text((_merged_once(cells) for cells in rows), max_rows=sys.maxsize)[0]


def _merged_once(cells: list[str]) -> list[str]:
    # A merged cell comes back once per grid column it spans: kept in its first column,
    # blank in the others, so the columns still line up with their headers.
    return [
        "" if n and cell == cells[n - 1] else " ".join(cell.split()) for n, cell in enumerate(cells)
    ]


class DocxLoader(Loader):
    name = "docx"
    suffixes = (".docx",)
    description = "Word documents: paragraphs, headings and tables (python-docx)"

    def extract(self, path: Path) -> Extracted:
        import docx
        from docx.table import Table

        document = open_office_file(path, "Word", docx.Document)
        blocks: list[str] = []
        heading = ""
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                text = table_rows([cell.text for cell in row.cells] for row in block.rows)
            else:
                text = block.text.strip()
                style = (block.style.name if block.style is not None else "") or ""
                if text and not heading and style.startswith(("Title", "Heading")):
                    heading = text
            if text:
                blocks.append(text)
        title = (document.core_properties.title or "").strip() or heading
        return Extracted(clean_text("\n\n".join(blocks)), title=title)


@dataclass(frozen=True)
class PptxOptions(LoaderOptions):
    # Index each slide's speaker notes (after its text, as "Notes: ..."); false leaves them
    # out, for decks whose notes hold what the audience was never meant to read.
    notes: bool = True


class PptxLoader(Loader):
    name = "pptx"
    suffixes = (".pptx",)
    description = "PowerPoint: each slide's text, tables and notes; citations name the slide"
    Options = PptxOptions
    options: PptxOptions

    def extract(self, path: Path) -> Extracted:
        import pptx

        presentation = open_office_file(path, "PowerPoint", pptx.Presentation)
        slides: list[tuple[str, str]] = []
        first_slide_title = ""
        for number, slide in enumerate(presentation.slides, start=1):
            blocks = [text for shape in slide.shapes for text in _shape_texts(shape) if text]
            if (
                self.options.notes
                and slide.has_notes_slide
                and slide.notes_slide.notes_text_frame is not None
            ):
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    blocks.append(f"Notes: {notes}")
            title_shape = slide.shapes.title
            if not first_slide_title and title_shape is not None and title_shape.has_text_frame:
                first_slide_title = " ".join(title_shape.text_frame.text.split())
            slides.append((f"slide {number}", clean_text("\n\n".join(blocks))))
        text, starts, names = join_parts(slides)
        title = (presentation.core_properties.title or "").strip() or first_slide_title
        return Extracted(text, title=title, part_starts=starts, part_names=names)


def _shape_texts(shape) -> Iterator[str]:
    """The text of a slide's shape, of each shape of a group, and of a table's rows."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for inner in shape.shapes:
            yield from _shape_texts(inner)
    elif getattr(shape, "has_table", False) and shape.has_table:
        yield table_rows([cell.text for cell in row.cells] for row in shape.table.rows)
    elif shape.has_text_frame:
        yield "\n".join(p.text.strip() for p in shape.text_frame.paragraphs if p.text.strip())
