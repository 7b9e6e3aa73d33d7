"""What the hardening tests share: running the real `rag` command, and checking its errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from seed_facts import REPO, rag_command

SEED_QUESTION = "When was the Bicentennial Framework launched?"
SEED_ANSWER = "launched in 2010"
OUTPUT = REPO / "test-output"
PLUGINS = REPO / "tests" / "plugins"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `rag` run that a developer's own rag.toml cannot change."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        GRADIO_ANALYTICS_ENABLED="False",
        RAG_CONFIG="",  # no config file: a developer's own rag.toml is not read
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


def install_plugin(name: str, work: Path) -> str:
    """The example plugin tests/plugins/NAME, pip-installed into a folder: the PYTHONPATH
    that adds it to this one (which may point at a worktree's rag).

    The shared venv is left untouched; the copy keeps pip's build/ and *.egg-info out of
    tests/plugins.
    """
    source = work / "source"
    shutil.copytree(PLUGINS / name, source)
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))


def register_in_process(monkeypatch, package: str, group: str, entries: dict[str, str]) -> None:
    """Make `entries` (name: "module:Class") look registered in entry-point `group` by an
    installed `package`, for this test only: found after every real distribution."""
    import importlib.metadata
    from types import SimpleNamespace

    import rag.plugins

    plugin = SimpleNamespace(
        metadata={"Name": package},
        entry_points=[
            importlib.metadata.EntryPoint(name, value, group) for name, value in entries.items()
        ],
    )
    real = list(importlib.metadata.distributions())
    monkeypatch.setattr(rag.plugins, "distributions", lambda: [*real, plugin])
