"""Choosing the documents a question searches: ids, folders and types, and bad choices named."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import RagError
from rag.pipeline import DocumentInfo
from rag.selection import chosen_documents


def listed(tmp_path: Path) -> list[DocumentInfo]:
    return [
        DocumentInfo("report", "Report", str(tmp_path / "work" / "report.pdf"), 3, 100),
        DocumentInfo("deck", "Deck", str(tmp_path / "work" / "slides" / "deck.pptx"), 2, 80),
        DocumentInfo("notes", "Notes", str(tmp_path / "home" / "notes.md"), 1, 20),
    ]


def test_nothing_chosen_searches_everything(tmp_path):
    assert chosen_documents(listed(tmp_path)) is None


def test_each_kind_of_choice_and_their_combination(tmp_path):
    documents = listed(tmp_path)
    assert chosen_documents(documents, ids=["notes", "deck"]) == {"notes", "deck"}
    assert chosen_documents(documents, folders=[tmp_path / "work"]) == {"report", "deck"}
    assert chosen_documents(documents, types=["PDF", ".md"]) == {"report", "notes"}
    # Kinds combine: a document must match each kind given.
    assert chosen_documents(documents, folders=[tmp_path / "work"], types=["pptx"]) == {"deck"}


def test_a_choice_that_matches_nothing_is_named(tmp_path):
    documents = listed(tmp_path)
    with pytest.raises(RagError, match="Not in the index: 'nope'"):
        chosen_documents(documents, ids=["nope"])
    with pytest.raises(RagError, match="Unknown document type 'exe'.*pdf"):
        chosen_documents(documents, types=["exe"])
    with pytest.raises(RagError, match="No indexed document matches --folder .*home, --type pdf"):
        chosen_documents(documents, folders=[tmp_path / "home"], types=["pdf"])
    with pytest.raises(RagError) as raised:
        chosen_documents(documents, folders=["a\x00b"])
    assert "The folder 'a\\x00b' cannot be used (embedded null byte)" in str(raised.value)
    # "" would be the current folder, matching every document under it.
    with pytest.raises(RagError, match="A folder to search in is empty"):
        chosen_documents(documents, folders=[" "])


def test_many_unknown_ids_are_counted_past_the_first_few(tmp_path):
    with pytest.raises(RagError) as raised:
        chosen_documents(listed(tmp_path), ids=["notes", *(f"gone-{n}" for n in range(8))])
    assert "'gone-0', 'gone-1', 'gone-2', 'gone-3', 'gone-4' and 3 more" in str(raised.value)


def test_each_front_door_names_the_choices_its_own_way(tmp_path):
    from rag.selection import ChoiceNames

    api = ChoiceNames("doc_ids", "folders", "types", "GET /v1/documents")
    with pytest.raises(RagError) as raised:
        chosen_documents(listed(tmp_path), types=["pdf"], folders=[tmp_path / "home"], names=api)
    assert str(raised.value) == (
        f"No indexed document matches folders {tmp_path / 'home'}, types pdf; "
        "GET /v1/documents lists what is indexed."
    )
