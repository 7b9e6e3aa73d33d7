"""`rag config`: show the settings in effect and where each can be changed."""

from __future__ import annotations

import argparse

HELP = "Show the settings in effect (defaults < rag.toml < RAG_* variables < flags)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from rag.cli import settings_from

    settings = settings_from(args)
    for field in fields(settings):
        value = getattr(settings, field.name)
        print(f"{field.name} = {str(value)!r}    # RAG_{field.name.upper()}")
    return 0
