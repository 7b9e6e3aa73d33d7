"""Office files and tables: each format read, cited verbatim with its slide or sheet,
and a bad file named and skipped, never a crash."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sample_files import docx_with, epub_with, pptx_with, xlsx_with

from rag.loading import LoadError, find_files, load_document, load_with_notices
from rag.query import Query

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _stale_install() -> bool:
    """The venv's copy of our entry points predates the epub loader (pyproject.toml has it)."""
    from rag.loading import supported_suffixes

    return ".epub" not in supported_suffixes()


needs_epub_loader = pytest.mark.skipif(
    _stale_install(),
    reason="the installed rag package's entry points predate the epub loader: run `make install`",
)


def test_docx_paragraphs_tables_and_title(tmp_path):
    path = tmp_path / "handbook.docx"
    path.write_bytes(
        docx_with(
            "Staff Handbook",
            ["Holidays are booked through the front desk.", "Parking is free on Fridays."],
            [["Room", "Capacity"], ["Aurora", "12 people"]],
        )
    )
    document = load_document(path)
    assert document.title == "Staff Handbook"
    assert "Parking is free on Fridays." in document.text
    # Read as a spreadsheet's rows are: each row names its columns, so it answers alone.
    assert "Room: Aurora; Capacity: 12 people." in document.text
    assert document.page_starts == ()


def test_pptx_slides_and_notes_are_named_by_slide(tmp_path):
    path = tmp_path / "deck.pptx"
    path.write_bytes(
        pptx_with(
            [
                ("Quarterly Review", "Revenue grew in every region.", ""),
                ("Next Steps", "Hire two engineers.", "Mention the Lisbon office opens in May."),
            ]
        )
    )
    document = load_document(path)
    assert document.title == "Quarterly Review"
    assert document.page_names == ("slide 1", "slide 2")
    at = document.text.index("Lisbon office")
    assert document.place_at(at) == "slide 2"
    assert document.place_at(document.text.index("Revenue")) == "slide 1"


def test_xlsx_rows_keep_their_headers_and_sheet(tmp_path):
    path = tmp_path / "budget.xlsx"
    path.write_bytes(
        xlsx_with(
            {
                "Summary": [["Year", "Total"], [2024, 1500.0]],
                "Travel": [["Item", "Cost", "Note"], ["Train to Porto", 84.5, None]],
            }
        )
    )
    document = load_document(path)
    assert "Year: 2024; Total: 1500." in document.text
    assert "Item: Train to Porto; Cost: 84.5." in document.text
    assert document.place_at(document.text.index("Porto")) == "sheet Travel"
    assert document.title == "Year: 2024; Total: 1500"  # no metadata title: the first row


def test_csv_with_semicolons_and_a_row_limit(tmp_path):
    from rag.loaders.tables import CsvLoader, CsvOptions, TableOptions

    path = tmp_path / "people.csv"
    path.write_text("name;city\nAda;London\nGrace;Arlington\nLinus;Helsinki\n", encoding="utf-8")
    assert "name: Grace; city: Arlington." in load_document(path).text
    limited = CsvLoader(CsvOptions(max_rows_per_sheet=2)).extract(path)
    assert "Linus" not in limited.text and "Grace" in limited.text
    assert "only the first 2 rows" in limited.notices[0]
    with pytest.raises(ValueError, match="max_rows_per_sheet"):
        TableOptions(max_rows_per_sheet=0)


def test_a_huge_sheet_is_read_up_to_the_row_limit_with_a_notice(tmp_path):
    from rag.loaders.tables import TableOptions, XlsxLoader

    path = tmp_path / "big.xlsx"
    path.write_bytes(xlsx_with({"Log": [["n", "event"]] + [[n, f"e{n}"] for n in range(200)]}))
    # The limit is the loader's option; a small one keeps the test fast.
    extracted = XlsxLoader(TableOptions(max_rows_per_sheet=50)).extract(path)
    assert extracted.text.count("\n") == 49 and "e49" in extracted.text
    assert "sheet 'Log'" in extracted.notices[0]


def test_a_workbook_as_excel_saves_it_keeps_every_shared_text_exact(tmp_path):
    # Excel keeps each text once in a shared-strings table, which the loader packs
    # (rag/loaders/xlsx_strings.py); openpyxl's own writer puts texts inline instead.
    from bench.spreadsheet import write_excel_workbook
    from rag.loaders.xlsx_strings import TEXTS_PER_PACK

    texts = [f"B\xfcro {n} \U0001f6b2" if n % 7 == 0 else f"office {n}" for n in range(9000)]
    assert len(texts) > 2 * TEXTS_PER_PACK
    path = tmp_path / "rooms.xlsx"
    write_excel_workbook(
        path, {"Rooms": lambda: [["room", "n"], *([t, n] for n, t in enumerate(texts))]}
    )
    document = load_document(path)
    assert document.text.split("\n") == [f"room: {t}; n: {n}." for n, t in enumerate(texts)]
    assert document.place_at(len(document.text) - 1) == "sheet Rooms"


def test_a_large_csv_is_streamed_up_to_the_row_limit_with_a_notice(tmp_path):
    from rag.loaders.tables import CsvLoader, CsvOptions
    from rag.loading import ENCODING_SAMPLE_BYTES

    path = tmp_path / "depots.csv"
    with path.open("wb") as out:
        out.write(b"id,city\r\n")
        for n in range(80_000):
            out.write(f"{n},Lisboa depot {n} main warehouse\r\n".encode())
            if n == 40_000:  # past the first megabyte: one name saved as Latin-1
                assert out.tell() > ENCODING_SAMPLE_BYTES
                out.write(f"{n}b,S\xe3o Paulo depot\r\n".encode("latin-1"))
    extracted = CsvLoader(CsvOptions(max_rows_per_sheet=50_000)).extract(path)
    lines = extracted.text.split("\n")
    assert (
        len(lines) == 50_000 and lines[-1] == "id: 49998; city: Lisboa depot 49998 main warehouse."
    )
    assert "id: 40000b; city: S\xe3o Paulo depot." in lines
    assert extracted.notices == (
        "only the first 50,000 rows of the file were indexed (loader option max_rows_per_sheet)",
    )


@needs_epub_loader
def test_epub_chapters_in_reading_order_with_the_title_from_its_metadata(tmp_path):
    path = tmp_path / "voyage.epub"
    path.write_bytes(
        epub_with(
            "The Long Voyage",
            [
                ("Departure", "The ship left Brest at dawn."),
                ("At Sea", "A storm broke the foremast on the ninth day."),
                ("Landfall", "They sighted the Azores in April."),
            ],
        )
    )
    document = load_document(path)
    assert document.title == "The Long Voyage"
    assert document.page_names == ("chapter 1", "chapter 2", "chapter 3")
    # The spine's order, not the zip's (which stores the chapters in reverse).
    assert (
        document.text.index("Brest")
        < document.text.index("foremast")
        < document.text.index("Azores")
    )
    assert document.place_at(document.text.index("foremast")) == "chapter 2"
    assert "<h1>" not in document.text and "At Sea" in document.text


@needs_epub_loader
def test_an_epub_answers_its_question_and_damaged_or_locked_ones_are_skipped(
    scratch_pipeline, tmp_path
):
    folder = tmp_path / "books"
    folder.mkdir()
    whole = epub_with(
        "Fine",
        [
            ("Prologue", "The island had no road."),
            ("The Light", "The lighthouse keeper was called Ines Barros."),
        ],
    )
    (folder / "fine.epub").write_bytes(whole)
    (folder / "truncated.epub").write_bytes(whole[: len(whole) // 2])
    (folder / "renamed.epub").write_text("just some text", encoding="utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
    (folder / "hollow.epub").write_bytes(out.getvalue())
    (folder / "locked.epub").write_bytes(
        epub_with("Locked", [("One", "Secret text.")], encrypted=("One",))
    )
    report = scratch_pipeline.ingest([folder])
    assert report.added == ["fine"]
    reasons = {Path(problem.split(":")[0]).name: problem for problem in report.skipped}
    assert set(reasons) == {"truncated.epub", "renamed.epub", "hollow.epub", "locked.epub"}
    assert "not an EPUB" in reasons["truncated.epub"] and "damaged" in reasons["truncated.epub"]
    assert "not an EPUB" in reasons["renamed.epub"]
    assert "META-INF/container.xml is listed but missing" in reasons["hollow.epub"]
    assert "locked by DRM" in reasons["locked.epub"]

    answer = scratch_pipeline.ask(Query("What was the lighthouse keeper called?"))
    citation = answer.citations[0]
    assert citation.doc_id == "fine" and "Ines Barros" in citation.quote, answer.text
    assert citation.place == "chapter 2"
    document = next(d for d in scratch_pipeline.index().documents if d.doc_id == "fine")
    assert document.text[citation.start : citation.end] == citation.quote
    assert document.title == "Fine"


@pytest.mark.parametrize("suffix", [".docx", ".xlsx", ".pptx"])
def test_password_protected_office_files_are_named_and_skipped(tmp_path, suffix):
    path = tmp_path / f"secret{suffix}"
    # What Office writes for a file with a password: an OLE compound file, not a zip.
    path.write_bytes(OLE_SIGNATURE + bytes(4096))
    with pytest.raises(LoadError, match=r"secret.*password"):
        load_document(path)


@pytest.mark.parametrize("suffix", [".docx", ".xlsx", ".pptx"])
def test_a_zip_renamed_and_a_text_renamed_are_named_and_skipped(tmp_path, suffix):
    renamed_zip = tmp_path / f"archive{suffix}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("holiday.jpg", b"not a document")
    renamed_zip.write_bytes(out.getvalue())
    with pytest.raises(LoadError, match=r"archive.*not a (Word|Excel|PowerPoint) file inside"):
        load_document(renamed_zip)
    renamed_text = tmp_path / f"notes{suffix}"
    renamed_text.write_text("just some text", encoding="utf-8")
    with pytest.raises(LoadError, match=r"notes.*zip"):
        load_document(renamed_text)


def test_office_lock_files_are_not_found(tmp_path):
    (tmp_path / "report.docx").write_bytes(docx_with("Report", ["Body."]))
    (tmp_path / "~$report.docx").write_bytes(b"lock")
    found, problems = find_files([tmp_path])
    assert [f.path.name for f in found] == ["report.docx"] and problems == []


def test_a_crashing_third_party_loader_becomes_a_load_error(tmp_path, monkeypatch):
    from rag import loading

    class Broken(loading.Loader):
        name = "broken"
        suffixes = (".txt",)

        def extract(self, path):
            raise RuntimeError("boom")

    monkeypatch.setattr(loading.Loaders, "for_suffix", lambda self, suffix: Broken())
    path = tmp_path / "a.txt"
    path.write_text("text", encoding="utf-8")
    with pytest.raises(LoadError, match=r"a\.txt: the broken loader could not read it.*boom"):
        load_with_notices(path)


def test_each_format_answers_a_question_only_it_holds_with_its_slide_or_sheet(
    scratch_pipeline, tmp_path
):
    folder = tmp_path / "office"
    folder.mkdir()
    (folder / "handbook.docx").write_bytes(
        docx_with("Staff Handbook", ["The staff canteen is run by chef Tomasz Wielgus."])
    )
    (folder / "deck.pptx").write_bytes(
        pptx_with(
            [
                ("Roadmap", "Ship the mobile app.", ""),
                ("Offices", "The Lisbon office opens in May with forty desks.", ""),
            ]
        )
    )
    (folder / "fleet.xlsx").write_bytes(
        xlsx_with(
            {
                "Intro": [["About"], ["Company vehicles"]],
                "Vans": [["Van", "Driver"], ["Blue Transit van", "Marguerite Okafor"]],
            }
        )
    )
    (folder / "rooms.csv").write_text(
        "room,floor\nObservatory meeting room,seventh floor\n", encoding="utf-8"
    )
    report = scratch_pipeline.ingest([folder])
    assert sorted(report.added) == ["deck", "fleet", "handbook", "rooms"], report.skipped
    cases = [
        ("Who runs the staff canteen?", "handbook", "Tomasz Wielgus", ""),
        ("When does the Lisbon office open?", "deck", "May", "slide 2"),
        ("Who is the driver of the blue Transit van?", "fleet", "Marguerite Okafor", "sheet Vans"),
        ("On which floor is the Observatory meeting room?", "rooms", "seventh floor", ""),
    ]
    documents = {d.doc_id: d for d in scratch_pipeline.index().documents}
    for question, doc_id, expected, place in cases:
        answer = scratch_pipeline.ask(Query(question))
        assert not answer.abstained, (question, answer.text, answer.passages[:1])
        citation = answer.citations[0]
        assert citation.doc_id == doc_id and expected in citation.quote, (question, citation)
        assert documents[doc_id].text[citation.start : citation.end] == citation.quote
        assert citation.place == place


def test_an_epub_whose_chapters_unpack_too_large_together_is_refused(tmp_path, monkeypatch):
    from rag.loaders import epub

    path = tmp_path / "many.epub"
    path.write_bytes(epub_with("Many", [(f"Part {n}", "Words. " * 40) for n in range(5)]))
    # Each chapter is under the per-chapter limit; together they pass the book's.
    monkeypatch.setattr(epub, "MAX_BOOK_BYTES", 1000)
    with pytest.raises(LoadError, match=r"many\.epub: its chapters unpack to [\d,]+ bytes"):
        load_document(path)
