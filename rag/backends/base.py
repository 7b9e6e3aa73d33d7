"""The contract every answer backend keeps: question and passages in, cited answer out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rag.config import Settings
from rag.plugins import PluginOptions
from rag.types import Answer, Citation, Passage, QueryTerm, Turn

ABSTAIN_PREFIX = "The documents do not say"


def abstention_text(
    question: str, unknown: str = "", *, in_passages: bool = False, instead: str = ""
) -> str:
    """The plain message a backend gives when the passages do not hold the answer.

    `unknown`: what the question names that no indexed document mentions ("Munich"), so
    the user sees why, and can ask again in the documents' words ("München");
    `in_passages`: that no passage found mentions (the documents may elsewhere);
    `instead`: what the passages found speak of in its place ("Pro 3" for "Pro 2").
    """
    if unknown and instead:
        return f"{ABSTAIN_PREFIX} — the passages found speak of “{instead}”, not “{unknown}”."
    if unknown:
        where = "no passage found" if in_passages else "no indexed document"
        return f"{ABSTAIN_PREFIX} — {where} mentions “{unknown}”."
    return f"{ABSTAIN_PREFIX} — none of the indexed passages answers “{question.strip()}”."


@dataclass(frozen=True)
class AnswerRequest:
    """Everything a backend may use to answer."""

    question: str
    passages: tuple[Passage, ...]
    history: tuple[Turn, ...] = ()
    # The question's content terms with their corpus rarity (from the retriever).
    query_terms: tuple[QueryTerm, ...] = field(default_factory=tuple)
    # The question made standalone from the history, as retrieval used it ("" = `question`).
    standalone: str = ""
    # How close in meaning each of some texts, embedded alone, is to the question as
    # retrieval used it (cosines); None when the caller gives no embedding model. A
    # sentence's vector in the index is read inside its chunk, which may pull it away.
    closeness: Callable[[Sequence[str]], list[float]] | None = None


# A backend's own settings: subclass it, name the subclass in `Backend.Options`, and read
# them as `self.options`; users set them in [backends.NAME] or RAG_BACKEND_NAME_OPTION.
# The one options base of every extension point (rag.plugins.PluginOptions), by the name
# backends have always used.
BackendOptions = PluginOptions


@dataclass(frozen=True)
class Availability:
    """Whether a backend can answer now, and if not, what the user should do."""

    ok: bool
    reason: str = ""


class Backend(ABC):
    """An answer backend. Register a subclass under the `rag.backends` entry-point group."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # This backend's own settings (see BackendOptions); read once, when the backend is made.
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = settings.plugin_options("backends", self.name, self.Options)

    def warm_up(self) -> None:  # noqa: B027 - optional: most backends have nothing to load
        """Load what the first answer would otherwise wait for (a model); the chat calls it."""

    def availability(self) -> Availability:
        """Whether this backend is configured; the UI and `rag backends` show the reason."""
        return Availability(True)

    @abstractmethod
    def answer(self, request: AnswerRequest) -> Answer:
        """A complete answer whose `[n]` markers point into `answer.citations`."""

    def stream(self, request: AnswerRequest) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final Answer. Override to really stream.

        The final Answer's text is the one to show: checking the answer may renumber
        its markers, and a failure part-way may replace it with a fallback answer.
        """
        answer = self.answer(request)
        if not isinstance(answer, Answer):
            raise TypeError(
                f"{type(self).__name__}.answer returned {type(answer).__name__}, not an Answer"
            )
        yield answer.text
        yield answer

    def standalone_question(self, question: str, history: tuple[Turn, ...]) -> str:
        """`question` rewritten to make sense without `history`, for retrieval.

        The default is a simple rule (see rag.followup); a backend with a language
        model may do better. Return `question` unchanged when it stands alone.
        """
        from rag.followup import standalone_question

        return standalone_question(question, history)


def final_answer(pieces: Iterable[str | Answer]) -> Answer:
    """The Answer that ends a stream of text pieces (see `Backend.stream`), the pieces dropped."""
    answer = None
    for piece in pieces:
        answer = piece
    if not isinstance(answer, Answer):
        raise TypeError(f"an answer stream must end with an Answer, not {type(answer).__name__}")
    return answer


def broken_promise(
    answer: Answer, passages: Iterable[Passage], document_text: Callable[[str], str | None]
) -> str:
    """What in `answer` breaks the promise every answer keeps, or "" when nothing does.

    Every citation's quote is the text of its document at its offsets, and every marker
    sits where it says and points at a citation. Ours keep it by construction; a plugin's
    is checked here, so a made-up or misplaced quote is never shown as a document's words.
    `document_text(doc_id)`: the indexed text, asked only for a quote no passage holds.
    """
    by_document: dict[str, list[Passage]] = {}
    for passage in passages:
        by_document.setdefault(passage.citation.doc_id, []).append(passage)
    for n, citation in enumerate(answer.citations, start=1):
        if _inside_a_passage(citation, by_document.get(citation.doc_id, ())):
            continue
        text = document_text(citation.doc_id)
        if text is None:
            return f"citation [{n}] names {citation.doc_id!r}, which is not indexed"
        if not 0 <= citation.start <= citation.end <= len(text) or (
            text[citation.start : citation.end] != citation.quote
        ):
            return (
                f"citation [{n}]'s quote is not the text of {citation.doc_id!r} at characters "
                f"{citation.start}-{citation.end}"
            )
    for marker in answer.markers:
        if not 1 <= marker.n <= len(answer.citations):
            return f"marker [{marker.n}] points at none of its {len(answer.citations)} citations"
        if answer.text[marker.start : marker.end] != f"[{marker.n}]":
            return (
                f"marker [{marker.n}] is not at characters {marker.start}-{marker.end} of its text"
            )
    return ""


def _inside_a_passage(citation: Citation, passages: Iterable[Passage]) -> bool:
    for passage in passages:
        held = passage.citation
        if held.start <= citation.start <= citation.end <= held.end:
            offset = held.start
            return held.quote[citation.start - offset : citation.end - offset] == citation.quote
    return False
