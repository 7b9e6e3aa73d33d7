"""The pipeline facade: a failing backend becomes a clear error, not a crash."""

from __future__ import annotations

import pytest

from rag.backends import Backend
from rag.errors import RagError


class BrokenBackend(Backend):
    name = "broken"

    def answer(self, request):
        raise ZeroDivisionError("plugin bug")


@pytest.mark.parametrize("streaming", [False, True])
def test_a_backend_that_raises_gives_a_rag_error_naming_it(seed_pipeline, streaming):
    seed_pipeline._backends["broken"] = BrokenBackend(seed_pipeline.settings)
    try:
        with pytest.raises(RagError, match="'broken' failed: ZeroDivisionError: plugin bug"):
            if streaming:
                list(seed_pipeline.ask_stream("When was the framework launched?", backend="broken"))
            else:
                seed_pipeline.ask("When was the framework launched?", backend="broken")
    finally:
        del seed_pipeline._backends["broken"]
