"""`rag chat` start-up checks that need no browser: port, host and sign-in."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rag.commands.chat import auth_from_environment
from rag.errors import RagError

REPO = Path(__file__).resolve().parents[2]


def test_port_in_use_gives_a_clear_error_fast(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "rag", "chat", "--port", str(port), "--index", str(tmp_path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_sign_in_comes_from_the_environment():
    assert auth_from_environment({}) is None
    pair = {"RAG_CHAT_USER": "ana", "RAG_CHAT_PASSWORD": "s3cret"}
    assert auth_from_environment(pair) == ("ana", "s3cret")
    with pytest.raises(RagError, match="RAG_CHAT_PASSWORD"):
        auth_from_environment({"RAG_CHAT_USER": "ana"})


def test_help_does_not_import_gradio():
    code = "import sys; from rag.cli import build_parser; build_parser(); print('gradio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("signed_in", [False, True])
def test_listening_beyond_this_machine_without_sign_in_warns(tmp_path, signed_in):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_CHAT_")}
    env["RAG_CONFIG"] = ""  # no config file
    if signed_in:
        env.update(RAG_CHAT_USER="ana", RAG_CHAT_PASSWORD="s3cret")
    with socket.socket() as taken:  # a busy port: the command stops after its checks
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "rag", "chat", "--host", "0.0.0.0", "--port", str(port),
             "--index", str(tmp_path)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    warned = "warning: listening on 0.0.0.0 without sign-in" in result.stderr
    assert warned is not signed_in, result.stderr
    if warned:
        assert "RAG_CHAT_USER and RAG_CHAT_PASSWORD" in result.stderr
    assert f"Port {port} on 0.0.0.0 is in use" in result.stderr


def test_loopback_hosts_are_told_from_others():
    from rag.commands.chat import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "LocalHost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))
