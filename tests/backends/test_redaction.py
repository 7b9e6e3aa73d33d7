"""The API key never reaches a note, a log line or the screen, whatever the server echoes.

Every failure path of the `openai` backend is driven by a server that puts the
request's own `Authorization: Bearer <key>` header into what it sends back.
"""

from __future__ import annotations

import json
import logging

import pytest

from rag.backends import AnswerRequest, load_backend
from rag.config import Settings
from rag.redaction import redact

from .backend_fakes import API_KEY, ECHOED_AUTHORIZATION, KEY_ENV, Reply

ECHO = f"proxy says: Authorization: {ECHOED_AUTHORIZATION}"
QUESTION = "When was the Bicentennial Framework launched?"


def chunk(delta: dict) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]})


FAILURES = {
    "HTTP error, JSON body": Reply(status=401, raw=json.dumps({"error": {"message": ECHO}})),
    "HTTP error, text body": Reply(status=502, raw=ECHO),
    "reply without choices": Reply(raw=json.dumps({"detail": ECHO})),
    "reply that is not JSON": Reply(raw=ECHO),
    "stream error event": Reply(
        raw_events=[chunk({"content": "The"}), "data: " + json.dumps({"error": {"message": ECHO}})]
    ),  # fmt: skip
    "malformed stream event": Reply(raw_events=[chunk({"content": "The"}), f"data: {{{ECHO}"]),
    "answer text echoing the header": Reply(f"It was launched in 2010 [1]. {ECHO}"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_an_echoed_authorization_header_is_masked_everywhere(
    llm_server, passages, monkeypatch, caplog, failure, stream
):
    if not stream and FAILURES[failure].raw_events:
        pytest.skip("a stream's events are only sent to a streaming request")
    monkeypatch.setenv(KEY_ENV, API_KEY)
    llm_server.script(FAILURES[failure])
    settings = Settings().with_options(
        "backends", "openai", base_url=llm_server.base_url, model="test-model", api_key_env=KEY_ENV
    )
    backend = load_backend("openai", settings)
    request = AnswerRequest(QUESTION, passages)

    with caplog.at_level(logging.DEBUG):
        pieces = list(backend.stream(request)) if stream else [backend.answer(request)]

    assert llm_server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    answer = pieces[-1]
    shown = ["".join(pieces[:-1]), json.dumps(answer.to_json()), answer.model_text]
    shown += [record.getMessage() for record in caplog.records]
    for text in shown:
        assert API_KEY not in text
        assert "Bearer ***" in text or "Bearer" not in text, text
    if failure != "answer text echoing the header" and failure != "malformed stream event":
        assert any("Bearer ***" in notice for notice in answer.notices), answer.notices


def test_redact_masks_keys_bearer_tokens_and_url_passwords():
    text = "key sk-123 in Authorization: Bearer sk-123, bearer:abc.def and https://u:pw@h/v1"
    assert redact(text, ["sk-123"]) == (
        "key *** in Authorization: Bearer ***, bearer:*** and https://u:***@h/v1"
    )


def test_streamed_pieces_are_cut_only_where_no_token_can_be_split():
    from rag.redaction import split_at_safe_point

    assert split_at_safe_point("It was Bearer ") == ("It was ", "Bearer ")
    assert split_at_safe_point("said: bearer: ") == ("said: ", "bearer: ")
    assert split_at_safe_point("one two") == ("one ", "two")
    assert split_at_safe_point("sk-12") == ("", "sk-12")
