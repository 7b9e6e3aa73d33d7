"""Stage 4b: the BM25 index (bm25s) over chunks, and the rarity (idf) of question terms."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import REBUILD_HINT, RagError

# bm25s's file names; an index saved by bm25s loads here and the other way round.
_FILES = {
    "data": "data.csc.index.npy",
    "indices": "indices.csc.index.npy",
    "indptr": "indptr.csc.index.npy",
}
_VOCAB = "vocab.index.json"
_PARAMS = "params.index.json"


class LexicalIndex:
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

    def idf(self, term: str) -> tuple[float, bool]:
        """BM25's idf of `term`, and whether any text holds it (unseen terms get the max idf)."""
        n = max(self.size, 1)
        term_id = self._vocab.get(term)
        known = term_id is not None and term_id < len(self._document_frequency)
        frequency = int(self._document_frequency[term_id]) if known else 0
        return float(np.log(1 + (n - frequency + 0.5) / (frequency + 0.5))), frequency > 0

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every indexed text for the analysed question `terms`."""
        scores = np.zeros(self.size, dtype=np.float32)
        indptr, indices, data = (self._arrays[name] for name in ("indptr", "indices", "data"))
        # As bm25s sums them: term by term, in float32, a repeated term counted again.
        for term in terms:
            term_id = self._vocab.get(term)
            if term_id is not None and term_id + 1 < len(indptr):
                start, end = int(indptr[term_id]), int(indptr[term_id + 1])
                np.add.at(scores, indices[start:end], data[start:end])
        return scores

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
