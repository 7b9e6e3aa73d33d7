"""Writing folders so that a crash leaves either the old state or the new one, never half."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder: Path, files: Iterable[Path] | None = None) -> None:
    """Flush every file and folder under `folder` to disk, so a rename after it is durable.

    `files`: only these files (the others are hard links to files already flushed), and
    every folder, whose entries the links are.
    """
    for path in folder.rglob("*") if files is None else files:
        if path.is_file():
            fsync_file(path)
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(path)


def write_text_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new one."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(text, encoding="utf-8")
    fsync_file(staging)
    os.replace(staging, path)
    fsync_dir(path.parent)
