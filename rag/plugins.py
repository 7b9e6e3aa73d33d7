"""Extension points found through Python entry-point groups (answer backends, loaders).

Our own implementations register through the same entry points a third party's would
(see pyproject.toml); only a chosen implementation's module is imported. Each one owns
its settings: a `PluginOptions` subclass named in its class attribute `Options`, read
from its own rag.toml table (`Settings.plugin_options`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, distributions
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.config import Settings

OUR_DISTRIBUTION = "rag"


def registered(group: str) -> dict[str, EntryPoint]:
    """Every entry point of `group` by name; ours are taken first, so a plugin cannot replace them."""
    ours: list[EntryPoint] = []
    theirs: list[EntryPoint] = []
    # Every distribution, not the first of each name: in a source checkout a stale
    # rag.egg-info on sys.path would otherwise hide the installed package's entry points.
    for distribution in distributions():
        entry_points = [ep for ep in distribution.entry_points if ep.group == group]
        (ours if distribution.metadata["Name"] == OUR_DISTRIBUTION else theirs).extend(entry_points)
    found: dict[str, EntryPoint] = {}
    for entry_point in ours + theirs:
        found.setdefault(entry_point.name, entry_point)
    return found


@dataclass(frozen=True)
class PluginOptions:
    """An extension's own settings (`rag.backends.BackendOptions`, `rag.loading.LoaderOptions`).

    Subclass it with typed fields and defaults (a comment above each field says what it
    does: `rag config` shows it) and name the class in the extension's `Options`. Users set
    them in rag.toml's table for it (`[backends.NAME]`, `[loaders.NAME]`) or as variables
    (RAG_BACKEND_NAME_OPTION, RAG_LOADER_NAME_OPTION); the types are checked, and
    `__post_init__` may raise ValueError for a value out of range: the user sees the
    message with the extension's name.
    """


def options_in_effect(
    settings: Settings, kind: str, classes: Iterable[tuple[str, Callable[[], type]]]
) -> dict[str, PluginOptions | str]:
    """Each extension's options as `settings` set them, or why they cannot be read.

    `classes` gives each extension's name and how to get its class; a class is only
    loaded, never made, so nothing connects or loads a model.
    """
    from rag.config import plugin_kind
    from rag.errors import RagError

    noun = plugin_kind(kind).noun
    found: dict[str, PluginOptions | str] = {}
    for name, load in classes:
        try:
            found[name] = settings.plugin_options(kind, name, load().Options)
        except RagError as error:
            found[name] = str(error)
        except Exception as error:  # a third party's import error must not hide the others
            found[name] = f"{noun} {name!r} failed to load: {type(error).__name__}: {error}"
    return found
