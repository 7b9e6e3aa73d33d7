"""The reader: a cross-encoder trained here that reads a question and a sentence together.

It gives the probability that a sentence answers a question, which the extractive
backend uses to pick the sentence it quotes and to abstain when no sentence answers
(see `train/reader.py` for how it was trained and `rag/models/reader/TRAINING.md` for
its data, figures and licence). The weights ship with the product as fp16 safetensors;
they load on first use, so `rag --help` never imports torch.

Every file of the model is listed with its SHA-256 in `manifest.json`, written when
the model is saved; a missing or damaged file is refused with its name and the command
that rebuilds it, rather than quietly answering with a broken model.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.onnx_model import Notify, file_sha256, print_notice

BUNDLED_READER = Path(__file__).resolve().parent.parent / "models" / "reader"
MANIFEST = "manifest.json"
CALIBRATION = "calibration.json"
# What the calibration weighs, in order (`rag.backends.extractive.candidate_features`).
FEATURES = ("reader_logit", "coverage", "type_match", "1/passage_rank")
# A sentence longer than the reader's window is read in overlapping windows and scored by
# its best one (otherwise an answer in its tail is never seen); at most this many, so a
# very long "sentence" (a table row, a run-on paragraph) costs a bounded time.
MAX_WINDOWS = 6
# Word pieces a pair spends on special tokens ([CLS] question [SEP] sentence [SEP]).
PAIR_SPECIAL_TOKENS = 3
# A question leaving fewer word pieces than this to its sentence is cut instead.
MIN_WINDOW = 24
REBUILD_HINT = (
    "Reinstall the package (`make install`) to restore the shipped reader, or retrain it "
    "with `python -m train reader`"
)


class ReaderError(RagError):
    """The reader's model files are missing or damaged; the message names the file."""


def write_manifest(model_dir: Path, **about: object) -> None:
    """Record every file of a saved model with its SHA-256, so damage is detected on load."""
    files = {
        path.name: file_sha256(path)
        for path in sorted(model_dir.iterdir())
        if path.is_file()
        and path.name != MANIFEST
        and path.suffix in {".json", ".safetensors"}
        and not path.name.startswith("training-")
    }
    staging = model_dir / (MANIFEST + ".tmp")
    staging.write_text(json.dumps({"files": files, **about}, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, model_dir / MANIFEST)


def what_to_do(model_dir: Path) -> str:
    """How to get a working reader back: the shipped one is reinstalled, any other is
    the user's own folder (the `reader_model` option), which may simply be the wrong one."""
    if model_dir.resolve() == BUNDLED_READER:
        return REBUILD_HINT
    return (
        "Point the extractive backend's `reader_model` option at a folder written by "
        "`python -m train reader` (then `python -m train calibrate`), or leave it empty for "
        "the shipped reader"
    )


def verify_model(model_dir: Path) -> None:
    """Raise ReaderError naming the first model file that is missing or not as saved."""
    if not model_dir.is_dir():
        state = "is a file, not a folder" if model_dir.exists() else "does not exist"
        raise ReaderError(f"The reader model folder {model_dir} {state}. {what_to_do(model_dir)}.")
    manifest_path = model_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except FileNotFoundError:
        raise ReaderError(
            f"The reader model has no {manifest_path}. {what_to_do(model_dir)}."
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReaderError(
            f"The reader's {manifest_path} is damaged ({error}). {what_to_do(model_dir)}."
        ) from None
    for name, expected in files.items():
        path = model_dir / name
        if not path.is_file():
            raise ReaderError(f"The reader model file {path} is missing. {what_to_do(model_dir)}.")
        if file_sha256(path) != expected:
            raise ReaderError(
                f"The reader model file {path} is damaged (its SHA-256 differs from the one "
                f"recorded when it was saved). {what_to_do(model_dir)}."
            )


@dataclass(frozen=True)
class Calibration:
    """How the backend turns the reader's logit and the hand-weighted signals into a probability.

    Fitted with the model (`python -m train calibrate`) on SQuAD 2.0 questions the reader
    never trained on; `features` are `rag.backends.extractive.candidate_features`.
    """

    weights: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
    bias: float = 0.0
    threshold: float = 0.5
    # How many of the signals' best sentences the reader reads and chooses among; 1: it
    # only vetoes the signals' own pick. Fitted with the threshold (`train.reader_calibration`).
    candidates: int = 1

    @classmethod
    def read(cls, model_dir: Path) -> Calibration:
        path = model_dir / CALIBRATION
        if not path.is_file():
            return cls()  # a model trained elsewhere: its logit alone, an even threshold
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            calibration = cls(
                weights=tuple(float(w) for w in values["weights"]),
                bias=float(values["bias"]),
                threshold=float(values["threshold"]),
                candidates=int(values.get("candidates", 1)),
            )
            if len(calibration.weights) != len(FEATURES):
                raise ValueError(
                    f"{len(calibration.weights)} weights for the {len(FEATURES)} features "
                    f"{', '.join(FEATURES)}"
                )
            from rag.backends.extractive import MAX_READ_CANDIDATES

            if not 1 <= calibration.candidates <= MAX_READ_CANDIDATES:
                raise ValueError(
                    f"candidates must be between 1 and {MAX_READ_CANDIDATES}, "
                    f"not {calibration.candidates}"
                )
            return calibration
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ReaderError(
                f"The reader's {path} is damaged ({error}). {what_to_do(model_dir)}."
            ) from None

    def probabilities(self, features: Sequence[Sequence[float]]) -> np.ndarray:
        """The calibrated probability that each candidate answers."""
        if not len(features):
            return np.zeros(0)
        rows = np.asarray(features, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-(rows @ np.asarray(self.weights) + self.bias)))


TokenSpans = Callable[[list[str]], list[list[tuple[int, int]]]]


@dataclass(frozen=True)
class _Runtime:
    """A loaded model: what scores pairs, and what tells how it splits text into word pieces."""

    score: Callable[[list[tuple[str, str]]], np.ndarray]
    token_spans: TokenSpans
    max_length: int


def reading_windows(
    sentence: str, spans: Sequence[tuple[int, int]], room: int, max_windows: int = MAX_WINDOWS
) -> list[str]:
    """The sentence itself when its word pieces (`spans`) fit in `room`, else overlapping
    windows of it that each fit, by half a window, spread wider if more than `max_windows`
    would be needed (the gaps then fall between windows, never inside one)."""
    if len(spans) <= room:
        return [sentence]
    count = min(max_windows, -(-(len(spans) - room) // max(room // 2, 1)) + 1)
    last_start = len(spans) - room
    starts = sorted({round(i * last_start / (count - 1)) for i in range(count)})
    return [sentence[spans[a][0] : spans[a + room - 1][1]] for a in starts]


class Reader:
    """Scores (question, sentence) pairs: how likely the sentence answers the question.

    Runs on ONNX Runtime (exported once from the saved model, like the embedder; see
    `rag.onnx_model`) unless `runtime` is "torch" or the export is refused.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        runtime: str = "onnx",
        cache_dir: Path | None = None,
        notify: Notify = print_notice,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else BUNDLED_READER
        self.wanted_runtime = runtime
        self.cache_dir = cache_dir
        self.notify = notify
        self._loading = threading.Lock()
        self._runtime: _Runtime | None = None
        self.runtime = runtime

    @property
    def loaded(self) -> bool:
        return self._runtime is not None

    @cached_property
    def calibration(self) -> Calibration:
        self.warm_up()
        return Calibration.read(self.model_dir)

    def warm_up(self) -> None:
        """Load (and check) the model now rather than on the first question."""
        if self._runtime is None:
            with self._loading:
                if self._runtime is None:
                    verify_model(self.model_dir)
                    self._runtime = self._load()

    def _load(self) -> _Runtime:
        if self.wanted_runtime == "onnx":
            from rag.onnx_model import ExportError, OnnxModel

            try:
                model = OnnxModel(
                    self.model_dir, "cross-encoder", self.cache_dir, self.notify, label="the reader"
                ).load()
                return _Runtime(
                    score=lambda pairs: model.logits(pairs)[:, 0],
                    token_spans=model.token_spans,
                    max_length=model.max_length,
                )
            except ExportError as error:
                self.notify(f"The reader cannot run on ONNX ({error}); running it on torch.")
        self.runtime = "torch"
        return self._torch_runtime()

    def _torch_runtime(self) -> _Runtime:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        try:
            model = CrossEncoder(str(self.model_dir), device="cpu")
        except (OSError, ValueError, RuntimeError) as error:
            raise ReaderError(
                f"Cannot load the reader model from {self.model_dir} ({error}). "
                f"{what_to_do(self.model_dir)}."
            ) from None
        # Shipped in fp16 to halve its size; CPUs compute in fp32.
        model.transformers_model.float().eval()
        # The fast tokenizer is not safe to share between threads.
        busy = threading.Lock()

        def score(pairs: list[tuple[str, str]]) -> np.ndarray:
            with busy, torch.inference_mode():
                features = model.tokenizer(
                    [q for q, _ in pairs],
                    [s for _, s in pairs],
                    truncation=True,
                    max_length=model.max_seq_length,
                    padding=True,
                    return_tensors="pt",
                )
                logits = model.transformers_model(**features).logits[:, 0]
            return logits.float().numpy()

        def token_spans(texts: list[str]) -> list[list[tuple[int, int]]]:
            with busy:
                encoded = model.tokenizer(
                    texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False
                )
            return [[tuple(offset) for offset in row] for row in encoded["offset_mapping"]]

        return _Runtime(score, token_spans, int(model.max_seq_length))

    def logits(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's raw score per sentence (higher: more likely to answer); a sentence
        too long for the model's window scores as its best window (`reading_windows`)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        runtime = self._runtime
        assert runtime is not None
        question_spans, *sentence_spans = runtime.token_spans([question, *sentences])
        room = runtime.max_length - PAIR_SPECIAL_TOKENS - len(question_spans)
        pairs: list[tuple[str, str]] = []
        owners: list[int] = []
        for index, (sentence, spans) in enumerate(zip(sentences, sentence_spans, strict=True)):
            # A question too long to leave a useful window is cut with the pair instead.
            windows = reading_windows(sentence, spans, room) if room >= MIN_WINDOW else [sentence]
            pairs.extend((question, window) for window in windows)
            owners.extend([index] * len(windows))
        scores = np.asarray(runtime.score(pairs), dtype=np.float32)
        best = np.full(len(sentences), -np.inf, dtype=np.float32)
        np.maximum.at(best, np.asarray(owners), scores)
        return best

    def probabilities(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's own probability that each sentence answers `question` (uncalibrated)."""
        return 1.0 / (1.0 + np.exp(-self.logits(question, sentences)))
