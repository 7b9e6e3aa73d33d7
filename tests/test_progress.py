"""The terminal's progress: the one callback drawn as one tqdm bar per ingest stage."""

from __future__ import annotations

from rag.commands.progress import TerminalProgress, terminal_progress


def test_each_stage_gets_a_bar_that_counts_to_its_total(capsys):
    progress = TerminalProgress(show_after_s=0)
    for done in range(1, 4):
        progress("Reading files", done, 3)
    progress("Embedding", 0, 10)
    progress("Embedding", 10, 10)
    progress.close()
    bars = capsys.readouterr().err
    assert "Reading files: 100%" in bars and "3/3" in bars
    assert "Embedding: 100%" in bars and "10/10" in bars and "texts" in bars


def test_a_quick_stage_draws_nothing(capsys):
    with terminal_progress() as progress:
        assert progress is not None
        progress("Reading files", 1, 1)
    assert capsys.readouterr().err == ""


def test_quiet_means_no_callback():
    with terminal_progress(enabled=False) as progress:
        assert progress is None
