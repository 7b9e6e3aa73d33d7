"""`rag config`: show the settings in effect and where each can be changed.

The output is a valid rag.toml: a user may copy a line or the whole of it into theirs.
"""

from __future__ import annotations

import argparse
import sys

HELP = "Show the settings in effect (defaults < rag.toml < RAG_* variables < flags)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    from rag.backends import backend_options_in_effect
    from rag.cli import settings_from
    from rag.config import setting_names
    from rag.loading import loader_options_in_effect

    settings = settings_from(args)
    for name in setting_names():
        value = getattr(settings, name)
        print(f"{name} = {toml_value(value)}    # RAG_{name.upper()}")
    backends = backend_options_in_effect(settings)
    loaders = loader_options_in_effect(settings)
    print_option_tables("backends", backends)
    print_option_tables("loaders", loaders)
    # Checked as the commands that use them check them, so a typo shows here, not later in
    # `rag ingest` or `rag ask` (a misspelled table is a warning there too: it is ignored).
    settings.warn_about_unclaimed_options("backends", backends)
    settings.warn_about_unclaimed_options("loaders", loaders)
    problems = [
        options
        for in_effect in (backends, loaders)
        for options in in_effect.values()
        if isinstance(options, str)
    ]
    if settings.backend not in backends:
        problems.append(
            f"Setting 'backend' is {settings.backend!r}, which is no answer backend; the "
            f"backends: {', '.join(backends)} (`rag backends`)."
        )
    from rag.vector_stores import store_names

    stores = store_names()
    if settings.vector_store not in stores:
        problems.append(
            f"Setting 'vector_store' is {settings.vector_store!r}, which is no vector store; "
            f"the stores: {', '.join(stores)}."
        )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def print_option_tables(kind: str, in_effect: dict) -> None:
    """One rag.toml table per extension: its options in effect, each with its variable."""
    from dataclasses import fields

    from rag.config import option_variable

    for name, options in in_effect.items():
        print(f"\n[{kind}.{name}]")
        if isinstance(options, str):  # the extension failed to load: say why, go on
            print(f"# {options}")
            continue
        if not fields(options):
            print("# (no options)")
        for field in fields(options):
            value = getattr(options, field.name)
            variable = option_variable(kind, name, field.name)
            print(f"{field.name} = {toml_value(value)}    # {variable}")


def toml_value(value: object) -> str:
    """`value` written as rag.toml reads it back: true, 5, 0.5, "text" (a path as its text)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # TOML writes nan and inf as Python does
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    # A TOML basic string escapes as JSON does for every character a setting may hold.
    return json.dumps(str(value), ensure_ascii=False)
