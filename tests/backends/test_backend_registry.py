"""The registry: backends found by entry point, listed by `rag backends`, chosen by `--backend`.

The third-party example in tests/plugins/rag-lead-backend is pip-installed
(into a temporary folder put on PYTHONPATH, so the shared venv is untouched)
and used by `rag ask --backend lead` with no change to our code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hardening.helpers
import pytest

from rag.backends import Backend, backend_names, describe_backends, load_backend
from rag.config import Settings
from rag.errors import RagError

from .backend_fakes import API_KEY, KEY_ENV


def run_rag(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess:
    """`rag ARGS` without the developer's own settings, plus `env`."""
    return hardening.helpers.run_rag(
        *args, cwd=cwd, env=hardening.helpers.cli_env(cwd, **(env or {}))
    )


def test_built_in_backends_register_through_the_entry_point_group():
    from importlib.metadata import distributions

    ours = {
        ep.name: ep.value
        for distribution in distributions()
        if distribution.metadata["Name"] == "rag"
        for ep in distribution.entry_points
        if ep.group == "rag.backends"
    }
    assert ours == {
        "extractive": "rag.backends.extractive:ExtractiveBackend",
        "openai": "rag.backends.openai_compat:OpenAIBackend",
    }
    assert {"extractive", "openai"} <= set(backend_names())


def test_an_unknown_backend_is_an_error_naming_the_registered_ones():
    with pytest.raises(RagError, match=r"No answer backend named 'nope'.*extractive, .*openai"):
        load_backend("nope", Settings())


def test_describe_backends_says_whether_each_is_configured():
    infos = {i.name: i for i in describe_backends(Settings())}
    assert infos["extractive"].availability.ok
    assert not infos["openai"].availability.ok
    assert "model under [backends.openai]" in infos["openai"].availability.reason

    configured = Settings().with_options("backends", "openai", model="llama3.1")
    infos = {i.name: i for i in describe_backends(configured)}
    assert infos["openai"].availability.ok


def test_a_plugin_cannot_take_a_built_in_name(monkeypatch):
    import importlib.metadata
    from types import SimpleNamespace

    import rag.plugins
    from rag.backends.extractive import ExtractiveBackend

    impostor = SimpleNamespace(
        metadata={"Name": "rag-impostor"},
        entry_points=[
            importlib.metadata.EntryPoint("extractive", "builtins:object", "rag.backends"),
            importlib.metadata.EntryPoint("impostor", "builtins:object", "rag.backends"),
        ],
    )
    real = list(importlib.metadata.distributions())
    # The impostor comes first on the path, and still loses the name.
    monkeypatch.setattr(rag.plugins, "distributions", lambda: [impostor, *real])

    assert isinstance(load_backend("extractive", Settings()), ExtractiveBackend)
    with pytest.raises(RagError, match="not a rag.backends.Backend subclass"):
        load_backend("impostor", Settings())


@pytest.mark.parametrize(
    ("name", "must_not_import"),
    [
        ("openai", ["torch", "sentence_transformers", "faiss", "gradio"]),
        ("extractive", ["httpx", "torch", "sentence_transformers", "faiss", "gradio"]),
    ],
)
def test_loading_a_backend_imports_nobody_elses_heavy_dependencies(name, must_not_import):
    code = (
        "import sys; from rag.backends import load_backend; from rag.config import Settings; "
        f"load_backend({name!r}, Settings().with_options('backends', 'openai', model='m'))"
        ".availability(); "
        f"print([m for m in {must_not_import!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


# -- a third party's backend -----------------------------------------------------------------
@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> str:
    """The example plugin, pip-installed into a temporary folder for PYTHONPATH."""
    return hardening.helpers.install_plugin("rag-lead-backend", tmp_path_factory.mktemp("plugin"))


@pytest.mark.slow
def test_rag_backends_lists_an_installed_plugin(plugin_path, tmp_path):
    result = run_rag("backends", "--json", env={"PYTHONPATH": plugin_path}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    listed = {item["name"]: item for item in json.loads(result.stdout)}
    assert listed["lead"]["available"] is True
    assert listed["lead"]["description"].startswith("Quotes the first sentence")
    assert listed["openai"]["available"] is False
    assert "[backends.openai]" in listed["openai"]["reason"]
    assert listed["extractive"]["available"] is True
    assert listed["lead"]["options"] == {"sentence": 1}
    assert listed["extractive"]["options"]["use_reader"] is False


@pytest.mark.slow
def test_rag_ask_uses_a_plugin_backend_with_no_change_to_our_code(
    plugin_path, seed_pipeline, tmp_path
):
    index = str(seed_pipeline.settings.index_dir)
    question = "When was the Bicentennial Framework launched?"
    config = tmp_path / "rag.toml"

    def ask_lead(*more: str, env: dict[str, str]):
        return run_rag(
            "ask", question, "--backend", "lead", "--index", index, *more, env=env, cwd=tmp_path
        )

    result = ask_lead("--json", env={"PYTHONPATH": plugin_path})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["backend"] == "lead"
    top = seed_pipeline.retrieve(question).passages[0]
    assert answer["citations"][0]["quote"] == top.sentences[0].citation.quote
    assert answer["answer"] == f"{top.sentences[0].citation.quote} [1]"

    # The plugin's own option, from rag.toml, is checked and used with no change to our code.
    with_config = {"PYTHONPATH": plugin_path, "RAG_CONFIG": str(config)}
    config.write_text("[backends.lead]\nsentence = 2\n", encoding="utf-8")
    second = ask_lead("--json", env=with_config)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["citations"][0]["quote"] == top.sentences[1].citation.quote
    config.write_text("[backends.lead]\nsentence = 0\n", encoding="utf-8")
    refused = ask_lead(env=with_config)
    assert refused.returncode == 1
    assert "Backend 'lead': option 'sentence' must be 1 or more; got 0." in refused.stderr
    config.unlink()

    # Without the plugin installed, the same command says what is registered.
    missing = ask_lead(env={})
    assert missing.returncode == 1
    assert "No answer backend named 'lead'" in missing.stderr


# -- the openai backend from the command line ------------------------------------------------
@pytest.mark.slow
def test_rag_ask_backend_openai_against_a_named_server(llm_server, seed_pipeline, tmp_path):
    llm_server.script(
        "When was the Bicentennial Framework launched?",  # the follow-up, made standalone
        "The framework was launched in 2010 to commemorate the bicentennial [1]. "
        "It was also launched on the Moon by 400 astronauts [1].",
    )
    index = seed_pipeline.index()
    result = run_rag(
        "ask",
        "When was it launched?",
        "--history",
        "What is the Bicentennial Framework?",
        "--backend",
        "openai",
        "--index",
        str(seed_pipeline.settings.index_dir),
        "--json",
        env={
            "RAG_BACKEND_OPENAI_BASE_URL": llm_server.base_url,
            "RAG_BACKEND_OPENAI_MODEL": "test-model",
            "RAG_BACKEND_OPENAI_API_KEY_ENV": KEY_ENV,
            KEY_ENV: API_KEY,
        },
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert API_KEY not in result.stdout + result.stderr
    rewrite, answer_request = llm_server.requests
    assert "When was it launched?" in rewrite.prompt
    assert "<question>When was it launched?</question>" in answer_request.message("user")
    assert "When was the Bicentennial Framework launched?" in answer_request.message("user")

    answer = json.loads(result.stdout)
    assert answer["backend"] == "openai"
    assert answer["answer"].startswith("The framework was launched in 2010")
    texts = {document.doc_id: document.text for document in index.documents}
    for citation in answer["citations"]:
        assert texts[citation["doc_id"]][citation["start"] : citation["end"]] == citation["quote"]
    assert "launched in 2010" in answer["citations"][0]["quote"]
    assert answer["unsupported"] == ["It was also launched on the Moon by 400 astronauts [1]."]


@pytest.mark.slow
def test_rag_ask_backend_openai_with_no_server_falls_back(seed_pipeline, closed_port, tmp_path):
    result = run_rag(
        "ask",
        "When was the Bicentennial Framework launched?",
        "--backend",
        "openai",
        "--index",
        str(seed_pipeline.settings.index_dir),
        # The old names still work, each with one line saying the new one.
        env={"RAG_LLM_BASE_URL": f"http://127.0.0.1:{closed_port}/v1", "RAG_LLM_MODEL": "m"},
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    deprecated = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert deprecated == [
        "warning: $RAG_LLM_BASE_URL is deprecated; use $RAG_BACKEND_OPENAI_BASE_URL instead.",
        "warning: $RAG_LLM_MODEL is deprecated; use $RAG_BACKEND_OPENAI_MODEL instead.",
    ]
    assert "launched in 2010" in result.stdout
    assert "note: The LLM did not answer (cannot connect" in result.stdout
    assert "extractive (fallback)" in result.stderr


class AvailabilityFails(Backend):
    name = "checks_badly"

    def availability(self):
        raise RuntimeError("availability exploded")

    def answer(self, request):
        raise AssertionError("never asked")


def test_a_plugin_whose_availability_check_fails_is_listed_as_not_ready(monkeypatch):
    """It used to raise through `rag backends`, the chat's start and GET /v1/models."""
    hardening.helpers.register_in_process(
        monkeypatch,
        "rag-checks-badly",
        "rag.backends",
        {"checks_badly": f"{__name__}:AvailabilityFails"},
    )
    infos = {i.name: i for i in describe_backends(Settings())}
    assert infos["extractive"].availability.ok
    failing = infos["checks_badly"].availability
    assert not failing.ok
    assert failing.reason == "its availability check failed: RuntimeError: availability exploded"


class CallsItselfOtherwise(Backend):
    name = "realname"

    def answer(self, request):
        raise AssertionError("never asked")


def test_a_plugin_registered_under_another_name_than_its_own_is_refused(monkeypatch):
    """Its options were read under one name and `--backend` took the other."""
    hardening.helpers.register_in_process(
        monkeypatch, "rag-alias", "rag.backends", {"alias": f"{__name__}:CallsItselfOtherwise"}
    )
    with pytest.raises(RagError, match="names itself 'realname': the entry point's name"):
        load_backend("alias", Settings())


def test_two_packages_registering_one_name_are_named_in_a_warning(monkeypatch, caplog):
    """Which one answered depended on the order of sys.path, silently."""
    import importlib.metadata
    from types import SimpleNamespace

    import rag.plugins

    def package(name, value):
        distribution = SimpleNamespace(metadata={"Name": name})
        point = importlib.metadata.EntryPoint("lead", value, "rag.backends")
        distribution.entry_points = [point._for(distribution)]
        return distribution

    first = package("rag-lead-one", f"{__name__}:AvailabilityFails")
    second = package("rag-lead-two", f"{__name__}:CallsItselfOtherwise")
    real = list(importlib.metadata.distributions())
    monkeypatch.setattr(rag.plugins, "distributions", lambda: [*real, first, second])
    with caplog.at_level("WARNING"):
        assert rag.plugins.registered("rag.backends")["lead"].value.endswith("AvailabilityFails")
    assert "two packages register 'lead' in rag.backends: rag-lead-one" in caplog.text
    assert "rag-lead-two" in caplog.text
