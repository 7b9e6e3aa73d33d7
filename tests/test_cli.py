"""The `rag` command end to end: real process, real index on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from seed_facts import FRAMEWORK_DOC, REPO, UNDERSTANDING_DOC, rag_command


def run(*args: str, env: dict[str, str] | None = None, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        rag_command(*args),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_help_imports_no_heavy_library():
    code = (
        "import sys, rag.cli; rag.cli.build_parser().format_help(); "
        "heavy = {'torch', 'faiss', 'sentence_transformers', 'gradio', 'numpy'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
    assert "ask" in run("--help").stdout


def test_ask_json_has_the_documented_fields(seed_pipeline):
    result = run(
        "ask",
        "When was the Bicentennial Framework launched?",
        "--json",
        "--index",
        str(seed_pipeline.settings.index_dir),
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {
        "question",
        "answer",
        "abstained",
        "backend",
        "citations",
        "passages",
        "timings_ms",
    } <= set(answer)
    assert answer["abstained"] is False and "2010" in answer["answer"]
    citation = answer["citations"][0]
    assert {"n", "doc_id", "title", "start", "end", "quote", "score"} <= set(citation)
    assert citation["n"] == 1 and citation["doc_id"] == FRAMEWORK_DOC
    text = (REPO / "seeds" / f"{FRAMEWORK_DOC}.txt").read_text(encoding="utf-8")
    assert text[citation["start"] : citation["end"]] == citation["quote"]
    assert {"embed_question", "answer", "total"} <= set(answer["timings_ms"])


@pytest.mark.slow
def test_ask_in_a_new_folder_builds_the_index_over_seeds(tmp_path):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "note.md").write_text(
        "# Note\n\nThe meeting is on Tuesday at noon.", encoding="utf-8"
    )
    result = run("ask", "When is the meeting?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Tuesday at noon" in result.stdout and "[1]" in result.stdout
    assert "Built the index" in result.stderr
    listing = run("docs", cwd=tmp_path)
    assert "note" in listing.stdout and "1 documents" in listing.stdout


@pytest.mark.slow
def test_output_piped_to_a_reader_that_leaves_stops_quietly(tmp_path):
    # `rag config | head -1`: the reader closes the pipe before rag writes all (or any) of it.
    reader, writer = os.pipe()
    os.close(reader)
    result = subprocess.run(
        rag_command("config"),
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        env={**os.environ, "RAG_CONFIG": ""},
        cwd=tmp_path,
    )
    os.close(writer)
    assert result.stderr == ""
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("docs", "--index", "/nonexistent/index"), {}, "There is no index"),
        (("ask", "   "), {}, "question is empty"),
        (("ask", "hello"), {"RAG_TOP_K": "lots"}, "RAG_TOP_K"),
        (("ask", "hello", "--k", "0"), {}, "top_k"),
        (("ingest", "/nonexistent/file.txt"), {}, "does not exist"),
        (("ask", "hello", "--backend", "nope"), {}, "No answer backend named 'nope'"),
    ],
)
def test_mistakes_get_one_clear_line_not_a_traceback(seed_pipeline, args, env, message):
    if "--index" not in args:
        args = (*args, "--index", str(seed_pipeline.settings.index_dir))
    result = run(*args, env=env)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_ingest_fails_when_nothing_it_was_given_could_be_read(seed_pipeline, tmp_path):
    (tmp_path / "letter.rtf").write_text("x", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    index = str(seed_pipeline.settings.index_dir)  # nothing is written to it
    result = run("ingest", str(tmp_path / "letter.rtf"), str(tmp_path / "empty"), "--index", index)
    assert result.returncode == 1
    assert "unsupported file type '.rtf'" in result.stderr
    assert "no file of a supported type" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_file_named_in_another_encoding_is_removed_by_its_own_name(scratch_pipeline, tmp_path):
    # caf\xe9 (Latin-1 "café") is no UTF-8: the id is stored as "caf\ufffd".
    name = b"caf\xe9-latin1"
    docs = tmp_path / "docs"
    docs.mkdir()
    with open(os.fsencode(docs) + b"/" + name + b".txt", "wb") as file:
        file.write(b"The submarine Nautilus II dives to 900 meters.\n")
    index = str(scratch_pipeline.settings.index_dir)
    assert run("ingest", str(docs), "--index", index, "--quiet").returncode == 0
    assert "caf\ufffd-latin1" in run("docs", "--index", index).stdout
    removed = subprocess.run(
        [*rag_command("remove"), os.fsdecode(name), "--index", index],
        capture_output=True,
        timeout=300,
    )
    assert removed.returncode == 0, removed.stderr
    assert "caf\ufffd-latin1" not in run("docs", "--index", index).stdout


def test_ask_searches_only_the_documents_chosen_by_doc_folder_and_type(seed_pipeline):
    index = str(seed_pipeline.settings.index_dir)
    question = "When was the Bicentennial Framework launched?"
    chosen = run(
        "ask", question, "--json", "--passages", "--doc", UNDERSTANDING_DOC, "--index", index
    )
    assert chosen.returncode == 0, chosen.stderr
    passages = json.loads(chosen.stdout)["passages"]
    # Every passage comes from the chosen document: the filter runs inside the search.
    assert passages and {p["doc_id"] for p in passages} == {UNDERSTANDING_DOC}
    by_folder = run(
        "ask",
        question,
        "--json",
        "--folder",
        str(REPO / "seeds"),
        "--type",
        "txt",
        "--index",
        index,
    )
    assert by_folder.returncode == 0 and "2010" in json.loads(by_folder.stdout)["answer"]
    for flags, message in [
        (["--type", "docx"], "No indexed document matches --type docx"),
        (["--type", "exe"], "Unknown document type 'exe'"),
        (["--doc", "nope"], "Not in the index: 'nope'"),
    ]:
        result = run("ask", question, *flags, "--index", index)
        assert result.returncode != 0 and message in result.stderr, result.stderr
