"""An example answer backend: quotes the lead sentence of the best passage, verbatim."""

from rag.backends import AnswerRequest, Backend, abstention_text
from rag.types import Answer


class LeadBackend(Backend):
    name = "lead"
    description = "Quotes the first sentence of the best passage (an example plugin)."

    def answer(self, request: AnswerRequest) -> Answer:
        if not request.passages:
            return Answer(request.question, abstention_text(request.question), True, self.name)
        best = request.passages[0]
        # A passage's sentences carry citations whose quote is the document's exact text.
        citation = best.sentences[0].citation if best.sentences else best.citation
        return Answer(
            question=request.question,
            text=f"{citation.quote} [1]",
            abstained=False,
            backend=self.name,
            citations=(citation,),
            passages=request.passages,
        )
