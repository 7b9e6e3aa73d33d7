"""The request object: cleaned and checked once, overriding the settings for one call."""

from __future__ import annotations

import pytest

from rag.backends import Backend
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.query import Query
from rag.types import Answer, Turn


def test_a_query_is_cleaned_when_built():
    query = Query("  When was\x00 the framework\n\tlaunched?  ", history=[Turn("q", "a")])
    assert query.question == "When was the framework launched?"
    assert query.history == (Turn("q", "a"),)  # a list becomes a tuple: the Query is frozen


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "fuzzy"}, "'mode' must be one of dense, bm25, hybrid; got 'fuzzy'"),
        ({"k": 0}, "'top_k' must be between 1 and 100; got 0"),
        ({"k": 101}, "'top_k' must be between 1 and 100; got 101"),
        ({"k": True}, "'top_k' must be between 1 and 100"),
        ({"backend": ""}, "'backend' must be a registered backend name"),
    ],
)
def test_a_bad_choice_is_refused_naming_the_setting(fields, message):
    with pytest.raises(RagError, match=message.replace("(", r"\(")):
        Query("When was the framework launched?", **fields)


def test_the_retriever_is_built_once_per_index_and_a_query_overrides_it(seed_pipeline):
    retriever = seed_pipeline.retriever()
    default = seed_pipeline.retrieve("When was the Bicentennial Framework launched?")
    chosen = seed_pipeline.retrieve(
        Query("When was the Bicentennial Framework launched?", mode="bm25", k=2)
    )
    assert seed_pipeline.retriever() is retriever
    assert default.mode == seed_pipeline.settings.mode
    assert len(default.passages) == seed_pipeline.settings.top_k
    assert chosen.mode == "bm25" and len(chosen.passages) == 2


def test_a_new_index_generation_gets_a_new_retriever(scratch_pipeline, tmp_path):
    before = scratch_pipeline.retriever()
    note = tmp_path / "note.txt"
    note.write_text("The Quillon ferry first sailed in 1932.", encoding="utf-8")
    scratch_pipeline.ingest([note])
    after = scratch_pipeline.retriever()
    assert after is not before and after.data is scratch_pipeline.index()
    assert "1932" in scratch_pipeline.ask("When did the Quillon ferry first sail?").text


def test_a_document_filter_for_unknown_documents_is_refused_by_name(seed_pipeline):
    query = Query("When was the framework launched?", doc_ids={"no-such-document"})
    assert query.doc_ids == frozenset({"no-such-document"})
    with pytest.raises(RagError, match="no-such-document.*rag docs"):
        seed_pipeline.retrieve(query)


class HistoryRecorder(Backend):
    """Answers nothing; keeps the history it was given."""

    name = "recorder"

    def answer(self, request):
        self.history = request.history
        return Answer(request.question, "noted", True, self.name, passages=request.passages)


def test_backends_see_the_latest_history_turns_only(seed_pipeline):
    settings = seed_pipeline.settings.replace(history_turns=2)
    recorder = HistoryRecorder(settings)
    pipeline = Pipeline(settings, embedder=seed_pipeline.embedder, backends={"recorder": recorder})
    turns = tuple(Turn(f"What happened in {year}?", "") for year in (2019, 2020, 2021))
    answer = pipeline.ask(Query("And the framework?", backend="recorder", history=turns))
    assert answer.backend == "recorder" and answer.mode == settings.mode
    assert recorder.history == turns[-2:]


def test_ask_is_the_stream_read_to_its_end(seed_pipeline):
    question = "When was the Bicentennial Framework launched?"
    *pieces, streamed = seed_pipeline.ask_stream(question)
    asked = seed_pipeline.ask(question)
    assert "".join(pieces) == asked.text == streamed.text
    assert asked.citations == streamed.citations
    assert {"answer", "total"} <= set(asked.timings_ms)


def test_one_document_id_given_as_a_string_is_refused_not_spelled_out():
    with pytest.raises(RagError, match=r"give \['alpha'\] to search that document"):
        Query("When was it commissioned?", doc_ids="alpha")
