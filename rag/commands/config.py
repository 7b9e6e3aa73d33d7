"""`rag config`: show the settings in effect and where each can be changed."""

from __future__ import annotations

import argparse

HELP = "Show the settings in effect (defaults < rag.toml < RAG_* variables < flags)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from rag.backends import backend_options_in_effect
    from rag.cli import settings_from
    from rag.config import backend_variable, setting_names

    settings = settings_from(args)
    for name in setting_names():
        value = getattr(settings, name)
        print(f"{name} = {str(value)!r}    # RAG_{name.upper()}")
    for backend, options in backend_options_in_effect(settings).items():
        print(f"\n[backends.{backend}]")
        if isinstance(options, str):  # the backend failed to load: say why, go on
            print(f"# {options}")
            continue
        for field in fields(options):
            value = getattr(options, field.name)
            print(f"{field.name} = {value!r}    # {backend_variable(backend, field.name)}")
    return 0
