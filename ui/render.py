"""Turn answers, passages and documents into HTML for the chat window.

Document text is data, never markup: every piece of it goes through
`text_html`, which escapes HTML and the characters Markdown, LaTeX and
autolinkers react to, so a document holding `<script>`, `<img onerror=…>`
or `[a link](…)` shows those characters literally. The HTML we build holds
no newlines, because the Chatbot re-indents multi-line messages.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rag.types import Answer, Citation, Passage

if TYPE_CHECKING:
    from rag.backends import BackendInfo
    from rag.pipeline import DocumentInfo

# Characters of passage text shown on each side of a highlighted quote.
CONTEXT_CHARS = 260

# Beyond HTML's own five: characters that Markdown, KaTeX or a linkifier could act on.
# One table, applied in one pass: escaping twice would mangle the first pass's entities
# ("'" → "&#x27;" → "&&#35;x27;", shown to the reader as "&#x27;").
# Laid out by hand (fmt: skip): one pair a line would spread a five-entry table over ten.
_ENTITIES = {
    **{ord(c): f"&#{ord(c)};" for c in "[]()!*_`~#|\\$:{}=+-^@"},
    **{ord(c): entity for c, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"),
                                        ('"', "&quot;"), ("'", "&#39;"))},
}  # fmt: skip
_PARAGRAPH_BREAK = re.compile(r"\s*\n\s*\n\s*")
_WHITESPACE = re.compile(r"\s+")


def text_html(text: str) -> str:
    """`text` as inert HTML: escaped, with paragraph breaks kept as <br>."""
    paragraphs = _PARAGRAPH_BREAK.split(text)
    return "<br>".join(_inline(paragraph) for paragraph in paragraphs)


def _inline(text: str) -> str:
    return _WHITESPACE.sub(" ", text).translate(_ENTITIES)


def _attr(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", " ")


def answer_text_html(answer: Answer) -> str:
    """The answer's text with its markers styled: those the backend placed (`answer.markers`)
    that point at a citation. Brackets anywhere else, "[2]" in a quoted sentence, are text."""
    pieces = []
    last = 0
    for marker in sorted(answer.markers, key=lambda m: m.start):
        n = marker.n
        if not 1 <= n <= len(answer.citations) or marker.start < last:
            continue
        if answer.text[marker.start : marker.end] != f"[{n}]":
            continue  # a marker that is not where it claims to be is left as text
        pieces.append(text_html(answer.text[last : marker.start]))
        pieces.append(f'<sup class="rag-marker" title="Source {n}">[{n}]</sup>')
        last = marker.end
    pieces.append(text_html(answer.text[last:]))
    return "".join(pieces)


def containing_passage(citation: Citation, passages: Iterable[Passage]) -> Passage | None:
    """The passage whose span holds the citation's span, if any."""
    for passage in passages:
        span = passage.citation
        if (
            span.doc_id == citation.doc_id
            and span.start <= citation.start
            and citation.end <= span.end
        ):
            local = citation.start - span.start
            # Guard the offsets: a quote that is not where it claims to be is shown alone.
            if span.quote[local : local + len(citation.quote)] == citation.quote:
                return passage
    return None


def _trim_before(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    space = cut.find(" ")
    return "… " + (cut[space + 1 :] if 0 <= space < 40 else cut)


def _trim_after(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit - 40 else cut) + " …"


def quote_in_context_html(citation: Citation, passage: Passage | None) -> str:
    """The citation's quote highlighted with <mark> inside (a window of) its passage."""
    marked = f'<mark class="rag-quote">{text_html(citation.quote)}</mark>'
    if passage is None:
        return marked
    local = citation.start - passage.citation.start
    before = passage.citation.quote[:local]
    after = passage.citation.quote[local + len(citation.quote) :]
    return (
        text_html(_trim_before(before, CONTEXT_CHARS))
        + marked
        + text_html(_trim_after(after, CONTEXT_CHARS))
    )


def _where(citation: Citation) -> str:
    """The document's title, its page, and where the text is: its id and characters, as
    `rag ask` prints them (a title alone may be any document's first line)."""
    page = f" · {text_html(citation.place)}" if citation.place else ""
    return (
        f'<span class="rag-title">{text_html(citation.title)}</span>{page} '
        f'<span class="rag-doc">{text_html(citation.doc_id)}, characters '
        f"{citation.start}–{citation.end}</span>"
    )


def source_html(n: int, citation: Citation, passages: Sequence[Passage]) -> str:
    passage = containing_passage(citation, passages)
    return (
        '<div class="rag-source">'
        '<div class="rag-source-head">'
        f'<span class="rag-marker">[{n}]</span> {_where(citation)}'
        f'<span class="rag-score" title="How well the quote matches the question">'
        f"score {citation.score:.2f}</span>"
        "</div>"
        f'<div class="rag-context">{quote_in_context_html(citation, passage)}</div>'
        "</div>"
    )


def answer_html(answer: Answer) -> str:
    """A complete answer: its text, notices, source quotes and a line of metadata."""
    if answer.abstained:
        body = (
            '<div class="rag-abstained-head">Not in the documents</div>'
            f'<div class="rag-answer-text">{text_html(answer.text)}</div>'
        )
    else:
        body = f'<div class="rag-answer-text">{answer_text_html(answer)}</div>'
    notices = "".join(f'<div class="rag-notice">{text_html(n)}</div>' for n in answer.notices)
    if answer.unsupported:
        items = "".join(f"<li>{text_html(s)}</li>" for s in answer.unsupported)
        notices += (
            f'<div class="rag-notice">Not supported by the cited passages:<ul>{items}</ul></div>'
        )
    if answer.model_text:
        # Closed by default: the model's words are there to look at, not to rely on.
        notices += (
            '<details class="rag-model-text"><summary>The model\'s own answer (not used: '
            f"the passages do not support it)</summary>{text_html(answer.model_text)}</details>"
        )
    sources = ""
    if answer.citations and not answer.abstained:
        cards = "".join(
            source_html(n, c, answer.passages) for n, c in enumerate(answer.citations, start=1)
        )
        label = "Source" if len(answer.citations) == 1 else "Sources"
        sources = (
            f'<div class="rag-sources"><div class="rag-sources-label">{label}</div>{cards}</div>'
        )
    total = answer.timings_ms.get("total")
    timing = f" · {_duration(total)}" if total is not None else ""
    meta = (
        f'<div class="rag-meta">{text_html(answer.backend)} · {text_html(answer.mode)} retrieval · '
        f"{len(answer.passages)} passages{timing}</div>"
    )
    kind = "rag-answer rag-complete" + (" rag-abstained" if answer.abstained else "")
    return f'<div class="{kind}">{body}{notices}{sources}{meta}</div>'


def streaming_html(text: str) -> str:
    """An answer still arriving: the text so far and a cursor."""
    if not text:
        return '<div class="rag-answer rag-pending">Searching the documents…</div>'
    return (
        '<div class="rag-answer rag-streaming"><div class="rag-answer-text">'
        f'{text_html(text)}<span class="rag-cursor">▍</span></div></div>'
    )


def error_html(message: str) -> str:
    """A problem the user can act on, shown in the chat in place of an answer."""
    return (
        '<div class="rag-answer rag-complete rag-error"><div class="rag-error-head">Could not answer</div>'
        f"<div>{text_html(message)}</div></div>"
    )


def question_html(question: str) -> str:
    return f'<div class="rag-question">{text_html(question)}</div>'


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def passage_html(passage: Passage, cited: Sequence[Citation] = ()) -> str:
    """One retrieved passage, with the sentences the answer quotes highlighted."""
    span = passage.citation
    local = [
        (c.start - span.start, c.end - span.start)
        for c in cited
        if c.doc_id == span.doc_id and span.start <= c.start and c.end <= span.end
    ]
    parts = []
    at = 0
    for start, end in _merge(local):
        parts.append(text_html(span.quote[at:start]))
        parts.append(f'<mark class="rag-quote">{text_html(span.quote[start:end])}</mark>')
        at = end
    parts.append(text_html(span.quote[at:]))
    signals = " · ".join(f"{name} {value:.2f}" for name, value in sorted(passage.signals.items()))
    signals_html = f'<span class="rag-signals">{text_html(signals)}</span>' if signals else ""
    return (
        '<div class="rag-passage">'
        f'<div class="rag-source-head"><span class="rag-rank">#{passage.rank}</span> {_where(span)}'
        f'<span class="rag-score">score {passage.score:.4f}</span></div>'
        f'<div class="rag-context">{"".join(parts)}</div>'
        f"{signals_html}"
        "</div>"
    )


def passages_html(answer: Answer | None) -> str:
    """The panel of every passage retrieved for the last question."""
    if answer is None:
        return '<div class="rag-empty">Ask a question to see the passages it retrieves.</div>'
    if not answer.passages:
        return '<div class="rag-empty">No passages were retrieved for the last question.</div>'
    cards = "".join(passage_html(p, answer.citations) for p in answer.passages)
    head = (
        f'<div class="rag-panel-head">{len(answer.passages)} passages for '
        f"“{text_html(answer.question)}” ({text_html(answer.mode)})</div>"
    )
    return head + cards


def _document_row(document: DocumentInfo) -> str:
    name = f'<div class="rag-doc-title">{text_html(document.title)}</div>'
    if document.doc_id != document.title:
        name += f'<div class="rag-doc-id">{text_html(document.doc_id)}</div>'
    return (
        f'<tr><td>{name}</td><td class="rag-num">{document.chunks}</td>'
        f'<td class="rag-num">{document.characters:,}</td></tr>'
    )


def documents_html(documents: Sequence[DocumentInfo]) -> str:
    """The indexed documents with their chunk counts (DocumentInfo records)."""
    if not documents:
        return '<div class="rag-empty">The index holds no documents yet. Upload some below.</div>'
    rows = "".join(_document_row(d) for d in documents)
    chunks = sum(d.chunks for d in documents)
    return (
        '<table class="rag-docs"><thead><tr><th>Document</th><th class="rag-num">Chunks</th>'
        f'<th class="rag-num">Characters</th></tr></thead><tbody>{rows}</tbody></table>'
        f'<div class="rag-meta">{len(documents)} documents · {chunks} chunks</div>'
    )


def backends_html(infos: Sequence[BackendInfo]) -> str:
    """Each registered backend (BackendInfo records) with whether it can answer now."""
    items = []
    for info in infos:
        if info.availability.ok:
            state = '<span class="rag-ok">available</span>'
            detail = text_html(info.description)
        else:
            state = '<span class="rag-unavailable">unavailable</span>'
            detail = text_html(info.availability.reason)
        items.append(
            f'<li><span class="rag-backend-name">{text_html(info.name)}</span> {state}'
            f'<div class="rag-backend-detail">{detail}</div></li>'
        )
    return f'<ul class="rag-backends">{"".join(items)}</ul>'


def header_html(documents: Sequence[DocumentInfo]) -> str:
    chunks = sum(d.chunks for d in documents)
    stats = f"{len(documents)} documents · {chunks} chunks indexed"
    return (
        '<div class="rag-header">'
        '<div class="rag-header-text"><h1>Ask your documents</h1>'
        "<p>Every answer quotes its sources word for word, with the passage it comes from. "
        "When the documents do not hold the answer, it says so.</p></div>"
        f'<div class="rag-stats">{stats}</div>'
        "</div>"
    )


def status_html(message: str, kind: str = "ok") -> str:
    return f'<div class="rag-status rag-status-{_attr(kind)}">{text_html(message)}</div>'


def _duration(milliseconds: float) -> str:
    """A warm answer takes milliseconds ("0.0 s" read as a broken timer); a model, seconds."""
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    return f"{milliseconds / 1000:.1f} s"
