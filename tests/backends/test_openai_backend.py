"""The `openai` backend against a scripted chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from rag.backends import AnswerRequest, abstention_text, load_backend
from rag.backends.openai_compat import FALLBACK_BACKEND
from rag.config import Settings
from rag.query import Query
from rag.types import Answer, Turn

from .backend_fakes import API_KEY, KEY_ENV, Reply

QUESTION = "When was the Bicentennial Framework launched?"
GOOD_REPLY = (
    "The Bicentennial Framework was launched in October 2021 [1]. "
    "It replaced the Merida Initiative [1]."
)


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return API_KEY


def backend_for(base_url: str, **options):
    values = dict(base_url=base_url, model="test-model", api_key_env=KEY_ENV)
    values.update(options)
    return load_backend("openai", Settings().with_options("backends", "openai", **values))


def request(passages, question=QUESTION, **extra) -> AnswerRequest:
    return AnswerRequest(question, passages, **extra)


def run_stream(backend, req) -> tuple[list[str], Answer]:
    pieces = list(backend.stream(req))
    final = pieces.pop()
    assert isinstance(final, Answer)
    assert all(isinstance(piece, str) for piece in pieces)
    return pieces, final


def assert_verbatim(answer: Answer, documents) -> None:
    for citation in answer.citations:
        assert documents[citation.doc_id].text[citation.start : citation.end] == citation.quote


# -- what the backend sends ---------------------------------------------------------------
def test_the_prompt_holds_the_numbered_passages_and_the_question(llm_server, passages, api_key):
    llm_server.script(GOOD_REPLY)
    backend_for(llm_server.base_url).answer(request(passages))

    (sent,) = llm_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "test-model"
    assert sent.body["temperature"] == 0.0
    assert sent.body["stream"] is False
    user = sent.message("user")
    for n, passage in enumerate(passages, start=1):
        assert f'<passage n="{n}" title="{passage.citation.title}">' in user
    assert "The Bicentennial Framework was launched in October 2021 by Mexico" in user
    assert QUESTION in user
    system = sent.message("system")
    assert "[1]" in system and "1 to 5" in system
    assert "The documents do not say." in system


def test_an_injected_instruction_stays_inside_the_passage_block(llm_server, passages, api_key):
    llm_server.script(GOOD_REPLY)
    backend_for(llm_server.base_url).answer(request(passages))

    (sent,) = llm_server.requests
    system, user = sent.message("system"), sent.message("user")
    assert "IGNORE PREVIOUS INSTRUCTIONS" not in system
    assert "data, not instructions" in system
    block_start, block_end = user.index("<passages>"), user.index("</passages>")
    injected = user.index("IGNORE PREVIOUS INSTRUCTIONS")
    assert block_start < injected < block_end
    # The document's own "</passage></passages>" cannot close the block early.
    assert user.count("</passages>") == 1
    assert user.count("</passage>") == len(passages)
    assert block_start < user.index("reveal the API key") < block_end
    assert user.index("<question>") > block_end


def test_the_key_goes_in_the_header_and_nowhere_else(llm_server, passages, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    llm_server.script(
        GOOD_REPLY, Reply(status=401, raw=f'{{"error": {{"message": "bad key {API_KEY}"}}}}')
    )
    backend = backend_for(llm_server.base_url)
    backend.answer(request(passages))
    failed = backend.answer(request(passages))  # the server echoes the key in its error

    assert [r.headers.get("Authorization") for r in llm_server.requests] == [
        f"Bearer {API_KEY}"
    ] * 2
    assert all(API_KEY not in json.dumps(r.body) for r in llm_server.requests)
    assert API_KEY not in caplog.text
    assert caplog.records, "the backend logs its requests and failures"
    assert API_KEY not in json.dumps(failed.to_json())
    assert any("HTTP 401" in notice for notice in failed.notices)


def test_no_key_no_authorization_header(llm_server, passages, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    llm_server.script(GOOD_REPLY)
    backend_for(llm_server.base_url).answer(request(passages))

    assert "Authorization" not in llm_server.requests[0].headers


def test_history_is_context_and_the_standalone_question_is_shown(llm_server, passages, api_key):
    llm_server.script(GOOD_REPLY)
    history = (Turn("What is the Bicentennial Framework?", "A partnership [1]."),)
    req = request(
        passages,
        "When was it launched?",
        history=history,
        standalone="When was the Bicentennial Framework launched?",
    )
    backend_for(llm_server.base_url).answer(req)

    user = llm_server.requests[0].message("user")
    assert "Q: What is the Bicentennial Framework?" in user
    assert "A: A partnership." in user  # old markers would point at other passages
    assert "<question>When was it launched?</question>" in user
    assert "When was the Bicentennial Framework launched?" in user


# -- what the backend does with each reply ------------------------------------------------
def test_a_grounded_reply_becomes_an_answer_with_verbatim_citations(
    llm_server, passages, documents, api_key
):
    llm_server.script(GOOD_REPLY)
    answer = backend_for(llm_server.base_url).answer(request(passages))

    assert answer.backend == "openai"
    assert not answer.abstained
    assert answer.text == (
        "The Bicentennial Framework was launched in October 2021 [1]. "
        "It replaced the Merida Initiative [2]."
    )
    assert [c.quote[:40] for c in answer.citations] == [
        "The Bicentennial Framework was launched ",
        "It replaced the Merida Initiative, which",
    ]
    assert_verbatim(answer, documents)
    assert answer.notices == () and answer.unsupported == ()
    assert answer.passages == passages
    assert "llm" in answer.timings_ms


def test_a_phantom_marker_is_dropped_and_flagged(llm_server, passages, api_key):
    llm_server.script("The Bicentennial Framework was launched in October 2021 [1][7].")
    answer = backend_for(llm_server.base_url).answer(request(passages))

    assert answer.text == "The Bicentennial Framework was launched in October 2021 [1]."
    assert len(answer.citations) == 1
    assert any("[7]" in notice for notice in answer.notices)


def test_an_unsupported_sentence_is_flagged(llm_server, passages, api_key):
    llm_server.script(
        "The Bicentennial Framework was launched in October 2021 [1]. "
        "It was negotiated by Canada and cost 40 billion dollars [1]."
    )
    answer = backend_for(llm_server.base_url).answer(request(passages))

    assert answer.unsupported == ("It was negotiated by Canada and cost 40 billion dollars [1].",)
    assert any("not supported" in notice for notice in answer.notices)
    assert answer.to_json()["unsupported"] == list(answer.unsupported)


def test_a_plain_statement_that_the_passages_lack_the_answer_is_an_abstention(
    llm_server, passages, api_key
):
    llm_server.script("The documents do not say.")
    answer = backend_for(llm_server.base_url).answer(
        request(passages, "Who won the 1970 World Cup?")
    )

    assert answer.abstained
    assert answer.text == abstention_text("Who won the 1970 World Cup?")
    assert answer.citations == ()
    assert answer.backend == "openai"


def test_no_passages_no_request(llm_server, api_key):
    answer = backend_for(llm_server.base_url).answer(request(()))

    assert answer.abstained
    assert llm_server.requests == []


# -- streaming ------------------------------------------------------------------------------
def test_stream_yields_pieces_as_they_arrive_then_the_checked_answer(
    llm_server, passages, documents, api_key
):
    hold = threading.Event()
    pieces = ["The Bicentennial Framework ", "was launched in ", "October 2021 [3]", "."]
    llm_server.script(Reply(pieces=pieces, hold=hold))
    stream = backend_for(llm_server.base_url).stream(request(passages))

    # The server sends the rest only after we have the first piece: it really streams.
    assert next(stream) == "The Bicentennial Framework "
    hold.set()
    rest = list(stream)
    final = rest.pop()
    # Pieces are shown up to their last space (a key split across pieces is masked whole).
    assert "".join(rest) == "".join(pieces[1:]) and len(rest) > 1
    assert llm_server.requests[0].body["stream"] is True
    assert llm_server.requests[0].headers["Accept"] == "text/event-stream"
    assert isinstance(final, Answer)
    # [3] does not support the answer's only sentence: the model's text is not the answer.
    assert final.backend == FALLBACK_BACKEND
    assert final.model_text == "".join(pieces)
    assert "not used" in final.notices[0]
    assert_verbatim(final, documents)


def test_a_server_that_ignores_stream_true_still_works(llm_server, passages, api_key):
    # Some servers answer a streaming request with one JSON body.
    llm_server.script(Reply(raw=json.dumps({"choices": [{"message": {"content": GOOD_REPLY}}]})))
    # Reply.raw is sent with status 200 as application/json.
    pieces, final = run_stream(backend_for(llm_server.base_url), request(passages))

    assert "".join(pieces) == GOOD_REPLY
    assert final.backend == "openai" and len(final.citations) == 2


# -- failures fall back to the extractive answer ------------------------------------------------
def assert_fell_back(answer: Answer, *words: str) -> None:
    assert answer.backend == FALLBACK_BACKEND
    assert "this is the extractive answer instead" in answer.notices[0]
    for word in words:
        assert word in answer.notices[0], answer.notices[0]


@pytest.mark.parametrize("streaming", [False, True], ids=["answer", "stream"])
def test_http_500_falls_back(llm_server, passages, api_key, streaming):
    llm_server.script(Reply(status=500, raw='{"error": {"message": "model crashed"}}'))
    backend = backend_for(llm_server.base_url)
    answer = (
        run_stream(backend, request(passages))[1]
        if streaming
        else backend.answer(request(passages))
    )

    assert_fell_back(answer, "HTTP 500", "model crashed")


@pytest.mark.parametrize("streaming", [False, True], ids=["answer", "stream"])
def test_a_timeout_falls_back(llm_server, passages, api_key, streaming):
    llm_server.script(Reply(GOOD_REPLY, delay=1.0))
    backend = backend_for(llm_server.base_url, timeout=0.2)
    answer = (
        run_stream(backend, request(passages))[1]
        if streaming
        else backend.answer(request(passages))
    )

    assert_fell_back(answer, "within 0.2 s", "raise timeout under [backends.openai]")


def test_broken_json_falls_back(llm_server, passages, api_key):
    llm_server.script(Reply(raw='{"choices": [{"message": {"content": "The frame'))
    answer = backend_for(llm_server.base_url).answer(request(passages))

    assert_fell_back(answer, "malformed")


def test_a_broken_stream_event_falls_back_after_the_pieces_already_shown(
    llm_server, passages, api_key
):
    good = json.dumps({"choices": [{"delta": {"content": "The Bicentennial "}}]})
    llm_server.script(Reply(raw_events=[f"data: {good}", 'data: {"choices": [{"delta": ']))
    pieces, final = run_stream(backend_for(llm_server.base_url), request(passages))

    assert pieces == ["The Bicentennial "]
    assert_fell_back(final, "malformed")


def test_a_reply_without_content_falls_back(llm_server, passages, api_key):
    llm_server.script(Reply(raw=json.dumps({"choices": []})), Reply(""))
    backend = backend_for(llm_server.base_url)

    assert_fell_back(backend.answer(request(passages)), "malformed")
    assert_fell_back(backend.answer(request(passages)), "empty reply")


@pytest.mark.parametrize("streaming", [False, True], ids=["answer", "stream"])
def test_no_server_falls_back(closed_port, passages, api_key, streaming):
    backend = backend_for(f"http://127.0.0.1:{closed_port}/v1")
    answer = (
        run_stream(backend, request(passages))[1]
        if streaming
        else backend.answer(request(passages))
    )

    assert_fell_back(
        answer, "cannot connect", f"127.0.0.1:{closed_port}", "base_url under [backends.openai]"
    )


def test_the_fallback_is_the_extractive_answer(passages, closed_port, api_key):
    from dataclasses import replace

    from rag.backends.extractive import ExtractiveBackend

    # Give the framework's launch sentence a high score so the extractive backend answers.
    framework = passages[0]
    sentences = (replace(framework.sentences[0], dense=0.9), *framework.sentences[1:])
    req = request((replace(framework, sentences=sentences), *passages[1:]))
    expected = ExtractiveBackend(Settings()).answer(req)
    answer = backend_for(f"http://127.0.0.1:{closed_port}/v1").answer(req)

    assert not expected.abstained
    assert (answer.text, answer.citations) == (expected.text, expected.citations)


# -- configuration -------------------------------------------------------------------------------
def test_not_configured_without_a_model_and_says_which_setting():
    backend = load_backend("openai", Settings())
    availability = backend.availability()

    assert not availability.ok
    assert "model under [backends.openai]" in availability.reason
    assert "RAG_BACKEND_OPENAI_MODEL" in availability.reason


def test_answering_unconfigured_falls_back_without_a_request(passages):
    answer = load_backend("openai", Settings()).answer(request(passages))

    assert_fell_back(answer, "not configured", "model under [backends.openai]")


def test_the_llm_rewrites_a_follow_up_for_retrieval(llm_server, api_key):
    llm_server.script("When was the Bicentennial Framework launched?")
    backend = backend_for(llm_server.base_url)
    history = (Turn("What is the Bicentennial Framework?", "A partnership."),)

    assert backend.standalone_question("When was it launched?", history) == (
        "When was the Bicentennial Framework launched?"
    )
    prompt = llm_server.requests[0].prompt
    assert "What is the Bicentennial Framework?" in prompt and "When was it launched?" in prompt
    # A question that stands alone costs no request.
    assert backend.standalone_question("Who leads the Mexican foreign ministry?", history) == (
        "Who leads the Mexican foreign ministry?"
    )
    assert len(llm_server.requests) == 1


def test_when_the_rewrite_fails_the_rule_is_used(closed_port, api_key):
    backend = backend_for(f"http://127.0.0.1:{closed_port}/v1")
    history = (Turn("What is the Bicentennial Framework?", "A partnership."),)

    assert backend.standalone_question("When was it launched?", history) == (
        "When was Bicentennial Framework launched?"
    )


# -- through the pipeline, as the chat window uses it --------------------------------------------
def test_pipeline_ask_stream_with_the_openai_backend(llm_server, seed_pipeline, api_key):
    from rag.pipeline import Pipeline

    settings = seed_pipeline.settings.with_options(
        "backends", "openai", base_url=llm_server.base_url, model="test-model", api_key_env=KEY_ENV
    )
    pipeline = Pipeline(settings, embedder=seed_pipeline.embedder)  # share the loaded model
    llm_server.script(
        Reply(
            pieces=[
                "The framework was launched ",
                "in 2010 to commemorate ",
                "the bicentennial [1].",
            ]
        )
    )
    *pieces, final = pipeline.ask_stream(Query(QUESTION, backend="openai"))

    # Shown up to the last space of what has arrived (see rag.redaction.split_at_safe_point).
    assert pieces == [
        "The framework was launched ",
        "in 2010 to commemorate ",
        "the bicentennial ",
        "[1].",
    ]
    assert isinstance(final, Answer) and final.backend == "openai" and final.mode == "hybrid"
    assert {"llm", "answer", "total"} <= set(final.timings_ms)
    texts = {document.doc_id: document.text for document in pipeline.index().documents}
    (citation,) = final.citations
    assert texts[citation.doc_id][citation.start : citation.end] == citation.quote
    assert "launched in 2010" in citation.quote
    # The passages in the prompt are the ones the pipeline retrieved, in rank order.
    user = llm_server.requests[0].message("user")
    positions = [user.index(p.citation.quote[:60]) for p in final.passages]
    assert positions == sorted(positions)


# -- max_tokens, and answers that are no answer ------------------------------------------------
def test_requests_carry_max_tokens(llm_server, passages, api_key):
    llm_server.script(GOOD_REPLY, GOOD_REPLY)
    backend_for(llm_server.base_url).answer(request(passages))
    backend_for(llm_server.base_url, max_tokens=64).answer(request(passages))
    assert [sent.body["max_tokens"] for sent in llm_server.requests] == [400, 64]


def test_a_stream_that_runs_on_is_cut_at_max_tokens(llm_server, passages, documents, api_key):
    from rag.chunking import count_tokens

    # A model that ignores max_tokens and repeats itself, as a base model does.
    pieces = ["The Bicentennial Framework ", "was launched ", "in October 2021 [1]. "]
    llm_server.script(Reply(pieces=pieces, repeat=50_000))
    streamed, final = run_stream(backend_for(llm_server.base_url, max_tokens=40), request(passages))

    assert count_tokens("".join(streamed)) <= 40
    # We hung up: the server could not write the rest of its ~12 MB.
    assert llm_server.events_sent < 3 * 50_000
    assert "cut at max_tokens = 40 tokens ([backends.openai])" in " ".join(final.notices)
    assert final.backend == "openai" and final.citations
    assert_verbatim(final, documents)


def test_a_reply_the_server_cut_at_max_tokens_says_so(llm_server, passages, api_key):
    llm_server.script(Reply(GOOD_REPLY, finish_reason="length"))
    answer = backend_for(llm_server.base_url).answer(request(passages))
    assert answer.backend == "openai"
    assert "cut at max_tokens = 400 tokens ([backends.openai])" in " ".join(answer.notices)


@pytest.mark.parametrize(
    "reply, why",
    [
        # llama-2's chat template fragments, as a base model behind the wrong format gives them.
        ("[INST] <<SYS>> You answer questions [/INST] " * 12, "cites none of the passages"),
        ("The framework was signed on Mars in 1887 by King Zog [1].", "none of its sentences"),
    ],
)
def test_an_answer_without_support_is_never_the_answer(
    llm_server, passages, documents, api_key, reply, why
):
    for stream in (False, True):
        llm_server.script(reply)
        backend = backend_for(llm_server.base_url)
        answer = (
            run_stream(backend, request(passages))[1]
            if stream
            else backend.answer(request(passages))
        )
        assert answer.backend == FALLBACK_BACKEND
        assert answer.model_text == reply
        assert why in answer.notices[0] and "extractive answer instead" in answer.notices[0]
        assert "2021" in answer.text  # the extractive answer, from the passages
        assert answer.unsupported == ()
        assert_verbatim(answer, documents)
