"""What the hardening tests share: running the real `rag` command, and checking its errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from seed_facts import REPO, rag_command

SEED_QUESTION = "When was the Bicentennial Framework launched?"
SEED_ANSWER = "launched in 2010"
OUTPUT = REPO / "test-output"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `rag` run that a developer's own rag.toml cannot change."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        GRADIO_ANALYTICS_ENABLED="False",
        RAG_CONFIG=str(tmp_path / "absent.toml"),
    )
    env.update(extra)
    return env


def run_rag(
    *args: str | bytes,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run `rag ARGS` in `cwd` and return what it printed (text, undecodable bytes replaced)."""
    result = subprocess.run(
        rag_command(*args),  # type: ignore[arg-type]
        cwd=cwd,
        env=env if env is not None else cli_env(cwd),
        capture_output=True,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def assert_clear_error(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """The run failed with one `error:` line holding every phrase, and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0], (phrase, errors[0])
    return errors[0]
