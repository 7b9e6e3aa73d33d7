"""Bad settings through the real CLI and the chat window: one clear line naming the setting.

load_settings itself is covered in tests/test_config.py, a port in use in
tests/ui/test_chat_command.py; here the same mistakes reach the commands users run.
"""

from __future__ import annotations

import html

import pytest

from .helpers import SEED_QUESTION, assert_clear_error, cli_env, run_rag


@pytest.mark.slow
@pytest.mark.parametrize(
    ("toml", "phrases"),
    [
        ('colour = "blue"', ("Unknown setting 'colour'", "rag.toml", "Known settings")),
        ("[retrieval]\ntop_k = 3", ("Unknown setting 'retrieval'",)),
        ('top_k = "five"', ("'top_k'", "must be int", "'five'")),
        ("top_k = 2.5", ("'top_k'", "must be int")),
        ("top_k = 0", ("'top_k' must be between 1 and 100", "got 0")),
        ("top_k = 10000", ("'top_k' must be between 1 and 100", "got 10000")),
        ('mode = "semantic"', ("'mode' must be one of dense, bm25, hybrid",)),
        ("index_dir = [1, 2]", ("'index_dir'", "must be a path")),
        ("[loaders]\npdf = 3", ("`loaders` must hold one table per loader",)),
        ("top_k = 5\ntop_k = 6", ("not valid TOML",)),
    ],
)
@pytest.mark.parametrize("command", ["ask", "chat"])
def test_a_bad_rag_toml_stops_the_command_with_one_line(tmp_path, toml, phrases, command):
    (tmp_path / "rag.toml").write_text(toml + "\n", encoding="utf-8")
    args = ["ask", SEED_QUESTION] if command == "ask" else ["chat", "--port", "1"]
    # The default config file is ./rag.toml; nothing is loaded or served before it is read.
    env = cli_env(tmp_path)
    del env["RAG_CONFIG"]
    result = run_rag(*args, cwd=tmp_path, env=env, timeout=60)
    assert_clear_error(result, *phrases)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env", "phrases"),
    [
        (("--k", "10000"), {}, ("'top_k' must be between 1 and 100", "10000")),
        (("--k", "0"), {}, ("'top_k'",)),
        (("--k", "many"), {}, ()),  # argparse's own message, exit code 2
        ((), {"RAG_TOP_K": "0"}, ("'top_k'", "between 1 and 100")),
        ((), {"RAG_TOP_K": "ten"}, ("$RAG_TOP_K", "must be int")),
        ((), {"RAG_TOP_K": "10000"}, ("between 1 and 100", "10000")),
        ((), {"RAG_MODE": "fuzzy"}, ("'mode'",)),
    ],
)
def test_bad_flags_and_variables_name_what_to_change(seed_pipeline, tmp_path, args, env, phrases):
    index = str(seed_pipeline.settings.index_dir)
    result = run_rag(
        "ask",
        SEED_QUESTION,
        *args,
        "--index",
        index,
        cwd=tmp_path,
        env=cli_env(tmp_path, **env),
        timeout=60,
    )
    if not phrases:
        assert result.returncode == 2 and "invalid int value" in result.stderr
        assert "Traceback" not in result.stderr
        return
    assert_clear_error(result, *phrases)


@pytest.mark.slow
@pytest.mark.parametrize("port", ["0", "70000", "-5"])
def test_an_impossible_port_is_refused_before_anything_loads(tmp_path, port):
    result = run_rag(
        "chat", "--port", port, "--index", str(tmp_path / "index"), cwd=tmp_path, timeout=60
    )
    assert_clear_error(result, "--port must be between 1 and 65535")
    assert not (tmp_path / "index").exists()


def test_the_chat_window_refuses_a_top_k_out_of_range_as_a_message(seed_pipeline):
    from ui.app import ChatApp

    app = ChatApp(seed_pipeline)
    for top_k in (0, 10_000):
        updates = list(app.ask(SEED_QUESTION, [], "extractive", "hybrid", top_k))
        reply = updates[-1][0][-1]["content"]
        assert "rag-error" in reply
        assert "'top_k' must be between 1 and 100" in html.unescape(reply)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["ask", "config"])
@pytest.mark.parametrize("named", ["missing.toml", "a-folder"])
def test_a_config_file_named_by_rag_config_must_exist(tmp_path, command, named):
    (tmp_path / "a-folder").mkdir()
    # A ./rag.toml is there, but RAG_CONFIG names another file: it is not used instead.
    (tmp_path / "rag.toml").write_text("top_k = 7\n", encoding="utf-8")
    args = ["ask", SEED_QUESTION] if command == "ask" else ["config"]
    path = tmp_path / named
    result = run_rag(*args, cwd=tmp_path, env=cli_env(tmp_path, RAG_CONFIG=str(path)), timeout=60)
    assert_clear_error(result, f"Config file {path}", "$RAG_CONFIG", "RAG_CONFIG=")
    assert not (tmp_path / ".rag").exists()  # nothing indexed with the default settings


@pytest.mark.slow
def test_an_empty_rag_config_reads_no_config_file(tmp_path):
    (tmp_path / "rag.toml").write_text("top_k = 7\n", encoding="utf-8")
    env = cli_env(tmp_path)
    read = run_rag("config", cwd=tmp_path, env={**env, "RAG_CONFIG": str(tmp_path / "rag.toml")})
    assert "top_k = 7 " in read.stdout, read.stderr
    ignored = run_rag("config", cwd=tmp_path, env={**env, "RAG_CONFIG": ""})
    assert ignored.returncode == 0, ignored.stderr
    assert "top_k = 5 " in ignored.stdout
    del env["RAG_CONFIG"]  # unset: ./rag.toml is read when it is there
    assert "top_k = 7 " in run_rag("config", cwd=tmp_path, env=env).stdout


@pytest.mark.slow
def test_rag_config_prints_a_rag_toml_that_reads_back_the_same(tmp_path):
    import tomllib

    env = cli_env(tmp_path, RAG_TOP_K="7", RAG_BACKEND_EXTRACTIVE_USE_READER="true")
    shown = run_rag("config", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    values = tomllib.loads(shown.stdout)  # valid TOML, each value of its own type
    assert values["top_k"] == 7 and values["backends"]["extractive"]["use_reader"] is True
    (tmp_path / "rag.toml").write_text(shown.stdout, encoding="utf-8")
    again = run_rag("config", cwd=tmp_path, env=cli_env(tmp_path, RAG_CONFIG="rag.toml"))
    assert again.returncode == 0, again.stderr
    assert again.stdout == shown.stdout


@pytest.mark.slow
def test_rag_config_says_what_the_commands_would_refuse_or_ignore(tmp_path):
    (tmp_path / "rag.toml").write_text(
        'backend = "gpt"\nvector_store = "milvs"\n[loaders.pdf]\nocrr = false\n'
        "[loaders.pdff]\nocr = false\n",
        encoding="utf-8",
    )
    shown = run_rag("config", cwd=tmp_path, env=cli_env(tmp_path, RAG_CONFIG="rag.toml"))
    assert shown.returncode == 1
    assert "error: Unknown option 'ocrr' for loader 'pdf'" in shown.stderr
    assert "'gpt', which is no answer backend" in shown.stderr
    assert "'milvs', which is no vector store; the stores: faiss, milvus." in shown.stderr
    assert "[loaders.pdff] sets an option of no loader and is ignored" in shown.stderr
    assert "top_k = " in shown.stdout  # the settings are still shown
