"""Plain text, Markdown and HTML."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from rag.loaders.rows import as_sentence, rows_as_text
from rag.loading import Extracted, Loader, TextOptions, clean_text, decode_text, heading_title
from rag.text import CODE_FENCE

# Tags whose content is code or chrome, never document text.
HTML_SKIPPED_TAGS = ("script", "style", "noscript", "template", "svg", "head")
# Tags that start a new paragraph of text. Every other tag (<b>, <a>, <span>, <em> ...) is
# inline: its words stay in their sentence, or "feeding time is <b>7:30</b>" loses its answer.
HTML_BLOCK_TAGS = (
    *("address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details"),
    *("dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p"),
    *("pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul"),
)
# Cells of a table row stay on the row's line, apart.
HTML_CELL_TAGS = ("td", "th")


def _rows_named_by_headers(soup, table) -> None:
    """Replace a data table by its rows, each a paragraph that names its columns as
    spreadsheets' rows do (`rows_as_text`): "Plan: Team; Monthly billing: $29; Annual
    billing: $24.", where the cells alone ("Team $29 $24") never say which price is which.

    Only a table whose first row is headers (<th> cells) is read so; a table with a
    header cell opening each row ("Weight | 2 kg") gives "Weight: 2 kg." a row; any other
    (page layout, a grid of words) is left as it is, its cells on their row's line.
    """
    rows: list[list[str]] = []
    header_first = []
    for row in table.find_all("tr"):
        cells = row.find_all(HTML_CELL_TAGS, recursive=False)
        texts: list[str] = []
        for cell in cells:
            texts.append(" ".join(cell.get_text(" ").split()))
            # A cell spanning columns keeps the rest of the row under its own headers.
            texts.extend([""] * (_span(cell) - 1))
        if any(texts):
            rows.append(texts)
            header_first.append([cell.name == "th" for cell in cells])
    if len(rows) < 2 or len(rows[0]) < 2:
        return
    if all(header_first[0]):
        lines = rows_as_text(rows, max_rows=sys.maxsize)[0].split("\n")
    elif all(row[0] and not any(row[1:]) for row in header_first):
        lines = [as_sentence(f"{row[0]}: {'; '.join(c for c in row[1:] if c)}") for row in rows]
    else:
        return
    replacement = soup.new_tag("div")
    for line in lines:
        paragraph = soup.new_tag("p")
        paragraph.string = line
        replacement.append(paragraph)
    table.replace_with(replacement)


def _mark_headings_and_list_items(soup) -> None:
    """Write a heading and a list item as Markdown writes them ("## Setup", "1. Plug it
    in.", "- Blue"), so the page's structure survives as text: the answer step reads a
    Markdown heading as what the lines under it are about (a changelog's "## 2.1.0"), and
    a sentence ending in ":" is quoted with the list items it introduces. Without the
    markers "Follow these steps:" is quoted alone, and step 3 cannot be told from step 4.
    """
    for heading in soup.find_all(HTML_HEADING_TAGS):
        _insert_marker(heading, "#" * int(heading.name[1]) + " ")
    for item in soup.find_all("li"):
        _insert_marker(item, _list_marker(item))


HTML_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def _list_marker(item) -> str:
    """ "- " in a bulleted list; in a numbered one the number a browser shows ("3. "), or
    its letter in a list lettered a, b, c ("c) ")."""
    numbered = item.find_parent(["ol", "ul"])
    if numbered is None or numbered.name != "ol":
        return "- "
    step = -1 if numbered.has_attr("reversed") else 1
    number = _integer(item.get("value"), None)
    if number is None:
        # Counted from the nearest item before that sets its own number (<li value="7">),
        # else from the list's start.
        steps = 0
        for earlier in item.find_previous_siblings("li"):
            steps += 1
            if _integer(earlier.get("value"), None) is not None:
                number = _integer(earlier.get("value"), 0) + steps * step
                break
        else:
            first = len(numbered.find_all("li", recursive=False)) if step < 0 else 1
            number = _integer(numbered.get("start"), first) + steps * step
    if str(numbered.get("type", "")).lower() == "a" and 1 <= number <= 26:
        return chr(ord("a") + number - 1) + ") "
    return f"{number}. "


def _insert_marker(tag, marker: str) -> None:
    """Put `marker` before the first words of `tag`, inside any block that opens it
    (<li><p>Plug it in.</p></li>), where the paragraph's line will start."""
    target = tag
    while True:
        first = next((child for child in target.children if str(child).strip()), None)
        if first is None:
            if target is tag:
                return  # nothing to mark: an empty item or heading leaves no line
            break
        if getattr(first, "name", None) not in HTML_BLOCK_TAGS or first.name in ("ol", "ul"):
            break
        target = first
    target.insert(0, marker)


def _integer(value, default: int | None) -> int | None:
    """An attribute's whole number ("3"), or `default` when absent or not one."""
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def _span(cell) -> int:
    return max(1, min(_integer(cell.get("colspan"), 1), 100))


class TextFileLoader(Loader):
    """A loader of files that are text: decoded by the `encoding` option, or detected."""

    Options = TextOptions
    options: TextOptions

    def read_text(self, path: Path) -> str:
        return decode_text(path.read_bytes(), path, self.options.encoding)


class TextLoader(TextFileLoader):
    name = "text"
    suffixes = (".txt",)
    description = "plain text in any encoding"

    def extract(self, path: Path) -> Extracted:
        text = self.read_text(path)
        return Extracted(text, title=heading_title(text))


class MarkdownLoader(TextFileLoader):
    name = "markdown"
    suffixes = (".md", ".markdown")
    description = "Markdown; the first # heading is the title; a table's rows name their columns"

    def extract(self, path: Path) -> Extracted:
        text = self.read_text(path)
        match = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
        title = match.group(1).strip() if match else heading_title(text)
        return Extracted(markdown_tables_as_rows(text), title=title)


def markdown_tables_as_rows(text: str) -> str:
    """`text` with each Markdown table (a header row, a "|---|---|" line, its rows) given
    as a paragraph a row that names its columns, as HTML tables and spreadsheets are:
    "| 3 | Chase the grant | Priya |" under "| # | Action | Owner |" never says who
    Priya is, and "#: 3; Action: Chase the grant; Owner: Priya." does. Code blocks are
    left as they are."""
    if "|" not in text:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    fenced = False
    at = 0
    while at < len(lines):
        line = lines[at]
        if CODE_FENCE.match(line.lstrip()):
            fenced = not fenced
        elif not fenced and _opens_a_table(lines, at):
            end = at + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            rows = [_markdown_cells(row) for row in (line, *lines[at + 2 : end])]
            if kept and kept[-1].strip():
                kept.append("")
            kept.append("\n\n".join(rows_as_text(rows, max_rows=sys.maxsize)[0].split("\n")))
            if end < len(lines) and lines[end].strip():
                kept.append("")
            at = end
            continue
        kept.append(line)
        at += 1
    return "\n".join(kept)


def _opens_a_table(lines: list[str], at: int) -> bool:
    """Whether a Markdown table's header row is `lines[at]`: a line with a "|", and under
    it a delimiter row of as many columns ("|---|:--:|")."""
    if "|" not in lines[at] or at + 1 >= len(lines):
        return False
    delimiter = lines[at + 1]
    return (
        "|" in delimiter
        and bool(_TABLE_DELIMITER.match(delimiter))
        and len(_markdown_cells(delimiter)) == len(_markdown_cells(lines[at]))
    )


def _markdown_cells(row: str) -> list[str]:
    """The cells of a Markdown table row, "\\|" inside one read as "|"."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


_TABLE_DELIMITER = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")


class HtmlLoader(TextFileLoader):
    name = "html"
    suffixes = (".html", ".htm")
    description = "web pages: the visible text, by paragraph; <title> or the first heading"

    def extract(self, path: Path) -> Extracted:
        text, title = html_text(self.read_text(path))
        return Extracted(text, title=title)


def html_text(markup: str | bytes) -> tuple[str, str]:
    """The visible text of an HTML page, a paragraph a line, and its title ("" if none).

    The title is the page's <title>, else its first h1/h2. Bytes are decoded by the page's
    own declaration (an EPUB chapter's XHTML says its encoding).
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(HTML_SKIPPED_TAGS):
        tag.decompose()
    if not title:
        heading = soup.find(["h1", "h2"])
        title = heading.get_text(" ", strip=True) if heading else ""
    # Innermost first: a table inside a cell is text of that cell by the time it is read.
    for table in reversed(soup.find_all("table")):
        _rows_named_by_headers(soup, table)
    _mark_headings_and_list_items(soup)
    for tag in soup.find_all(HTML_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for tag in soup.find_all(HTML_CELL_TAGS):
        tag.insert_after(" ")
    # The page's own line breaks are white space, as a browser shows them (<pre> aside).
    text = "".join(
        piece if piece == "\n" or piece.parent.name == "pre" else re.sub(r"\s+", " ", piece)
        for piece in soup.find_all(string=True)
    )
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.split("\n")]
    return clean_text("\n\n".join(line for line in lines if line)), title
