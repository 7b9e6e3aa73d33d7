"""The default backend: quotes the sentences that answer, verbatim, or abstains.

It never writes a word of its own besides the citation markers. Three hand-weighted
signals rank the sentences and abstain when the question's focus is not covered. With
`use_reader = true`, the reader (a cross-encoder trained here, `rag.backends.reader`)
reads the best-ranked sentences with the question; its score, calibrated with those
signals, chooses the sentence to quote, and the backend abstains when even that one is
unlikely to answer.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rag.backends.base import AnswerRequest, Backend, BackendOptions, abstention_text
from rag.backends.subject import (
    Qualifiers,
    asking_sentence,
    asks_which_version,
    literal_not_in_passages,
    unknown_subject,
    version_heading,
)
from rag.backends.vocabulary import MONTHS, NUMBER_WORDS, ORDINALS, TIME_WORDS, is_demonym
from rag.config import Settings
from rag.text import (
    BLANK_LINE,
    CAPITALISED_RUN,
    CODE_FENCE,
    FIELD_LINE,
    HEADING_MAX_WORDS,
    LIST_ITEM,
    MARKDOWN_HEADING,
    MARKDOWN_TABLE_ROW,
    YEAR,
    heading_level,
    headings_above,
    in_title_case,
    words,
)
from rag.types import Answer, Citation, Passage, ScoredSentence, cited_text

if TYPE_CHECKING:
    from rag.backends.reader import Reader

# The most sentences the reader may read for one question (each costs a model call).
MAX_READ_CANDIDATES = 40
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class ExtractiveOptions(BackendOptions):
    # Let the reader (a model trained here to read the question and the sentence together)
    # choose among the sentences the hand-weighted signals rank best, and abstain when
    # none is likely to answer (README, Quality; rag/models/reader/TRAINING.md).
    use_reader: bool = False
    # Folder of a reader model ("": the one that ships with the product).
    reader_model: str = ""
    # Abstain when the chosen sentence's probability of answering is below this
    # (0: the threshold fitted with the model, in its calibration.json).
    threshold: float = 0.0
    # How many of the signals' best sentences the reader reads per question (0: as fitted
    # with the model; 1: the reader only vetoes the signals' pick). More costs time.
    candidates: int = 0
    # The largest number of sentences quoted in one answer (before: max_answer_sentences).
    max_sentences: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(
                f"option 'threshold' must be at least 0 and below 1; got {self.threshold!r}."
            )
        if not 0 <= self.candidates <= MAX_READ_CANDIDATES:
            raise ValueError(
                f"option 'candidates' must be between 0 and {MAX_READ_CANDIDATES}; "
                f"got {self.candidates!r}."
            )
        if not 1 <= self.max_sentences <= 10:
            raise ValueError(
                f"option 'max_sentences' must be between 1 and 10; got {self.max_sentences!r}."
            )


@dataclass(frozen=True)
class _Candidate:
    sentence: ScoredSentence
    passage_rank: int
    coverage: float
    type_match: bool
    score: float
    # The reader's probability that this sentence answers (None: not read).
    read: float | None = None


@dataclass(frozen=True)
class _Choice:
    quoted: list[_Candidate]
    # What the reader read when it chose (empty: it did not choose), with its probabilities.
    read: list[_Candidate] = field(default_factory=list)
    # What the question names that no document mentions, when that is why none is quoted
    # (with `in_passages`: that no passage found mentions).
    unknown: str = ""
    in_passages: bool = False
    # What the passages found speak of instead of `unknown` ("Pro 3" for "Pro 2").
    instead: str = ""


def rerank_passages(passages: Sequence[Passage], read: Sequence[_Candidate]) -> tuple[Passage, ...]:
    """`passages` in order of the reader's best probability among their sentences it read.

    Passages with no sentence read keep retrieval's order, after the others. Ranks are
    renumbered from 1; the reader's probability is kept as the passage's "reader" signal.
    """
    best = best_read_by_rank((c.passage_rank, c.read or 0.0) for c in read)
    if not best:
        return tuple(passages)
    by_rank = {passage.rank: passage for passage in passages}
    return tuple(
        replace(
            by_rank[rank],
            rank=position,
            signals={**by_rank[rank].signals, "reader": round(best[rank], 4)}
            if rank in best
            else by_rank[rank].signals,
        )
        for position, rank in enumerate(reader_order(best, list(by_rank)), start=1)
    )


def best_read_by_rank(read: Iterable[tuple[int, float]]) -> dict[int, float]:
    """The best probability read in each passage, by its retrieval rank."""
    best: dict[int, float] = {}
    for rank, probability in read:
        best[rank] = max(best.get(rank, 0.0), probability)
    return best


def reader_order(best: Mapping[int, float], ranks: Sequence[int]) -> list[int]:
    """Passage ranks re-ordered by the reader: those it read by their best probability, then
    the others in retrieval's order. Shared with the calibration's re-ranking figures."""
    return sorted(ranks, key=lambda rank: (rank not in best, -best.get(rank, 0.0), rank))


# The last clause's wh-word decides: "When X met Y, what did they agree?" asks "what".
_CLAUSES = re.compile(r",\s*(?=(?:what|which|who|whom|whose|when|where|how)\b)")
# Each kind of fact a question may ask for; of two asked at one place, the first here.
_ASKS_FOR = (
    # "How much does the Care Plus plan cost?" is not answered by "covered for 3 years".
    (
        "money",
        re.compile(
            r"\bhow much (\w+ ){0,8}?(cost|costs|price|priced|pay|paid|charge|charged|fee|"
            r"fees|fare|fares|spend|spent|earn|earned|sell for|sold for)\b"
            # "How much paid leave ...?" asks how long.
            r"(?! (leave|time|holidays?|vacation|days?|weeks?|off|sick))|\bhow expensive\b|"
            r"\bwhat (is|was|are|were) the (\w+ ){0,2}?(price|cost|fee|fare|salary|wage)s?\b"
        ),
    ),
    ("time", re.compile(r"\b(when|(what|which) (year|date|month|day)|how long ago)\b")),
    ("number", re.compile(r"\b(how many|how much|what number|what percentage|how old)\b")),
    (
        "name",
        re.compile(
            r"\b(who|whom|whose)\b|\b(what|which) (person|people|man|woman|official|leader|"
            r"president|organi[sz]ation|agency|cartel)\b|\bnames?\b|\bcalled\b"
        ),
    ),
    ("place", re.compile(r"\bwhere\b|\b(what|which) (city|country|place|state|town)\b")),
)


def expected_answer_type(question: str) -> str | None:
    """What kind of fact the question asks for: "money", "time", "number", "name", "place"
    or None.

    The first asking phrase decides: "How much time off do I get when my father dies?"
    asks "how much", the "when" opens a clause. "When is bank transfer available?" asks
    on what condition, not at what time.
    """
    text = " ".join(words(_CLAUSES.split(question.lower())[-1]))
    if _ASKS_FOR_A_CONDITION.match(text):
        return None
    found = [
        (match.start(), order, kind)
        for order, (kind, pattern) in enumerate(_ASKS_FOR)
        for match in pattern.finditer(text)
        # "What does it mean when the light is amber?": the "when" opens a clause.
        if match.group() != "when" or not _ASKS.search(text, 0, match.start())
    ]
    return min(found)[2] if found else None


_ASKS = re.compile(r"\b(what|which|who|whom|whose|where|why|how)\b")


# "When is X available?": a condition answers (annual plans over $2,000), seldom a time.
_ASKS_FOR_A_CONDITION = re.compile(
    r"when (is|are|can|must|do|does|should)\b.*\b(available|allowed|permitted|required|"
    r"possible|eligible|necessary|needed|mandatory|offered|applicable)\b"
)


def holds_answer_type(sentence: str, question: str, answer_type: str | None) -> bool:
    """Whether `sentence` holds a fact of `answer_type` that the question does not already name."""
    return sentence_facts(sentence).holds(answer_type, set(words(question)))


# A span of time ("two weeks", "30 years") or a day counted ("the fourth calendar day").
_DURATION = re.compile(
    r"\b(\d+|" + "|".join(NUMBER_WORDS) + r")\s+(days?|weeks?|months?|years?|decades?)\b"
    r"|\b(" + "|".join(ORDINALS) + r"|\d+(st|nd|rd|th))\s+(\w+\s+)?(day|week|month|year)\b"
)
# An amount of money: a currency's sign or code beside a number, a number of a currency
# named, or what costs nothing.
_MONEY = re.compile(
    r"[$€£¥₹]\s?\d|\d\s?[€£¥₹]|\b(?:USD|EUR|GBP|CHF|JPY|CNY|INR|CAD|AUD|SEK|NOK|DKK|PLN)\s?\d"
    r"|\d(?:[\d,.]*\d)?(?:\s(?:million|billion|thousand))?\s(?:USD|EUR|GBP|CHF|dollars?|euros?|"
    r"pounds?|cents?|pence|francs?|yen|yuan|rupees?|pesos?|marks?|crowns?|kronor|zloty)\b"
    r"|\b(?:free of charge|at no (?:extra )?cost|no charge|costs? nothing|(?:is|are) free)\b",
    re.IGNORECASE,
)
# "will be removed in 4.0" answers "when will it be removed?" (not "in 2.5 hours").
_AT_VERSION = re.compile(
    r"\b(?:in|since|from|until|before|after)\s+(?:v|version\s)?\d+(?:\.\d+)+\b"
    r"(?![.,]?\d)(?!\s*(?:%|percent|per\b|million|billion|thousand|[a-z]))",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[“\"][^”\"]{2,60}[”\"]")
# An e-mail address answers "who" ("reported to security@example.org") as a name does.
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PRONOUN_OPENING = re.compile(
    r"^(it|its|they|their|this|these|that|those|he|she|the two|both)\b", re.IGNORECASE
)
# A heading (at most rag.text.HEADING_MAX_WORDS words, no closing punctuation) gives
# context, never an answer.


@dataclass(frozen=True)
class SentenceFacts:
    """What the signals read in a sentence, whatever the question: found once per sentence."""

    heading: bool
    leans_on_previous: bool
    # Its years (1500-2099), and its words that name a month or a time, or a number.
    years: frozenset[str]
    time_words: frozenset[str]
    number_words: frozenset[str]
    durations: bool  # "two weeks", "30 years", "the fourth calendar day"
    money: bool  # "$29", "EUR 0.30", "12 euros", "free of charge"
    at_version: bool  # "removed in 4.0", "since v2.8": when, in software's time
    # The words of each capitalised phrase but the sentence's first (demonyms left out).
    names: tuple[frozenset[str], ...]
    quoted: bool  # a short phrase in quotation marks
    addressed: bool  # an e-mail address

    def holds(self, answer_type: str | None, question_words: set[str]) -> bool:
        """Whether the sentence holds a fact of `answer_type` the question does not name."""
        if answer_type is None:
            return True
        # "Not a subset of the question's words": one of them the question does not name.
        if answer_type == "time":
            return (
                not self.years <= question_words
                or not self.time_words <= question_words
                or self.durations
                or self.at_version
            )
        if answer_type == "number":
            return not self.number_words <= question_words
        if answer_type == "money":
            return self.money
        # Names and places: a capitalised phrase, not the sentence's first word, not in the
        # question.
        return (
            any(not name <= question_words for name in self.names)
            or self.quoted
            or (answer_type == "name" and self.addressed)
        )


# Capitalised words that open a sentence without naming anyone.
_SENTENCE_OPENERS = frozenset(
    "a an the this that these those it its he she they his her their our we i you "
    "in on at after before during since until by for from with under over into about "
    "according as although when while if once then however meanwhile today yesterday "
    "tomorrow last next each every all both some most many several no".split()
)


def _is_heading(stripped: str, sentence_words: list[str], closed: bool) -> bool:
    """Whether a sentence is a heading, which gives context and is never quoted: a
    Markdown heading; a question (an FAQ's "What is the maximum file size?" asks, it never
    answers); or a few words with no closing punctuation, no number unless in Title Case
    ("Shakshuka ingredients", "Trailblazer 2 Hiking Backpack"), and no list item ("- 6
    eggs", "6 eggs", "Free: 5 GB") or field line ("Apologies: George Mbeki")."""
    if MARKDOWN_HEADING.match(stripped) or (stripped.endswith("?") and "\n" not in stripped):
        return True  # (a question glued under an unpunctuated answer line is no heading)
    return (
        len(sentence_words) <= HEADING_MAX_WORDS
        and not closed
        and not LIST_ITEM.match(stripped)  # "- 6 eggs": content, however short
        and not FIELD_LINE.match(stripped)  # "Apologies: George Mbeki" too
        and (not _DIGITS.search(stripped) or (":" not in stripped and in_title_case(stripped)))
    )


# Every question re-reads the sentences of its passages, mostly ones an earlier question
# read: their facts are remembered like their words (rag.text), bounded in memory.
@lru_cache(maxsize=16384)
def sentence_facts(sentence: str) -> SentenceFacts:
    """The facts of `sentence` (see SentenceFacts)."""
    sentence_words = words(sentence)
    stripped = sentence.rstrip()
    closed = stripped.endswith((".", "!", "?", "”", '"', ":"))
    names = []
    for match in CAPITALISED_RUN.finditer(sentence):
        phrase = match.group()
        if match.start() == 0:
            # The first word is capitalised anyway: "Tomás Ruiz reported" opens with a
            # name, "The board" or "Yesterday" does not, "The United Nations" holds one.
            first, _, rest = phrase.partition(" ")
            phrase = rest if first.lower() in _SENTENCE_OPENERS else phrase if rest else ""
        phrase_words = frozenset(w for w in words(phrase) if not is_demonym(w))
        if phrase_words:
            names.append(phrase_words)
    return SentenceFacts(
        heading=_is_heading(stripped, sentence_words, closed),
        # It opens by referring back ("It is designed to ...").
        leans_on_previous=bool(_PRONOUN_OPENING.match(sentence.lstrip("“\"'( "))),
        years=frozenset(match.group(1) for match in YEAR.finditer(sentence)),
        time_words=frozenset(w for w in sentence_words if w in MONTHS or w in TIME_WORDS),
        number_words=frozenset(w for w in sentence_words if _DIGITS.search(w) or w in NUMBER_WORDS),
        durations=bool(_DURATION.search(sentence.lower())),
        money=bool(_MONEY.search(sentence)),
        at_version=bool(_AT_VERSION.search(sentence)),
        names=tuple(names),
        quoted=bool(_QUOTED.search(sentence)),
        addressed=bool(_EMAIL.search(sentence)),
    )


class ExtractiveBackend(Backend):
    """Answers with verbatim sentences of the retrieved passages, each cited.

    Each sentence is scored on its meaning (cosine to the question), its
    coverage of the question's words weighted by rarity (a sentence that opens
    with "It" or "They" borrows half the coverage of the sentence before), and
    whether it holds the kind of fact asked for (a year for "when", a number
    for "how many", a name for "who"). It abstains when none of the best-ranked
    sentences is close to the question, when the question names a number the documents
    never mention, or when no close sentence holds the kind of fact asked for.
    Weights and thresholds were set on eval/questions.jsonl and checked on SQuAD
    v1.1 and v2.0 dev slices (see the README's Quality section).
    """

    name = "extractive"
    description = "Quotes the sentences of the passages that answer the question (no LLM)."

    DENSE_WEIGHT = 0.4
    COVERAGE_WEIGHT = 0.5
    TYPE_WEIGHT = 0.2
    # When none of the best-ranked sentences (TOPIC_DEPTH) comes this close in meaning,
    # the passages are off the question's topic. Not the first alone: a sentence holding
    # every word of the question may sit in a chunk whose other sentences pull its
    # in-chunk vector away ("The study was funded by ...": 0.17).
    MIN_DENSE = 0.30
    TOPIC_DEPTH = 5
    # ... unless one of them holds (nearly) every word of the question: its passage is on
    # the topic whatever its vector says ("Who organised the petition against the
    # location?" over "The petition against the location was organised by ...": 0.29).
    FULL_COVERAGE = 0.95
    # A second look when the in-chunk vectors find the passages off the topic: the best
    # sentences embedded alone, this close or closer, are on it ("**Apologies:** Gareth
    # Lloyd, Mei Chen" for "who sent apologies": 0.22 in its chunk, 0.42 alone). Chosen on
    # SQuAD 2.0's fit half, where 0.30 let two impossible questions through and 0.40 none.
    MIN_DENSE_ALONE = 0.40
    # A sentence holding the asked-for fact may stand in for a better one down to this ratio.
    TYPED_RATIO = 0.9
    # A second sentence is quoted only if it scores nearly as well as the first.
    SECOND_SENTENCE_RATIO = 0.92

    Options = ExtractiveOptions
    options: ExtractiveOptions

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._reader: Reader | None = None
        self._reader_lock = threading.Lock()

    @property
    def reader(self) -> Reader:
        """The reader model and its calibration, loaded (and checked) on the first question."""
        if self._reader is None:
            with self._reader_lock:
                if self._reader is None:
                    from rag.backends.reader import Reader

                    model = Path(self.options.reader_model) if self.options.reader_model else None
                    self._reader = Reader(
                        model,
                        runtime=self.settings.model_runtime,
                        cache_dir=self.settings.model_cache_dir,
                    )
        return self._reader

    def warm_up(self) -> None:
        """Load the reader now, so the first question does not wait for it."""
        if self.options.use_reader:
            self.reader.warm_up()

    def answer(self, request: AnswerRequest) -> Answer:
        timings: dict[str, float] = {}
        choice = self.choose(request, timings)
        chosen = choice.quoted
        # Where the reader chose, the passages are shown in the order of what it read in
        # them: measured, that puts the answering passage first more often than retrieval.
        passages = rerank_passages(request.passages, choice.read)
        if not chosen:
            return Answer(
                question=request.question,
                text=abstention_text(
                    request.question,
                    choice.unknown,
                    in_passages=choice.in_passages,
                    instead=choice.instead,
                ),
                abstained=True,
                backend=self.name,
                passages=passages,
                timings_ms=timings,
            )
        # Quote in passage order, then document order, so the answer reads as the text does.
        chosen.sort(key=lambda c: (c.passage_rank, c.sentence.citation.start))
        asked = asking_sentence(request.question)
        after = bool(_ASKS_WHAT_FOLLOWS.search(asked))
        quoted = [
            replace(
                with_what_it_introduces(c.sentence.citation, request.passages, step_after=after),
                score=round(c.score, 4),
            )
            for c in chosen
        ]
        by_rank = {passage.rank: passage for passage in request.passages}
        if asks_which_version(asked) and (
            heading := version_heading(
                quoted[0].quote, _headings_above(chosen[0], by_rank[chosen[0].passage_rank])
            )
        ):
            # "## [3.1.0] - 2024-05-10 [1] - The `migrate` command has been removed. [2]"
            quoted.insert(0, replace(heading, score=quoted[0].score))
        citations = _without_overlaps(quoted)
        parts: list[str | int] = []
        for n, citation in enumerate(citations, start=1):
            parts += [" " if n > 1 else "", citation.quote, " ", n]
        text, markers = cited_text(parts)
        return Answer(
            question=request.question,
            text=text,
            markers=markers,
            abstained=False,
            backend=self.name,
            citations=citations,
            passages=passages,
            timings_ms=timings,
        )

    def choose(self, request: AnswerRequest, timings: dict[str, float] | None = None) -> _Choice:
        """The sentences to quote, best first (none when the passages do not answer).

        With `timings`, the reader's time (loading it on the first question apart) is
        added under "read_model" and "read".
        """
        candidates = self.rank_sentences(request)
        if not candidates:
            return _Choice([])
        asked = asking_sentence(request.question)
        if unknown := unknown_subject(request, asked):
            return _Choice([], unknown=unknown)
        if unfound := literal_not_in_passages(asked, request.passages):
            return _Choice([], unknown=unfound, in_passages=True)
        # Measured before siblings leave: a passage on the Pro 3 is on the Pro 2's topic.
        on_topic = self.near_the_topic(candidates) or self.close_alone(request, candidates, timings)
        # "the first phase" over passages that speak only of the second.
        qualifiers = Qualifiers.of(asked)
        if qualifiers.pairs:
            passages_text = "\n".join(passage.citation.quote for passage in request.passages)
            asked_for, instead = qualifiers.sibling_in(passages_text)
            if asked_for:
                return _Choice([], unknown=asked_for, instead=instead)
            # A sentence on a sibling ("Pro 3" for "Pro 2") is no candidate. When the best
            # was one, only a sentence of a passage that names the question's own, or under
            # a heading that does (a changelog's "## 2.1.0"), may stand in for it ("The
            # Lite costs $299." in a passage on the Pro 3 does not); without one, the
            # passages hold the sibling.
            by_rank = {passage.rank: passage for passage in request.passages}

            def sections(c: _Candidate) -> list[str]:
                return [h.quote for h in _headings_above(c, by_rank[c.passage_rank])]

            def sibling_of(c: _Candidate) -> tuple[str, str]:
                found = qualifiers.sibling_in(c.sentence.citation.quote)
                if not found[0] and qualifiers.versions:
                    # A changelog's line under "## [3.1.0]" is on a sibling of 3.2.0.
                    found = qualifiers.section_sibling(sections(c))
                return found

            siblings = [sibling_of(c) for c in candidates]
            asked_for, instead = siblings[0]
            # Only read when the best sentence was a sibling's (what stands in for it).
            naming = (
                {r for r, p in by_rank.items() if qualifiers.named_in(p.citation.quote)}
                if asked_for
                else set()
            )
            candidates = [
                c
                for c, (sibling, _) in zip(candidates, siblings, strict=True)
                if not sibling
                and (
                    not asked_for
                    or c.passage_rank in naming
                    or qualifiers.answered_under(sections(c), c.sentence.citation.quote)
                )
            ]
            if not candidates:
                return _Choice([], unknown=asked_for, instead=instead)
        if self.options.use_reader:
            return self._choose_by_reader(
                request, candidates, on_topic, {} if timings is None else timings
            )
        return _Choice(self._choose_by_weights(candidates, on_topic))

    def _choose_by_reader(
        self,
        request: AnswerRequest,
        candidates: list[_Candidate],
        on_topic: bool,
        timings: dict[str, float],
    ) -> _Choice:
        reader = self.reader
        if not reader.loaded:  # the first question: loading is not what a question costs
            started = time.perf_counter()
            reader.warm_up()
            timings["read_model"] = (time.perf_counter() - started) * 1000
        calibration = reader.calibration
        threshold = self.options.threshold or calibration.threshold
        width = self.options.candidates or calibration.candidates
        if width == 1:
            # The reader vetoes what the hand-weighted signals pick.
            to_read = self._choose_by_weights(candidates, on_topic)
        elif not on_topic:
            to_read = []  # nothing near the question's topic: not worth reading
        else:
            to_read = candidates[:width]
        if not to_read:
            return _Choice([])
        started = time.perf_counter()
        question = request.standalone or request.question
        logits = reader.logits(question, [c.sentence.citation.quote for c in to_read])
        probabilities = calibration.probabilities(
            [candidate_features(c, float(x)) for c, x in zip(to_read, logits, strict=True)]
        )
        timings["read"] = (time.perf_counter() - started) * 1000
        if width == 1:
            picked = [i for i, p in enumerate(probabilities) if p >= threshold]
            picked = picked if picked and picked[0] == 0 else []
        else:
            picked = pick_read(
                probabilities,
                [_text_key(c) for c in to_read],
                threshold,
                self.options.max_sentences,
            )
        read = [
            replace(c, read=float(p), score=float(p))
            for c, p in zip(to_read, probabilities, strict=True)
        ]
        return _Choice([read[i] for i in picked], read if width > 1 else [])

    @classmethod
    def topic_closeness(cls, candidates: list[_Candidate]) -> float:
        """The best cosine among the best-ranked sentences (the off-topic guard's measure)."""
        return max((c.sentence.dense for c in candidates[: cls.TOPIC_DEPTH]), default=0.0)

    @classmethod
    def near_the_topic(cls, candidates: list[_Candidate]) -> bool:
        """The off-topic guard: whether the best-ranked sentences are near the question."""
        return cls.topic_closeness(candidates) >= cls.MIN_DENSE or any(
            c.coverage >= cls.FULL_COVERAGE for c in candidates[: cls.TOPIC_DEPTH]
        )

    def close_alone(
        self,
        request: AnswerRequest,
        candidates: list[_Candidate],
        timings: dict[str, float] | None = None,
    ) -> bool:
        """The off-topic guard's second look (`MIN_DENSE_ALONE`); only for in-chunk
        sentence vectors, as separate ones are what it would measure."""
        if request.closeness is None or self.settings.sentence_vectors != "in_chunk":
            return False
        started = time.perf_counter()
        closeness = request.closeness(
            [c.sentence.citation.quote for c in candidates[: self.TOPIC_DEPTH]]
        )
        if timings is not None:
            timings["second_look"] = (time.perf_counter() - started) * 1000
        return max(closeness, default=0.0) >= self.MIN_DENSE_ALONE

    def _choose_by_weights(self, candidates: list[_Candidate], on_topic: bool) -> list[_Candidate]:
        """The sentences the signals quote, best first; `on_topic`: whether the passages
        are near the question's topic (`near_the_topic`), else none."""
        if not on_topic:
            return []
        best = candidates[0]
        if not best.type_match:
            typed = [c for c in candidates if c.type_match]
            if not typed or typed[0].score < self.TYPED_RATIO * best.score:
                return []
            best = typed[0]
        chosen = [best]
        for candidate in candidates:
            if len(chosen) >= self.options.max_sentences:
                break
            if candidate is best or not candidate.type_match:
                continue
            if candidate.score < self.SECOND_SENTENCE_RATIO * best.score:
                continue
            # The same sentence in two documents is quoted once.
            if all(_text_key(candidate) != _text_key(other) for other in chosen):
                chosen.append(candidate)
        return chosen

    def rank_sentences(self, request: AnswerRequest) -> list[_Candidate]:
        """Every distinct sentence of the passages, best answer first."""
        idf = {term.term: term.idf for term in request.query_terms}
        total_idf = sum(idf.values()) or 1.0
        answer_type = expected_answer_type(request.question)
        type_weight = self.TYPE_WEIGHT if answer_type else 0.0
        question_words = set(words(request.question))
        seen: set[tuple[str, int]] = set()
        candidates: list[_Candidate] = []
        for passage in request.passages:
            previous: ScoredSentence | None = None
            for sentence in passage.sentences:
                citation = sentence.citation
                key = (citation.doc_id, citation.start)
                facts = sentence_facts(citation.quote)
                if key not in seen and not facts.heading:
                    seen.add(key)
                    matched = sum([idf.get(term, 0.0) for term in sentence.matched_terms])
                    if previous is not None and facts.leans_on_previous:
                        borrowed = previous.matched_terms - sentence.matched_terms
                        matched += 0.5 * sum([idf.get(term, 0.0) for term in borrowed])
                    coverage = matched / total_idf
                    type_match = facts.holds(answer_type, question_words)
                    score = (
                        self.DENSE_WEIGHT * sentence.dense
                        + self.COVERAGE_WEIGHT * coverage
                        + (type_weight if type_match else 0.0)
                    )
                    candidate = _Candidate(sentence, passage.rank, coverage, type_match, score)
                    candidates.append(candidate)
                previous = sentence
        candidates.sort(key=lambda c: -c.score)
        return candidates


def _headings_above(candidate: _Candidate, passage: Passage) -> list[Citation]:
    """The Markdown headings of the sections `candidate`'s sentence is in, nearest first:
    those of its passage above it ("### Changed"), then those above the passage ("## [3.1.0]"
    in the text before the chunk)."""
    text, offset = passage.citation.quote, passage.citation.start
    found = [
        replace(
            passage.citation,
            start=offset + h.start,
            end=offset + h.end,
            quote=text[h.start : h.end],
        )
        for h in headings_above(text, candidate.sentence.citation.start - offset)
    ]
    level = heading_level(found[-1].quote) if found else 7
    for heading in passage.headings:
        if (depth := heading_level(heading.quote)) < level:
            found.append(heading)
            level = depth
    return found


def with_what_it_introduces(
    citation: Citation, passages: Sequence[Passage], *, step_after: bool = False
) -> Citation:
    """`citation`, when its sentence introduces what follows ("To install with Teams
    support, which needs the optional extra:"), stretched over what it introduces: the
    list items and the lines of code or of a form right after it in its passage, which say
    what the sentence only announces ("pip install "tidewatch[msteams]"").

    With `step_after` (the question asks what comes after: "What do I do after scanning
    the QR code?"), a list item is stretched over the next one, which answers where the
    item itself, the step the question names, does not.

    The quote stays the document's own text between the two ends.
    """
    introduces = citation.quote.rstrip().endswith(":")
    if not introduces and not (step_after and LIST_ITEM.match(citation.quote)):
        return citation
    for passage in passages:
        sentences = [s.citation for s in passage.sentences]
        place = next(
            (
                i
                for i, s in enumerate(sentences)
                if (s.doc_id, s.start) == (citation.doc_id, citation.start)
            ),
            None,
        )
        if place is None:
            continue
        text, offset = passage.citation.quote, passage.citation.start
        end = citation.end
        items = 0
        for following in sentences[place + 1 : place + 1 + MAX_INTRODUCED_LINES]:
            gap = text[end - offset : following.start - offset]
            if following.end - citation.end > MAX_INTRODUCED_CHARS:
                break
            if introduces:
                # Inside a fenced block when an odd number of fences came since the colon.
                fences = CODE_FENCE.findall(text[citation.end - offset : following.start - offset])
                if not _introduced(following.quote, gap, fenced=len(fences) % 2 == 1):
                    break
            elif LIST_ITEM.match(following.quote):
                items += 1  # the next item: taken, and the one after it ends the quote
                if items > 1:
                    break
            elif ("\n" in gap) if items else bool(BLANK_LINE.search(gap)):
                break  # prose under the next item, or the list ended before one came
            end = following.end
        if not introduces and items == 0:
            return citation
        quote = text[citation.start - offset : end - offset]
        return replace(citation, end=end, quote=quote)
    return citation


# "What do I do after scanning the code?", "What is the next step?"
_ASKS_WHAT_FOLLOWS = re.compile(r"\b(after|next|afterwards|then)\b", re.IGNORECASE)


# What a sentence ending in ":" may take in: a list or a few lines, not a chapter.
MAX_INTRODUCED_LINES = 8
MAX_INTRODUCED_CHARS = 600


def _introduced(sentence: str, gap: str, *, fenced: bool) -> bool:
    """Whether `sentence`, after `gap` (the text between it and what came before), is part
    of what a sentence ending in ":" introduces: a list item or a table's row; a line of
    code (indented, or `fenced`, or a fence); or, on the very next line, a line that is
    no prose (a form's "Name: value"). After a blank line, only a list or code goes on:
    "**Transfer time**" or "Looking ahead" there is the next section's title."""
    stripped = sentence.strip()
    if fenced or any(p.match(stripped) for p in (LIST_ITEM, MARKDOWN_TABLE_ROW, CODE_FENCE)):
        return True
    indent = gap[gap.rfind("\n") + 1 :]
    if indent.startswith(("    ", "\t")):
        return True
    if BLANK_LINE.search(gap) or MARKDOWN_HEADING.match(stripped):
        return False
    unquoted = stripped.rstrip("\"”’'")  # 'pip install "x[y]"' closes no sentence
    return not unquoted.endswith((".", "!", "?", ":"))


def _without_overlaps(citations: Iterable[Citation]) -> tuple[Citation, ...]:
    """`citations` less those that another one holds (a list item a stretched quote took
    in), in their order."""
    given = list(citations)

    def holds(outer: Citation, inner: Citation) -> bool:
        return outer.doc_id == inner.doc_id and outer.start <= inner.start <= inner.end <= outer.end

    return tuple(
        citation
        for n, citation in enumerate(given)
        if not any(
            holds(other, citation)
            and (other.end - other.start > citation.end - citation.start or m < n)
            for m, other in enumerate(given)
            if m != n
        )
    )


def candidate_features(candidate: _Candidate, reader_logit: float) -> tuple[float, ...]:
    """What the reader's calibration weighs for one sentence (order fixed by calibration.json)."""
    # Not the sentence's cosine: it depends on how sentence vectors were made (the
    # `sentence_vectors` setting), and the calibration must hold for either.
    return (
        reader_logit,
        candidate.coverage,
        float(candidate.type_match),
        1.0 / max(candidate.passage_rank, 1),
    )


# A further sentence is quoted beside the reader's choice only if it is nearly as likely.
SECOND_READ_RATIO = 0.8


def pick_read(
    probabilities: Sequence[float], text_keys: Sequence[str], threshold: float, most: int
) -> list[int]:
    """Which read sentences to quote (indexes, most likely first); empty: abstain.

    The most likely sentence, if it reaches `threshold`, and up to `most` in all of those
    nearly as likely, each text once (the same sentence in two documents is quoted once).
    Shared with the calibration (`train.reader_calibration`) so it fits what is done here.
    """
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
    if not order or probabilities[order[0]] < threshold:
        return []
    floor = max(threshold, SECOND_READ_RATIO * probabilities[order[0]])
    picked: list[int] = []
    for i in order:
        if len(picked) >= most or probabilities[i] < floor:
            break
        if all(text_keys[i] != text_keys[j] for j in picked):
            picked.append(i)
    return picked


def _text_key(candidate: _Candidate) -> str:
    return " ".join(words(candidate.sentence.citation.quote))


__all__ = [
    "ExtractiveBackend",
    "ExtractiveOptions",
    "candidate_features",
    "expected_answer_type",
    "holds_answer_type",
    "best_read_by_rank",
    "pick_read",
    "reader_order",
    "rerank_passages",
]
