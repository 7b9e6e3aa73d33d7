"""`rag serve` as a user starts it: refusals before listening, then a real server on loopback."""

from __future__ import annotations

import shutil

import pytest
from chat_server import free_port, rag_serve
from hardening.helpers import assert_clear_error, cli_env, run_rag

from .test_http import QUESTION

TOKEN = "serve-test-token-0123456789"
SERVER_START_TIMEOUT_S = 240


def test_it_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    result = run_rag("serve", "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert_clear_error(result, "Refusing to listen on 0.0.0.0 without a token", "RAG_API_TOKEN")


def test_it_refuses_a_short_token(tmp_path):
    env = cli_env(tmp_path, RAG_API_TOKEN="short")
    result = run_rag("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert_clear_error(result, "RAG_API_TOKEN must be at least 16 characters")


def test_it_refuses_a_port_in_use(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_rag("serve", "--port", str(port), cwd=tmp_path)
    assert_clear_error(result, f"Port {port} on 127.0.0.1 is in use")


@pytest.fixture(scope="module")
def served(seed_pipeline, tmp_path_factory):
    """`rag serve` on a copy of the seed index, on a free port of 127.0.0.1, with a token."""
    tmp = tmp_path_factory.mktemp("serve")
    shutil.copytree(seed_pipeline.settings.index_dir, tmp / "index")
    with rag_serve(tmp / "index", tmp, SERVER_START_TIMEOUT_S, RAG_API_TOKEN=TOKEN) as served:
        yield served


@pytest.mark.slow
def test_the_openai_client_talks_to_a_real_server(served):
    import openai

    url, log = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0, timeout=60)
    assert "extractive" in {model.id for model in client.models.list()}
    whole = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}]
    )
    assert "2010" in whole.choices[0].message.content
    assert whole.model_extra["citations"][0]["quote"] in whole.choices[0].message.content
    streamed = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == (
        whole.choices[0].message.content
    )
    assert chunks[-1].model_extra["citations"] == whole.model_extra["citations"]

    stranger = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        stranger.models.list()
    assert "RAG_API_TOKEN" in str(raised.value)
    assert "Traceback" not in log.read_text()


@pytest.mark.slow  # imports gradio, serves both
def test_the_chat_window_can_share_the_port(read_only_service, monkeypatch):
    from fastapi.testclient import TestClient

    from rag.api.http import create_app
    from rag.commands.serve import mount_chat
    from rag.errors import RagError

    for variable in ("RAG_CHAT_USER", "RAG_CHAT_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    app = create_app(read_only_service)
    mount_chat(app, read_only_service.pipeline, token=None)
    with TestClient(app) as client:
        page = client.get("/chat/")
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200
    # A browser sends no bearer token: with one required, /chat needs its own sign-in.
    with pytest.raises(RagError, match="RAG_CHAT_USER and RAG_CHAT_PASSWORD"):
        mount_chat(create_app(read_only_service), read_only_service.pipeline, token=TOKEN)
