"""`rag ingest --watch`: the index follows a folder's adds, changes, deletes and renames,
and a watcher killed at any moment loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from seed_facts import rag_command

from rag.config import Settings
from rag.pipeline import Pipeline

pytestmark = pytest.mark.slow
# Generous: the machine is shared; the README gives the measured figures (about 1-2 s).
FOLLOW_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def start_watcher(folder, index, log, ignoring_interrupts: bool = False):
    def ignore_interrupts() -> None:
        # What a script's background job gets from its shell: SIGINT ignored.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        rag_command("ingest", "--watch", str(folder), "--index", str(index), "--quiet"),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        preexec_fn=ignore_interrupts if ignoring_interrupts else None,
    )


def indexed(index) -> dict[str, int]:
    """Each indexed document's id and length, read as any other reader would."""
    if not (index / "CURRENT").exists():
        return {}
    return {d.doc_id: d.characters for d in Pipeline(Settings(index_dir=index)).documents()}


def wait_for(index, expected: dict[str, int], watcher, log_path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < FOLLOW_TIMEOUT_S:
        if indexed(index) == expected:
            return time.monotonic() - started
        assert watcher.poll() is None, log_path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"index {indexed(index)} != {expected}\n{log_path.read_text()}")


def stop(watcher, log_path, stop_signal=signal.SIGINT, timeout: float = STOP_TIMEOUT_S) -> int:
    """Stop the watcher with `stop_signal` and return its exit code.

    One that has not stopped after `timeout` is killed, so that a hung watcher never
    outlives the test run, and the test fails saying so.
    """
    if watcher.poll() is not None:
        return watcher.returncode
    watcher.send_signal(stop_signal)
    try:
        return watcher.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.wait()
        raise AssertionError(
            f"the watcher did not stop within {timeout} s of {stop_signal.name}; killed it\n"
            + log_path.read_text()
        ) from None


def write(path, text: str) -> int:
    path.write_text(text, encoding="utf-8")
    return len(text)


@contextmanager
def watching(tmp_path, first_file: str, first_text: str):
    """A watcher over a folder holding one file, once the index holds it; stopped by Ctrl-C."""
    folder, index, log_path = tmp_path / "docs", tmp_path / "index", tmp_path / "watch.log"
    folder.mkdir()
    expected = {Path(first_file).stem: write(folder / first_file, first_text)}
    with open(log_path, "w") as log:
        watcher = start_watcher(folder, index, log)
        try:
            wait_for(index, expected, watcher, log_path)
            yield Watched(folder, index, log_path, log, watcher, expected)
        finally:
            stop(watcher, log_path)


@dataclass
class Watched:
    folder: Path
    index: Path
    log_path: Path
    log: IO[str]
    watcher: subprocess.Popen
    expected: dict[str, int]

    def follows(self, expected: dict[str, int]) -> float:
        return wait_for(self.index, expected, self.watcher, self.log_path)


def test_the_index_follows_adds_changes_renames_and_deletes(tmp_path):
    with watching(tmp_path, "keep.txt", "The harbour master is called Siobhan Tierney.") as w:
        keep, folder, seconds = w.expected, w.folder, {}
        ferry = write(folder / "ferry.txt", "The ferry to Inishmore leaves at nine.")
        seconds["add"] = w.follows({**keep, "ferry": ferry})
        ferry = write(folder / "ferry.txt", "The ferry to Inishmore now leaves at ten o'clock.")
        seconds["change"] = w.follows({**keep, "ferry": ferry})
        (folder / "ferry.txt").rename(folder / "boats.txt")
        seconds["rename"] = w.follows({**keep, "boats": ferry})
        (folder / "boats.txt").unlink()
        seconds["delete"] = w.follows(keep)
        print("seconds to follow:", seconds)
        assert stop(w.watcher, w.log_path) == 0, w.log_path.read_text()
    assert "Stopped watching" in w.log_path.read_text()


def test_a_killed_watcher_loses_nothing_and_catches_up_on_restart(tmp_path):
    with watching(tmp_path, "first.txt", "The lighthouse on Fastnet was lit in 1904.") as w:
        # Killed while it ingests a burst of files: the index keeps a whole generation.
        burst = {
            f"note{n}": write(w.folder / f"note{n}.txt", f"Note {n} about tides.") for n in range(5)
        }
        time.sleep(0.5)
        w.watcher.send_signal(signal.SIGKILL)
        w.watcher.wait(timeout=30)
        assert set(indexed(w.index)) >= {"first"}  # readable, and nothing from before is lost
        # Changes made while no watcher runs are caught up with at the next start.
        (w.folder / "first.txt").unlink()
        later = write(w.folder / "later.txt", "The pier was rebuilt in 2011.")
        restarted = start_watcher(w.folder, w.index, w.log)
        try:
            wait_for(w.index, {**burst, "later": later}, restarted, w.log_path)
        finally:
            stop(restarted, w.log_path)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_a_watcher_started_with_interrupts_ignored(tmp_path, stop_signal):
    folder, index, log_path = tmp_path / "docs", tmp_path / "index", tmp_path / "watch.log"
    folder.mkdir()
    expected = {"bay": write(folder / "bay.txt", "The bay froze over in the winter of 1963.")}
    with open(log_path, "w") as log:
        watcher = start_watcher(folder, index, log, ignoring_interrupts=True)
        try:
            wait_for(index, expected, watcher, log_path)
            assert stop(watcher, log_path, stop_signal) == 0, log_path.read_text()
        finally:
            if watcher.poll() is None:  # it failed before it was asked to stop
                watcher.kill()
                watcher.wait()
    assert "Stopped watching" in log_path.read_text()


def test_a_watcher_that_ignores_the_stop_signal_is_killed_not_left_running(tmp_path):
    # Stands in for a hung watcher: it ignores Ctrl-C and sleeps.
    code = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)"
    )
    hung = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert hung.stdout.readline() == "ready\n"  # the handler is in place
    log_path = tmp_path / "hung.log"
    log_path.write_text("")
    try:
        with pytest.raises(AssertionError, match="did not stop within 1 s of SIGINT; killed it"):
            stop(hung, log_path, timeout=1)
        assert hung.poll() == -signal.SIGKILL
    finally:
        if hung.poll() is None:
            hung.kill()
            hung.wait()
