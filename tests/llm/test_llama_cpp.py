"""The `openai` backend against a real OpenAI-compatible server: llama.cpp's, with Gemma 3 270M.

The model is tiny and not instruction-tuned, so what it says is not the point: the
protocol is (a request with max_tokens, a reply read whole or streamed), and so is
what the user is shown, which must hold whatever the model says: a checked answer
whose quotes are verbatim, the abstention, or the extractive answer as a marked
fallback with the model's text kept apart.
"""

from __future__ import annotations

import json

import pytest
from hardening.helpers import cli_env, run_rag

from rag.backends.openai_compat import FALLBACK_BACKEND
from rag.chunking import count_tokens
from rag.pipeline import Pipeline
from rag.types import Answer

from .conftest import MAX_TOKENS, MODEL_ALIAS, LlamaServer, llm_settings

pytestmark = [pytest.mark.llm, pytest.mark.slow]

QUESTION = "When was the Bicentennial Framework launched?"
OFF_TOPIC = "What is the boiling point of liquid nitrogen?"


def check_what_the_user_sees(answer: dict, documents) -> None:
    """Whatever the model said: verbatim quotes, and never an unsupported answer."""
    for citation in answer["citations"]:
        text = documents[citation["doc_id"]].text
        assert text[citation["start"] : citation["end"]] == citation["quote"]
    if answer["backend"] == "openai" and not answer["abstained"]:
        assert answer["citations"], "an LLM answer shown without a citation"
        assert answer["model_text"] == ""
    elif answer["backend"] == FALLBACK_BACKEND:
        assert answer["model_text"].strip(), "a fallback must keep the model's text"
        assert "not used" in answer["notices"][0]
    else:
        assert answer["backend"] == "openai" and answer["abstained"]
    # The server was told max_tokens, and the reply was cut there at the latest
    # (tiktoken counts a little differently from Gemma's tokenizer: some slack).
    model_words = answer["model_text"] or answer["answer"]
    assert count_tokens(model_words) <= MAX_TOKENS * 1.5


@pytest.fixture(scope="module")
def documents(seed_pipeline):
    data = seed_pipeline.index()
    return {doc_id: data.documents[row] for doc_id, row in data.doc_rows.items()}


def test_rag_ask_answers_through_the_real_server(llama_server, seed_pipeline, documents, tmp_path):
    env = cli_env(
        tmp_path,
        RAG_BACKEND_OPENAI_BASE_URL=llama_server.base_url,
        RAG_BACKEND_OPENAI_MODEL=MODEL_ALIAS,
        RAG_BACKEND_OPENAI_MAX_TOKENS=str(MAX_TOKENS),
        RAG_BACKEND_OPENAI_TIMEOUT="120",
    )
    index = str(seed_pipeline.settings.index_dir)
    result = run_rag(
        "ask", QUESTION, "--backend", "openai", "--json", "--index", index, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    # The server answered: no "did not answer" fallback, whatever it said.
    assert not any("did not answer" in notice for notice in answer["notices"]), answer
    assert answer["timings_ms"]["llm"] > 0
    check_what_the_user_sees(answer, documents)
    log = llama_server.log.read_text()
    assert "fallback chat format" not in log.lower()


def test_a_streamed_answer_arrives_in_pieces_then_checked(
    llama_server, seed_pipeline, documents, index_copy
):
    settings = llm_settings(seed_pipeline, llama_server.base_url, index_copy)
    pipeline = Pipeline(settings, embedder=seed_pipeline.embedder)
    pieces = list(pipeline.ask_stream(QUESTION))
    final = pieces.pop()
    assert isinstance(final, Answer)
    assert len(pieces) >= 2 and all(isinstance(piece, str) for piece in pieces)
    answer = final.to_json()
    assert not any("did not answer" in notice for notice in answer["notices"]), answer
    check_what_the_user_sees(answer, documents)
    if final.backend == FALLBACK_BACKEND:
        assert final.model_text == "".join(pieces)


def test_an_off_topic_question_is_abstained_on_or_grounded(
    llama_server, seed_pipeline, documents, index_copy
):
    settings = llm_settings(seed_pipeline, llama_server.base_url, index_copy)
    answer = Pipeline(settings, embedder=seed_pipeline.embedder).ask(OFF_TOPIC)
    check_what_the_user_sees(answer.to_json(), documents)
    if answer.backend == FALLBACK_BACKEND:
        # The extractive answer stands in: it knows the documents do not say.
        assert answer.abstained and answer.text.startswith("The documents do not say")


def test_a_server_killed_mid_answer_gives_the_extractive_answer(
    seed_pipeline, index_copy, tmp_path
):
    server = LlamaServer(tmp_path)
    try:
        # Room to ramble, so that the kill lands while the model is still writing.
        settings = llm_settings(seed_pipeline, server.base_url, index_copy).with_options(
            "backends", "openai", max_tokens=400
        )
        pipeline = Pipeline(settings, embedder=seed_pipeline.embedder)
        stream = pipeline.ask_stream(QUESTION)
        first = next(stream)
        assert isinstance(first, str)
        server.process.kill()
        rest = list(stream)
    finally:
        server.stop()
    final = rest[-1]
    assert isinstance(final, Answer)
    assert final.backend == FALLBACK_BACKEND
    assert "The LLM did not answer" in final.notices[0]
    assert "2010" in final.text and final.citations
