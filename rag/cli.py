"""The `rag` command: one sub-command per module in `rag/commands/`.

Command modules import nothing heavy at module level, so `rag --help`
answers without loading torch, FAISS or Gradio.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from rag.errors import RagError

# Sub-command name → module in rag.commands; the order is the order of `rag --help`.
COMMANDS = (
    "ask",
    "ingest",
    "docs",
    "remove",
    "migrate",
    "backends",
    "chat",
    "serve",
    "mcp",
    "eval",
    "config",
)


def common_options() -> argparse.ArgumentParser:
    """Options every sub-command takes; each overrides rag.toml and RAG_* variables."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (override rag.toml and RAG_* variables)")
    group.add_argument("--config", metavar="FILE", help="settings file (default: ./rag.toml)")
    group.add_argument(
        # --index-dir too: it is the setting's name, which messages about the value give.
        "--index",
        "--index-dir",
        dest="index_dir",
        metavar="DIR",
        help="index folder (default: .rag/index)",
    )
    group.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help="sentence-transformers model (default: bundled all-MiniLM-L6-v2)",
    )
    return parent


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `rag` parser: every sub-command, or only `command` (what running it needs)."""
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Ask questions of your documents; every answer quotes its sources word for word.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parent = common_options()
    for name in COMMANDS if command is None else (command,):
        module = importlib.import_module(f"rag.commands.{name}")
        sub = subcommands.add_parser(
            name, parents=[parent], help=module.HELP, description=module.HELP
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def settings_from(args: argparse.Namespace, **extra):
    """Settings for this invocation: defaults < rag.toml < RAG_* < these flags."""
    from pathlib import Path

    from rag.config import load_settings

    overrides = {"index_dir": args.index_dir, "model": args.model, **extra}
    return load_settings(Path(args.config) if args.config else None, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A run of one sub-command imports that one's module, not all eleven (a cold `rag ask`
    # pays for each); `rag`, `rag --help` and a mistyped name get every one.
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # The reader of the output left (`rag docs | head`): stop quietly, as `cat` does.
        # stdout goes to devnull so that Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RagError, OSError) as error:
        # An OSError (a full disk, a read-only folder, a path that is a file) says which itself.
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
