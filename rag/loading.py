"""Stage 1: read files from disk into `Document`s of plain text."""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError
from rag.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
# A title is a short first line; longer first lines are prose, not titles.
MAX_TITLE_CHARS = 120
# Short texts fit several legacy code pages equally well; these are the likeliest.
WESTERN_ENCODINGS = ("cp1252", "latin_1", "iso8859_15")
# Tags whose content is code or chrome, never document text.
HTML_SKIPPED_TAGS = ("script", "style", "noscript", "template", "svg", "head")


class LoadError(RagError):
    """A file that cannot be read as a document; the message names the file."""


@dataclass(frozen=True)
class FoundFile:
    path: Path
    doc_id: str


def document_id(path: Path) -> str:
    """A document's id is its file name without the extension."""
    return printable_path(path.stem)


def printable_path(name: str | Path) -> str:
    """`name` as valid text: bytes of a file name that are not UTF-8 become U+FFFD.

    Python keeps such bytes as lone surrogates, which cannot be written to the
    index's UTF-8 files or shown in a page.
    """
    return os.fsencode(name).decode("utf-8", errors="replace")


def find_files(paths: Iterable[Path]) -> tuple[list[FoundFile], list[str]]:
    """Expand files and folders into the supported files under them, sorted.

    Returns the files and a list of problems (missing paths, unsupported files
    named directly) that the caller reports without stopping.
    """
    found: list[FoundFile] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if candidate.is_file() and candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                    if not any(part.startswith(".") for part in candidate.relative_to(path).parts):
                        found.append(FoundFile(candidate, document_id(candidate)))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(FoundFile(path, document_id(path)))
            else:
                problems.append(
                    f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                    f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
                )
        else:
            problems.append(f"{path}: no such file or folder")
    return found, problems


def load_document(path: Path, doc_id: str | None = None) -> Document:
    """Read one file into a Document, or raise LoadError saying why it cannot be."""
    doc_id = doc_id or document_id(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise LoadError(f"{path}: cannot read the file ({error.strerror or error}).") from None
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text, title, page_starts = _pdf_text(raw, path)
    elif suffix in (".html", ".htm"):
        text, title = _html_text(decode_text(raw, path))
        page_starts = ()
    else:
        text = decode_text(raw, path)
        title = _markdown_title(text) if suffix in (".md", ".markdown") else _plain_title(text)
        page_starts = ()
    if not text.strip():
        raise LoadError(f"{path}: the file holds no text to index.")
    return Document(
        doc_id=doc_id,
        title=title or doc_id,
        text=text,
        source=printable_path(path),
        page_starts=page_starts,
    )


def decode_text(raw: bytes, path: Path) -> str:
    """Decode bytes as text: UTF-8, or UTF-16/32 by their byte-order mark, else detected.

    Binary files (images renamed .txt and the like) are refused rather than
    indexed as mojibake.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return _clean_text(raw.decode(encoding))
            except UnicodeDecodeError:
                raise LoadError(
                    f"{path}: starts with a {encoding} mark but is not valid {encoding}."
                ) from None
    if b"\x00" in raw[:8192]:
        raise LoadError(f"{path}: looks like a binary file, not text.")
    try:
        return _clean_text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(raw[:1_000_000]))
    if not matches:
        raise LoadError(f"{path}: not UTF-8 and no other text encoding fits; is it binary?")
    # Short texts fit several code pages equally well; Western European is the likeliest.
    western = [m for m in matches if m.encoding in WESTERN_ENCODINGS]
    encoding = (western or matches)[0].encoding
    return _clean_text(raw.decode(encoding, errors="replace"))


def _clean_text(text: str) -> str:
    # Windows line ends and stray control characters would otherwise end up in quotes.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)


def _plain_title(text: str) -> str:
    first_line, _, rest = text.strip().partition("\n")
    # A short line followed by a blank line reads as a heading.
    if (
        0 < len(first_line) <= MAX_TITLE_CHARS
        and rest.startswith("\n")
        and not first_line.endswith(".")
    ):
        return first_line.strip()
    return ""


def _markdown_title(text: str) -> str:
    match = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else _plain_title(text)


def _html_text(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(HTML_SKIPPED_TAGS):
        tag.decompose()
    if not title:
        heading = soup.find(["h1", "h2"])
        title = heading.get_text(" ", strip=True) if heading else ""
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in soup.get_text("\n").split("\n")]
    paragraphs = "\n\n".join(line for line in lines if line)
    return _clean_text(paragraphs), title[:MAX_TITLE_CHARS]


def _pdf_text(raw: bytes, path: Path) -> tuple[str, str, tuple[int, ...]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise LoadError(f"{path}: not a readable PDF ({error}).") from None
    if not any(page.strip() for page in pages):
        raise LoadError(
            f"{path}: the PDF has no text layer (a scan?); run OCR on it first, e.g. ocrmypdf."
        )
    page_starts: list[int] = []
    parts: list[str] = []
    offset = 0
    for page in pages:
        page = _clean_text(page).strip()
        page_starts.append(offset)
        parts.append(page)
        offset += len(page) + 2  # the "\n\n" that joins pages
    text = "\n\n".join(parts)
    title = str(metadata_title).strip()[:MAX_TITLE_CHARS] or _plain_title(text)
    return text, title, tuple(page_starts)
