"""Stage 4b: the BM25 index (bm25s) over chunks, and the rarity (idf) of question terms."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import RagError


class LexicalIndex:
    """BM25 over pre-analysed texts, with the document frequency of each term."""

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def build(cls, token_lists: Sequence[list[str]]) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25()
        # bm25s needs at least one token per text; an empty text gets a placeholder.
        model.index([tokens or [""] for tokens in token_lists], show_progress=False)
        return cls(model)

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        try:
            model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        except (OSError, ValueError, KeyError) as error:
            raise RagError(
                f"The BM25 index in {folder} is damaged ({error}). "
                "Rebuild it with `rag ingest --rebuild`."
            ) from None
        return cls(model)

    @property
    def size(self) -> int:
        return int(self._model.scores["num_docs"])

    @cached_property
    def _document_frequency(self) -> np.ndarray:
        indptr = np.asarray(self._model.scores["indptr"])
        return np.diff(indptr)

    def idf(self, term: str) -> tuple[float, bool]:
        """BM25's idf of `term`, and whether any text holds it (unseen terms get the max idf)."""
        n = max(self.size, 1)
        term_id = self._model.vocab_dict.get(term)
        frequency = 0 if term_id is None else int(self._document_frequency[term_id])
        return float(np.log(1 + (n - frequency + 0.5) / (frequency + 0.5))), frequency > 0

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every indexed text for the analysed question `terms`."""
        known = [term for term in terms if term in self._model.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)

    def top(self, terms: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row ids of the `k` best texts for analysed question `terms` (matches only)."""
        all_scores = self.scores(terms)
        k = min(k, len(all_scores))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        ids = np.argpartition(-all_scores, k - 1)[:k]
        ids = ids[np.argsort(-all_scores[ids], kind="stable")]
        keep = all_scores[ids] > 0
        return all_scores[ids][keep], ids[keep].astype(np.int64)
