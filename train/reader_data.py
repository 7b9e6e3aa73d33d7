"""Training pairs for the reader: (question, sentence, does this sentence answer it?).

Sentences are cut by the product's own splitter (`rag.text.sentence_spans`) so the
reader learns on the units it will score at answer time.

Where the pairs come from (all SQuAD, CC BY-SA 4.0):
- SQuAD 1.1 train: positive = the sentence holding the answer's first character;
  hard negative = the paragraph's other sentence sharing most words with the question;
  easy negative (every other question) = the best-overlapping sentence of another
  paragraph of the same article, the kind of sentence retrieval brings next to it.
- SQuAD 2.0 dev, the training part of the *fit* half of its articles only (see
  `eval.datasets.squad_v2_half` and `squad_v2_fit_part`; the calibration part and the
  report half are never trained on):
  answerable questions as above; each impossible question gives negatives for the two
  sentences of its paragraph that share most words with it. These are questions written
  to look answerable, the only such source here: they teach "the answer is not here"
  rather than "this is the most relevant sentence".
- Swapped questions (from SQuAD 1.1 train, `swapped_question`): a name or year the
  question shares with its answer sentence replaced by another of the same article that
  the paragraph never mentions; the answer sentence is then a negative. Like SQuAD 2.0's
  impossible questions they stay on topic, so the reader learns that an answer must be
  about what was asked, not only near it.
- Thinned questions (`--thin`, any of the above, `thinned_question`): some of the words a
  question shares with its sentences left out, as people ask in their own words.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

from eval.datasets import squad_v2_fit_part, squad_v2_half
from rag.text import CAPITALISED_RUN, YEAR, analyze, sentence_spans


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    label: float
    origin: str


@dataclass(frozen=True)
class _Paragraph:
    text: str
    sentences: tuple[str, ...]
    starts: tuple[int, ...]
    terms: tuple[frozenset[str], ...]


def _paragraph(context: str) -> _Paragraph:
    spans = sentence_spans(context)
    sentences = tuple(context[s.start : s.end] for s in spans)
    return _Paragraph(
        text=context,
        sentences=sentences,
        starts=tuple(s.start for s in spans),
        terms=tuple(frozenset(analyze(s)) for s in sentences),
    )


def _answer_sentence(paragraph: _Paragraph, answer_start: int) -> int | None:
    for index in range(len(paragraph.starts) - 1, -1, -1):
        if paragraph.starts[index] <= answer_start:
            return index
    return None


def _by_overlap(
    question_terms: frozenset[str], paragraph: _Paragraph, skip: int | None
) -> list[int]:
    """Sentence indices, most question words shared first (ties: paragraph order)."""
    order = [i for i in range(len(paragraph.sentences)) if i != skip]
    return sorted(order, key=lambda i: -len(question_terms & paragraph.terms[i]))


def _articles(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["data"]


def answerable_pairs(
    question: str,
    terms: frozenset[str],
    paragraph: _Paragraph,
    answer_start: int,
    neighbour: _Paragraph | None,
    origin: str,
) -> list[Pair]:
    gold = _answer_sentence(paragraph, answer_start)
    if gold is None:
        return []
    pairs = [Pair(question, paragraph.sentences[gold], 1.0, origin)]
    hard = _by_overlap(terms, paragraph, skip=gold)
    if hard:
        pairs.append(Pair(question, paragraph.sentences[hard[0]], 0.0, origin))
    if neighbour is not None and neighbour.sentences:
        easy = _by_overlap(terms, neighbour, skip=None)[0]
        pairs.append(Pair(question, neighbour.sentences[easy], 0.0, origin + "-other"))
    return pairs


def swapped_question(
    question: str, sentence: str, paragraph: str, names: list[str], rng: random.Random
) -> str | None:
    """`question` with a name or year it shares with `sentence` replaced by one `paragraph`
    never mentions (a name from `names`, other names of the article), or None if none can be.
    """
    # (start, end) of each name or year's digits ("1990" of "1990s") the sentence also has.
    shared = [
        match.span()
        for match in CAPITALISED_RUN.finditer(question)
        if match.start() > 0 and len(match.group()) > 2 and match.group() in sentence
    ]
    shared += [match.span(1) for match in YEAR.finditer(question) if match.group(1) in sentence]
    if not shared:
        return None
    start, end = rng.choice(shared)
    target = question[start:end]
    if target.isdigit():
        options = [str(int(target) + d) for d in (-20, -10, -3, -2, -1, 1, 2, 3, 10, 20)]
    else:
        options = names
    options = [o for o in options if o not in paragraph and o != target]
    if not options:
        return None
    return question[:start] + rng.choice(options) + question[end:]


# A word ("Mexico's" is one) and what follows it up to the next: a word left out takes
# its comma and space with it.
_WORD_AND_SPACE = re.compile(r"(\w+(?:['’]\w+)*)(\W*)")


def thinned_question(
    question: str, sentences: list[str], rng: random.Random, drop: float = 0.4
) -> str:
    """`question` with each content word it shares with `sentences` left out at rate `drop`.

    People ask in their own words, and a question that shares few words with the answering
    sentence is where the reader fails most (the seed set's paraphrased questions; SQuAD's
    questions were written beside the paragraph and share many). Leaving shared words out
    makes the reader rely on what the remaining words mean. Stop words ("what", "the") and
    words the sentences do not have always stay, and so does at least one content word.
    """
    shared = {term for sentence in sentences for term in analyze(sentence)}
    kept: list[str] = []
    content_kept = 0
    for match in _WORD_AND_SPACE.finditer(question):
        terms = analyze(match.group(1))
        if terms and terms[0] in shared and rng.random() < drop:
            continue
        content_kept += bool(terms)
        kept.append(match.group())
    if not content_kept:
        return question
    # What precedes the first word ("¿", a quote) and the closing "?" are kept as they were.
    first = _WORD_AND_SPACE.search(question)
    lead = question[: first.start()] if first else ""
    text = lead + "".join(kept).rstrip()
    closing = question.rstrip()[-1:]
    if closing and not closing.isalnum() and not text.endswith(closing):
        text += closing
    return text


def thin_questions(pairs: list[Pair], share: float, rng: random.Random) -> list[Pair]:
    """`pairs` with `share` of their questions thinned (`thinned_question`).

    A question is thinned once, against every sentence paired with it, and the same
    thinned text goes into all its pairs, positives and negatives alike, so that a
    shorter question never tells the reader which sentence answers.
    """
    if share <= 0:
        return pairs
    sentences: dict[str, list[str]] = {}
    for pair in pairs:
        sentences.setdefault(pair.question, []).append(pair.sentence)
    drawn = {
        question: thinned_question(question, paired, rng)
        for question, paired in sentences.items()
        if rng.random() < share
    }
    # A question may come back whole (its one content word always stays): not thinned.
    thinned = {question: text for question, text in drawn.items() if text != question}
    return [
        replace(pair, question=thinned[pair.question], origin=pair.origin + "-thinned")
        if pair.question in thinned
        else pair
        for pair in pairs
    ]


# Sentence openers that CAPITALISED_RUN takes in: "From Beijing" is not a name.
_NOT_A_NAME_START = set(
    "The A An In On At Of For By As It He She From To With After Before During When While "
    "This That These Those His Her Its Their There Some Many Most All But And Or If".split()
)


def _article_names(article: dict) -> list[str]:
    """Names the article's paragraphs use: two to four capitalised words, nothing between."""
    found = set()
    for paragraph in article["paragraphs"]:
        for match in CAPITALISED_RUN.finditer(paragraph["context"]):
            name = match.group().rstrip(".")
            parts = name.split()
            if (
                match.start() > 0
                and 2 <= len(parts) <= 4
                and not any(mark in name for mark in ".,;:")
                and all(part[:1].isupper() for part in parts)
                and parts[0] not in _NOT_A_NAME_START
            ):
                found.add(name)
    return sorted(found)


def squad11_pairs(
    path: Path,
    n_questions: int,
    rng: random.Random,
    swapped_share: float = 0.0,
) -> list[Pair]:
    """Pairs from `n_questions` questions of SQuAD 1.1 train, sampled across all articles.

    For `swapped_share` of them, a swapped question (`swapped_question`) is added as a
    negative of the answer sentence, where a swap is possible.
    """
    articles = _articles(path)
    slots = [
        (a, p, q)
        for a, article in enumerate(articles)
        for p, paragraph in enumerate(article["paragraphs"])
        for q in range(len(paragraph["qas"]))
    ]
    chosen = sorted(rng.sample(slots, min(n_questions, len(slots))))
    cache: dict[tuple[int, int], _Paragraph] = {}

    def paragraph_at(a: int, p: int) -> _Paragraph:
        if (a, p) not in cache:
            cache[(a, p)] = _paragraph(articles[a]["paragraphs"][p]["context"])
        return cache[(a, p)]

    names: dict[int, list[str]] = {}

    pairs: list[Pair] = []
    for n, (a, p, q) in enumerate(chosen):
        qa = articles[a]["paragraphs"][p]["qas"][q]
        n_paragraphs = len(articles[a]["paragraphs"])
        neighbour = None
        if n % 2 == 0 and n_paragraphs > 1:
            other = rng.choice([i for i in range(n_paragraphs) if i != p])
            neighbour = paragraph_at(a, other)
        paragraph = paragraph_at(a, p)
        answer_start = qa["answers"][0]["answer_start"]
        pairs += answerable_pairs(
            qa["question"],
            frozenset(analyze(qa["question"])),
            paragraph,
            answer_start,
            neighbour,
            "squad1.1",
        )
        gold = _answer_sentence(paragraph, answer_start)
        if gold is not None and rng.random() < swapped_share:
            if a not in names:
                names[a] = _article_names(articles[a])
            swapped = swapped_question(
                qa["question"], paragraph.sentences[gold], paragraph.text, names[a], rng
            )
            if swapped is not None:
                pairs.append(Pair(swapped, paragraph.sentences[gold], 0.0, "squad1.1-swapped"))
    return pairs


def squad20_fit_pairs(path: Path, impossible_negatives: int = 2) -> list[Pair]:
    """Pairs from every question of the training part of SQuAD 2.0 dev's fit half."""
    pairs: list[Pair] = []
    for a, article in enumerate(_articles(path)):
        if squad_v2_half(a) != "fit" or squad_v2_fit_part(a) != "train":
            continue
        for paragraph_json in article["paragraphs"]:
            paragraph = _paragraph(paragraph_json["context"])
            for qa in paragraph_json["qas"]:
                terms = frozenset(analyze(qa["question"]))
                answers = qa.get("answers") or []
                if qa.get("is_impossible") or not answers:
                    for index in _by_overlap(terms, paragraph, skip=None)[:impossible_negatives]:
                        pairs.append(
                            Pair(
                                qa["question"],
                                paragraph.sentences[index],
                                0.0,
                                "squad2.0-impossible",
                            )
                        )
                else:
                    pairs += answerable_pairs(
                        qa["question"],
                        terms,
                        paragraph,
                        answers[0]["answer_start"],
                        None,
                        "squad2.0",
                    )
    return pairs
