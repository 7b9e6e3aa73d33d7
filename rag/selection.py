"""Which documents a question searches: `rag ask --doc/--folder/--type`, the chat's picker,
and the same choices in the HTTP API and the MCP server.

The choice becomes `Query.doc_ids`; the filter itself runs inside the searches (rag/retrieval.py),
so every front door filters the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

from rag.errors import RagError

# Unknown ids named in one message; the rest are counted.
MAX_NAMED_IDS = 5


class Listed(Protocol):
    doc_id: str
    source: str


@dataclass(frozen=True)
class ChoiceNames:
    """How a front door spells each kind of choice, and where its user sees the documents."""

    doc: str
    folder: str
    type: str
    listing: str

    def given(self, ids: Sequence[str], folders: Sequence[Path], types: Sequence[str]) -> str:
        kinds = ((self.doc, ids), (self.folder, folders), (self.type, types))
        return ", ".join(f"{name} {value}" for name, values in kinds for value in values)


COMMAND_LINE = ChoiceNames("--doc", "--folder", "--type", "`rag docs`")


class ChoiceError(RagError):
    """A choice of documents that cannot be searched; `reason` says which way it failed."""

    def __init__(
        self,
        message: str,
        reason: Literal["unknown_document", "unknown_type", "bad_folder", "no_match"],
    ) -> None:
        super().__init__(message)
        self.reason = reason


def chosen_documents(
    documents: Sequence[Listed],
    ids: Iterable[str] = (),
    folders: Iterable[str | Path] = (),
    types: Iterable[str] = (),
    names: ChoiceNames = COMMAND_LINE,
) -> frozenset[str] | None:
    """The ids of the documents that match every kind of choice given (any value of each).

    None when nothing was chosen (search everything); a ChoiceError naming the value when a
    choice matches nothing, rather than an answer from no documents.
    """
    folders = list(folders)
    if any(not str(folder).strip() for folder in folders):
        # Path("") is the current folder, which would quietly match every document in it.
        raise ChoiceError("A folder to search in is empty; give a folder path.", "bad_folder")
    ids, folders, types = list(ids), [Path(f) for f in folders], list(types)
    if not (ids or folders or types):
        return None
    known = {document.doc_id for document in documents}
    unknown = [doc_id for doc_id in dict.fromkeys(ids) if doc_id not in known]
    if unknown:
        shown = ", ".join(map(repr, unknown[:MAX_NAMED_IDS]))
        if len(unknown) > MAX_NAMED_IDS:
            shown += f" and {len(unknown) - MAX_NAMED_IDS} more"
        raise ChoiceError(
            f"Not in the index: {shown}; {names.listing} lists the ids.", "unknown_document"
        )
    suffixes = {_suffix(kind) for kind in types}
    roots = [_folder(folder) for folder in folders]
    chosen = frozenset(
        document.doc_id
        for document in documents
        if (not ids or document.doc_id in ids)
        and (not suffixes or Path(document.source).suffix.lower() in suffixes)
        and (not roots or any(_under(document.source, root) for root in roots))
    )
    if not chosen:
        raise ChoiceError(
            f"No indexed document matches {names.given(ids, folders, types)}; "
            f"{names.listing} lists what is indexed.",
            "no_match",
        )
    return chosen


def _suffix(kind: str) -> str:
    from rag.loading import supported_suffixes

    suffix = "." + kind.strip().lower().lstrip(".")
    if suffix not in supported_suffixes():
        raise ChoiceError(
            f"Unknown document type {kind!r}; the types read are "
            f"{', '.join(s.lstrip('.') for s in supported_suffixes())}.",
            "unknown_type",
        )
    return suffix


def _folder(folder: Path) -> Path:
    try:
        return folder.expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a NUL byte, a loop, a bad ~user
        raise ChoiceError(
            f"The folder {str(folder)!r} cannot be used ({error}); give a folder path as "
            "the documents' sources show it.",
            "bad_folder",
        ) from None


def _under(source: str, root: Path) -> bool:
    return bool(source) and _resolved(source).is_relative_to(root)


# A server asked with `folders` checks every indexed document's source each time: resolving
# a path is a file-system call per directory level, so each source is resolved once.
@lru_cache(maxsize=65536)
def _resolved(source: str) -> Path:
    return Path(source).expanduser().resolve()
