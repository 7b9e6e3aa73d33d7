"""The chat window in a real Chromium over a slow, streaming stand-in for the pipeline.

What these tests look at needs an answer that takes seconds (a user types while it
streams) or more passages and documents than the seed index holds, so the window is
built in this process over `SlowPipeline` instead of the real index.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chat_server import free_port
from playwright.sync_api import expect

from rag.config import Settings
from rag.ingest import IngestReport
from rag.pipeline import DocumentInfo
from rag.types import Answer, Citation, Passage

pytestmark = pytest.mark.browser

# Pieces of each streamed answer, and the pause before each: an answer takes ~4 s, time
# enough to type a question while it streams.
PIECES = ("The ", "framework ", "was ", "launched ", "in 2010 ", "and is ", "long-", "term [1].")
PIECE_DELAY_S = 0.5
N_PASSAGES = 20
N_DOCUMENTS = 30
PASSAGE_TEXT = "The framework was launched in 2010. It is long-term and covers many fields. " * 3
ANSWER_TIMEOUT_MS = 30_000
BOX = "#rag-question textarea"
PLACEHOLDER = "Ask a question about your documents…"
NEXT_PLACEHOLDER = "Type your next question: it is asked when this answer is complete."
# A question the stand-in fails on with an exception, as a buggy backend would.
CRASHING_QUESTION = "Does the backend crash?"
# How long the crashing answer streams before it fails.
CRASH_AFTER_S = 1.5


class Generation:
    """The index store's part the window reads: which generation is live."""

    def __init__(self) -> None:
        self.number = 1

    def exists(self) -> bool:
        return True

    def current_generation(self) -> Path:
        return Path(f"generation-{self.number}")


class SlowPipeline:
    """Just enough of Pipeline for the window: answers streamed slowly, with many passages."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.store = Generation()
        self.indexed = [
            DocumentInfo(f"doc_{n:02d}", f"Document {n}", f"doc_{n:02d}.txt", 1, 200)
            for n in range(N_DOCUMENTS)
        ]

    def documents(self) -> list[DocumentInfo]:
        return list(self.indexed)

    def ensure_index(self, on_progress=None) -> None:
        return None

    def index(self) -> None:
        return None

    def ingest(self, paths, on_progress=None, lock_timeout: float = 0) -> IngestReport:
        """Every file is added, except those named empty*: skipped, as the real ingest would."""
        report = IngestReport()
        for path in paths:
            if path.name.startswith("empty"):
                report.skipped.append(f"{path}: the file holds no text to index.")
                continue
            self.indexed.append(DocumentInfo(path.stem, path.stem.title(), path.name, 1, 10))
            report.added.append(path.stem)
        self.store.number += 1
        return report

    def ask_stream(self, query):
        if query.question == CRASHING_QUESTION:
            # Slow enough for the window's "Ask next" to be seen before the crash (at once,
            # a loaded machine's browser could miss it).
            time.sleep(PIECE_DELAY_S)
            yield PIECES[0]
            time.sleep(CRASH_AFTER_S)
            raise RuntimeError("a bug in a backend")
        for piece in PIECES:
            time.sleep(PIECE_DELAY_S)
            yield piece
        passages = tuple(
            Passage(n + 1, 0.5, Citation(f"doc_{n:02d}", f"Document {n}", 0, 60, PASSAGE_TEXT), n)
            for n in range(N_PASSAGES)
        )
        quote = Citation("doc_00", "Document 0", 0, 35, PASSAGE_TEXT[:35], score=0.8)
        yield Answer(
            query.question, "".join(PIECES), False, "slow", (quote,), passages, mode=query.mode
        )


@pytest.fixture(scope="module")
def window_url(tmp_path_factory):
    """The window over a SlowPipeline, served from this process on 127.0.0.1."""
    uploads = tmp_path_factory.mktemp("uploads")
    with pytest.MonkeyPatch.context() as patch:
        # Gradio reads its upload folder when the app is built; keep uploads in the test's.
        patch.setenv("GRADIO_TEMP_DIR", str(uploads))
        from ui.app import launch

        port = free_port()
        demo = launch(SlowPipeline(), port=port, prevent_thread_lock=True)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


@pytest.fixture
def window(browser, window_url):
    """A fresh page of the window, each test its own conversation."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(window_url)
    page.wait_for_selector(BOX, timeout=30_000)
    yield page
    context.close()


def streamed_text(page) -> str:
    streaming = page.locator("#rag-chat .rag-streaming")
    return streaming.inner_text() if streaming.count() else ""


def test_typing_while_an_answer_streams_is_kept_and_asked_next(window, screenshot):
    page = window
    page.fill(BOX, "When was the framework launched?")
    page.press(BOX, "Enter")
    expect(page.locator("#rag-chat .rag-streaming")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    # The button and the empty box say that a question typed now is asked next.
    expect(page.locator("#rag-ask")).to_have_text("Ask next")
    expect(page.locator(BOX)).to_have_attribute("placeholder", NEXT_PLACEHOLDER)
    before = streamed_text(page)
    page.click(BOX)
    page.keyboard.type("Is it long-term?", delay=50)
    # Pieces arrived while the user typed; none of them touched what was typed.
    assert streamed_text(page) != before
    expect(page.locator(BOX)).to_have_value("Is it long-term?")
    assert page.locator("#rag-chat .rag-streaming").count() == 1, "the answer ended too soon"
    page.press(BOX, "Enter")
    # Still answering the first question: the second waits in the box, not lost.
    page.wait_for_timeout(300)
    assert page.locator("#rag-chat .rag-streaming").count() == 1, "the answer ended too soon"
    expect(page.locator(BOX)).to_have_value("Is it long-term?")
    screenshot(page, "08-typed-while-streaming")

    answers = page.locator("#rag-chat .rag-complete")
    expect(answers).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-chat .rag-question")).to_have_text(
        ["When was the framework launched?", "Is it long-term?"]
    )
    expect(page.locator(BOX)).to_have_value("")
    expect(page.locator("#rag-ask")).to_have_text("Ask")
    expect(page.locator(BOX)).to_have_attribute("placeholder", PLACEHOLDER)


def test_ask_and_an_example_pressed_while_an_answer_streams_wait_their_turn(window):
    page = window
    page.fill(BOX, "When was the framework launched?")
    page.click("#rag-ask")
    expect(page.locator("#rag-chat .rag-streaming")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    page.fill(BOX, "Is the framework long-term?")
    page.click("#rag-ask")
    answers = page.locator("#rag-chat .rag-complete")
    expect(answers).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-chat .rag-streaming")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    # An example clicked during the second answer is asked after it, not alongside it.
    page.get_by_role("button", name="Who did Antony Blinken speak with?").click()
    expect(answers).to_have_count(3, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-chat .rag-question")).to_have_text(
        [
            "When was the framework launched?",
            "Is the framework long-term?",
            "Who did Antony Blinken speak with?",
        ]
    )
    # Every question kept its own finished answer: none is left pending or overwritten.
    expect(page.locator("#rag-chat .rag-pending, #rag-chat .rag-streaming")).to_have_count(0)


def test_after_an_answer_fails_unexpectedly_the_window_is_ready_for_the_next(window):
    page = window
    page.fill(BOX, CRASHING_QUESTION)
    page.press(BOX, "Enter")
    expect(page.locator("#rag-ask")).to_have_text("Ask next", timeout=ANSWER_TIMEOUT_MS)
    # The handler never reaches its own last update: the failure handler puts both back.
    expect(page.locator("#rag-ask")).to_have_text("Ask", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator(BOX)).to_have_attribute("placeholder", PLACEHOLDER)
    page.fill(BOX, "When was the framework launched?")
    page.press(BOX, "Enter")
    expect(page.locator("#rag-chat .rag-complete")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)


# The heights of the element that scrolls a panel's content (the nearest one from its
# last item up to the panel that can scroll), or null when nothing in the panel scrolls.
SCROLLER_JS = """([panel, item]) => {
    const root = document.querySelector(panel);
    const items = root.querySelectorAll(item);
    for (let el = items[items.length - 1]; el; el = el.parentElement) {
        const overflow = getComputedStyle(el).overflowY;
        if ((overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight)
            return {client: el.clientHeight, scroll: el.scrollHeight};
        if (el === root) break;
    }
    return null;
}"""

# Whether the middle of the last `item` is on screen and drawn on top (not under another
# component, not cut off by its panel).
LAST_SHOWN_JS = """(item) => {
    const items = document.querySelectorAll(item);
    const last = items[items.length - 1];
    const box = last.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + Math.min(box.height / 2, 10);
    if (y < 0 || y > window.innerHeight) return false;
    const hit = document.elementFromPoint(x, y);
    return hit !== null && last.contains(hit);
}"""


def scroll_to_last(page, panel: str, item: str) -> bool:
    """Wheel over `panel` as a mouse user would until its last `item` shows, or give up."""
    box = page.locator(panel).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 200))
    for _ in range(40):
        if page.evaluate(LAST_SHOWN_JS, item):
            return True
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(50)
    return page.evaluate(LAST_SHOWN_JS, item)


def test_the_passages_panel_scrolls_to_the_last_of_twenty_passages(window, screenshot):
    page = window
    page.fill(BOX, "When was the framework launched?")
    page.press(BOX, "Enter")
    expect(page.locator("#rag-passages .rag-passage")).to_have_count(
        N_PASSAGES, timeout=ANSWER_TIMEOUT_MS
    )
    scroller = page.evaluate(SCROLLER_JS, ["#rag-passages", ".rag-passage"])
    assert scroller is not None, "the passages panel does not scroll"
    assert scroller["scroll"] > scroller["client"]
    assert scroll_to_last(page, "#rag-passages", "#rag-passages .rag-passage"), (
        "passage #20 cannot be scrolled into view"
    )
    expect(page.locator("#rag-passages .rag-passage").last).to_contain_text("#20")
    screenshot(page, "09-passages-scrolled-to-the-last")


def test_the_documents_panel_scrolls_and_upload_results_are_not_covered(
    window, tmp_path, screenshot
):
    page = window
    page.get_by_role("tab", name="Documents").click()
    files = [tmp_path / "zebra_notes.txt", tmp_path / "empty_a.txt", tmp_path / "empty_b.txt"]
    for path in files:
        path.write_text("Zebra notes.", encoding="utf-8")
    page.set_input_files("#rag-upload input[type=file]", [str(path) for path in files])
    statuses = page.locator("#rag-documents .rag-status")
    expect(statuses).to_have_count(3, timeout=ANSWER_TIMEOUT_MS)
    expect(statuses.last).to_contain_text("Skipped empty_b.txt")
    # The outcome of the upload is readable at once: drawn on top, without scrolling.
    assert page.evaluate(LAST_SHOWN_JS, "#rag-documents .rag-status")
    scroller = page.evaluate(SCROLLER_JS, ["#rag-documents", "table.rag-docs tbody tr"])
    assert scroller is not None, "the documents panel does not scroll"
    assert scroll_to_last(page, "#rag-documents", "#rag-documents table.rag-docs tbody tr"), (
        "the last document row cannot be scrolled into view"
    )
    # The panel ends above the upload box: nothing of it is drawn underneath.
    panel = page.locator("#rag-documents").bounding_box()
    drop_zone = page.locator("#rag-upload").bounding_box()
    assert panel["y"] + panel["height"] <= drop_zone["y"] + 1
    screenshot(page, "10-documents-scrolled-to-the-last")


def test_the_ask_endpoint_returns_the_answer_and_an_empty_question_box(window_url):
    from gradio_client import Client

    client = Client(window_url, verbose=False, download_files=False, analytics_enabled=False)
    try:
        messages, passages, box = client.predict(
            "When was the framework launched?", "extractive", "hybrid", 5, api_name="/ask"
        )
    finally:
        client.close()
    assert "rag-complete" in messages[-1]["content"][0]["text"]
    assert "rag-passage" in passages
    assert box == ""
