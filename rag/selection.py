"""Which documents a question searches: `rag ask --doc/--folder/--type` and the chat's picker.

The choice becomes `Query.doc_ids`; the filter itself runs inside the searches (rag/retrieval.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from rag.errors import RagError


class Listed(Protocol):
    doc_id: str
    source: str


def chosen_documents(
    documents: Sequence[Listed],
    ids: Iterable[str] = (),
    folders: Iterable[Path] = (),
    types: Iterable[str] = (),
) -> frozenset[str] | None:
    """The ids of the documents that match every kind of choice given (any value of each).

    None when nothing was chosen (search everything); a RagError naming the value when a
    choice matches nothing, rather than an answer from no documents.
    """
    ids, folders, types = list(ids), [Path(f) for f in folders], list(types)
    if not (ids or folders or types):
        return None
    known = {document.doc_id for document in documents}
    unknown = [doc_id for doc_id in ids if doc_id not in known]
    if unknown:
        raise RagError(
            f"Not in the index: {', '.join(map(repr, unknown))}; see `rag docs` for the ids."
        )
    suffixes = {_suffix(kind) for kind in types}
    roots = [folder.expanduser().resolve() for folder in folders]
    chosen = frozenset(
        document.doc_id
        for document in documents
        if (not ids or document.doc_id in ids)
        and (not suffixes or Path(document.source).suffix.lower() in suffixes)
        and (not roots or any(_under(document.source, root) for root in roots))
    )
    if not chosen:
        given = [f"--doc {i}" for i in ids] + [f"--folder {f}" for f in folders]
        given += [f"--type {t}" for t in types]
        raise RagError(
            f"No indexed document matches {' '.join(given)}; see `rag docs` for what is indexed."
        )
    return chosen


def _suffix(kind: str) -> str:
    from rag.loading import supported_suffixes

    suffix = "." + kind.strip().lower().lstrip(".")
    if suffix not in supported_suffixes():
        raise RagError(
            f"Unknown document type {kind!r}; the types read are "
            f"{', '.join(s.lstrip('.') for s in supported_suffixes())}."
        )
    return suffix


def _under(source: str, root: Path) -> bool:
    return bool(source) and Path(source).expanduser().resolve().is_relative_to(root)
