"""Answer backends, found by name through the `rag.backends` entry-point group.

Our own backends register through the same entry points a third party's
would (see pyproject.toml), and only the chosen backend's module is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint

from rag.backends.base import (
    ABSTAIN_PREFIX,
    AnswerRequest,
    Availability,
    Backend,
    BackendOptions,
    abstention_text,
    final_answer,
)
from rag.config import Settings
from rag.errors import RagError
from rag.plugins import load_class, load_entry_point, options_in_effect, registered

ENTRY_POINT_GROUP = "rag.backends"

__all__ = [
    "ABSTAIN_PREFIX",
    "AnswerRequest",
    "Availability",
    "Backend",
    "BackendInfo",
    "BackendOptions",
    "abstention_text",
    "availability_of",
    "backend_names",
    "backend_options_in_effect",
    "describe_backends",
    "final_answer",
    "load_backend",
]


def _entry_points() -> dict[str, EntryPoint]:
    return registered(ENTRY_POINT_GROUP)


def backend_names() -> list[str]:
    """Names of every registered backend, sorted."""
    return sorted(_entry_points())


def load_backend(name: str, settings: Settings) -> Backend:
    """An instance of the backend registered as `name`."""
    registered = _entry_points()
    backend_class = load_class(ENTRY_POINT_GROUP, name, Backend, "answer backend", registered)
    settings.warn_about_unclaimed_options("backends", registered)
    try:
        return backend_class(settings)
    except RagError:  # its options were wrong: the message already says which
        raise
    except Exception as error:  # nor may a third party's constructor
        raise RagError(
            f"Answer backend {name!r} failed to start: {type(error).__name__}: {error}"
        ) from None


@dataclass(frozen=True)
class BackendInfo:
    name: str
    description: str
    availability: Availability
    # The options in effect (None when the backend could not be made).
    options: BackendOptions | None = None


def backend_options_in_effect(settings: Settings) -> dict[str, BackendOptions | str]:
    """Each registered backend's options as `settings` set them, or why they cannot be read.

    Only the backend classes are loaded, not made: no backend connects or loads a model.
    """
    classes = [
        (name, lambda ep=ep: load_entry_point(ep, Backend, "answer backend"))
        for name, ep in sorted(_entry_points().items())
    ]
    return options_in_effect(settings, "backends", classes)


def describe_backends(settings: Settings) -> list[BackendInfo]:
    """Every registered backend with whether it can answer now, and why not."""
    infos = []
    for name in backend_names():
        try:
            backend = load_backend(name, settings)
        except RagError as error:
            infos.append(BackendInfo(name, "", Availability(False, str(error))))
            continue
        infos.append(
            BackendInfo(name, backend.description, availability_of(backend), backend.options)
        )
    return infos


def availability_of(backend: Backend) -> Availability:
    """`backend.availability()`, a third party's failing one saying so instead of raising
    (one broken plugin must not keep `rag backends`, the chat or the API from starting)."""
    try:
        return backend.availability()
    except Exception as error:
        return Availability(
            False, f"its availability check failed: {type(error).__name__}: {error}"
        )
