"""Each backend owns its options: read from [backends.NAME] and RAG_BACKEND_NAME_OPTION, checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hardening.helpers import register_in_process

from rag.backends import BackendOptions, load_backend
from rag.backends.extractive import ExtractiveOptions
from rag.config import load_settings
from rag.errors import RagError

from .test_backend_registry import run_rag


def settings_with(tmp_path, toml: str, environ: dict[str, str] | None = None):
    path = tmp_path / "rag.toml"
    path.write_text(toml, encoding="utf-8")
    return load_settings(config_file=path, environ=environ or {})


def test_a_backend_table_sets_that_backends_options_and_a_variable_overrides_it(tmp_path):
    toml = "top_k = 4\n[backends.extractive]\nthreshold = 0.7\nreader_model = 'a'\n"
    settings = settings_with(tmp_path, toml, {"RAG_BACKEND_EXTRACTIVE_THRESHOLD": "0.25"})
    backend = load_backend("extractive", settings)
    assert settings.top_k == 4
    assert backend.options == ExtractiveOptions(threshold=0.25, reader_model="a")


def test_defaults_when_nothing_is_given():
    backend = load_backend("extractive", load_settings(environ={}))
    assert backend.options == ExtractiveOptions()


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        (
            "[backends.extractive]\nthreshhold = 0.7\n",
            {},
            "Unknown option 'threshhold' for backend 'extractive' in",
        ),
        ("[backends.extractive]\nthreshold = 'high'\n", {}, "'extractive.threshold'"),
        ("[backends.extractive]\nreader_model = 2\n", {}, "'extractive.reader_model'"),
        ("[backends.extractive]\nuse_reader = 'maybe'\n", {}, "'extractive.use_reader'"),
        ("", {"RAG_BACKEND_EXTRACTIVE_THRESHOLD": "0.2x"}, "$RAG_BACKEND_EXTRACTIVE_THRESHOLD"),
        ("", {"RAG_BACKEND_EXTRACTIVE_TRESHOLD": "0.2"}, "Unknown option 'treshold'"),
        (
            "[backends.extractive]\nthreshold = 1.5\n",
            {},
            "Backend 'extractive': option 'threshold' must be at least 0 and below 1; got 1.5.",
        ),
        ("backends = 3\n", {}, "`backends` must hold one table per backend"),
    ],
)
def test_a_wrong_option_is_refused_naming_it(tmp_path, toml, environ, expected):
    with pytest.raises(RagError) as error:
        load_backend("extractive", settings_with(tmp_path, toml, environ))
    assert expected in str(error.value)


def test_rag_config_and_rag_backends_show_each_backends_options(tmp_path):
    (tmp_path / "rag.toml").write_text("[backends.extractive]\nthreshold = 0.3\n", encoding="utf-8")
    config = {"RAG_CONFIG": str(tmp_path / "rag.toml")}
    shown = run_rag("config", cwd=tmp_path, env=config)
    assert shown.returncode == 0, shown.stderr
    assert "[backends.extractive]" in shown.stdout
    assert "threshold = 0.3    # RAG_BACKEND_EXTRACTIVE_THRESHOLD" in shown.stdout
    listed = run_rag("backends", cwd=tmp_path, env=config)
    assert "    threshold = 0.3" in listed.stdout


def test_max_sentences_bounds_the_quoted_sentences_and_the_old_setting_still_sets_it(
    seed_pipeline, tmp_path
):
    from rag.backends.base import AnswerRequest

    question = "Who is the United States Secretary of State mentioned in the report?"
    retrieval = seed_pipeline.retrieve(question)
    request = AnswerRequest(retrieval.question, retrieval.passages, (), retrieval.query_terms)
    assert len(load_backend("extractive", seed_pipeline.settings).answer(request).citations) == 2

    one = seed_pipeline.settings.with_options("backends", "extractive", max_sentences=1)
    assert len(load_backend("extractive", one).answer(request).citations) == 1
    old = settings_with(tmp_path, "max_answer_sentences = 1\n")
    assert load_backend("extractive", old).options.max_sentences == 1
    with pytest.raises(RagError, match="option 'max_sentences' must be between 1 and 10; got 0"):
        load_backend(
            "extractive", settings_with(tmp_path, "[backends.extractive]\nmax_sentences = 0\n")
        )


# -- options a third party declares the way dataclasses allow ----------------------------------
@dataclass(frozen=True)
class RichOptions(BackendOptions):
    # Where the plugin's service is: no sensible default, so the user must say.
    endpoint: str
    # Unset unless given.
    api_key: str | None = None
    stops: tuple[str, ...] = ()
    retries_per_step: list[int] = field(default_factory=list)


def test_options_are_typed_by_their_annotations_and_a_required_one_is_asked_for(tmp_path):
    toml = (
        "[backends.rich]\nendpoint = 'http://127.0.0.1:9'\napi_key = 'sk-1'\n"
        "stops = ['END', 'STOP']\nretries_per_step = [1, 2]\n"
    )
    options = settings_with(tmp_path, toml).plugin_options("backends", "rich", RichOptions)
    assert options == RichOptions("http://127.0.0.1:9", "sk-1", ("END", "STOP"), [1, 2])
    from_variables = settings_with(
        tmp_path,
        "",
        {"RAG_BACKEND_RICH_ENDPOINT": "http://h", "RAG_BACKEND_RICH_STOPS": "END, STOP"},
    ).plugin_options("backends", "rich", RichOptions)
    assert from_variables == RichOptions("http://h", None, ("END", "STOP"))

    with pytest.raises(RagError) as missing:
        settings_with(tmp_path, "").plugin_options("backends", "rich", RichOptions)
    assert str(missing.value) == (
        "Backend 'rich' needs a value for: endpoint in [backends.rich] or "
        "$RAG_BACKEND_RICH_ENDPOINT."
    )
    for bad, message in [
        ("retries_per_step = ['x']", "'rich.retries_per_step[0]'"),
        ("stops = 'END'", "[backends.rich] must be a list"),
        ("api_key = 5", "[backends.rich] must be str, got 5"),
    ]:
        toml = f"[backends.rich]\nendpoint = 'http://h'\n{bad}\n"
        with pytest.raises(RagError, match=re.escape(message)):
            settings_with(tmp_path, toml).plugin_options("backends", "rich", RichOptions)


def test_a_variable_of_a_plugin_whose_name_extends_ours_is_left_to_it(monkeypatch):
    """RAG_BACKEND_EXTRACTIVE_PLUS_STYLE belongs to a plugin `extractive_plus`, not to an
    option `plus_style` of `extractive` (which then refused to start: every ask failed)."""
    environ = {"RAG_BACKEND_EXTRACTIVE_PLUS_STYLE": "short"}
    with pytest.raises(RagError, match="Unknown option 'plus_style'"):
        load_backend("extractive", load_settings(environ=environ))
    register_in_process(
        monkeypatch, "rag-extractive-plus", "rag.backends", {"extractive_plus": "builtins:object"}
    )
    backend = load_backend("extractive", load_settings(environ=environ))
    assert backend.options == ExtractiveOptions()
