"""Pure metric functions: no model, no index, only the numbers.

Undefined ratios (0 / 0, such as abstention precision when nothing was
abstained from) are None, printed as `null` in JSON and "–" in reports, so a
missing measurement never passes for a perfect or a zero one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence

# Unicode look-alikes folded to ASCII before comparing answers. Laid out by hand (fmt: skip):
# a line per kind (quotes, dashes, spaces) shows what is folded to what.
_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u2212": "-", "\u00ad": "",
        "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u200b": "",
    }
)  # fmt: skip
_SPACE = re.compile(r"\s+")
# Chinese, Japanese and Thai letters: their words are not separated by spaces.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """`text` compared the way answers are: NFKC, case-folded, ASCII quotes and dashes, one space."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return _SPACE.sub(" ", text).strip()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether normalised `text` contains any normalised gold answer as whole words:
    "2" is not in "2023", nor "ten" in "often"."""
    haystack = normalize(text)
    for answer in answers:
        needle = normalize(answer)
        if not needle:
            continue
        # Scripts written without spaces (北京 in 中国的首都是北京) have no word edges to ask for.
        before = "" if _UNSPACED.match(needle[0]) else r"(?<!\w)"
        after = "" if _UNSPACED.match(needle[-1]) else r"(?!\w)"
        if re.search(before + re.escape(needle) + after, haystack):
            return True
    return False


def hit_rank(
    passages: Sequence[tuple[str, str]],
    sources: Collection[str],
    answers: Sequence[str] = (),
    need_answer: bool = True,
) -> int | None:
    """1-based rank of the first passage `(doc_id, text)` that is a hit, or None.

    A hit comes from one of the gold `sources`; with `need_answer` it must also
    contain a gold answer (our question sets), without it the document alone
    counts (SQuAD, where the gold paragraph is the unit).
    """
    for rank, (doc_id, text) in enumerate(passages, start=1):
        if doc_id in sources and (not need_answer or contains_answer(text, answers)):
            return rank
    return None


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is 0."""
    return numerator / denominator if denominator else None


def recall_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first hit is at rank k or better."""
    return ratio(sum(1 for r in ranks if r is not None and r <= k), len(ranks))


def mean_reciprocal_rank(ranks: Sequence[int | None], k: int | None = None) -> float | None:
    """Mean of 1 / rank of the first hit (0 when missed, or ranked below `k` if given)."""
    total = sum(1.0 / r for r in ranks if r is not None and (k is None or r <= k))
    return ratio(total, len(ranks))


def citation_valid(
    doc_id: str,
    start: int,
    end: int,
    quote: str,
    document_text: str | None,
    sources: Collection[str],
) -> bool:
    """A citation counts when its quote is verbatim at its offsets and it is from a gold source."""
    if document_text is None or doc_id not in sources:
        return False
    return 0 <= start <= end <= len(document_text) and document_text[start:end] == quote


def abstention_scores(
    abstained: Sequence[bool], answerable: Sequence[bool]
) -> tuple[float | None, float | None]:
    """(precision, recall) of abstaining, with the unanswerable questions as the positives."""
    pairs = list(zip(abstained, answerable, strict=True))
    true_positive = sum(1 for a, ok in pairs if a and not ok)
    precision = ratio(true_positive, sum(1 for a, _ in pairs if a))
    recall = ratio(true_positive, sum(1 for _, ok in pairs if not ok))
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) with linear interpolation, as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- ranked retrieval over documents (BEIR) --------------------------------------------------------


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with graded relevance and the linear gain BEIR's pytrec_eval uses."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal_gains = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    return dcg / ideal if ideal else 0.0


def recall_of_relevant(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """Share of the relevant documents found in the top k."""
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant document in the top k, else 0."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def unique_in_order(items: Iterable[str]) -> list[str]:
    """`items` without repeats, first occurrence kept (passages → documents)."""
    return list(dict.fromkeys(items))
