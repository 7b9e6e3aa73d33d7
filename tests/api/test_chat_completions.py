"""/v1/chat/completions as OpenAI's own Python client sees it, streaming and not."""

from __future__ import annotations

import json

import pytest

from rag.api.chat_completions import SOURCES_HEADING, answer_without_sources, conversation
from rag.api.service import ApiError
from rag.types import Answer, Turn

from .test_http import OFF_TOPIC, QUESTION, error_of


@pytest.fixture(scope="module")
def openai_client(client):
    """OpenAI's client, talking to the app in-process through the test client."""
    from openai import OpenAI

    return OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)


def ask(question: str, history: list[dict] | None = None) -> list[dict]:
    return [*(history or []), {"role": "user", "content": question}]


def test_a_whole_completion_carries_markers_sources_and_citations(openai_client, seed_pipeline):
    completion = openai_client.chat.completions.create(model="extractive", messages=ask(QUESTION))
    text = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert "2010" in text and "[1]" in text
    assert f"\n\n{SOURCES_HEADING}\n[1] " in text
    citations = completion.model_extra["citations"]
    assert citations and citations[0]["n"] == 1
    for citation in citations:
        document = seed_pipeline.index().documents[
            seed_pipeline.index().doc_ids.index(citation["doc_id"])
        ]
        assert document.text[citation["start"] : citation["end"]] == citation["quote"]
        assert f"“{citation['quote']}”" in text
    rag = completion.model_extra["rag"]
    assert rag["backend"] == "extractive" and rag["abstained"] is False
    assert completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0


def test_a_stream_gives_the_same_text_and_ends_with_the_citations(openai_client):
    whole = openai_client.chat.completions.create(model="extractive", messages=ask(QUESTION))
    stream = openai_client.chat.completions.create(
        model="extractive",
        messages=ask(QUESTION),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    assert finishing[0].model_extra["citations"] == whole.model_extra["citations"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_an_unanswerable_question_abstains_without_sources(openai_client):
    completion = openai_client.chat.completions.create(model="extractive", messages=ask(OFF_TOPIC))
    text = completion.choices[0].message.content
    assert text.startswith("The documents do not say") and SOURCES_HEADING not in text
    assert completion.model_extra["citations"] == []
    assert completion.model_extra["rag"]["abstained"] is True


def test_the_conversation_is_the_history(openai_client):
    first = openai_client.chat.completions.create(
        model="extractive", messages=ask("What is the Bicentennial Framework?")
    )
    follow_up = openai_client.chat.completions.create(
        model="extractive",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the Bicentennial Framework?"},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": [{"type": "text", "text": "When was it launched?"}]},
        ],
    )
    assert "2010" in follow_up.choices[0].message.content


def test_a_long_conversation_is_answered_from_its_latest_turns(openai_client):
    # Chat front ends resend every message: 60 exchanges, more than /v1/ask's 50 turns.
    messages = []
    for number in range(60):
        messages += [
            {"role": "user", "content": f"Question {number}?"},
            {"role": "assistant", "content": f"Answer {number}."},
        ]
    messages += [
        {"role": "user", "content": "What is the Bicentennial Framework?"},
        {"role": "assistant", "content": "A security partnership."},
        {"role": "user", "content": "When was it launched?"},
    ]
    completion = openai_client.chat.completions.create(model="extractive", messages=messages)
    assert "2010" in completion.choices[0].message.content


def test_openai_client_errors_carry_our_message(openai_client):
    import openai

    with pytest.raises(openai.NotFoundError) as raised:
        openai_client.chat.completions.create(model="gpt-4o", messages=ask(QUESTION))
    assert "extractive" in str(raised.value)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(
            model="extractive", messages=[{"role": "assistant", "content": "hello"}]
        )
    assert "last message must be the user's question" in str(raised.value)
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        openai_client.chat.completions.create(model="extractive", messages=ask(""))
    assert "empty" in str(raised.value)


@pytest.mark.parametrize(
    "body, status, code, phrase",
    [
        (
            {"messages": [{"role": "user", "content": "hi there"}]},
            422,
            "invalid_request",
            "'model' is required",
        ),
        ({"model": "extractive"}, 422, "invalid_request", "'messages' is required"),
        ({"model": "extractive", "messages": []}, 422, "invalid_request", "'messages'"),
        ({"model": "extractive", "messages": "hi"}, 422, "invalid_request", "'messages'"),
        (
            {"model": "extractive", "messages": [{"content": "hi"}]},
            422,
            "invalid_request",
            "'messages.0.role' is required",
        ),
        (
            {"model": "extractive", "messages": [{"role": "robot", "content": "hi"}]},
            422,
            "invalid_request",
            "'messages.0.role'",
        ),
        (
            {"model": "extractive", "messages": [{"role": "user", "content": 7}]},
            422,
            "invalid_request",
            "'messages.0.content",
        ),
        (
            {
                "model": "extractive",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                    }
                ],
            },
            400,
            "unsupported_content",
            "only text",
        ),
        (
            {"model": "extractive", "messages": [{"role": "user", "content": "x " * 1500}]},
            422,
            "invalid_request",
            "limit is 2,000",
        ),
        (
            {"model": "extractive", "messages": [{"role": "user", "content": "hi there"}] * 201},
            422,
            "invalid_request",
            "'messages'",
        ),
        (
            {"model": "extractive", "n": 2, "messages": [{"role": "user", "content": "hi there"}]},
            422,
            "invalid_request",
            "'n'",
        ),
        (
            {
                "model": "extractive",
                "stream": "yes",
                "messages": [{"role": "user", "content": "hi"}],
            },
            422,
            "invalid_request",
            "'stream'",
        ),
        (
            {"model": "extractive", "k": 0, "messages": [{"role": "user", "content": "hi there"}]},
            422,
            "invalid_request",
            "'k'",
        ),
        (
            {"model": 5, "messages": [{"role": "user", "content": "hi there"}]},
            422,
            "invalid_request",
            "'model'",
        ),
    ],
)
def test_bad_chat_requests_are_refused(client, body, status, code, phrase):
    for stream in (False, True):
        sent = {**body, "stream": body.get("stream", stream)}
        message = error_of(client.post("/v1/chat/completions", json=sent), status, code)
        assert phrase in message


def test_fields_we_do_not_use_are_accepted(client):
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "extractive",
            "messages": [{"role": "user", "content": QUESTION, "name": "ana"}],
            "temperature": 0.2,
            "max_tokens": 50,
            "user": "someone",
            "mode": "bm25",
            "k": 3,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["rag"]["mode"] == "bm25"


def test_an_error_after_the_stream_began_is_an_error_event(read_only_service):
    """A failure past the first piece cannot change the status line: it is sent as an event."""
    from rag.api.chat_completions import Completion
    from rag.api.streaming import PiecePump

    def failing():
        yield "The answer"
        raise ApiError(500, "server_error", "the backend broke")

    pieces = PiecePump(read_only_service._resumed("", failing()))
    events = list(Completion("extractive", "q").events(pieces, False))
    assert json.loads(events[-2].removeprefix("data: "))["error"]["message"] == "the backend broke"
    assert events[-1] == "data: [DONE]\n\n"


# -- the translation itself ----------------------------------------------------------------
def test_conversation_pairs_questions_with_answers():
    chat = conversation(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": f"A1 [1]\n\n{SOURCES_HEADING}\n[1] Doc: “x”"},
            {"role": "user", "content": "Q2"},
            {"role": "user", "content": [{"type": "text", "text": "Q3"}]},
        ]
    )
    assert chat.question == "Q3"
    assert chat.history == (Turn("Q1", "A1 [1]"), Turn("Q2", ""))


def test_sources_are_cut_from_an_earlier_answer_only_at_our_heading():
    assert answer_without_sources("Text with Sources: inline.") == "Text with Sources: inline."


def test_a_chat_reply_names_each_sentence_the_check_found_unsupported():
    from rag.api.chat_completions import reply_text

    made_up = "It was also used by pirates to hide gold [1]."
    answer = Answer(
        question="How tall is the lighthouse?",
        text=f"The lighthouse stands 34 meters tall [1]. {made_up}",
        abstained=False,
        backend="openai",
        notices=("1 sentence of the answer is not supported by the passages cited.",),
        unsupported=(made_up,),
    )
    assert f"Not supported by the passages it cites: “{made_up}”" in reply_text(answer)


def test_a_stream_the_client_leaves_closes_the_backends_stream_at_once():
    # Stop pressed in a chat front end: the next write fails. The backend's generator (a
    # language model's connection) must be closed then, not when garbage is collected.
    import asyncio
    import time

    from rag.api.chat_completions import Completion
    from rag.api.http import ClosingStreamingResponse
    from rag.api.streaming import PiecePump

    closed = []

    def backend_pieces():
        try:
            for number in range(1000):  # ten seconds of tokens; a keep-alive goes out after one
                time.sleep(0.01)
                yield f"token{number} "
        finally:
            closed.append(number)

    completion = Completion("openai", "prompt")
    response = ClosingStreamingResponse(
        completion.events(PiecePump(backend_pieces()), include_usage=False),
        media_type="text/event-stream",
    )
    sent = []

    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            if sent:
                raise OSError("the client went away")
            sent.append(message)

    async def receive():
        await asyncio.sleep(3600)

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}}
    from starlette.requests import ClientDisconnect

    with pytest.raises(ClientDisconnect):
        asyncio.run(response(scope, receive, send))
    [last_token] = closed
    assert last_token < 500  # closed when the write failed, not after the model finished


def test_a_stream_says_it_is_alive_before_the_backends_first_word():
    # A language model reading its prompt: seconds without a piece. The status line and
    # the role went out at once; a keep-alive each second follows until the first word.
    import time

    from rag.api.chat_completions import Completion
    from rag.api.streaming import PiecePump

    answer = Answer("q?", "Late.", False, "openai")

    def reading_the_prompt():
        time.sleep(2.5)
        yield "Late."
        yield answer

    started = time.monotonic()
    events = Completion("openai", "q").events(PiecePump(reading_the_prompt()), False)
    arrivals = [(time.monotonic() - started, event) for event in events]
    role, *rest = arrivals
    assert role[0] < 0.5 and '"role": "assistant"' in role[1]
    alive = [at for at, event in rest if event.startswith(":")]
    assert len(alive) >= 2 and alive[0] < 1.6  # not one second of silence more
    assert "Late." in rest[-1][1]


def test_the_first_piece_is_waited_for_so_a_retrieval_error_is_still_a_status():
    from rag.api.streaming import PiecePump

    def no_index():
        raise ApiError(409, "no_index", "There is no index.")
        yield  # a generator, as the pipeline's is

    with pytest.raises(ApiError, match="There is no index"):
        PiecePump(no_index()).wait_first(timeout=2.0)
    slow = PiecePump(iter([]))
    slow.wait_first(timeout=2.0)  # nothing wrong: the end is kept for the reader
    assert slow.get(timeout=0.1) == ("end", None)
