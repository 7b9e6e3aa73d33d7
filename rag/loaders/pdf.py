"""PDF, by its text layer (pypdf); each page keeps its number for citations."""

from __future__ import annotations

from pathlib import Path

from rag.loading import Extracted, Loader, LoadError, clean_text, heading_title, join_parts


class PdfLoader(Loader):
    name = "pdf"
    suffixes = (".pdf",)
    description = "PDF with a text layer; citations name the page"

    def extract(self, path: Path) -> Extracted:
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError, PdfReadError

        try:
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise LoadError(
                    f"{path}: the PDF is protected by a password; save a copy without it."
                )
            pages = [page.extract_text() or "" for page in reader.pages]
            metadata_title = (reader.metadata.title if reader.metadata else None) or ""
        except FileNotDecryptedError:
            raise LoadError(
                f"{path}: the PDF is protected by a password; save a copy without it."
            ) from None
        except (PdfReadError, ValueError, KeyError, TypeError) as error:
            raise LoadError(f"{path}: not a readable PDF ({error}).") from None
        if not any(page.strip() for page in pages):
            raise LoadError(
                f"{path}: the PDF has no text layer (a scan?); run OCR on it first, e.g. ocrmypdf."
            )
        text, starts, _ = join_parts(
            (f"page {n}", clean_text(page).strip()) for n, page in enumerate(pages, start=1)
        )
        # Page numbers need no names: a citation says "page N" for a document with pages.
        return Extracted(text, str(metadata_title).strip() or heading_title(text), starts)
