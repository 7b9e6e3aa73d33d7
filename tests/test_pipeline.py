"""The pipeline facade: a failing backend becomes a clear error, not a crash."""

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
