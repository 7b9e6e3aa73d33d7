"""Settings: precedence of rag.toml, environment and flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

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
        ("llm_temperature = true", "'llm_temperature' in {path} must be float, got True"),
        ("llm_timeout = true", "'llm_timeout' in {path} must be float, got True"),
        ('top_k = "5"', "'top_k' in {path} must be int, got '5'"),
        ("top_k = 5.0", "'top_k' in {path} must be int, got 5.0"),
        ("llm_timeout = inf", "'llm_timeout' in {path} must be float, got inf"),
    ],
)
def test_wrong_types_in_the_file_are_errors(tmp_path, toml, phrase):
    path = tmp_path / "rag.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(RagError) as caught:
        load_settings(path, environ={})
    assert phrase.format(path=path) in str(caught.value)


def test_environment_variables_are_parsed_strictly_and_named():
    with pytest.raises(RagError, match=r"'top_k' in \$RAG_TOP_K must be int, got '5x'"):
        load_settings(environ={"RAG_TOP_K": "5x"})
    assert load_settings(environ={"RAG_TOP_K": " 7 ", "RAG_LLM_TIMEOUT": "2.5"}).top_k == 7
    with pytest.raises(RagError, match=r"\$RAG_LLM_TIMEOUT must be float, got 'nan'"):
        load_settings(environ={"RAG_LLM_TIMEOUT": "nan"})
    good_int = load_settings(environ={}, overrides={"llm_timeout": 30})
    assert good_int.llm_timeout == 30.0
