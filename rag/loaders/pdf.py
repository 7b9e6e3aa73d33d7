"""PDF, by its text layer (pypdf); pages without one (scans) read by Tesseract OCR.

Each page keeps its number for citations; a page read by OCR is named "page N (OCR)",
so that a citation says its quote came from recognised text, not the file's own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rag.loading import (
    Extracted,
    Loader,
    LoaderOptions,
    LoadError,
    clean_text,
    heading_title,
    join_parts,
)

INSTALL_TESSERACT = "install Tesseract (`make ocr`, or apt-get install tesseract-ocr)"


@dataclass(frozen=True)
class PdfOptions(LoaderOptions):
    # Read pages that have no text layer (scans) with Tesseract, when it is installed.
    ocr: bool = True
    # Tesseract's language(s), e.g. "eng" or "eng+deu" (each needs its tesseract-ocr-* package).
    ocr_languages: str = "eng"


class PdfLoader(Loader):
    name = "pdf"
    suffixes = (".pdf",)
    description = "PDF: the text layer, scanned pages by Tesseract OCR; citations name the page"
    Options = PdfOptions

    def extract(self, path: Path) -> Extracted:
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError, PdfReadError

        # pypdf logs what it repairs ("EOF marker not found", raw header bytes) without the
        # file's name; a file it cannot read is reported below, by name, with the reason.
        logging.getLogger("pypdf").setLevel(logging.ERROR)
        assert isinstance(self.options, PdfOptions)
        try:
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise FileNotDecryptedError("a password is needed")
            texts = [clean_text(page.extract_text() or "").strip() for page in reader.pages]
            scanned = [n for n, text in enumerate(texts) if not text]
            ocr_problem = _ocr_problem() if scanned and self.options.ocr else ""
            read_by_ocr: list[int] = []
            if scanned and self.options.ocr and not ocr_problem:
                for n in scanned:
                    texts[n] = _ocr_page(reader.pages[n], self.options.ocr_languages)
                    if texts[n]:
                        read_by_ocr.append(n)
            metadata_title = (reader.metadata.title if reader.metadata else None) or ""
        except FileNotDecryptedError:
            raise LoadError(
                f"{path}: the PDF is protected by a password; save a copy without it."
            ) from None
        except (PdfReadError, ValueError, KeyError, TypeError) as error:
            raise LoadError(f"{path}: not a readable PDF ({error}).") from None
        if not any(texts):
            if not scanned or read_by_ocr:
                raise LoadError(f"{path}: the file holds no text to index.")
            if not self.options.ocr:
                raise LoadError(
                    f"{path}: the PDF has no text layer (a scan?) and OCR is off "
                    "(loader option ocr); turn it on, or run OCR on it first (ocrmypdf)."
                )
            raise LoadError(
                f"{path}: the PDF has no text layer (a scan?), and "
                + (f"OCR cannot run: {ocr_problem}" if ocr_problem else "OCR found no text in it.")
            )
        ocr_pages = set(read_by_ocr)
        text, starts, names = join_parts(
            (f"page {n + 1} (OCR)" if n in ocr_pages else f"page {n + 1}", page)
            for n, page in enumerate(texts)
        )
        notices = []
        if read_by_ocr:
            notices.append(f"{_pages(len(read_by_ocr))} read by OCR (Tesseract)")
        left_out = len(scanned) - len(read_by_ocr)
        if left_out:
            why = ocr_problem or ("OCR is off" if not self.options.ocr else "OCR found no text")
            notices.append(f"{_pages(left_out)} without a text layer left out: {why}")
        return Extracted(
            text,
            str(metadata_title).strip() or heading_title(text),
            starts,
            # Page numbers need no names unless some page was read by OCR.
            names if ocr_pages else (),
            tuple(notices),
        )


def _pages(count: int) -> str:
    return f"{count} page" + ("" if count == 1 else "s")


def _ocr_problem() -> str:
    """Why OCR cannot run here, or "" when it can."""
    try:
        import pytesseract
    except ImportError:
        return f"pytesseract is not installed; {INSTALL_TESSERACT} and `make install`"
    try:
        pytesseract.get_tesseract_version()
    except (pytesseract.TesseractNotFoundError, OSError):
        return f"Tesseract is not installed; {INSTALL_TESSERACT}, then ingest again"
    return ""


def _ocr_page(page, languages: str) -> str:
    """The text Tesseract reads in the page's images (a scan is one image a page)."""
    import pytesseract

    texts = []
    for image in page.images:
        try:
            text = pytesseract.image_to_string(image.image, lang=languages)
        except pytesseract.TesseractError as error:
            raise LoadError(
                f"Tesseract could not read a page with languages {languages!r} ({error}); "
                "is each language's tesseract-ocr-* package installed? (loader option "
                "ocr_languages)"
            ) from None
        texts.append(clean_text(text).strip())
    return "\n\n".join(text for text in texts if text)
