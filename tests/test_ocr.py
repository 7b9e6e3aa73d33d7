"""Scanned PDFs: pages without a text layer read by Tesseract, marked in the citation,
and a clear message naming the file when Tesseract is missing."""

from __future__ import annotations

import shutil

import pytest
from sample_files import scanned_pdf

from rag.loading import LoadError, load_with_notices
from rag.query import Query

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (make ocr)"
)
LINES = ("The lighthouse keeper is named Orla Brennan.", "She has kept the light since 1987.")


@needs_tesseract
def test_a_scanned_page_is_read_by_ocr_and_named_so(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(scanned_pdf(*LINES))
    document, notices = load_with_notices(path)
    assert "The lighthouse keeper is named Orla Brennan." in document.text
    assert document.place_at(document.text.index("Orla")) == "page 1 (OCR)"
    assert notices == (f"{path}: 1 page read by OCR (Tesseract)",)


def test_without_tesseract_a_scan_is_skipped_saying_what_to_install(tmp_path, monkeypatch):
    import pytesseract

    def missing():
        raise pytesseract.TesseractNotFoundError()

    monkeypatch.setattr(pytesseract, "get_tesseract_version", missing)
    path = tmp_path / "scan.pdf"
    path.write_bytes(scanned_pdf(*LINES))
    with pytest.raises(
        LoadError, match=r"scan\.pdf: .*no text layer.*Tesseract is not installed.*make ocr"
    ):
        load_with_notices(path)


@needs_tesseract
def test_a_scanned_pdf_answers_with_an_ocr_citation(scratch_pipeline, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "keeper.pdf").write_bytes(scanned_pdf(*LINES))
    report = scratch_pipeline.ingest([folder])
    assert report.added == ["keeper"], report.skipped
    assert any("1 page read by OCR" in notice for notice in report.notices)
    answer = scratch_pipeline.ask(Query("Who is the lighthouse keeper?"))
    assert not answer.abstained, answer.text
    citation = answer.citations[0]
    assert "Orla Brennan" in citation.quote and citation.place == "page 1 (OCR)"
    document = next(d for d in scratch_pipeline.index().documents if d.doc_id == "keeper")
    assert document.text[citation.start : citation.end] == citation.quote
