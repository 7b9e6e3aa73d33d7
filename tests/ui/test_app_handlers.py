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


def test_the_documents_panel_follows_an_index_changed_by_another_process(
    chat_app_class, scratch_pipeline, tmp_path
):
    app = chat_app_class(scratch_pipeline)
    shown = app.generation()
    # The page draws its panel at load: the first tick only remembers what it shows.
    assert app.refresh_documents(None)[3] == shown
    header, panel, picker, seen = app.refresh_documents(shown)
    assert seen == shown and not isinstance(panel, str)  # unchanged: nothing redrawn
    (tmp_path / "tides.md").write_text("# Tide Tables\n\nHigh tide is at noon.", encoding="utf-8")
    # Another process (a watcher) writes a new generation.
    from rag.pipeline import Pipeline

    other = Pipeline(scratch_pipeline.settings, embedder=scratch_pipeline.embedder)
    other.ingest([tmp_path / "tides.md"])
    header, panel, picker, seen = app.refresh_documents(shown)
    assert seen != shown and "Tide Tables" in panel and "The index changed" in panel
    assert ("Tide Tables (tides)", "tides") in picker["choices"]
