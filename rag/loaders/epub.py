"""EPUB e-books: the chapters in reading order, each named in citations like a PDF page.

An EPUB is a zip of XHTML files. META-INF/container.xml names the package document,
whose metadata holds the title and whose spine lists the chapters in reading order;
each chapter is read by the same HTML path as an .html file (rag/loaders/text.py).
This is the whole of what we need from an EPUB, so no library is taken for it: the
maintained one, EbookLib, is AGPL-3.0, which would bind the whole product.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

from rag.loading import Extracted, Loader, LoadError, join_parts

CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
# Fonts may be obfuscated by these (the IDPF's and Adobe's); text under any other is DRM.
FONT_OBFUSCATION = ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")
CHAPTER_TYPES = ("application/xhtml+xml", "text/html")
# A chapter's XHTML larger than this (uncompressed) is not a book's chapter: a zip bomb.
MAX_CHAPTER_BYTES = 64 << 20
# And the whole book's chapters: a long book is a few MB of XHTML; many chapters just
# under the limit above would still hold gigabytes.
MAX_BOOK_BYTES = 256 << 20
_NS = {
    "container": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "enc": "http://www.w3.org/2001/04/xmlenc#",
}


class EpubLoader(Loader):
    name = "epub"
    suffixes = (".epub",)
    description = "EPUB e-books: chapters in reading order; citations name the chapter"

    def extract(self, path: Path) -> Extracted:
        from rag.loaders.text import html_text

        if not zipfile.is_zipfile(path):
            raise LoadError(
                f"{path}: not an EPUB (an EPUB is a zip package); is the file damaged or "
                "only partly downloaded?"
            )
        with zipfile.ZipFile(path) as book:
            package = _package_path(book, path)
            opf = _xml(book, package, path)
            chapters = _spine(opf, posixpath.dirname(package), path)
            _refuse_drm(book, chapters, path)
            unpacked = sum(_size(book, member, path) for member in chapters)
            if unpacked > MAX_BOOK_BYTES:
                raise LoadError(
                    f"{path}: its chapters unpack to {unpacked:,} bytes, too large for a book; "
                    "is the file damaged?"
                )
            parts: list[tuple[str, str]] = []
            for member in chapters:
                text, _ = html_text(_read(book, member, path))
                if text.strip():
                    parts.append((f"chapter {len(parts) + 1}", text))
        title = opf.findtext("opf:metadata/dc:title", default="", namespaces=_NS)
        text, starts, names = join_parts(parts)
        return Extracted(text, title=" ".join(title.split()), part_starts=starts, part_names=names)


def _package_path(book: zipfile.ZipFile, path: Path) -> str:
    """Where the package document (.opf) is, as META-INF/container.xml says."""
    rootfile = _xml(book, CONTAINER, path).find(".//container:rootfile", _NS)
    full_path = rootfile.get("full-path") if rootfile is not None else None
    if not full_path:
        raise LoadError(f"{path}: damaged EPUB: {CONTAINER} names no package document.")
    return full_path


def _spine(opf: ElementTree.Element, folder: str, path: Path) -> list[str]:
    """The chapters' names inside the zip, in reading order."""
    # Only pages of text; a spine may also list an SVG cover or an image.
    hrefs = {
        item.get("id"): item.get("href", "")
        for item in opf.iterfind("opf:manifest/opf:item", _NS)
        if item.get("media-type") in CHAPTER_TYPES
    }
    chapters = []
    for itemref in opf.iterfind("opf:spine/opf:itemref", _NS):
        href = hrefs.get(itemref.get("idref"))
        if href:
            # Hrefs are relative to the package document, and URL-encoded ("Chapter%201.xhtml").
            chapters.append(posixpath.normpath(posixpath.join(folder, unquote(href))))
    if not chapters:
        raise LoadError(f"{path}: damaged EPUB: its package document lists no chapter of text.")
    return chapters


def _refuse_drm(book: zipfile.ZipFile, chapters: list[str], path: Path) -> None:
    if ENCRYPTION not in book.namelist():
        return
    for data in _xml(book, ENCRYPTION, path).iterfind(".//enc:EncryptedData", _NS):
        method = data.find("enc:EncryptionMethod", _NS)
        reference = data.find(".//enc:CipherReference", _NS)
        if reference is None or (
            method is not None and method.get("Algorithm") in FONT_OBFUSCATION
        ):
            continue
        if unquote(reference.get("URI", "")) in chapters:
            raise LoadError(f"{path}: the EPUB is locked by DRM; only a DRM-free copy can be read.")


def _size(book: zipfile.ZipFile, member: str, path: Path) -> int:
    try:
        return book.getinfo(member).file_size
    except KeyError:
        raise LoadError(f"{path}: damaged EPUB: {member} is listed but missing.") from None


def _read(book: zipfile.ZipFile, member: str, path: Path) -> bytes:
    size = _size(book, member, path)
    if size > MAX_CHAPTER_BYTES:
        raise LoadError(
            f"{path}: {member} unpacks to {size:,} bytes, too large for a chapter; "
            "is the file damaged?"
        )
    return book.read(member)


def _xml(book: zipfile.ZipFile, member: str, path: Path) -> ElementTree.Element:
    # The standard library's parser fetches no external entity, so a crafted file reads nothing
    # else from this machine.
    try:
        return ElementTree.fromstring(_read(book, member, path))
    except ElementTree.ParseError as error:
        raise LoadError(
            f"{path}: damaged EPUB: {member} is not well-formed XML ({error})."
        ) from None
