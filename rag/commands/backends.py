"""`rag backends`: list the registered answer backends."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

HELP = "List the registered answer backends and whether each is configured."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from rag.backends import describe_backends
    from rag.cli import settings_from

    settings = settings_from(args)
    infos = describe_backends(settings)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "description": i.description,
                        "available": i.availability.ok,
                        "reason": i.availability.reason,
                        "options": asdict(i.options) if i.options is not None else None,
                    }
                    for i in infos
                ],
                indent=2,
            )
        )
        return 0
    for info in infos:
        default = " (default)" if info.name == settings.backend else ""
        state = "ready" if info.availability.ok else f"not configured: {info.availability.reason}"
        print(f"{info.name}{default}: {state}")
        if info.description:
            print(f"    {info.description}")
        if info.options is not None:
            for name, value in asdict(info.options).items():
                print(f"    {name} = {value!r}")
    return 0
