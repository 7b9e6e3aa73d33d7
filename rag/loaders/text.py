"""Plain text, Markdown and HTML."""

from __future__ import annotations

import re
from pathlib import Path

from rag.loading import Extracted, Loader, TextOptions, clean_text, decode_text, heading_title

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
    description = "Markdown; the first # heading is the title"

    def extract(self, path: Path) -> Extracted:
        text = self.read_text(path)
        match = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
        return Extracted(text, title=match.group(1).strip() if match else heading_title(text))


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
