"""Stage 5: find the passages for a question, each with a verbatim citation.

Three modes: dense (FAISS cosine), bm25 (lexical) and hybrid (reciprocal rank
fusion of both). Overlapping or identical chunks are dropped so they do not
crowd the top-k.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.config import RETRIEVAL_MODES
from rag.errors import RagError
from rag.memo import BoundedMemo
from rag.query import Query, as_query
from rag.store import IndexData
from rag.text import analyze, headings_above
from rag.types import Citation, Document, Passage, QueryTerm, Retrieval, ScoredSentence

# Candidates fetched per signal before fusion and de-duplication, as a multiple of k.
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 20
# A chunk whose text the passages already chosen from its document hold but for less
# than this share adds too little to take a place. Judged by what it adds, not by how
# much it shares: a document's short last chunk shares most of itself with the one
# before, yet may hold the only copy of the document's last section.
MIN_NEW_SHARE = 0.25
# Chunks whose texts, sentences and their terms (about 6 KB each) and vectors (1.5 KB)
# are remembered: questions keep meeting the same chunks, and cutting them up again (a
# regular expression over the whole text for the duplicate check, then each sentence)
# was most of a warm ask's time after the question's embedding.
REMEMBERED_CHUNKS = 2048


@dataclass
class _Candidate:
    row: int
    score: float
    signals: dict[str, float]


@dataclass(frozen=True)
class _Span:
    """A chunk's or a sentence's place in its document and its text, as a citation quotes it."""

    start: int
    end: int
    quote: str
    page: int | None
    place: str

    def citation(self, doc_id: str, title: str, score: float) -> Citation:
        return Citation(
            doc_id, title, self.start, self.end, self.quote, self.page, score, self.place
        )


@dataclass(frozen=True)
class _ChunkParts:
    """What a passage of one chunk holds whatever the question (`Retriever._chunk`)."""

    doc_row: int
    doc_id: str
    title: str
    span: _Span
    # The text as the duplicate check compares it: spacing and case ignored.
    text_key: str
    sentences: tuple[_Span, ...]
    sentence_terms: tuple[tuple[str, ...], ...]  # each sentence's analysed terms
    sentence_vectors: np.ndarray
    headings: tuple[_Span, ...]  # the Markdown headings of the sections it starts in


def reciprocal_rank_fusion(rankings: list[list[int]], k: int) -> dict[int, float]:
    """Sum of 1 / (k + rank) over the rankings each id appears in (rank starts at 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


class Retriever:
    """Turns a question into ranked passages over one loaded index.

    Built once per loaded index (generation) with the settings' mode and k; a
    `Query` may choose others for one call.
    """

    def __init__(
        self,
        data: IndexData,
        embed_query: Callable[[str], np.ndarray],
        *,
        mode: str = "hybrid",
        top_k: int = 5,
        rrf_k: int = 60,
    ) -> None:
        if mode not in RETRIEVAL_MODES:
            raise RagError(
                f"Unknown retrieval mode {mode!r}; use one of {', '.join(RETRIEVAL_MODES)}."
            )
        self.data = data
        self._embed_query = embed_query
        self.mode = mode
        self.top_k = top_k
        self.rrf_k = rrf_k
        # Chunks cut into their parts, by row (a memo, not `lru_cache` over a bound
        # method: that would keep this retriever, and its index, alive in a cycle).
        self._chunks: BoundedMemo[int, _ChunkParts] = BoundedMemo(REMEMBERED_CHUNKS)
        # Chunk vectors by row, for candidates the dense search did not return.
        self._vectors: BoundedMemo[int, np.ndarray] = BoundedMemo(REMEMBERED_CHUNKS)

    def retrieve(self, query: Query | str, timings: dict[str, float] | None = None) -> Retrieval:
        """The best passages for `query`, best first; `timings` gets each step's milliseconds."""
        query = as_query(query)
        question = query.question
        if query.doc_ids is not None:
            unknown = sorted(query.doc_ids.difference(self.data.doc_rows))
            if unknown:
                raise RagError(
                    f"Not in the index: {', '.join(map(repr, unknown[:5]))}"
                    + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                    + "; see `rag docs` for the documents you can search."
                )
        mode = query.mode or self.mode
        k = query.k or self.top_k
        timings = {} if timings is None else timings
        terms = analyze(question)
        started = time.perf_counter()
        query_vector = self._embed_query(question)
        timings["embed_question"] = _ms_since(started)
        pool = max(k * CANDIDATE_FACTOR, MIN_CANDIDATES)

        dense_ids: list[int] = []
        dense_scores: dict[int, float] = {}
        if mode in ("dense", "hybrid"):
            started = time.perf_counter()
            # The filter runs inside the search: all `pool` hits are from the chosen documents.
            hits = self.data.vector_store.search(query_vector, pool, query.doc_ids)
            dense_ids, dense_scores = _ranked(self.data.chunk_rows(hits), hits.scores)
            timings["dense_search"] = _ms_since(started)
        lexical_ids: list[int] = []
        lexical_scores: dict[int, float] = {}
        if mode in ("bm25", "hybrid"):
            started = time.perf_counter()
            store = self.data.vector_store
            if store.full_text:
                # The engine's own BM25 (Milvus), filtered inside its search.
                hits = store.search_text(question, pool, query.doc_ids)
                ids, scores = self.data.chunk_rows(hits), hits.scores
            else:
                mask = None if query.doc_ids is None else self.data.chunk_mask(query.doc_ids)
                scores, ids = self.data.chunk_bm25.top(terms, pool, weight_mask=mask)
            lexical_ids, lexical_scores = _ranked(ids, scores)
            timings["bm25_search"] = _ms_since(started)

        started = time.perf_counter()
        if mode == "dense":
            ranked = [(row, dense_scores[row]) for row in dense_ids]
        elif mode == "bm25":
            ranked = [(row, lexical_scores[row]) for row in lexical_ids]
        else:
            fused = reciprocal_rank_fusion([dense_ids, lexical_ids], self.rrf_k)
            ranked = sorted(fused.items(), key=lambda item: -item[1])
        self._add_dense_scores([row for row, _ in ranked], query_vector, dense_scores)
        candidates = [
            _Candidate(
                row, score, {"bm25": lexical_scores.get(row, 0.0), "dense": dense_scores[row]}
            )
            for row, score in ranked
        ]
        chosen = self._without_duplicates(candidates, k)
        question_terms = set(terms)
        passages = tuple(
            self._passage(rank, candidate, query_vector, question_terms)
            for rank, candidate in enumerate(chosen, start=1)
        )
        query_terms = tuple(
            QueryTerm(term, *self.data.chunk_bm25.idf(term)) for term in dict.fromkeys(terms)
        )
        timings["fusion"] = _ms_since(started)
        return Retrieval(question, mode, passages, query_terms)

    def _add_dense_scores(
        self, rows: list[int], query_vector: np.ndarray, dense: dict[int, float]
    ) -> None:
        """The dense score of each candidate the dense search did not return (one store call)."""
        missing = [row for row in rows if row not in dense]
        if not missing:
            return
        found = self._chunk_vectors(missing) @ query_vector
        dense.update(zip(missing, found.tolist(), strict=True))

    def _chunk_vectors(self, rows: list[int]) -> np.ndarray:
        """The stored vectors of chunk `rows`: those remembered, the others in one store call."""
        vectors = {row: self._vectors.get(row) for row in rows}
        unknown = [row for row, vector in vectors.items() if vector is None]
        if unknown:
            data = self.data
            doc_rows = data.chunk_doc[unknown]
            numbers = np.asarray(unknown) - data.chunk_bounds[doc_rows]
            doc_ids = [data.doc_ids[int(d)] for d in doc_rows]
            fetched = data.vector_store.chunk_vectors(doc_ids, numbers.tolist())
            for row, vector in zip(unknown, fetched, strict=True):
                vectors[row] = vector
                self._vectors.put(row, vector)
        return np.stack([vectors[row] for row in rows])

    def _chunk_parts(self, row: int) -> _ChunkParts:
        """Chunk `row` cut into what its passage and the duplicate check need."""
        data = self.data
        doc_row = int(data.chunk_doc[row])
        document = data.documents[doc_row]
        sentence_rows = data.sentence_rows(row)
        first, last = sentence_rows.start, sentence_rows.stop
        sentences = tuple(
            _span(document, start, end)
            for start, end in zip(
                data.sentence_start[first:last].tolist(),
                data.sentence_end[first:last].tolist(),
                strict=True,
            )
        )
        span = _span(document, int(data.chunk_start[row]), int(data.chunk_end[row]))
        return _ChunkParts(
            doc_row=doc_row,
            doc_id=document.doc_id,
            title=document.title,
            span=span,
            text_key=re.sub(r"\s+", " ", span.quote).strip().lower(),
            sentences=sentences,
            sentence_terms=tuple(tuple(analyze(sentence.quote)) for sentence in sentences),
            sentence_vectors=np.asarray(data.sentence_vectors[first:last]),
            headings=tuple(
                _span(document, h.start, h.end) for h in headings_above(document.text, span.start)
            ),
        )

    def _without_duplicates(self, candidates: list[_Candidate], k: int) -> list[_Candidate]:
        chosen: list[tuple[_Candidate, _ChunkParts]] = []
        seen_texts: set[str] = set()
        for candidate in candidates:
            parts = self._chunks.get_or_make(candidate.row, self._chunk_parts)
            if parts.text_key in seen_texts:
                continue
            start, end = parts.span.start, parts.span.end
            covered = _covered(
                start,
                end,
                [(o.span.start, o.span.end) for _, o in chosen if o.doc_row == parts.doc_row],
            )
            if end > start and (end - start - covered) / (end - start) < MIN_NEW_SHARE:
                continue
            seen_texts.add(parts.text_key)
            chosen.append((candidate, parts))
            if len(chosen) == k:
                break
        return [candidate for candidate, _ in chosen]

    def _passage(
        self, rank: int, candidate: _Candidate, query_vector: np.ndarray, question_terms: set[str]
    ) -> Passage:
        parts = self._chunks.get_or_make(candidate.row, self._chunk_parts)
        doc_id, title = parts.doc_id, parts.title
        # One matrix product and one conversion per passage, not one per sentence.
        dense = (parts.sentence_vectors @ query_vector).tolist() if parts.sentences else []
        sentences = tuple(
            ScoredSentence(
                sentence.citation(doc_id, title, score),
                score,
                frozenset(question_terms.intersection(terms)),
                position,
            )
            for position, (sentence, terms, score) in enumerate(
                zip(parts.sentences, parts.sentence_terms, dense, strict=True)
            )
        )
        return Passage(
            rank=rank,
            score=candidate.score,
            citation=parts.span.citation(doc_id, title, candidate.score),
            chunk_id=candidate.row,
            sentences=sentences,
            signals=candidate.signals,
            headings=tuple(h.citation(doc_id, title, 0.0) for h in parts.headings),
        )


def _span(document: Document, start: int, end: int) -> _Span:
    return _Span(
        start, end, document.text[start:end], document.page_at(start), document.place_at(start)
    )


def _ranked(rows: np.ndarray, scores: np.ndarray) -> tuple[list[int], dict[int, float]]:
    """Chunk rows best first, and the score of each, as Python numbers (one conversion each)."""
    ids = np.asarray(rows).tolist()
    return ids, dict(zip(ids, np.asarray(scores).tolist(), strict=True))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _covered(start: int, end: int, spans: list[tuple[int, int]]) -> int:
    """How many characters of [start, end) the `spans` hold together."""
    total, reached = 0, start
    for span_start, span_end in sorted(spans):
        span_start, span_end = max(span_start, reached), min(span_end, end)
        if span_end > span_start:
            total += span_end - span_start
            reached = span_end
    return total
