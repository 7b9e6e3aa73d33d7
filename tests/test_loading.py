"""Loading files: formats, titles, encodings, and bad files reported by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_files import pdf_with_pages

from rag.loading import LoadError, find_files, load_document


def test_text_and_markdown_titles(tmp_path):
    (tmp_path / "plain.txt").write_text(
        "A long first sentence that is prose.\nMore.", encoding="utf-8"
    )
    (tmp_path / "titled.txt").write_text("Short Title\n\nBody text here.", encoding="utf-8")
    (tmp_path / "notes.md").write_text("intro\n\n# The Real Title\n\nBody.", encoding="utf-8")
    # Never the bare id: the first sentence stands in for a missing heading.
    assert load_document(tmp_path / "plain.txt").title == "A long first sentence that is prose"
    assert load_document(tmp_path / "titled.txt").title == "Short Title"
    document = load_document(tmp_path / "notes.md")
    assert (document.doc_id, document.title) == ("notes", "The Real Title")


def test_a_long_first_sentence_is_cut_at_a_word_with_an_ellipsis(tmp_path):
    (tmp_path / "003_fc7eb9e95de41056.txt").write_text(
        "In the context of the fight against drug cartels, mainly those engaged in the "
        "production of fentanyl, the authorities will launch a campaign.\n\nMore.",
        encoding="utf-8",
    )
    title = load_document(tmp_path / "003_fc7eb9e95de41056.txt").title
    assert title == "In the context of the fight against drug cartels, mainly…"
    assert len(title) <= 61


def test_html_keeps_text_and_drops_scripts_and_styles(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Page Title</title><style>p{color:red}</style></head><body>"
        "<h1>Heading</h1><p>Visible &amp; kept.</p><script>alert('x')</script></body></html>",
        encoding="utf-8",
    )
    document = load_document(page)
    assert document.title == "Page Title"
    assert "Visible & kept." in document.text and "Heading" in document.text
    assert "alert" not in document.text and "color" not in document.text


def _html_paragraphs(tmp_path, body: str) -> list[str]:
    """The paragraphs the loader reads from a page of `body`."""
    page = tmp_path / "page.html"
    page.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return load_document(page).text.split("\n\n")


def test_html_inline_tags_stay_in_their_sentence_and_blocks_start_paragraphs(tmp_path):
    paragraphs = _html_paragraphs(
        tmp_path,
        "<h1>Zoo</h1><p>The feeding time is <b>7:30 a.m.</b> &amp; the keeper "
        'is <a href="/tom">Tom</a>.</p><p>Wrapped\nin the source.</p><ul><li>one</li>'
        "<li>two</li></ul><table><tr><th>Name</th><th>Age</th></tr><tr><td>Ann</td><td>3</td>"
        "</tr></table><pre>keep  this\n  layout</pre>x<br>y",
    )
    assert "The feeding time is 7:30 a.m. & the keeper is Tom." in paragraphs
    assert "Wrapped in the source." in paragraphs
    assert ["- one", "- two"] == paragraphs[
        paragraphs.index("- one") : paragraphs.index("- two") + 1
    ]
    assert "Name: Ann; Age: 3." in paragraphs  # a row names its columns
    assert paragraphs[-2:] == ["x", "y"]


def test_html_headings_and_list_items_are_written_as_markdown_writes_them(tmp_path):
    """Without the markers "Follow these steps:" was quoted alone, step 3 indistinct from 4."""
    paragraphs = _html_paragraphs(
        tmp_path,
        "<h1>Kettle</h1><h3>Descaling</h3><p>Follow these steps:</p><ol><li>Unplug it.</li>"
        "<li><p>Pour in <b>vinegar</b>.</p></li><li value='7'>Rinse twice.</li><li>Dry it."
        "<ul><li>Inside</li><li>Outside</li></ul></li></ol>"
        "<ol start='3' type='a'><li>Third</li></ol><ol reversed><li>Two</li><li>One</li></ol>"
        "<ol start='x'><li>Bad start</li></ol><ul><li> </li><li>Kept</li></ul><h2></h2>",
    )
    assert paragraphs == [
        *("# Kettle", "### Descaling", "Follow these steps:", "1. Unplug it."),
        *("2. Pour in vinegar.", "7. Rinse twice.", "8. Dry it.", "- Inside", "- Outside"),
        *("c) Third", "2. Two", "1. One", "1. Bad start", "- Kept"),
    ]


def test_html_table_rows_name_their_columns_as_spreadsheet_rows_do(tmp_path):
    """ "Team $29 $24 50" was quoted for "What does the Team plan cost a year?": which price?"""
    paragraphs = _html_paragraphs(
        tmp_path,
        "<h1>Pricing</h1><table><thead><tr><th>Plan</th><th>Monthly</th>"
        "<th>Annual</th><th>Max. agents</th></tr></thead><tbody>"
        "<tr><td>Team</td><td>$29</td><td>$24</td><td>50</td></tr>"
        "<tr><td colspan='2'>Enterprise</td><td>on request</td><td>any</td></tr></tbody></table>"
        "<table><tr><th>Weight</th><td>2 kg</td></tr><tr><th>Colours</th><td>red</td>"
        "<td>blue</td></tr></table>"
        "<table><tr><td>Left menu</td><td>Main text of the page.</td></tr>"
        "<tr><td>More</td><td>Other text.</td></tr></table>",
    )
    assert "Plan: Team; Monthly: $29; Annual: $24; Max. agents: 50." in paragraphs
    # A cell spanning two columns leaves the next cell under its own header.
    assert "Plan: Enterprise; Annual: on request; Max. agents: any." in paragraphs
    # A header cell opening each row: "key: value".
    assert "Weight: 2 kg." in paragraphs and "Colours: red; blue." in paragraphs
    # No header row: a layout table stays as its rows were.
    assert "Left menu Main text of the page." in paragraphs


def test_markdown_table_rows_name_their_columns_and_code_blocks_stay(tmp_path):
    """ "| 3 | Chase the grant | Priya |" was quoted for "Who chases the grant money?",
    and never said that Priya is the owner."""
    path = tmp_path / "minutes.md"
    path.write_text(
        "# Minutes\nActions agreed:\n| # | Action | Owner | Due |\n|---|:--|--|--:|\n"
        "| 1 | Send offer letters | Tomasz | 18 October |\n| 3 | Chase `a \\| b` | Priya | |\n"
        "After the table.\n\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n\n"
        "key | value\n--|--\nx | y\n\n| two | rows |\n| no | delimiter |\n",
        encoding="utf-8",
    )
    document = load_document(path)
    assert document.title == "Minutes"
    assert document.text == (
        "# Minutes\nActions agreed:\n\n"
        "#: 1; Action: Send offer letters; Owner: Tomasz; Due: 18 October.\n\n"
        "#: 3; Action: Chase `a | b`; Owner: Priya.\n\nAfter the table.\n\n"
        "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n\n"
        "key: x; value: y.\n\n| two | rows |\n| no | delimiter |\n"
    )


def test_pdf_pages_are_kept(tmp_path):
    path = tmp_path / "two.pdf"
    path.write_bytes(pdf_with_pages("Page 1 says hello.", "Page 2 says hello."))
    document = load_document(path)
    assert "Page 1 says hello." in document.text and "Page 2 says hello." in document.text
    assert document.page_at(document.text.index("Page 2")) == 2
    assert document.page_at(0) == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "no text"),
        ("blank.txt", b"  \n\n ", "no text"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("scripts.html", b"<script>var a = 1;</script><style>p{}</style>", "no text"),
    ],
)
def test_bad_files_give_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError) as error:
        load_document(path)
    assert name in str(error.value) and message in str(error.value)


def test_other_encodings_are_decoded(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("Café à Mérida, señor.".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("Grüße aus Köln.".encode("utf-16"))
    assert load_document(tmp_path / "latin1.txt").text == "Café à Mérida, señor."
    assert load_document(tmp_path / "utf16.txt").text == "Grüße aus Köln."


def test_find_files_reports_missing_and_unsupported_paths(tmp_path):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "b.exe").write_text("x", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.txt").write_text("x", encoding="utf-8")
    found, problems = find_files([tmp_path, tmp_path / "b.exe", tmp_path / "nope"])
    assert [f.doc_id for f in found] == ["a"]
    assert any("b.exe" in p and "unsupported" in p for p in problems)
    assert any("nope" in p and "no such file" in p for p in problems)
    assert not any("no file of a supported type" in p for p in problems)
    (tmp_path / "rtf").mkdir()
    (tmp_path / "rtf" / "letter.rtf").write_text("x", encoding="utf-8")
    found, [problem] = find_files([tmp_path / "rtf"])
    assert found == [] and "rtf: no file of a supported type in this folder (.csv" in problem


def test_ligatures_are_spelled_out_so_typed_words_find_them(tmp_path):
    path = tmp_path / "flight.txt"
    path.write_text(
        "The ﬁnal ﬂight left at 9 o'clock from Gdańsk: no oﬀ-season ﬆop.", encoding="utf-8"
    )
    text = load_document(path).text
    assert text == "The final flight left at 9 o'clock from Gdańsk: no off-season stop."


def test_a_document_records_its_file_by_absolute_path(tmp_path, monkeypatch):
    # Recorded relative, a source would mean another file to a command started elsewhere.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("A note.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_document(Path("docs/note.txt")).source == str(tmp_path / "docs" / "note.txt")


def test_an_unreadable_pdf_is_named_once_without_the_librarys_log_lines(tmp_path, caplog):
    path = tmp_path / "garbage.pdf"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(LoadError, match="garbage.pdf: not a readable PDF"):
        load_document(path)
    # pypdf's "invalid pdf header: b'...'" names no file; the terminal would show it.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []
