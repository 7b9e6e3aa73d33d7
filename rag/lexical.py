"""Stage 4b: BM25 over chunks, and the rarity (idf) of question terms.

An index is made of segments (rag/store.py). bm25s stores each term's BM25 score
per text, with the corpus's idf and mean length baked in, so adding one text would
change every stored score (bm25s cannot add to an index: xhluca/bm25s#5). A segment
therefore keeps raw term counts and text lengths (`TermCounts`), and `SegmentedBM25`
scores them at question time with the document frequencies and mean length of every
live segment together: the scores bm25s gives for the whole corpus built at once
(Lucene's BM25, bm25s's default; tests/test_lexical.py checks them against bm25s).
`LexicalIndex` reads the bm25s files of indexes written before segments.

Indexes analysed before accents were folded (rag/text.py) hold terms such as
"poznań"; a question's "poznan" finds them through `term_numbers`, so such an
index keeps working without a rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import REBUILD_HINT, RagError
from rag.memo import BoundedMemo
from rag.text import folded

# bm25s's file names; an index saved by bm25s loads here and the other way round.
_FILES = {
    "data": "data.csc.index.npy",
    "indices": "indices.csc.index.npy",
    "indptr": "indptr.csc.index.npy",
}
_VOCAB = "vocab.index.json"
_PARAMS = "params.index.json"


class BM25Scores:
    """What retrieval asks of BM25: every text's score, the top k, and a term's idf."""

    size: int

    def scores(self, terms: list[str]) -> np.ndarray:
        raise NotImplementedError

    def idf(self, term: str) -> tuple[float, bool]:
        raise NotImplementedError

    def top(
        self, terms: list[str], k: int, weight_mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids of the `k` best texts for analysed question `terms` (matches only).

        `weight_mask` (bm25s's name) multiplies each text's score before the top k are
        taken: 0 keeps a text out, so a document filter never costs a place in the k.
        """
        all_scores = self.scores(terms)
        if weight_mask is not None:
            all_scores *= weight_mask
        k = min(k, len(all_scores))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        ids = np.argpartition(-all_scores, k - 1)[:k]
        ids = ids[np.argsort(-all_scores[ids], kind="stable")]
        keep = all_scores[ids] > 0
        return all_scores[ids][keep], ids[keep].astype(np.int64)


def term_numbers(
    term: str, numbers: Mapping[str, int], unfolded: Mapping[str, list[int]]
) -> list[int]:
    """The vocabulary numbers of analysed `term`: its own, and those of the same word
    with accents (`unfolded_terms`), from an index analysed before they were folded."""
    own = numbers.get(term)
    return ([] if own is None else [own]) + unfolded.get(term, [])


def unfolded_terms(numbers: Mapping[str, int]) -> dict[str, list[int]]:
    """The numbers of the terms that still hold accents, by their folded form."""
    found: dict[str, list[int]] = {}
    for term, number in numbers.items():
        if not term.isascii() and (plain := folded(term)) != term:
            found.setdefault(plain, []).append(number)
    return found


def lucene_idf(n_texts: int, frequency: int) -> float:
    """BM25's idf as Lucene (and bm25s's default method) computes it."""
    return float(np.log(1 + (n_texts - frequency + 0.5) / (frequency + 0.5)))


class LexicalIndex(BM25Scores):
    """BM25 over pre-analysed texts, with the document frequency of each term.

    bm25s builds it (each term's column of precomputed BM25 scores, in CSC arrays);
    loading and scoring read those arrays with numpy alone, so a question never
    imports bm25s or the scipy it pulls in (0.2 s of a cold `rag ask`).
    """

    def __init__(self, arrays: dict[str, np.ndarray], vocab: dict[str, int], params: dict) -> None:
        self._arrays = arrays
        self._vocab = vocab
        self._params = params

    @classmethod
    def build(cls, token_lists: Sequence[list[str]]) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25()
        # bm25s needs at least one token per text; an empty text gets a placeholder.
        model.index([tokens or [""] for tokens in token_lists], show_progress=False)
        params = {
            "k1": model.k1,
            "b": model.b,
            "delta": model.delta,
            "method": model.method,
            "idf_method": model.idf_method,
            "dtype": model.dtype,
            "int_dtype": model.int_dtype,
            "num_docs": int(model.scores["num_docs"]),
            "version": bm25s.__version__,
            "backend": "numpy",
        }
        arrays = {name: np.asarray(model.scores[name]) for name in _FILES}
        return cls(arrays, dict(model.vocab_dict), params)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, file_name in _FILES.items():
            np.save(folder / file_name, self._arrays[name])
        (folder / _VOCAB).write_text(json.dumps(self._vocab, ensure_ascii=False), "utf-8")
        (folder / _PARAMS).write_text(json.dumps(self._params, indent=4), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        try:
            params = json.loads((folder / _PARAMS).read_text("utf-8"))
            vocab = json.loads((folder / _VOCAB).read_text("utf-8"))
            arrays = {name: np.load(folder / file, mmap_mode="r") for name, file in _FILES.items()}
            consistent = (
                params.get("method") == "lucene"
                # bm25s gives the empty placeholder term an id but no column.
                and len(vocab) <= len(arrays["indptr"]) <= len(vocab) + 1
                and len(arrays["data"]) == len(arrays["indices"]) == int(arrays["indptr"][-1])
            )
        except (OSError, ValueError, KeyError, IndexError) as error:
            raise RagError(
                f"The BM25 index in {folder} is damaged ({error}). {REBUILD_HINT}"
            ) from None
        if not consistent:
            raise RagError(
                f"The BM25 index in {folder} is damaged (its arrays and vocabulary disagree). "
                f"{REBUILD_HINT}"
            )
        return cls(arrays, vocab, params)

    @property
    def size(self) -> int:
        return int(self._params["num_docs"])

    @cached_property
    def _document_frequency(self) -> np.ndarray:
        return np.diff(np.asarray(self._arrays["indptr"]))

    @cached_property
    def _unfolded(self) -> dict[str, list[int]]:
        return unfolded_terms(self._vocab)

    def _term_ids(self, term: str) -> list[int]:
        found = term_numbers(term, self._vocab, self._unfolded)
        return [term_id for term_id in found if term_id < len(self._document_frequency)]

    def idf(self, term: str) -> tuple[float, bool]:
        """BM25's idf of `term`, and whether any text holds it (unseen terms get the max idf)."""
        n = max(self.size, 1)
        # A word written with and without its accents counts once per text at most.
        frequency = min(n, sum(int(self._document_frequency[i]) for i in self._term_ids(term)))
        return lucene_idf(n, frequency), frequency > 0

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every indexed text for the analysed question `terms`."""
        scores = np.zeros(self.size, dtype=np.float32)
        indptr, indices, data = (self._arrays[name] for name in ("indptr", "indices", "data"))
        # As bm25s sums them: term by term, in float32, a repeated term counted again.
        for term in terms:
            for term_id in self._term_ids(term):
                start, end = int(indptr[term_id]), int(indptr[term_id + 1])
                np.add.at(scores, indices[start:end], data[start:end])
        return scores


# bm25s's defaults (BM25(k1=1.5, b=0.75), method "lucene"): the scores of the index before.
K1 = 1.5
B = 0.75
# Question terms whose scores an index remembers (the oldest forgotten first), and only
# those in at most this many texts: at most ~25 MB, however large the index.
REMEMBERED_TERMS = 1024
MAX_REMEMBERED_POSTINGS = 2048
_TERMS = "terms.json"
_COUNTS = {
    "indptr": "indptr.npy",  # term t's postings are entries indptr[t] to indptr[t + 1]
    "rows": "rows.npy",  # int32: the text (chunk row of the segment) of each posting
    "counts": "counts.npy",  # float32: how often the term occurs in that text
    "lengths": "lengths.npy",  # int32: each text's number of terms
}


class TermCounts:
    """One segment's texts as term counts (postings by term) and lengths: no corpus statistic."""

    def __init__(
        self,
        terms: list[str],
        indptr: np.ndarray,
        rows: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        self.terms = terms
        self.indptr = indptr
        self.rows = rows
        self.counts = counts
        self.lengths = lengths

    @cached_property
    def term_ids(self) -> dict[str, int]:
        return {term: number for number, term in enumerate(self.terms)}

    @cached_property
    def _unfolded(self) -> dict[str, list[int]]:
        return unfolded_terms(self.term_ids)

    @property
    def size(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, token_lists: Sequence[list[str]]) -> TermCounts:
        """The counts of pre-analysed texts (an empty text counts as one empty term, as in bm25s)."""
        token_lists = [tokens or [""] for tokens in token_lists]
        lengths = np.array([len(tokens) for tokens in token_lists], dtype=np.int32)
        ids: dict[str, int] = {}
        term_of_token = np.fromiter(
            (ids.setdefault(term, len(ids)) for tokens in token_lists for term in tokens),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        row_of_token = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
        ones = np.ones(len(term_of_token), dtype=np.float64)
        return cls._from_postings(list(ids), term_of_token, row_of_token, ones, lengths)

    @classmethod
    def merge(cls, parts: Sequence[tuple[TermCounts, np.ndarray]]) -> TermCounts:
        """One segment of each part's texts at rows `kept` (in that order), nothing re-analysed."""
        ids: dict[str, int] = {}
        terms, rows, counts, lengths = [], [], [], []
        first_row = 0
        for part, kept in parts:
            kept = np.asarray(kept, dtype=np.int64)
            new_row = np.full(part.size, -1, dtype=np.int64)
            new_row[kept] = first_row + np.arange(len(kept))
            new_term = np.array([ids.setdefault(t, len(ids)) for t in part.terms], dtype=np.int64)
            posting_term = np.repeat(new_term, np.diff(np.asarray(part.indptr)))
            posting_row = new_row[np.asarray(part.rows)]
            keep = posting_row >= 0
            terms.append(posting_term[keep])
            rows.append(posting_row[keep])
            counts.append(np.asarray(part.counts, dtype=np.float64)[keep])
            lengths.append(np.asarray(part.lengths)[kept])
            first_row += len(kept)

        def joined(arrays: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)

        return cls._from_postings(
            list(ids),
            joined(terms, np.int64),
            joined(rows, np.int64),
            joined(counts, np.float64),
            joined(lengths, np.int32),
        )

    @classmethod
    def _from_postings(
        cls,
        terms: list[str],
        term_of: np.ndarray,
        row_of: np.ndarray,
        count_of: np.ndarray,
        lengths: np.ndarray,
    ) -> TermCounts:
        """Sum the counts of each (term, row) pair and lay them out term by term."""
        n_rows = max(len(lengths), 1)
        keys, inverse = np.unique(term_of * n_rows + row_of, return_inverse=True)
        counts = np.bincount(inverse.reshape(-1), weights=count_of, minlength=len(keys))
        per_term = np.bincount(keys // n_rows, minlength=len(terms))
        indptr = np.concatenate([[0], np.cumsum(per_term)]).astype(np.int64)
        return cls(
            terms,
            indptr,
            (keys % n_rows).astype(np.int32),
            counts.astype(np.float32),
            np.asarray(lengths, dtype=np.int32),
        )

    def save(self, folder: Path) -> list[Path]:
        """Write the counts into `folder`; the files written."""
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / _TERMS]
        written[0].write_text(json.dumps(self.terms, ensure_ascii=False), "utf-8")
        for name, file_name in _COUNTS.items():
            np.save(folder / file_name, getattr(self, name))
            written.append(folder / file_name)
        return written

    @classmethod
    def load(cls, folder: Path) -> TermCounts:
        try:
            terms = json.loads((folder / _TERMS).read_text("utf-8"))
            arrays = {name: np.load(folder / file, mmap_mode="r") for name, file in _COUNTS.items()}
            indptr = arrays["indptr"]
            consistent = (
                isinstance(terms, list)
                and len(indptr) == len(terms) + 1
                and len(arrays["rows"]) == len(arrays["counts"]) == int(indptr[-1])
            )
        except (OSError, ValueError, KeyError, IndexError, UnicodeDecodeError) as error:
            raise RagError(
                f"The BM25 index in {folder} is damaged ({error}). {REBUILD_HINT}"
            ) from None
        if not consistent:
            raise RagError(
                f"The BM25 index in {folder} is damaged (its arrays and terms disagree). "
                f"{REBUILD_HINT}"
            )
        return cls(terms, **arrays)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding `term` and how often each holds it."""
        numbers = term_numbers(term, self.term_ids, self._unfolded)
        if not numbers:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        slices = [slice(int(self.indptr[n]), int(self.indptr[n + 1])) for n in numbers]
        if len(slices) == 1:
            return self.rows[slices[0]], self.counts[slices[0]]
        # The word with and without accents in one text: one posting, their counts summed.
        rows, where = np.unique(
            np.concatenate([self.rows[part] for part in slices]), return_inverse=True
        )
        counts = np.bincount(
            where.reshape(-1), weights=np.concatenate([self.counts[part] for part in slices])
        )
        return rows.astype(np.int32), counts.astype(np.float32)


class SegmentedBM25(BM25Scores):
    """BM25 over the live texts of several segments, scored with their statistics together.

    Each part is a segment's `TermCounts` and, for each of its rows, the row it has in
    the index (-1: a text of a removed or replaced document, which counts for nothing).
    """

    def __init__(self, parts: Sequence[tuple[TermCounts, np.ndarray]], size: int) -> None:
        self.parts = [(counts, np.asarray(rows, dtype=np.int64)) for counts, rows in parts]
        self.size = size
        self._partial = [bool(np.any(rows < 0)) for _, rows in self.parts]
        live_lengths = [
            np.asarray(counts.lengths)[rows >= 0] if partial else np.asarray(counts.lengths)
            for (counts, rows), partial in zip(self.parts, self._partial, strict=True)
        ]
        total = sum(int(lengths.astype(np.int64).sum()) for lengths in live_lengths)
        # bm25s's mean text length: a float64 mean of integers, exact in any order.
        self.mean_length = total / size if size else 1.0
        # Each term's scores depend on this index alone: worked out once, not per question.
        self._remembered: BoundedMemo[str, _TermScores] = BoundedMemo(REMEMBERED_TERMS)

    def _postings(self, term: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per segment: index rows, counts and lengths of the live texts holding `term`."""
        found = []
        for (counts, rows), partial in zip(self.parts, self._partial, strict=True):
            local, how_often = counts.postings(term)
            if not len(local):
                continue
            index_rows = rows[local]
            lengths = np.asarray(counts.lengths)[local]
            if partial:
                live = index_rows >= 0
                index_rows, how_often, lengths = index_rows[live], how_often[live], lengths[live]
            found.append((index_rows, how_often, lengths))
        return found

    def _term(self, term: str) -> _TermScores:
        """`term`'s rows, its BM25 share of each row's score, and its document frequency."""
        found = self._remembered.get(term)
        if found is None:
            found = self._score_term(term)
            if len(found.rows) <= MAX_REMEMBERED_POSTINGS:
                self._remembered.put(term, found)
        return found

    def _score_term(self, term: str) -> _TermScores:
        postings = self._postings(term)
        frequency = sum(len(rows) for rows, _, _ in postings)
        idf_shown = lucene_idf(max(self.size, 1), frequency)
        if not frequency:
            return _TermScores(
                np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), 0, idf_shown
            )
        # bm25s keeps each idf in float32 and each term's score in float64 until stored.
        idf = np.float32(lucene_idf(self.size, frequency))
        shares = []
        for _, how_often, lengths in postings:
            tf = np.asarray(how_often, dtype=np.float64)
            saturation = tf / (K1 * ((1 - B) + B * lengths / self.mean_length) + tf)
            shares.append((idf * saturation).astype(np.float32))
        rows = np.concatenate([rows for rows, _, _ in postings])
        return _TermScores(rows, np.concatenate(shares), frequency, idf_shown)

    def idf(self, term: str) -> tuple[float, bool]:
        """BM25's idf of `term`, and whether any text holds it (unseen terms get the max idf)."""
        found = self._term(term)
        return found.idf, found.frequency > 0

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every live text for the analysed question `terms`, as bm25s computes it."""
        scores = np.zeros(self.size, dtype=np.float32)
        for term in terms:
            found = self._term(term)
            if found.frequency:
                # As bm25s sums them: term by term, in float32, a repeated term counted
                # again (a term's rows are distinct, so an indexed add is np.add.at's sum).
                scores[found.rows] += found.shares
        return scores


@dataclass(frozen=True)
class _TermScores:
    rows: np.ndarray  # int64, the index rows of the live texts holding the term
    shares: np.ndarray  # float32, the term's part of each of those rows' BM25 score
    frequency: int  # how many live texts hold it
    idf: float  # its idf (the most for a term no text holds)
