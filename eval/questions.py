"""Question files: one JSON object a line, checked field by field.

The format (kept exactly; other question files in it are run against the product):

    {"id": str, "question": str, "answers": [str, ...],
     "source": "<document id>" | ["<document id>", ...] | null}

An unanswerable question has `"answers": []` and `"source": null`. A fact that several
documents report (both seed reports describe the same meeting) lists them all, and a
citation of any of them counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError
from rag.query import Query

FIELDS = ("id", "question", "answers", "source")
DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


class QuestionFileError(RagError):
    """A question file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Question:
    """One evaluation question with its acceptable answers and the documents that hold them."""

    id: str
    question: str
    answers: tuple[str, ...]
    # Every document that holds the answer; empty for an unanswerable question.
    sources: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.sources)


def load_questions(path: Path) -> list[Question]:
    """Read and check a question file; raise QuestionFileError naming the first bad line and field."""
    path = Path(path)
    try:
        # A byte-order mark (Notepad's UTF-8) is no part of the first line.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionFileError(f"Question file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionFileError(
            f"Question file {path} cannot be read as UTF-8 text: {error}"
        ) from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    # Lines end at \n (and \r\n) only: JSON text may hold U+2028 or U+0085 unescaped,
    # which str.splitlines would take for line ends.
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        question = parse_line(line, f"{path} line {number}")
        if question.id in seen:
            raise QuestionFileError(
                f"{path} line {number}: field 'id': {question.id!r} is already used on line "
                f"{seen[question.id]}; every id must be unique."
            )
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionFileError(f"Question file {path} holds no questions.")
    return questions


def parse_line(line: str, where: str) -> Question:
    """One line of a question file as a Question; `where` ("FILE line N") prefixes errors."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise QuestionFileError(
            f"{where}: not valid JSON ({error.msg} at column {error.colno})."
        ) from None
    if not isinstance(record, dict):
        raise QuestionFileError(f"{where}: must be a JSON object with fields {', '.join(FIELDS)}.")
    for name in FIELDS:
        if name not in record:
            raise QuestionFileError(f"{where}: field {name!r} is missing.")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise QuestionFileError(
            f"{where}: field {unknown[0]!r} is not part of the format; "
            f"the fields are {', '.join(FIELDS)}."
        )

    def fail(name: str, expected: str) -> QuestionFileError:
        return QuestionFileError(
            f"{where}: field {name!r} must be {expected}; got {record[name]!r}."
        )

    if not isinstance(record["id"], str) or not record["id"].strip():
        raise fail("id", "a non-empty string")
    if not isinstance(record["question"], str) or not record["question"].strip():
        raise fail("question", "a non-empty string")
    try:  # what `rag ask` would refuse (too long, no word): said here, not mid-run
        Query(record["question"])
    except RagError as error:
        raise QuestionFileError(f"{where}: field 'question': {error}") from None
    answers = record["answers"]
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise fail("answers", "a list of non-empty strings ([] for an unanswerable question)")
    source = record["source"]
    sources = [source] if isinstance(source, str) else source
    if source is not None and (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(s, str) and s.strip() for s in sources)
    ):
        raise fail("source", "a document id, a non-empty list of document ids, or null")
    if (source is None) != (not answers):
        if source is None:
            raise fail("source", "a document id, since the question has answers")
        raise fail("answers", f"non-empty, since the question has source {source!r}")
    return Question(record["id"], record["question"], tuple(answers), tuple(sources or ()))
