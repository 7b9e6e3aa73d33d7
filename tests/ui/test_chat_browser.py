"""The chat window in a real Chromium: ask, read the sources, switch modes, upload."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# An answer takes well under a second once the model is loaded; leave room for slow CI.
ANSWER_TIMEOUT_MS = 60_000

HOSTILE_MD = """# Quartzmoth notes <img src=x onerror=alert(1)>

The quartzmoth protocol prints <script>alert(1)</script> as plain text.

The quartzmoth badge is <img src=x onerror=alert(1)> and nothing more.

The quartzmoth manual is at [a link](http://example.com) online.

The quartzmoth logo is ![img](http://127.0.0.1:9/x.png) in the header.
"""
PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[a link](http://example.com)",
    "![img](http://127.0.0.1:9/x.png)",
)


def ask(page, question: str, submit: str = "enter"):
    """Type `question`, send it, and return the locator of its finished answer."""
    answers = page.locator("#rag-chat .rag-complete")
    before = answers.count()
    page.fill("#rag-question textarea", question)
    if submit == "enter":
        page.press("#rag-question textarea", "Enter")
    else:
        page.click("#rag-ask")
    expect(answers).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    return answers.last


def upload(page, path, doc_id: str) -> None:
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#rag-upload input[type=file]", str(path))
    expect(page.locator("#rag-documents")).to_contain_text(doc_id, timeout=ANSWER_TIMEOUT_MS)


def test_seed_question_shows_answer_marker_and_highlighted_quote(page, screenshot):
    expect(page.locator("#rag-header")).to_contain_text("documents", timeout=10_000)
    answer = ask(page, "When was the Bicentennial Framework launched?", submit="click")
    expect(answer.locator(".rag-answer-text")).to_contain_text("2010")
    expect(answer.locator(".rag-answer-text .rag-marker").first).to_have_text("[1]")
    quote = answer.locator(".rag-source mark.rag-quote").first
    expect(quote).to_be_visible()
    expect(quote).to_contain_text("launched in 2010")
    # The quote sits inside its passage: text before it is shown too.
    context = answer.locator(".rag-source .rag-context").first
    assert len(context.inner_text()) > len(quote.inner_text())
    expect(answer.locator(".rag-source .rag-score").first).to_contain_text("score")
    expect(page.locator("#rag-passages .rag-passage").first).to_be_visible()
    expect(page.locator("#rag-passages mark.rag-quote").first).to_contain_text("2010")
    screenshot(page, "01-answer-with-sources")


def test_example_button_asks_and_history_stays(page):
    answers_before = page.locator("#rag-chat .rag-complete").count()
    page.get_by_role("button", name="Who did Antony Blinken speak with?").click()
    answers = page.locator("#rag-chat .rag-complete")
    expect(answers).to_have_count(answers_before + 1, timeout=ANSWER_TIMEOUT_MS)
    expect(answers.last).to_contain_text("Ebrard")
    # Earlier turns are still on screen.
    chat = page.locator("#rag-chat")
    expect(chat).to_contain_text("When was the Bicentennial Framework launched?")
    expect(chat).to_contain_text("Who did Antony Blinken speak with?")


def test_unanswerable_question_shows_abstention_not_error(page, screenshot):
    answer = ask(page, "What is the capital of France?")
    expect(answer).to_have_class(re.compile(r"\brag-abstained\b"))
    expect(answer).to_contain_text("Not in the documents")
    expect(answer).to_contain_text("do not say")
    assert answer.locator(".rag-source").count() == 0
    assert page.locator("#rag-chat .rag-error").count() == 0
    screenshot(page, "02-abstention")


def test_switching_retrieval_mode_is_used_for_the_next_question(page, screenshot):
    page.locator("#rag-mode").get_by_text("BM25 (words)").click()
    answer = ask(page, "What is the Bicentennial Understanding?")
    expect(answer.locator(".rag-meta")).to_contain_text("bm25 retrieval")
    expect(answer.locator(".rag-answer-text .rag-marker").first).to_be_visible()
    expect(page.locator("#rag-passages .rag-panel-head")).to_contain_text("(bm25)")
    screenshot(page, "03-bm25-mode")
    page.locator("#rag-mode").get_by_text("Hybrid").click()


def test_backend_selector_lists_every_registered_backend(page, screenshot):
    from rag.backends import describe_backends
    from rag.config import load_settings

    # The server's settings: this environment, and no rag.toml (see server_env).
    infos = describe_backends(load_settings(environ={**os.environ, "RAG_CONFIG": ""}))
    page.locator("#rag-backend input").click()
    options = page.get_by_role("option")
    expect(options).to_have_count(len(infos))
    labels = [label.replace("✓", "").strip() for label in options.all_inner_texts()]
    for info in infos:
        wanted = info.name if info.availability.ok else f"{info.name} (unavailable)"
        assert wanted in labels, (wanted, labels)
    unavailable = [info for info in infos if not info.availability.ok]
    if unavailable:
        # Choosing one says why it cannot answer and keeps an available backend selected.
        page.get_by_role("option", name=f"{unavailable[0].name} (unavailable)").click()
        expect(
            page.get_by_text(f"The {unavailable[0].name} backend is unavailable")
        ).to_be_visible()
        expect(page.locator("#rag-backend input")).to_have_value("extractive")
    else:
        page.keyboard.press("Escape")
    page.locator("#rag-backends").get_by_role("button", name="Backends").click()
    panel = page.locator("#rag-backends")
    for info in infos:
        expect(panel).to_contain_text(info.name)
        if not info.availability.ok:
            expect(panel).to_contain_text(info.availability.reason[:40])
    screenshot(page, "06-backends")
    page.locator("#rag-backends").get_by_role("button", name="Backends").click()


def test_uploaded_document_can_be_asked_about_at_once(page, tmp_path, screenshot):
    path = tmp_path / "zephyr_orchard.txt"
    path.write_text(
        "Zephyr Orchard\n\n"
        "The Zephyr Orchard cooperative was founded in 1987 by Marta Quillfeather. "
        "It grows heirloom pears on terraces above the river Lune.\n\n"
        "Its members meet every spring to graft new trees.\n",
        encoding="utf-8",
    )
    upload(page, path, "zephyr_orchard")
    expect(page.locator("#rag-documents")).to_contain_text("Added zephyr_orchard")
    expect(page.locator("#rag-header")).to_contain_text("3 documents")
    screenshot(page, "04-documents-after-upload")
    answer = ask(page, "Who founded the Zephyr Orchard cooperative?")
    expect(answer.locator(".rag-answer-text")).to_contain_text("Marta Quillfeather")
    expect(answer.locator(".rag-source .rag-title").first).to_contain_text("Zephyr Orchard")
    expect(answer.locator("mark.rag-quote").first).to_contain_text("Marta Quillfeather")


def test_hostile_document_shows_as_text_and_runs_nothing(page, tmp_path, screenshot):
    path = tmp_path / "quartzmoth.md"
    path.write_text(HOSTILE_MD, encoding="utf-8")
    upload(page, path, "quartzmoth")
    documents = page.locator("#rag-documents")
    expect(documents).to_contain_text("Quartzmoth notes <img src=x onerror=alert(1)>")

    page.locator("#rag-top-k input[type=number]").fill("8")
    page.locator("#rag-top-k input[type=number]").press("Enter")
    answer = ask(page, "What does the quartzmoth protocol print?")
    expect(answer.locator(".rag-source").first).to_be_visible()
    page.get_by_role("tab", name="Retrieved passages").click()
    passages = page.locator("#rag-passages")
    expect(passages).to_contain_text("quartzmoth")
    shown = passages.inner_text() + answer.inner_text()
    for payload in PAYLOADS:
        assert payload in shown, f"{payload!r} is not shown literally"
    expect(answer.locator(".rag-source .rag-title").first).to_contain_text("onerror=alert(1)")
    # Nothing became markup: no script, image or link came out of the document's text.
    for area in ("#rag-chat .message-content", "#rag-passages", "#rag-documents"):
        region = page.locator(area)
        assert region.locator("script").count() == 0, area
        assert region.locator("img").count() == 0, area
        assert region.locator("a").count() == 0, area
    page.wait_for_timeout(500)  # give a stray onerror or fetch the chance to show itself
    screenshot(page, "05-hostile-document")
    # The `page` fixture then asserts no dialog opened and no request left the app.


def test_the_document_picker_lists_documents_added_after_the_server_started(
    page, browser, chat_server, tmp_path, screenshot
):
    tern = tmp_path / "tern_colony.txt"
    tern.write_text("Tern Colony\n\nThe tern colony nests on the shingle spit.\n", "utf-8")
    upload(page, tern, "tern_colony")
    # A page opened now (a new tab, a reload) lists it, though the app was built before.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = context.new_page()
        fresh.goto(chat_server)
        picker = fresh.locator("#rag-only")
        picker.locator("input").click()
        expect(fresh.get_by_role("option", name="Tern Colony (tern_colony)")).to_be_visible(
            timeout=10_000
        )
        fresh.get_by_role("option", name="Tern Colony (tern_colony)").click()
        fresh.keyboard.press("Escape")
        # An upload from this page adds its document to the picker, keeping the choice.
        heron = tmp_path / "heron_marsh.txt"
        heron.write_text("Heron Marsh\n\nThe heron marsh floods in spring.\n", "utf-8")
        upload(fresh, heron, "heron_marsh")
        expect(picker).to_contain_text("Tern Colony (tern_colony)")
        picker.locator("input").click()
        expect(fresh.get_by_role("option", name="Heron Marsh (heron_marsh)")).to_be_visible()
        fresh.keyboard.press("Escape")
        screenshot(fresh, "07-picker-follows-the-index")
    finally:
        context.close()
