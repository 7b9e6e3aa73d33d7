"""An example answer backend: quotes the lead sentence of the best passage, verbatim."""

from dataclasses import dataclass

from rag.backends import AnswerRequest, Backend, BackendOptions, abstention_text
from rag.types import Answer, cited_text


@dataclass(frozen=True)
class LeadOptions(BackendOptions):
    # Which sentence of the best passage to quote (1 = its first).
    sentence: int = 1

    def __post_init__(self) -> None:
        if self.sentence < 1:
            raise ValueError(f"option 'sentence' must be 1 or more; got {self.sentence!r}.")


class LeadBackend(Backend):
    name = "lead"
    description = "Quotes the first sentence of the best passage (an example plugin)."
    # Read from [backends.lead] in rag.toml or RAG_BACKEND_LEAD_SENTENCE, checked for us.
    Options = LeadOptions

    def answer(self, request: AnswerRequest) -> Answer:
        if not request.passages:
            return Answer(request.question, abstention_text(request.question), True, self.name)
        best = request.passages[0]
        # A passage's sentences carry citations whose quote is the document's exact text.
        sentences = best.sentences or ()
        index = min(self.options.sentence, len(sentences)) - 1
        citation = sentences[index].citation if sentences else best.citation
        # The marker goes where the backend puts it, never found by parsing the text.
        text, markers = cited_text([citation.quote, " ", 1])
        return Answer(
            question=request.question,
            text=text,
            abstained=False,
            backend=self.name,
            citations=(citation,),
            passages=request.passages,
            markers=markers,
        )
