"""The chat handlers without a browser: streaming order, errors and uploads' messages."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.errors import RagError
from rag.types import Answer, Citation, Passage

TEXT = "The framework was launched in 2010. It is long-term."


class StreamingPipeline:
    """Just enough of Pipeline for ChatApp: a backend that streams in pieces."""

    def __init__(self, pieces=(), error: str | None = None) -> None:
        self.settings = Settings()
        self.pieces = pieces
        self.error = error
        self.asked: list[dict] = []

    def documents(self):
        return []

    def ask_stream(self, query):
        self.asked.append(query)
        if self.error:
            raise RagError(self.error)
        yield from self.pieces


def final_answer(question: str) -> Answer:
    cited = Citation("d", "Doc", 0, 35, TEXT[:35], score=0.8)
    passage = Passage(1, 0.5, Citation("d", "Doc", 0, len(TEXT), TEXT), 0)
    return Answer(
        question, "It launched in 2010 [1].", False, "fake", (cited,), (passage,), mode="dense"
    )


@pytest.fixture(scope="module")
def chat_app_class():
    from ui.app import ChatApp

    return ChatApp


def last_message(update) -> str:
    messages = update[0]
    return messages[-1]["content"]


def test_text_streams_before_citations_arrive(chat_app_class):
    question = "When was it launched?"
    pipeline = StreamingPipeline(["It launched ", "in 2010 [1].", final_answer(question)])
    app = chat_app_class(pipeline)
    updates = list(app.ask(question, [], "extractive", "dense", 3))
    shown = [last_message(u) for u in updates]
    assert "Searching the documents" in shown[0]
    assert "It launched" in shown[1] and "rag-streaming" in shown[1] and "<mark" not in shown[1]
    assert "in 2010" in shown[2] and "rag-source" not in shown[2]
    assert "rag-complete" in shown[-1] and "<mark" in shown[-1]
    assert "rag-passage" in updates[-1][2]  # the passages panel, filled once complete
    assert pipeline.asked[0].mode == "dense" and pipeline.asked[0].k == 3


NO_CHANGE = {"__type__": "update"}


@pytest.mark.parametrize(
    "pipeline",
    [
        StreamingPipeline(["It launched ", "in 2010 [1].", final_answer("When?")]),
        StreamingPipeline(error="The index manifest is damaged."),
    ],
    ids=["answered", "failed"],
)
def test_the_question_box_is_emptied_once_and_left_alone_while_the_answer_streams(
    chat_app_class, pipeline
):
    app = chat_app_class(pipeline)
    updates = list(app.ask("When?", [], "extractive", "hybrid", 5))
    boxes = [update[3] for update in updates]
    # Taken: the box is emptied, and says the next question may be typed meanwhile.
    assert boxes[0]["value"] == "" and "next question" in boxes[0]["placeholder"]
    # Later pieces leave what the user types alone; the end only restores the placeholder.
    assert all(box == NO_CHANGE for box in boxes[1:-1])
    assert "value" not in boxes[-1] and "next question" not in boxes[-1]["placeholder"]
    buttons = [update[4] for update in updates]
    assert buttons[0]["value"] == "Ask next" and buttons[-1]["value"] == "Ask"


def test_an_empty_question_changes_nothing_but_says_why(chat_app_class):
    app = chat_app_class(StreamingPipeline())
    (update,) = app.ask("   ", [], "extractive", "hybrid", 5)
    assert update[0] == update[3] == update[4] == NO_CHANGE


def test_api_clients_get_the_chat_the_passages_and_an_emptied_box(chat_app_class):
    pipeline = StreamingPipeline(["It launched ", "in 2010 [1].", final_answer("When?")])
    app = chat_app_class(pipeline)
    updates = list(app.ask_through_api("When?", [], "extractive", "hybrid", 5))
    assert all(len(update) == 4 and update[3] == "" for update in updates)
    assert "rag-complete" in last_message(updates[-1]) and "rag-passage" in updates[-1][2]


def test_history_is_handed_to_the_backend(chat_app_class):
    pipeline = StreamingPipeline([final_answer("first?")])
    app = chat_app_class(pipeline)
    turns = list(app.ask("first?", [], "extractive", "hybrid", 5))[-1][1]
    pipeline.pieces = [final_answer("second?")]
    list(app.ask("second?", turns, "extractive", "hybrid", 5))
    history = pipeline.asked[1].history
    assert [t.question for t in history] == ["first?"]
    assert history[0].answer == "It launched in 2010 [1]."


def test_library_error_shows_as_a_notice_in_the_chat(chat_app_class):
    pipeline = StreamingPipeline(error="The index manifest is damaged.")
    app = chat_app_class(pipeline)
    updates = list(app.ask("When?", [], "extractive", "hybrid", 5))
    shown = last_message(updates[-1])
    assert "rag-error" in shown and "The index manifest is damaged." in shown
    assert "Traceback" not in shown


def test_a_question_without_words_is_refused_before_the_pipeline(chat_app_class):
    pipeline = StreamingPipeline()
    app = chat_app_class(pipeline)
    shown = last_message(list(app.ask("???", [], "extractive", "hybrid", 5))[-1])
    assert "rag-error" in shown and "no words in it" in shown
    assert pipeline.asked == []


def ingest_elsewhere(pipeline, tmp_path) -> None:
    """Another process (a watcher, a CLI) adds tides.md: a new index generation."""
    from rag.pipeline import Pipeline

    (tmp_path / "tides.md").write_text("# Tide Tables\n\nHigh tide is at noon.", encoding="utf-8")
    other = Pipeline(pipeline.settings, embedder=pipeline.embedder)
    other.ingest([tmp_path / "tides.md"])


def test_the_documents_panel_follows_an_index_changed_by_another_process(
    chat_app_class, scratch_pipeline, tmp_path
):
    app = chat_app_class(scratch_pipeline)
    # Ticks before the page's load has drawn the panels change nothing, not even the state.
    assert all(update == {"__type__": "update"} for update in app.refresh_documents(None))
    app.on_load()
    shown, picker = app.index_shown([])
    assert shown == app.generation()
    header, panel, picker, seen = app.refresh_documents(shown, [])
    assert not isinstance(panel, str) and seen == {"__type__": "update"}  # nothing redrawn
    ingest_elsewhere(scratch_pipeline, tmp_path)
    header, panel, picker, seen = app.refresh_documents(shown, [])
    assert seen != shown and "Tide Tables" in panel and "The index changed" in panel
    assert ("Tide Tables (tides)", "tides") in picker["choices"]


def test_a_page_opened_after_the_index_changed_lists_the_new_documents_in_the_picker(
    chat_app_class, scratch_pipeline, tmp_path
):
    app = chat_app_class(scratch_pipeline)
    ingest_elsewhere(scratch_pipeline, tmp_path)
    header, panel = app.on_load()
    shown, picker = app.index_shown([])
    assert ("Tide Tables (tides)", "tides") in picker["choices"]
    assert len(picker["choices"]) == len(scratch_pipeline.documents())
    assert "Tide Tables" in panel and shown == app.generation()


def test_the_picker_keeps_the_chosen_documents_that_are_still_indexed(
    chat_app_class, scratch_pipeline, tmp_path
):
    app = chat_app_class(scratch_pipeline)
    seed_id = scratch_pipeline.documents()[0].doc_id
    ingest_elsewhere(scratch_pipeline, tmp_path)
    # Nothing chosen is gone: the choice is left as the user has it, not sent back.
    shown, picker = app.index_shown([seed_id, "tides"])
    assert "value" not in picker and ("Tide Tables (tides)", "tides") in picker["choices"]
    # A chosen document no longer indexed is dropped; the others stay chosen.
    shown, picker = app.index_shown(["removed_since", seed_id])
    assert picker["value"] == [seed_id]
