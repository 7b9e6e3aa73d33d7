"""Whatever is on a user's disk: bad files are skipped by name, the others indexed.

Empty, binary and Latin-1/UTF-16 files, and duplicate texts, are covered in
tests/test_loading.py and tests/test_ingest.py; here are the rest of the list.
"""

from __future__ import annotations

import io
import json
import os
import random
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sample_files import pdf_with_pages

import rag.ingest
from rag.chunking import Chunker, chunker_settings
from rag.loading import load_document

from .helpers import OUTPUT

# A file name that is not UTF-8 (a Latin-1 "é"), as old archives and Windows shares hold.
LATIN1_NAME = b"caf\xe9.txt"
LARGE_FILE_MB = 50
# Generous bounds for a loaded CI machine; the figures themselves go to test-output/.
LARGE_FILE_BOUND_S = 300
LARGE_FILE_BOUND_RSS_MB = 2000
PROSE_WORDS = (
    "the framework security cooperation between Mexico and United States was launched in "
    "to fight crime drugs fentanyl agency report minister said would new program"
)


def scanned_pdf() -> bytes:
    """A PDF whose page holds no text, as a scan without OCR does."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=300, height=300)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_folder_of_troubles_indexes_the_good_files_and_names_each_bad_one(
    scratch_pipeline, tmp_path, monkeypatch
):
    folder = tmp_path / "inbox"
    (folder / "twin").mkdir(parents=True)
    (folder / "lighthouse.md").write_text(
        "# Lighthouse\n\nThe Quillon lighthouse was painted green in 1921.", encoding="utf-8"
    )
    (folder / "twin" / "lighthouse.md").write_text("Another text, same name.", encoding="utf-8")
    (folder / "z-copy.txt").write_text(
        "# Lighthouse\n\nThe Quillon lighthouse was painted green in 1921.", encoding="utf-8"
    )
    (folder / "ferry.pdf").write_bytes(pdf_with_pages("The Quillon ferry first sailed in 1932."))
    (folder / "scan.pdf").write_bytes(scanned_pdf())
    (folder / "broken.pdf").write_bytes(pdf_with_pages("Cut short.")[:400])
    (folder / "scripts.html").write_text(
        "<html><head><script>var a = 1;</script></head><body><script>track()</script>"
        "<noscript>Enable JavaScript.</noscript><style>p {}</style></body></html>",
        encoding="utf-8",
    )
    (folder / "vanishing.txt").write_text("Gone before it is read.", encoding="utf-8")
    (folder / "locked.txt").write_text("Cannot be read.", encoding="utf-8")
    with open(os.path.join(os.fsencode(folder), LATIN1_NAME), "wb") as out:
        out.write("The Quillon café opened in 1901.".encode())

    # The file vanishes between the folder listing and its reading.
    real_find_files = rag.ingest.find_files

    def find_then_delete(paths):
        found, problems = real_find_files(paths)
        (folder / "vanishing.txt").unlink()
        return found, problems

    monkeypatch.setattr(rag.ingest, "find_files", find_then_delete)
    # Tests run as root, so chmod 000 would not stop the read; refuse it the way the OS would.
    real_read_bytes = Path.read_bytes

    def read_bytes(path):
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)

    report = scratch_pipeline.ingest([folder, tmp_path / "nowhere"])
    monkeypatch.undo()

    assert sorted(report.added) == ["caf\ufffd", "ferry", "lighthouse"], report
    reasons = {
        "nowhere": "no such file or folder",
        "twin/lighthouse.md": "same document id",
        "z-copy.txt": "same text",
        "scan.pdf": "OCR",
        "broken.pdf": "not a readable PDF",
        "scripts.html": "no text",
        "vanishing.txt": "cannot read",
        "locked.txt": "Permission denied",
    }
    assert len(report.skipped) == len(reasons), report.skipped
    for name, reason in reasons.items():
        assert any(name in line and reason in line for line in report.skipped), (name, report)

    assert "1921" in scratch_pipeline.ask("When was the Quillon lighthouse painted green?").text
    assert "1932" in scratch_pipeline.ask("When did the Quillon ferry first sail?").text
    cafe = scratch_pipeline.ask("When did the Quillon café open?")
    assert "1901" in cafe.text and cafe.citations[0].doc_id == "caf\ufffd"
    sources = {d.doc_id: d.source for d in scratch_pipeline.documents()}
    assert sources["caf\ufffd"].endswith("caf\ufffd.txt")


@pytest.mark.slow
def test_a_one_megabyte_line_without_spaces_is_cut_into_bounded_chunks(seed_pipeline, tmp_path):
    rng = random.Random(11)
    line = "".join(rng.choices(string.ascii_letters + string.digits, k=1_000_000))
    path = tmp_path / "line.txt"
    path.write_text(line, encoding="utf-8")
    embedder = seed_pipeline.embedder
    started = time.perf_counter()
    document = load_document(path)
    chunker = Chunker(
        chunker_settings(seed_pipeline.settings), embedder.count_tokens, embedder.max_tokens
    )
    _, chunks = chunker.split(document)
    elapsed = time.perf_counter() - started
    assert elapsed < 120, f"{elapsed:.0f} s to load and chunk 1 MB"
    limit = seed_pipeline.settings.chunk_tokens
    assert all(document.text[c.start : c.end] == c.text for c in chunks)
    assert max(c.n_tokens for c in chunks) <= limit
    assert max(embedder.count_tokens([c.text for c in chunks])) <= embedder.max_tokens
    # Nothing of the line is lost between chunks.
    assert chunks[0].start == 0 and chunks[-1].end == len(line)
    assert all(a.end >= b.start for a, b in zip(chunks, chunks[1:], strict=False))


def test_a_long_line_without_spaces_is_indexed_beside_normal_documents(scratch_pipeline, tmp_path):
    rng = random.Random(12)
    (tmp_path / "blob.txt").write_text(
        "".join(rng.choices(string.ascii_letters, k=30_000)), encoding="utf-8"
    )
    (tmp_path / "garden.txt").write_text(
        "The Quillon garden was planted in 1874.", encoding="utf-8"
    )
    report = scratch_pipeline.ingest([tmp_path / "blob.txt", tmp_path / "garden.txt"])
    assert sorted(report.added) == ["blob", "garden"] and report.skipped == []
    assert "1874" in scratch_pipeline.ask("When was the Quillon garden planted?").text
    # A question that matches only noise gets an answer or an abstention, not a crash.
    scratch_pipeline.ask("What does the blob say?")


LARGE_FILE_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
from rag.chunking import Chunker, chunker_settings
from rag.config import Settings
from rag.loading import load_document

started = time.perf_counter()
document = load_document(Path(sys.argv[1]))
loaded = time.perf_counter()
sentences, chunks = Chunker(chunker_settings(Settings())).split(document)
done = time.perf_counter()
bound = max(c.n_tokens for c in chunks)
exact = all(document.text[c.start : c.end] == c.text for c in chunks[::97])
print(json.dumps({"characters": len(document.text), "load_s": round(loaded - started, 2),
                  "chunk_s": round(done - loaded, 2), "chunks": len(chunks),
                  "sentences": len(sentences), "max_chunk_tokens": bound, "spans_exact": exact,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


@pytest.mark.slow
def test_a_50_mb_text_file_loads_and_chunks_in_bounded_time_and_memory(tmp_path):
    """Loading and chunking only: embedding 50 MB (~60k chunks) is a bench figure, not CI's."""
    rng = random.Random(13)
    words = PROSE_WORDS.split()
    path = tmp_path / "big.txt"
    size = 0
    with path.open("w", encoding="utf-8") as out:
        number = 0
        while size < LARGE_FILE_MB * 1_000_000:
            if number % 40 == 0:
                piece = f"\n\nSection {number}\n\n"
            else:
                length = rng.randint(8, 25)
                piece = " ".join(rng.choices(words, k=length)).capitalize() + f" item {number}. "
            out.write(piece)
            size += len(piece)
            number += 1
    result = subprocess.run(
        [sys.executable, "-c", LARGE_FILE_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=LARGE_FILE_BOUND_S * 2,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "large-file.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\n{LARGE_FILE_MB} MB file: {figures}")
    assert figures["characters"] >= LARGE_FILE_MB * 1_000_000
    assert figures["spans_exact"] and figures["max_chunk_tokens"] <= 200
    assert figures["chunks"] > 10_000
    assert figures["load_s"] + figures["chunk_s"] < LARGE_FILE_BOUND_S
    assert figures["peak_rss_mb"] < LARGE_FILE_BOUND_RSS_MB


@pytest.mark.slow
def test_a_thousand_small_files_ingest_with_progress(seed_pipeline, tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    for number in range(1000):
        (folder / f"note-{number:04}.txt").write_text(
            f"Locker {number} in the Quillon depot opens with code {locker_code(number)}.",
            encoding="utf-8",
        )
    with open(os.path.join(os.fsencode(folder), LATIN1_NAME), "wb") as out:
        out.write(b"The Quillon depot cafe sells tea.")
    from rag.commands.progress import TerminalProgress
    from rag.pipeline import Pipeline

    # In process, to share the loaded model; `rag ingest` is this call with its bars.
    pipeline = Pipeline(
        seed_pipeline.settings.replace(index_dir=tmp_path / "index"),
        embedder=seed_pipeline.embedder,
    )
    stages: dict[str, list[tuple[int, int]]] = {}
    terminal = TerminalProgress(show_after_s=0)

    def progress(stage: str, done: int, total: int) -> None:
        terminal(stage, done, total)
        stages.setdefault(stage, []).append((done, total))

    report = pipeline.ingest([folder, tmp_path / "missing"], on_progress=progress)
    terminal.close()
    assert len(report.added) == 1001
    assert report.skipped == [f"{tmp_path / 'missing'}: no such file or folder"]
    # The terminal's bars and the window's progress both count up to the end.
    bars = capsys.readouterr().err
    assert "Reading files: 100%" in bars and "1001/1001" in bars and "Embedding" in bars
    assert stages["Reading files"][-1] == (1001, 1001)
    assert [done for done, _ in stages["Reading files"]] == list(range(1, 1002))
    embedded = [done for done, _ in stages["Embedding"]]
    assert embedded == sorted(embedded) and embedded[-1] == stages["Embedding"][-1][1]
    assert stages["Writing the index"][-1] == (1, 1)

    documents = {d.doc_id for d in pipeline.documents()}
    assert len(documents) == 1001 and "caf\ufffd" in documents
    answer = pipeline.ask("Which code opens locker 737 in the Quillon depot?")
    assert locker_code(737) in answer.text
    assert answer.citations[0].doc_id == "note-0737"


def locker_code(number: int) -> str:
    return f"{(number * 7919) % 100_000:05d}"


def test_a_file_name_with_a_newline_gives_a_one_line_document_id(tmp_path):
    from rag.loading import document_id

    assert document_id(tmp_path / "two\nlines.txt") == "two_lines"
    assert document_id(tmp_path / "evil\u202etxt.exe.md") == "evil_txt.exe"
    assert document_id(tmp_path / "café 📄.txt") == "café 📄"


def test_dangling_and_looping_links_in_a_folder_are_reported(tmp_path):
    from rag.loading import find_files

    (tmp_path / "good.txt").write_text("A good document.", encoding="utf-8")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "deleted.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")

    found, problems = find_files([tmp_path])

    assert [f.doc_id for f in found] == ["good"]
    assert any("gone.txt: a symbolic link to" in p and "does not exist" in p for p in problems)
    assert any("loop.txt: a symbolic link that loops" in p for p in problems), problems
