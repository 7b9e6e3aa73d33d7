"""Extension points found through Python entry-point groups (answer backends, loaders, stores).

Our own implementations register through the same entry points a third party's would
(see pyproject.toml); only a chosen implementation's module is imported. Each one owns
its settings: a `PluginOptions` subclass named in its class attribute `Options`, read
from its own rag.toml table (`Settings.plugin_options`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, distributions
from typing import TYPE_CHECKING, TypeVar

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.config import Settings

OUR_DISTRIBUTION = "rag"
C = TypeVar("C", bound=type)


def registered(group: str) -> dict[str, EntryPoint]:
    """Every entry point of `group` by name; ours are taken first, so a plugin cannot replace them."""
    ours: list[EntryPoint] = []
    theirs: list[EntryPoint] = []
    # Every distribution, not the first of each name: in a source checkout a stale
    # rag.egg-info on sys.path would otherwise hide the installed package's entry points.
    for distribution in distributions():
        entry_points = [ep for ep in distribution.entry_points if ep.group == group]
        # Only then its name: reading it parses the package's whole metadata file, which
        # for every installed package was most of the time a cold `rag ask` spent here.
        if entry_points:
            name = distribution.metadata["Name"]
            (ours if name == OUR_DISTRIBUTION else theirs).extend(entry_points)
    found: dict[str, EntryPoint] = {}
    for entry_point in ours + theirs:
        taken = found.setdefault(entry_point.name, entry_point)
        # (Our own package found twice, a stale rag.egg-info beside it, is no clash.)
        if taken is not entry_point and distribution_name(taken) != distribution_name(entry_point):
            _say_name_taken(group, entry_point, taken)
    return found


def _say_name_taken(group: str, lost: EntryPoint, kept: EntryPoint) -> None:
    """Warn, once, that two packages register one name: which one is used and why."""
    from rag.config import note_once

    why = (
        "ours is kept"
        if distribution_name(kept) == OUR_DISTRIBUTION
        else "the first found on the path is kept, which may change"
    )
    note_once(
        f"warning: two packages register {lost.name!r} in {group}: "
        f"{distribution_name(kept)} ({kept.value}) and {distribution_name(lost)} "
        f"({lost.value}); {why}. Uninstall one, or ask its authors for another name."
    )


@dataclass(frozen=True)
class PluginOptions:
    """An extension's own settings (`rag.backends.BackendOptions`, `rag.loading.LoaderOptions`).

    Subclass it with typed fields and defaults (a comment above each field says what it
    does; `rag config` shows each with its variable) and name the class in the
    extension's `Options`. Users set
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


def load_class(
    group: str,
    name: str,
    base_class: C,
    what: str,
    choices: Mapping[str, EntryPoint] | None = None,
) -> C:
    """The class registered as `name` in entry-point group `group`, a subclass of `base_class`.

    `what` names the kind in errors ("answer backend"); `choices` replaces the group's
    registered entry points. Every failure is a RagError: an unknown name lists the known
    ones, and a class that fails to import or has the wrong type is named with the
    package that registered it and what to do.
    """
    choices = registered(group) if choices is None else choices
    if name not in choices:
        known = ", ".join(sorted(choices)) or "none (is the package installed?)"
        raise RagError(f"No {what} named {name!r}. Registered {what}s: {known}.")
    return load_entry_point(choices[name], base_class, what)


def load_entry_point(entry_point: EntryPoint, base_class: C, what: str) -> C:
    """The class `entry_point` names, checked to subclass `base_class` (see load_class)."""
    package = distribution_name(entry_point)
    named = f"{what.capitalize()} {entry_point.name!r} ({entry_point.value}, from the {package} package)"
    try:
        found = entry_point.load()
    except Exception as error:  # a third party's import error must not crash the product
        raise RagError(
            f"{named} failed to load: {type(error).__name__}: {error}. "
            f"{_remedy(entry_point, package, error)}"
        ) from None
    if not (isinstance(found, type) and issubclass(found, base_class)):
        raise RagError(
            f"{named} is not a {public_name(base_class)} subclass. "
            f"{_remedy(entry_point, package, None)}"
        )
    calls_itself = getattr(found, "name", entry_point.name)
    if calls_itself != entry_point.name:
        # Its options would be read under one name and chosen under the other.
        raise RagError(
            f"{named} names itself {calls_itself!r}: the entry point's name and the class's "
            f"`name` must be the same. {_remedy(entry_point, package, None)}"
        )
    return found


def distribution_name(entry_point: EntryPoint) -> str:
    """The name of the package that registered `entry_point` (ours when it was made by hand)."""
    distribution = getattr(entry_point, "dist", None)
    return distribution.metadata["Name"] if distribution is not None else OUR_DISTRIBUTION


def public_name(cls: type) -> str:
    """`cls` by the name a plugin imports it from: rag.backends.Backend, not rag.backends.base.Backend."""
    module = cls.__module__
    parent = module.rpartition(".")[0]
    if parent and getattr(sys.modules.get(parent), cls.__name__, None) is cls:
        module = parent
    return f"{module}.{cls.__name__}"


def _remedy(entry_point: EntryPoint, package: str, error: Exception | None) -> str:
    """What the user can do about a plugin that cannot be used."""
    if package != OUR_DISTRIBUTION:
        return f"Update or fix the {package} package, or remove it (`pip uninstall {package}`)."
    if isinstance(error, ImportError):
        if entry_point.name in _our_extras():
            return f"Install its extra: `pip install 'rag[{entry_point.name}]'`."
        return f"Install what it needs ({error.name or error}), or pick another."
    # Our own entry point names something else: the installed metadata is older than the code.
    return "Run `make install` (or `pip install -e .`) again to refresh the package's metadata."


def _our_extras() -> list[str]:
    """The optional dependency groups our installed package offers (`rag[milvus]`, ...)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return metadata(OUR_DISTRIBUTION).get_all("Provides-Extra") or []
    except PackageNotFoundError:
        return []
