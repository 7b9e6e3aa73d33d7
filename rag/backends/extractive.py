"""The default backend: quotes the sentences that answer, verbatim, or abstains.

It never writes a word of its own besides the citation markers. Sentences are
scored on three signals and the answer is abstained from when the question's
focus is not covered; see `ExtractiveBackend.answer` for the reasoning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.backends.base import AnswerRequest, Backend, abstention_text
from rag.text import analyze, words
from rag.types import Answer, Citation, QueryTerm, ScoredSentence

_NUMBER_WORDS = {
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "hundreds", "thousand",
    "thousands", "million", "millions", "billion", "billions", "dozen", "dozens", "half",
}  # fmt: skip
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)s?\b")
_DIGITS = re.compile(r"\d")
_CAPITALISED = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of|de|la|del|y|and)?\s*[A-Z][\w’'.-]*)*")


@dataclass(frozen=True)
class _Candidate:
    sentence: ScoredSentence
    passage_rank: int
    coverage: float
    type_match: bool
    score: float


def expected_answer_type(question: str) -> str | None:
    """What kind of fact the question asks for: "time", "number", "name", "place" or None."""
    tokens = words(question)
    text = " ".join(tokens)
    if re.search(r"\b(when|what year|which year|what date|which date|what month|how long ago)\b", text):
        return "time"
    if re.search(r"\b(how many|how much|what number|what percentage|how old)\b", text):
        return "number"
    if re.search(r"\b(who|whom|whose)\b", text) or re.search(r"\b(what|which) (person|people|man|woman|official|leader|president|organi[sz]ation|group|agency|cartel)\b", text):  # noqa: E501
        return "name"
    if re.search(r"\bwhere\b|\b(what|which) (city|country|place|state|town)\b", text):
        return "place"
    return None


def holds_answer_type(sentence: str, question: str, answer_type: str | None) -> bool:
    """Whether `sentence` holds a fact of `answer_type` that the question does not already name."""
    if answer_type is None:
        return True
    question_words = set(words(question))
    sentence_words = words(sentence)
    new_words = [word for word in sentence_words if word not in question_words]
    if answer_type == "time":
        years = {match.group(1) for match in _YEAR.finditer(sentence)}
        return bool(years - question_words) or any(word in _MONTHS for word in new_words)
    if answer_type == "number":
        return any(_DIGITS.search(word) or word in _NUMBER_WORDS for word in new_words)
    # Names and places: a capitalised phrase, not the sentence's first word, not in the question.
    for match in _CAPITALISED.finditer(sentence):
        if match.start() == 0:
            continue
        phrase_words = set(words(match.group()))
        if phrase_words and not phrase_words <= question_words:
            return True
    return False


class ExtractiveBackend(Backend):
    """Answers with verbatim sentences of the retrieved passages, each cited."""

    name = "extractive"
    description = "Quotes the sentences of the retrieved passages that answer the question (no LLM)."

    # Weights of the sentence score: meaning, question coverage, answer type, passage rank.
    DENSE_WEIGHT = 0.5
    COVERAGE_WEIGHT = 0.35
    TYPE_WEIGHT = 0.15
    RANK_WEIGHT = 0.05
    # Abstain thresholds, tuned on eval/questions.jsonl (see the README's Quality section).
    MIN_DENSE = 0.30
    MIN_SUPPORT = 0.42
    # A second sentence is quoted only if it scores nearly as well as the first.
    SECOND_SENTENCE_RATIO = 0.92

    def answer(self, request: AnswerRequest) -> Answer:
        candidates = self.rank_sentences(request)
        if not candidates or self._should_abstain(request, candidates[0]):
            return Answer(
                question=request.question,
                text=abstention_text(request.question),
                abstained=True,
                backend=self.name,
                passages=request.passages,
            )
        chosen = [candidates[0]]
        for candidate in candidates[1:]:
            if len(chosen) >= self.settings.max_answer_sentences:
                break
            if candidate.score >= self.SECOND_SENTENCE_RATIO * candidates[0].score and (
                candidate.type_match or not chosen[0].type_match
            ):
                chosen.append(candidate)
        # Quote in document order so the answer reads as the text does.
        chosen.sort(key=lambda c: (c.passage_rank, c.sentence.citation.start))
        citations: list[Citation] = []
        parts = []
        for n, candidate in enumerate(chosen, start=1):
            citation = candidate.sentence.citation
            citations.append(
                Citation(citation.doc_id, citation.title, citation.start, citation.end,
                         citation.quote, citation.page, round(candidate.score, 4))  # fmt: skip
            )
            parts.append(f"{citation.quote} [{n}]")
        return Answer(
            question=request.question,
            text=" ".join(parts),
            abstained=False,
            backend=self.name,
            citations=tuple(citations),
            passages=request.passages,
        )

    def rank_sentences(self, request: AnswerRequest) -> list[_Candidate]:
        """Every distinct sentence of the passages, best answer first."""
        idf = {term.term: term.idf for term in request.query_terms}
        total_idf = sum(idf.values()) or 1.0
        answer_type = expected_answer_type(request.question)
        seen: set[tuple[str, int]] = set()
        candidates: list[_Candidate] = []
        for passage in request.passages:
            for sentence in passage.sentences:
                key = (sentence.citation.doc_id, sentence.citation.start)
                if key in seen:
                    continue
                seen.add(key)
                coverage = sum(idf.get(term, 0.0) for term in sentence.matched_terms) / total_idf
                type_match = holds_answer_type(sentence.citation.quote, request.question, answer_type)
                score = (
                    self.DENSE_WEIGHT * sentence.dense
                    + self.COVERAGE_WEIGHT * coverage
                    + self.TYPE_WEIGHT * (1.0 if type_match else 0.0)
                    + self.RANK_WEIGHT / passage.rank
                )
                candidates.append(_Candidate(sentence, passage.rank, coverage, type_match, score))
        candidates.sort(key=lambda c: -c.score)
        return candidates

    def _should_abstain(self, request: AnswerRequest, best: _Candidate) -> bool:
        if best.sentence.dense < self.MIN_DENSE:
            return True
        if best.score < self.MIN_SUPPORT:
            return True
        return _focus_missing(request.query_terms, best)


def _focus_missing(query_terms: tuple[QueryTerm, ...], best: _Candidate) -> bool:
    """True when the question's rarest word appears nowhere in the corpus.

    A question about "kilograms seized" over documents that never mention
    either asks for something they do not hold, however close the topic.
    """
    del best
    absent = [term for term in query_terms if not term.in_corpus and not term.term.isdigit()]
    return bool(absent) and len(absent) >= max(1, len(query_terms) // 2)


__all__ = ["ExtractiveBackend", "analyze", "expected_answer_type", "holds_answer_type"]
