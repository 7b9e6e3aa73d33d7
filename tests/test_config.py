"""Settings: precedence of rag.toml, environment and flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.backends.openai_compat import OpenAIOptions
from rag.config import Settings, load_settings
from rag.errors import RagError


def test_precedence_is_defaults_file_environment_flags(tmp_path):
    config = tmp_path / "rag.toml"
    config.write_text('top_k = 3\nmode = "bm25"\nindex_dir = "from-file"\n', encoding="utf-8")
    settings = load_settings(config, environ={"RAG_MODE": "dense"}, overrides={"index_dir": "flag"})
    assert settings.top_k == 3  # file over default
    assert settings.mode == "dense"  # environment over file
    assert settings.index_dir == Path("flag")  # flag over all
    assert load_settings(environ={}).mode == Settings().mode


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("colour = 1", "Unknown setting 'colour'"),
        ('top_k = "many"', "'top_k' in"),
        ("top_k = 0", "'top_k' must be between 1 and 100"),
        ("top_k = 10000", "'top_k' must be between 1 and 100"),
        ('mode = "fuzzy"', "'mode' must be one of dense, bm25, hybrid"),
        ("top_k = [", "not valid TOML"),
        ("chunk_overlap = 150", "'chunk_overlap'"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path, toml, message):
    config = tmp_path / "rag.toml"
    config.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(RagError, match=message.replace("[", r"\[")):
        load_settings(config, environ={})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(RagError, match=r"\$RAG_TOP_K"):
        load_settings(environ={"RAG_TOP_K": "five"})


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(RagError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize("named", ["absent.toml", "."])
def test_a_config_file_named_by_rag_config_must_be_a_file(tmp_path, named):
    path = tmp_path / named
    with pytest.raises(RagError) as caught:
        load_settings(environ={"RAG_CONFIG": str(path)})
    assert f"Config file {path} (named by $RAG_CONFIG)" in str(caught.value)
    assert "RAG_CONFIG=" in str(caught.value)


def test_an_empty_rag_config_reads_no_file(tmp_path, monkeypatch):
    (tmp_path / "rag.toml").write_text("top_k = 7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).top_k == 7  # ./rag.toml, read when no variable is set
    assert load_settings(environ={"RAG_CONFIG": ""}).top_k == 5
    assert load_settings(environ={"RAG_CONFIG": "rag.toml"}).top_k == 7


def test_a_misspelled_variable_is_named_with_the_closest_setting(caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        settings = load_settings(environ={"RAG_TOPK": "9", "RAG_UNRELATED_TOOL": "x"})
    assert settings.top_k == 5
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        "warning: $RAG_TOPK is not a setting and is ignored; did you mean $RAG_TOP_K?"
    ]


@pytest.mark.parametrize(
    ("toml", "phrase"),
    [
        ('top_k = "5"', "'top_k' in {path} must be int, got '5'"),
        ("top_k = 5.0", "'top_k' in {path} must be int, got 5.0"),
        ("rrf_k = true", "'rrf_k' in {path} must be int, got True"),
    ],
)
def test_wrong_types_in_the_file_are_errors(tmp_path, toml, phrase):
    path = tmp_path / "rag.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(RagError) as caught:
        load_settings(path, environ={})
    assert phrase.format(path=path) in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "phrase"),
    [
        ("temperature = true", "'openai.temperature' in {path} [backends.openai] must be float"),
        ("timeout = true", "'openai.timeout' in {path} [backends.openai] must be float, got True"),
        ("timeout = inf", "'openai.timeout' in {path} [backends.openai] must be float, got inf"),
        ("max_tokens = 1.5", "'openai.max_tokens' in {path} [backends.openai] must be int"),
        ("timeout = 0", "Backend 'openai': option 'timeout' must be more than 0 seconds; got 0.0."),
    ],
)
def test_wrong_option_types_in_the_file_are_errors(tmp_path, toml, phrase):
    path = tmp_path / "rag.toml"
    path.write_text("[backends.openai]\n" + toml + "\n", encoding="utf-8")
    settings = load_settings(path, environ={})
    with pytest.raises(RagError) as caught:
        settings.plugin_options("backends", "openai", OpenAIOptions)
    assert phrase.format(path=path) in str(caught.value)


def test_environment_variables_are_parsed_strictly_and_named():
    with pytest.raises(RagError, match=r"'top_k' in \$RAG_TOP_K must be int, got '5x'"):
        load_settings(environ={"RAG_TOP_K": "5x"})
    settings = load_settings(environ={"RAG_TOP_K": " 7 ", "RAG_BACKEND_OPENAI_TIMEOUT": "2.5"})
    assert settings.top_k == 7
    assert settings.plugin_options("backends", "openai", OpenAIOptions).timeout == 2.5
    nan = load_settings(environ={"RAG_BACKEND_OPENAI_TIMEOUT": "nan"})
    with pytest.raises(RagError, match=r"\$RAG_BACKEND_OPENAI_TIMEOUT must be float, got 'nan'"):
        nan.plugin_options("backends", "openai", OpenAIOptions)
    an_int = Settings().with_options("backends", "openai", timeout=30)
    assert an_int.plugin_options("backends", "openai", OpenAIOptions).timeout == 30.0


# -- settings that moved into a backend's options -----------------------------------------------
@pytest.fixture
def notes(caplog, monkeypatch):
    """The warnings logged, each once a process: a fresh process for each test."""
    import logging

    import rag.config

    monkeypatch.setattr(rag.config, "_noted", set())
    caplog.set_level(logging.WARNING, logger="rag.config")
    return lambda: [record.getMessage() for record in caplog.records]


def openai_options(settings: Settings) -> OpenAIOptions:
    return settings.plugin_options("backends", "openai", OpenAIOptions)


def test_old_llm_settings_in_the_file_are_read_with_one_note_naming_the_new_key(tmp_path, notes):
    path = tmp_path / "rag.toml"
    path.write_text('llm_model = "llama3.1"\nllm_timeout = 5\n', encoding="utf-8")
    for _ in range(2):
        options = openai_options(load_settings(path, environ={}))
        assert (options.model, options.timeout) == ("llama3.1", 5.0)
    assert notes() == [
        f"warning: the setting llm_model ({path}) is deprecated; "
        "set model in [backends.openai] instead.",
        f"warning: the setting llm_timeout ({path}) is deprecated; "
        "set timeout in [backends.openai] instead.",
    ]


def test_old_llm_variables_are_read_with_one_note_naming_the_new_variable(notes):
    settings = load_settings(
        environ={"RAG_LLM_MAX_TOKENS": "64", "RAG_LLM_BASE_URL": "http://h/v1"}
    )
    assert openai_options(settings).max_tokens == 64
    assert openai_options(settings).base_url == "http://h/v1"
    assert sorted(notes()) == [
        "warning: $RAG_LLM_BASE_URL is deprecated; use $RAG_BACKEND_OPENAI_BASE_URL instead.",
        "warning: $RAG_LLM_MAX_TOKENS is deprecated; use $RAG_BACKEND_OPENAI_MAX_TOKENS instead.",
    ]
    with pytest.raises(RagError, match=r"'openai.max_tokens' in \$RAG_LLM_MAX_TOKENS must be int"):
        openai_options(load_settings(environ={"RAG_LLM_MAX_TOKENS": "many"}))


def test_the_new_name_wins_over_the_old_wherever_each_is_given_and_a_note_says_so(tmp_path, notes):
    path = tmp_path / "rag.toml"
    path.write_text('[backends.openai]\nmodel = "new"\n', encoding="utf-8")
    # The old name in a variable, which would otherwise override the file.
    settings = load_settings(path, environ={"RAG_LLM_MODEL": "old"})
    assert openai_options(settings).model == "new"
    assert notes()[-1] == (
        f"warning: $RAG_LLM_MODEL is ignored: {path} [backends.openai] sets openai's model too, "
        "and the new name wins."
    )


def test_code_that_sets_an_old_name_still_works(notes):
    settings = Settings().replace(llm_model="m", top_k=3)
    assert (settings.top_k, openai_options(settings).model) == (3, "m")
    assert notes() == [
        "warning: the setting llm_model (arguments) is deprecated; "
        "set model in [backends.openai] instead."
    ]


@pytest.mark.parametrize("where", ["environ", "overrides"])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(where):
    given = {"environ": {"RAG_INDEX_DIR": ""}, "overrides": None}[where]
    overrides = {"index_dir": ""} if where == "overrides" else None
    with pytest.raises(RagError, match="'index_dir'.*must be a path \\(not empty\\)"):
        load_settings(environ=given or {}, overrides=overrides)
