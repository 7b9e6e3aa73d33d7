"""Each file loader owns its options: read from [loaders.NAME] and RAG_LOADER_NAME_OPTION,
checked, shown by `rag config`, and used by the ingest; a third party's loader the same way."""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import hardening.helpers
import pytest

from rag import loading
from rag.cli import main
from rag.config import Settings, load_settings
from rag.errors import RagError
from rag.loaders.pdf import PdfOptions
from rag.loading import Loaders
from rag.pipeline import Pipeline
from rag.query import Query

# Short Czech text in its Windows code page fits Western European cp1252 just as well, and
# detection prefers that: "Èeština" instead of "Čeština".
CZECH = "Čeština je těžká. Schůzka se konala v Brně ve středu a ministr podepsal smlouvu o vodě."


def settings_with(tmp_path, toml: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "rag.toml"
    path.write_text(toml, encoding="utf-8")
    return load_settings(config_file=path, environ=environ or {})


def options_of(loaders: Loaders, suffix: str):
    loader = loaders.for_suffix(suffix)
    assert loader is not None
    return loader.options


def test_a_loader_table_sets_its_options_and_a_variable_overrides_it(tmp_path):
    toml = '[loaders.pdf]\nocr = false\nocr_languages = "deu"\n[loaders.xlsx]\nmax_rows_per_sheet = 9\n'
    settings = settings_with(tmp_path, toml, {"RAG_LOADER_PDF_OCR_LANGUAGES": "eng+deu"})
    loaders = Loaders(settings)
    assert options_of(loaders, ".pdf") == PdfOptions(ocr=False, ocr_languages="eng+deu")
    assert options_of(loaders, ".xlsx").max_rows_per_sheet == 9
    assert options_of(loaders, ".xlsm").max_rows_per_sheet == 9  # one loader, both suffixes
    assert options_of(loaders, ".csv").max_rows_per_sheet == 100_000  # csv has its own table


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        (
            "[loaders.pdf]\nocr_language = 'deu'\n",
            {},
            "Unknown option 'ocr_language' for loader 'pdf' in {path} [loaders.pdf]. "
            "Its options: ocr, ocr_languages.",
        ),
        (
            "",
            {"RAG_LOADER_CSV_MAX_ROWS": "5"},
            "Unknown option 'max_rows' for loader 'csv' in $RAG_LOADER_CSV_MAX_ROWS.",
        ),
        ("[loaders.pdf]\nocr = 'yes'\n", {}, "'pdf.ocr' in {path} [loaders.pdf] must be bool"),
        ("[loaders.csv]\nmax_rows_per_sheet = 2.5\n", {}, "'csv.max_rows_per_sheet'"),
        (
            "",
            {"RAG_LOADER_XLSX_MAX_ROWS_PER_SHEET": "lots"},
            "'xlsx.max_rows_per_sheet' in $RAG_LOADER_XLSX_MAX_ROWS_PER_SHEET must be int",
        ),
        ("[loaders.xlsx]\nmax_rows_per_sheet = 0\n", {}, "Loader 'xlsx': max_rows_per_sheet"),
        (
            "[loaders.text]\nencoding = 'klingon'\n",
            {},
            "Loader 'text': option 'encoding' must name a text encoding",
        ),
        ("loaders = 3\n", {}, "`loaders` must hold one table per loader"),
    ],
)
def test_a_wrong_loader_option_is_refused_naming_it(tmp_path, toml, environ, expected):
    with pytest.raises(RagError) as error:
        Loaders(settings_with(tmp_path, toml, environ))
    assert expected.format(path=tmp_path / "rag.toml") in str(error.value)


def test_options_for_a_loader_that_does_not_exist_are_warned_about(tmp_path, caplog, monkeypatch):
    import logging

    import rag.config

    monkeypatch.setattr(rag.config, "_noted", set())
    settings = settings_with(tmp_path, "[loaders.pdff]\nocr = false\n", {"RAG_LOADER_TXT_X": "1"})
    with caplog.at_level(logging.WARNING, logger="rag.config"):
        Loaders(settings)
    warnings = [record.getMessage() for record in caplog.records]
    assert [warning.split(";")[0] for warning in warnings] == [
        f"warning: {tmp_path / 'rag.toml'} [loaders.pdff] sets an option of no loader and is ignored",
        "warning: $RAG_LOADER_TXT_X sets an option of no loader and is ignored",
    ]
    assert all("; loaders: csv, docx, " in warning and ", pdf, " in warning for warning in warnings)


def test_a_wrong_loader_option_stops_an_ingest_before_anything_is_read(scratch_pipeline, tmp_path):
    (tmp_path / "a.txt").write_text("The ferry leaves at noon.", encoding="utf-8")
    settings = scratch_pipeline.settings.with_options("loaders", "pdf", ocr="yes")
    pipeline = Pipeline(settings, embedder=scratch_pipeline.embedder)
    before = {d.doc_id for d in pipeline.documents()}
    with pytest.raises(RagError, match="'pdf.ocr' in arguments must be bool"):
        pipeline.ingest([tmp_path / "a.txt"])
    assert {d.doc_id for d in pipeline.documents()} == before


def test_options_set_in_rag_toml_change_what_an_ingest_reads(scratch_pipeline, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zprava.txt").write_bytes(CZECH.encode("cp1250"))
    (docs / "people.csv").write_text("name,city\nAda,London\nGrace,Arlington\nLinus,Helsinki\n")
    index_dir = scratch_pipeline.settings.index_dir

    def ingest(toml: str) -> tuple[Pipeline, list[str]]:
        (tmp_path / "rag.toml").write_text(toml, encoding="utf-8")
        settings = load_settings(
            tmp_path / "rag.toml", environ={}, overrides={"index_dir": index_dir}
        )
        pipeline = Pipeline(settings, embedder=scratch_pipeline.embedder)
        return pipeline, pipeline.ingest([docs]).notices

    def quoted(pipeline: Pipeline) -> str:
        answer = pipeline.ask(Query("Kde se konala schůzka?", doc_ids=frozenset({"zprava"})))
        return " ".join(citation.quote for citation in answer.citations)

    pipeline, notices = ingest("")
    assert "Brně" not in quoted(pipeline)  # detected as Western European: "Brnì"
    assert notices == []

    toml = '[loaders.text]\nencoding = "cp1250"\n[loaders.csv]\nmax_rows_per_sheet = 2\n'
    pipeline, notices = ingest(toml)
    assert "Schůzka se konala v Brně ve středu" in quoted(pipeline)
    assert notices == [
        f"{docs / 'people.csv'}: only the first 2 rows of the file were indexed "
        "(loader option max_rows_per_sheet)"
    ]


def test_speaker_notes_can_be_left_out_of_a_presentation(tmp_path):
    from sample_files import pptx_with

    path = tmp_path / "deck.pptx"
    path.write_bytes(pptx_with([("Plans", "Hire two engineers.", "Do not mention the layoffs.")]))
    assert "Notes: Do not mention the layoffs." in Loaders(Settings()).load(path)[0].text
    without = Loaders(load_settings(environ={"RAG_LOADER_PPTX_NOTES": "false"})).load(path)[0]
    assert "Hire two engineers." in without.text and "layoffs" not in without.text


def test_rag_config_shows_each_loaders_options(tmp_path, capsys, monkeypatch):
    (tmp_path / "rag.toml").write_text("[loaders.pdf]\nocr_languages = 'deu'\n", encoding="utf-8")
    monkeypatch.setenv("RAG_LOADER_CSV_MAX_ROWS_PER_SHEET", "7")
    assert main(["config", "--config", str(tmp_path / "rag.toml")]) == 0
    shown = capsys.readouterr().out
    assert "\n[loaders.pdf]\nocr = true    # RAG_LOADER_PDF_OCR\n" in shown
    assert 'ocr_languages = "deu"    # RAG_LOADER_PDF_OCR_LANGUAGES' in shown
    assert '[loaders.csv]\nencoding = ""    # RAG_LOADER_CSV_ENCODING\n' in shown
    assert "max_rows_per_sheet = 7    # RAG_LOADER_CSV_MAX_ROWS_PER_SHEET" in shown
    assert "[loaders.docx]\n# (no options)" in shown
    assert "[loaders.pptx]\nnotes = true    # RAG_LOADER_PPTX_NOTES" in shown


# -- a third party's loader ----------------------------------------------------------------------
ORG_NOTES = """#+TITLE: Harbour notes
* Ferries
The morning ferry leaves at seven.
# The harbour master keeps the spare keys under the blue bucket.
"""


@pytest.fixture
def org_plugin(monkeypatch):
    """The example loader plugin, importable and registered as if pip had installed it."""
    monkeypatch.syspath_prepend(str(hardening.helpers.PLUGINS / "rag-org-loader"))
    plugin = SimpleNamespace(
        metadata={"Name": "rag-org-loader"},
        entry_points=[
            importlib.metadata.EntryPoint("org", "rag_org_loader:OrgLoader", "rag.loaders")
        ],
    )
    real = list(importlib.metadata.distributions())
    monkeypatch.setattr("rag.plugins.distributions", lambda: [*real, plugin])
    loading._loader_classes.cache_clear()
    yield
    loading._loader_classes.cache_clear()
    sys.modules.pop("rag_org_loader", None)


def test_a_plugin_loader_gets_its_options_the_same_way(org_plugin, tmp_path):
    path = tmp_path / "harbour.org"
    path.write_text(ORG_NOTES, encoding="utf-8")

    default = Loaders(Settings()).load(path)[0]
    assert default.title == "Harbour notes"
    assert "spare keys" not in default.text
    with_comments = Loaders(settings_with(tmp_path, "[loaders.org]\ncomments = true\n"))
    assert "The harbour master keeps the spare keys" in with_comments.load(path)[0].text
    from_variable = Loaders(load_settings(environ={"RAG_LOADER_ORG_COMMENTS": "yes"}))
    assert "spare keys" in from_variable.load(path)[0].text

    with pytest.raises(RagError, match=r"Unknown option 'coments' for loader 'org'.*: comments\."):
        Loaders(settings_with(tmp_path, "[loaders.org]\ncoments = true\n"))
    with pytest.raises(RagError, match=r"'org.comments' in .* must be bool, got 'sometimes'"):
        Loaders(load_settings(environ={"RAG_LOADER_ORG_COMMENTS": "sometimes"}))


@pytest.mark.slow
def test_rag_ingest_reads_an_installed_plugins_format_with_its_option(tmp_path_factory):
    plugin = hardening.helpers.install_plugin("rag-org-loader", tmp_path_factory.mktemp("org"))
    work = tmp_path_factory.mktemp("org-ingest")
    (work / "notes").mkdir()
    (work / "notes" / "harbour.org").write_text(ORG_NOTES, encoding="utf-8")
    (work / "rag.toml").write_text("[loaders.org]\ncomments = true\n", encoding="utf-8")
    env = hardening.helpers.cli_env(work, PYTHONPATH=plugin, RAG_CONFIG=str(work / "rag.toml"))

    def rag(*args: str):
        result = hardening.helpers.run_rag(*args, "--index", str(work / "index"), cwd=work, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "comments = true    # RAG_LOADER_ORG_COMMENTS" in rag("config")
    rag("ingest", "notes")
    question = "What does the harbour master keep under the blue bucket?"
    answer = json.loads(rag("ask", question, "--json"))
    assert "The harbour master keeps the spare keys under the blue bucket." in [
        citation["quote"] for citation in answer["citations"]
    ]


# -- a third party's loader that is broken in one of the ways a plugin author slips ------------
class GivesText(loading.Loader):
    name = "gives_text"
    suffixes = (".givestext",)

    def extract(self, path):
        return path.read_text(encoding="utf-8")  # not an Extracted


class PartsAskew(loading.Loader):
    name = "parts_askew"
    suffixes = (".askew",)

    def extract(self, path):
        return loading.Extracted(path.read_text(encoding="utf-8"), part_starts=(500000, 10))


@dataclass(frozen=True)
class NeedsLanguage(loading.LoaderOptions):
    language: str


class NeedsOption(loading.Loader):
    name = "needs_option"
    suffixes = (".needs",)
    Options = NeedsLanguage

    def extract(self, path):
        raise AssertionError("never made")


class FailsToStart(loading.Loader):
    name = "fails_to_start"
    suffixes = (".fails",)

    def __init__(self, options=None):
        raise RuntimeError("loader exploded")

    def extract(self, path):
        raise AssertionError("never made")


@pytest.fixture
def broken_loaders(monkeypatch):
    names = [GivesText, PartsAskew, NeedsOption, FailsToStart]
    hardening.helpers.register_in_process(
        monkeypatch,
        "rag-broken-loaders",
        "rag.loaders",
        {c.name: f"{__name__}:{c.__name__}" for c in names},
    )
    loading._loader_classes.cache_clear()
    yield
    loading._loader_classes.cache_clear()


def test_a_broken_plugin_loader_skips_its_own_files_and_the_rest_are_read(broken_loaders, tmp_path):
    """Each of these stopped every ingest with a traceback, whatever files it read; an
    option the loader needs, not set, stops it too, but saying what to set."""
    with pytest.raises(RagError) as needs:
        Loaders(Settings())
    assert str(needs.value) == (
        "Loader 'needs_option' needs a value for: language in [loaders.needs_option] or "
        "$RAG_LOADER_NEEDS_OPTION_LANGUAGE."
    )
    loaders = Loaders(Settings().with_options("loaders", "needs_option", language="en"))
    for suffix, problem in [
        (".givestext", "the gives_text loader gave a str, not an Extracted"),
        (".askew", "the parts_askew loader gave its parts wrong offsets or names"),
        (".fails", "skipped: The fails_to_start file loader (from the test_loader_options "
         "module) failed to start: RuntimeError: loader exploded"),
    ]:  # fmt: skip
        path = tmp_path / f"file{suffix}"
        path.write_text("Some text of the file.", encoding="utf-8")
        with pytest.raises(loading.LoadError, match=re.escape(problem)):
            loaders.extract(path)
    fine = tmp_path / "fine.txt"
    fine.write_text("The archive opens at nine.", encoding="utf-8")
    assert loaders.extract(fine).text == "The archive opens at nine."


class ClaimsText(loading.Loader):
    name = "claims_text"
    suffixes = (".txt", "nd")

    def extract(self, path):
        raise AssertionError("never used")


def test_a_loader_claiming_a_taken_suffix_or_no_suffix_is_warned_about(monkeypatch, caplog):
    hardening.helpers.register_in_process(
        monkeypatch, "rag-claims", "rag.loaders", {"claims_text": f"{__name__}:ClaimsText"}
    )
    loading._loader_classes.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            assert loading.Loaders(Settings()).for_suffix(".txt").name == "text"
            assert "nd" not in loading.supported_suffixes()
    finally:
        loading._loader_classes.cache_clear()
    assert "the text and claims_text file loaders both read .txt files; text is used" in caplog.text
    assert "claims the suffix 'nd', which is no file ending" in caplog.text
