"""Nothing lost: an ingest killed at any moment, even while it writes, and two ingests at once.

tests/test_ingest.py kills `rag ingest` three times at random moments; here the kills
are aimed at the commit itself (the moment a new generation is being written), and two
real processes race for the same index. After every kill the index holds either all of
the old documents or all of the new ones, loads, and answers.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from seed_facts import FRAMEWORK_DOC, SEEDS, UNDERSTANDING_DOC, rag_command

from rag.pipeline import Pipeline
from rag.store import IndexStore

from .helpers import SEED_ANSWER, SEED_QUESTION, cli_env

SEED_DOCS = {FRAMEWORK_DOC, UNDERSTANDING_DOC}
STAGING_GLOB = ".gen-*.tmp"
# Bounds on waiting for a process to reach a phase, and for one to finish.
PHASE_TIMEOUT_S = 300
FINISH_TIMEOUT_S = 600


def write_corpus(folder: Path, names: list[str], issue: int = 0) -> set[str]:
    folder.mkdir(parents=True, exist_ok=True)
    base = (SEEDS / f"{UNDERSTANDING_DOC}.txt").read_text(encoding="utf-8")
    for number, name in enumerate(names):
        (folder / f"{name}.txt").write_text(
            f"Bulletin {name}, issue {issue}.\n\n{base} Edition {number}.", encoding="utf-8"
        )
    return set(names)


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        rag_command(*args),
        cwd=cwd,
        env=cli_env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = PHASE_TIMEOUT_S) -> bool:
    """Poll `condition` until it holds (True) or `process` has ended first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.001)
    process.kill()
    pytest.fail("the ingest never reached the awaited phase")


def fresh_pipeline(settings, embedder) -> Pipeline:
    return Pipeline(settings, embedder=embedder)


def assert_whole_index(pipeline: Pipeline, allowed: list[set[str]]) -> set[str]:
    """The live index is one of the allowed document sets, complete, and answers."""
    documents = {document.doc_id for document in pipeline.index().documents}
    assert documents in allowed, sorted(documents)
    answer = pipeline.ask(SEED_QUESTION)
    assert not answer.abstained and SEED_ANSWER in answer.text
    return documents


@pytest.mark.slow
@pytest.mark.parametrize("update", ["rebuild", "incremental"])
def test_sigkill_while_writing_the_index_never_loses_it(scratch_pipeline, tmp_path, update):
    """Killed while writing a whole index, or one new segment beside linked ones."""
    settings, embedder = scratch_pipeline.settings, scratch_pipeline.embedder
    index = settings.index_dir
    names = [f"bulletin-{n}" for n in range(3)]
    new_docs = write_corpus(tmp_path / "corpus", names)
    allowed = [SEED_DOCS, SEED_DOCS | new_docs]
    # --rebuild writes a new generation every time; an incremental ingest does when its
    # files changed (a new issue each run), so every run reaches a commit to kill.
    command = (
        "ingest",
        str(SEEDS),
        str(tmp_path / "corpus"),
        *(["--rebuild"] if update == "rebuild" else []),
        "--quiet",
        "--index",
        str(index),
    )
    issues = iter(range(1, 10))
    rng = random.Random(6)
    # Kills aimed at the write: as soon as the new generation's folder appears, and at
    # random moments into writing it (random moments of the whole run: tests/test_ingest.py).
    killed_mid_write = 0
    for delay in (0.0, rng.uniform(0.0, 0.02), rng.uniform(0.02, 0.2)):
        write_corpus(tmp_path / "corpus", names, next(issues))
        process = start(*command, cwd=tmp_path)
        reached = wait_for(lambda: any(index.glob(STAGING_GLOB)), process)
        assert reached, process.communicate()[1]
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
        # A staging folder left behind means the kill landed in the middle of the write.
        killed_mid_write += any(index.glob(STAGING_GLOB))
        store = IndexStore(index)
        assert (store.current_generation() / "manifest.json").is_file()
        assert_whole_index(fresh_pipeline(settings, embedder), allowed)
    assert killed_mid_write >= 1, "no kill landed while the index was being written"

    # The next ingest completes, and cleans up what the killed ones left.
    write_corpus(tmp_path / "corpus", names, next(issues))
    finished = start(*command, cwd=tmp_path)
    _, errors = finished.communicate(timeout=FINISH_TIMEOUT_S)
    assert finished.returncode == 0, errors
    assert list(index.glob(STAGING_GLOB)) == []
    assert len(list(index.glob("gen-*"))) == 1
    assert assert_whole_index(fresh_pipeline(settings, embedder), allowed) == allowed[1]


@pytest.mark.slow
def test_two_ingests_at_once_one_fails_clearly_the_other_waits(scratch_pipeline, tmp_path):
    from filelock import FileLock, Timeout

    settings, embedder = scratch_pipeline.settings, scratch_pipeline.embedder
    index = settings.index_dir
    first = write_corpus(tmp_path / "first", [f"first-{n}" for n in range(6)])
    second = write_corpus(tmp_path / "second", [f"second-{n}" for n in range(2)])

    def holds_lock() -> bool:
        probe = FileLock(str(index / ".lock"))
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        probe.release()
        return False

    # The first may meet our probe holding the lock for an instant, so it waits a little.
    writer = start(
        "ingest",
        str(tmp_path / "first"),
        "--wait",
        "60",
        "--quiet",
        "--index",
        str(index),
        cwd=tmp_path,
    )
    assert wait_for(holds_lock, writer), writer.communicate()[1]
    impatient = start(
        "ingest", str(tmp_path / "second"), "--quiet", "--index", str(index), cwd=tmp_path
    )
    patient = start(
        "ingest",
        str(tmp_path / "second"),
        "--wait",
        "600",
        "--quiet",
        "--index",
        str(index),
        cwd=tmp_path,
    )

    # Meanwhile a reader always finds a whole index: the old one, or the first's.
    reader = fresh_pipeline(settings, embedder)
    while impatient.poll() is None or writer.poll() is None:
        assert_whole_index(reader, [SEED_DOCS, SEED_DOCS | first, SEED_DOCS | first | second])
        time.sleep(0.2)

    _, refused = impatient.communicate(timeout=60)
    assert impatient.returncode == 1 and "Traceback" not in refused
    assert f"The index in {index} is locked by another writer" in refused
    assert "wait for it to finish and try again" in refused
    for process in (writer, patient):
        _, errors = process.communicate(timeout=FINISH_TIMEOUT_S)
        assert process.returncode == 0, errors
    assert (
        assert_whole_index(fresh_pipeline(settings, embedder), [SEED_DOCS | first | second])
        == SEED_DOCS | first | second
    )


def test_a_reader_that_loses_the_race_with_a_writer_reads_the_new_index(
    scratch_pipeline, tmp_path, monkeypatch
):
    """The chat server reloads while `rag ingest` commits and removes the old generation."""
    import rag.store

    writer = scratch_pipeline
    reader = fresh_pipeline(writer.settings, writer.embedder)
    (tmp_path / "tower.txt").write_text(
        "The Quillon tower clock was wound in 1890.", encoding="utf-8"
    )
    read_generation = rag.store._read_generation
    raced: list[Path] = []

    def commit_meanwhile(folder, manifest):
        # The reader has chosen its generation; a writer replaces it before it is read.
        if not raced:
            raced.append(folder)
            monkeypatch.setattr(rag.store, "_read_generation", read_generation)
            writer.ingest([tmp_path / "tower.txt"])
        return read_generation(folder, manifest)

    monkeypatch.setattr(rag.store, "_read_generation", commit_meanwhile)
    data = reader.index()
    assert raced and not raced[0].exists()
    assert "tower" in {document.doc_id for document in data.documents}
    assert "1890" in reader.ask("When was the Quillon tower clock wound?").text
