"""Starting and stopping a real `rag chat` process, for the browser and load tests."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Return once `url` answers 200; fail the test with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"the server did not serve {url} within {timeout:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Terminate the server, and kill it if it does not stop within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def rag_serve(index: Path, folder: Path, timeout: float, **env: str) -> Iterator[tuple[str, Path]]:
    """`rag serve --index INDEX` on a free port of 127.0.0.1, run in `folder` (its log there):
    yields its URL and its log, and stops it after."""
    from hardening.helpers import cli_env
    from seed_facts import rag_command

    port = free_port()
    log = folder / "server.log"
    command = rag_command("serve", "--port", str(port), "--index", str(index))
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=folder, env=cli_env(folder, **env), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/healthz", process, log, timeout)
        yield url, log
    finally:
        stop(process)
