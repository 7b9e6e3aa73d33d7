"""Plugins that cannot be used: each is refused by name, with its package and what to do.

The three extension points (answer backends, file loaders, vector stores) load their
classes through `rag.plugins.load_class`; here a broken third-party package is installed
for real (a .dist-info folder and a module on sys.path) and each point is asked for it.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import EntryPoint

import pytest

from rag.backends import Backend, load_backend
from rag.config import Settings
from rag.errors import RagError
from rag.plugins import load_class

PLUGIN_MODULE = '''
class NotABackend:
    """Registered under every group, subclassing none of our contracts."""
'''


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """The package `rag-broken` registering, in every group, a class of the wrong type
    ("wrong") and a module that does not exist ("missing")."""
    (tmp_path / "rag_broken.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    info = tmp_path / "rag_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rag-broken\nVersion: 1.0\n")
    groups = ("rag.backends", "rag.loaders", "rag.vector_stores")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\nwrong = rag_broken:NotABackend\nmissing = rag_broken_gone:Thing\n\n"
            for group in groups
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("rag_broken", None)


def assert_names_the_plugin(error: RagError, *phrases: str) -> None:
    message = str(error)
    for phrase in ("from the rag-broken package", "pip uninstall rag-broken", *phrases):
        assert phrase in message, (phrase, message)


def test_an_unknown_name_lists_the_registered_ones():
    choices = {name: EntryPoint(name, "builtins:object", "g") for name in ("beta", "alpha")}
    with pytest.raises(RagError) as caught:
        load_class("g", "gamma", object, "widget", choices)
    assert str(caught.value) == "No widget named 'gamma'. Registered widgets: alpha, beta."
    with pytest.raises(RagError, match=r"Registered widgets: none \(is the package installed\?\)"):
        load_class("g", "gamma", object, "widget", {})


@pytest.mark.usefixtures("broken_package")
def test_a_backend_of_the_wrong_type_or_failing_to_import_is_named_with_its_package():
    with pytest.raises(RagError) as caught:
        load_backend("wrong", Settings())
    assert_names_the_plugin(
        caught.value, "Answer backend 'wrong' (rag_broken:NotABackend", "not a rag.backends.Backend"
    )
    with pytest.raises(RagError) as caught:
        load_backend("missing", Settings())
    assert_names_the_plugin(
        caught.value, "Answer backend 'missing'", "ModuleNotFoundError", "rag_broken_gone"
    )


@pytest.mark.usefixtures("broken_package")
def test_rag_config_shows_a_broken_backend_and_the_others(tmp_path):
    from rag.backends import backend_options_in_effect

    shown = backend_options_in_effect(Settings())
    assert "not a rag.backends.Backend subclass" in shown["wrong"]
    assert "rag-broken" in shown["missing"]
    assert not isinstance(shown["extractive"], str)  # ours are still read


@pytest.mark.usefixtures("broken_package")
def test_a_broken_vector_store_is_named_with_its_package():
    from rag.vector_stores import store_class

    with pytest.raises(RagError) as caught:
        store_class("wrong")
    assert_names_the_plugin(caught.value, "not a rag.vector_stores.VectorStore subclass")
    with pytest.raises(RagError) as caught:
        store_class("missing")
    assert_names_the_plugin(caught.value, "Vector store 'missing'", "ModuleNotFoundError")


def test_a_broken_loader_is_skipped_with_a_warning_naming_its_package(broken_package, caplog):
    from rag import loading

    loading._loader_classes.cache_clear()
    try:
        # The formats that work are still read: one broken plugin does not stop an ingest.
        assert ".txt" in loading.supported_suffixes()
    finally:
        loading._loader_classes.cache_clear()
    warnings = [record.getMessage() for record in caplog.records]
    wrong = next(message for message in warnings if "File loader 'wrong'" in message)
    assert "not a rag.loading.Loader subclass" in wrong and "files are skipped" in wrong
    missing = next(message for message in warnings if "File loader 'missing'" in message)
    for message in (wrong, missing):
        assert "from the rag-broken package" in message and "pip uninstall rag-broken" in message


@pytest.mark.parametrize(
    ("name", "target", "remedy"),
    [
        # One of ours whose optional dependency is missing: install the extra of that name.
        ("milvus", "rag_no_such_module:Store", "pip install 'rag[milvus]'"),
        ("faiss", "rag_no_such_module:Store", "Install what it needs (rag_no_such_module)"),
        # Ours naming the wrong thing: the installed metadata is older than the code.
        ("faiss", "builtins:object", "pip install -e ."),
    ],
)
def test_our_own_entry_point_that_cannot_load_says_what_to_install(name, target, remedy):
    choices = {name: EntryPoint(name, target, "rag.vector_stores")}
    from rag.vector_stores import VectorStore

    with pytest.raises(RagError) as caught:
        load_class("rag.vector_stores", name, VectorStore, "vector store", choices)
    assert f"Vector store {name!r} ({target}, from the rag package)" in str(caught.value)
    assert remedy in str(caught.value)
    assert "uninstall" not in str(caught.value)


def test_a_class_of_the_right_type_is_returned():
    from rag.backends.extractive import ExtractiveBackend

    choices = {
        "extractive": EntryPoint("extractive", "rag.backends.extractive:ExtractiveBackend", "g")
    }
    assert load_class("g", "extractive", Backend, "answer backend", choices) is ExtractiveBackend
