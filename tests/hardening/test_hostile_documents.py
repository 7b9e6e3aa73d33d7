"""Document text in the chat window reads exactly as written, and is never markup.

The browser test of a hostile document is tests/ui/test_chat_browser.py; the LLM
prompt keeping an injected instruction inside the passage block is
tests/backends/test_openai_backend.py. Here: what the reader sees is the text itself.
"""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from ui import render


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
def test_escaped_text_reads_back_as_the_text_itself(text):
    shown = render.text_html(text)
    # A browser decodes entities once; double escaping used to show "&#x27;" for "'".
    paragraphs = [re.sub(r"\s+", " ", p) for p in re.split(r"\s*\n\s*\n\s*", text)]
    assert html.unescape(shown.replace("<br>", "\n\n")) == "\n\n".join(paragraphs)
    assert "<" not in shown.replace("<br>", "") and ">" not in shown.replace("<br>", "")


def test_quotes_and_markup_in_an_answer_read_as_written():
    text = """Don't click <a href="x">here</a> & say "hi" #1 [link](http://e.test) `code`"""
    from rag.types import Answer, Citation, cited_text

    answer_text, markers = cited_text([text, " ", 1])
    cited = Citation("d", "D", 0, 1, "x")
    shown = render.answer_text_html(Answer("q", answer_text, False, "b", (cited,), markers=markers))
    assert html.unescape(re.sub(r"<sup[^>]*>\[1\]</sup>", "", shown)).strip() == text
    assert "<a" not in shown and "](" not in shown
