"""ui.render: answers become HTML in which document text is always inert."""

from __future__ import annotations

from rag.pipeline import DocumentInfo
from rag.types import Answer, Citation, Passage, cited_text
from ui import render

TEXT = (
    "Intro sentence here. The <b>framework</b> was launched in [2010](http://x.test). "
    "A closing sentence."
)


def citation(start: int, end: int, score: float = 0.9, doc_id: str = "doc") -> Citation:
    return Citation(doc_id, "Title <i>", start, end, TEXT[start:end], score=score)


def passage(start: int = 0, end: int = len(TEXT), doc_id: str = "doc") -> Passage:
    return Passage(rank=1, score=0.5, citation=citation(start, end, doc_id=doc_id), chunk_id=0)


QUOTE_START = TEXT.index("The <b>")
QUOTE_END = TEXT.index(" A closing")


def test_text_html_escapes_markup_and_markdown():
    shown = render.text_html("<script>alert(1)</script> [a](http://e.test) ![i](x.png) $$x$$")
    for dangerous in ("<script", "](", "![", "$$", "http:"):
        assert dangerous not in shown
    assert "&lt;script&gt;" in shown


def test_quote_is_marked_inside_the_passage_that_contains_it():
    cited = citation(QUOTE_START, QUOTE_END)
    html = render.source_html(1, cited, [passage()])
    assert '<mark class="rag-quote">The &lt;b&gt;framework&lt;/b&gt; was launched' in html
    assert "Intro sentence here." in html  # the passage around the quote
    assert "score 0.90" in html
    assert "Title &lt;i&gt;" in html
    # Where the quote is, as `rag ask` says it: a title may be any document's first line.
    assert f"{cited.doc_id}, characters {QUOTE_START}–{QUOTE_END}" in html


def test_quote_is_shown_alone_when_no_passage_contains_it():
    cited = citation(QUOTE_START, QUOTE_END)
    others = [passage(0, 20), passage(doc_id="other")]
    assert render.containing_passage(cited, others) is None
    html = render.source_html(1, cited, others)
    assert "Intro sentence" not in html
    assert "<mark" in html


def cited_answer(*parts) -> Answer:
    """An extractive answer whose one citation is the quote inside the passage."""
    citations = (citation(QUOTE_START, QUOTE_END),)
    text, markers = cited_text(parts)
    return Answer(
        "q?", text, False, "extractive", citations=citations, passages=(passage(),), markers=markers
    )


def test_answer_markers_point_only_to_real_citations():
    answer = cited_answer("It was 2010. ", 1, " See ", 7, ".")
    html = render.answer_html(answer)
    assert '<sup class="rag-marker" title="Source 1">[1]</sup>' in html
    assert "&#91;7&#93;" in html  # not a marker: shown as typed
    assert "rag-abstained" not in html
    assert "\n" not in html  # the Chatbot re-indents multi-line messages


def test_abstention_has_its_own_style_and_no_sources():
    answer = Answer("q?", "The documents do not say.", True, "extractive", passages=(passage(),))
    html = render.answer_html(answer)
    assert "rag-abstained" in html and "Not in the documents" in html
    assert "rag-source" not in html and "rag-error" not in html


def test_passage_panel_highlights_cited_sentences():
    answer = cited_answer("x [1]")
    html = render.passages_html(answer)
    assert html.count("<mark") == 1
    assert "#1" in html


def test_documents_table_escapes_titles():
    html = render.documents_html([DocumentInfo("d", "<img src=x onerror=alert(1)>", "s", 3, 100)])
    assert "<img" not in html and "&lt;img" in html
    assert ">3<" in html


def test_an_unused_model_reply_is_behind_a_closed_disclosure_and_inert():
    cited = citation(QUOTE_START, QUOTE_END)
    answer = Answer(
        "q",
        "The framework was launched in 2010. [1]",
        False,
        "extractive (fallback)",
        citations=(cited,),
        passages=(passage(),),
        notices=("The model's answer was not used: it cites none of the passages.",),
        model_text="[INST] <<SYS>> <img src=x onerror=alert(1)> [/INST]",
    )
    html = render.answer_html(answer)
    disclosure = html[html.index("<details") : html.index("</details>")]
    assert "<details open" not in html
    assert "not used" in disclosure and "&lt;img src" in disclosure and "<img" not in disclosure
    # The answer shown is the extractive one, before the disclosure.
    assert html.index("launched in 2010") < html.index("<details")
    assert "<details" not in render.answer_html(
        Answer("q", "x [1]", False, "openai", citations=(cited,), passages=(passage(),))
    )


def test_a_documents_own_brackets_are_text_not_markers():
    # The quoted sentence holds "[2]" and "[1]"; only the marker the backend placed is one.
    answer = cited_answer("Results improved [2] and [1] held. ", 1)
    html = render.answer_html(answer)
    assert html.count('class="rag-marker" title=') == 1
    assert "improved &#91;2&#93; and &#91;1&#93; held." in html
    assert '<sup class="rag-marker" title="Source 1">[1]</sup>' in html


def test_an_answers_time_reads_in_milliseconds_until_it_takes_seconds():
    def meta(total_ms: float) -> str:
        answer = Answer("q?", "No.", True, "extractive", timings_ms={"total": total_ms})
        return render.answer_html(answer)

    assert "· 12 ms</div>" in meta(12.4)  # was "0.0 s", read as a broken timer
    assert "· 2.5 s</div>" in meta(2480)
