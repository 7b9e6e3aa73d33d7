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

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import RagError

BUNDLED_READER = Path(__file__).resolve().parent.parent / "models" / "reader"
MANIFEST = "manifest.json"
REBUILD_HINT = (
    "Reinstall the package (`make install`) to restore the shipped reader, or retrain it "
    "with `python -m train reader`"
)


class ReaderError(RagError):
    """The reader's model files are missing or damaged; the message names the file."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(model_dir: Path, **about: object) -> None:
    """Record every file of a saved model with its SHA-256, so damage is detected on load."""
    files = {
        path.name: _sha256(path)
        for path in sorted(model_dir.iterdir())
        if path.is_file() and path.name != MANIFEST and path.suffix in {".json", ".safetensors"}
        and not path.name.startswith("training-")
    }  # fmt: skip
    staging = model_dir / (MANIFEST + ".tmp")
    staging.write_text(json.dumps({"files": files, **about}, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, model_dir / MANIFEST)


def verify_model(model_dir: Path) -> None:
    """Raise ReaderError naming the first model file that is missing or not as saved."""
    manifest_path = model_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except FileNotFoundError:
        raise ReaderError(f"The reader model has no {manifest_path}. {REBUILD_HINT}.") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReaderError(f"The reader's {manifest_path} is damaged ({error}). {REBUILD_HINT}.") from None
    for name, expected in files.items():
        path = model_dir / name
        if not path.is_file():
            raise ReaderError(f"The reader model file {path} is missing. {REBUILD_HINT}.")
        if _sha256(path) != expected:
            raise ReaderError(
                f"The reader model file {path} is damaged (its SHA-256 differs from the one "
                f"recorded when it was saved). {REBUILD_HINT}."
            )


class Reader:
    """Scores (question, sentence) pairs: the probability that the sentence answers."""

    def __init__(self, model_dir: Path | None = None, max_length: int = 96) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else BUNDLED_READER
        self.max_length = max_length
        # One forward pass at a time: the tokenizer is not safe to share between threads.
        self._busy = threading.Lock()

    @cached_property
    def _model(self):
        verify_model(self.model_dir)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        try:
            model = CrossEncoder(str(self.model_dir), device="cpu", max_length=self.max_length)
        except (OSError, ValueError, RuntimeError) as error:
            raise ReaderError(
                f"Cannot load the reader model from {self.model_dir} ({error}). {REBUILD_HINT}."
            ) from None
        # Shipped in fp16 to halve its size; CPUs compute in fp32.
        model.transformers_model.float().eval()
        return model

    def warm_up(self) -> None:
        """Load (and check) the model now rather than on the first question."""
        _ = self._model

    def logits(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's raw score per sentence (higher: more likely to answer)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        import torch

        model = self._model
        with self._busy, torch.inference_mode():
            features = model.tokenizer(
                [question] * len(sentences),
                list(sentences),
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            scores = model.transformers_model(**features).logits.squeeze(-1)
        return scores.float().numpy().reshape(-1)

    def probabilities(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The probability that each sentence answers `question`."""
        return 1.0 / (1.0 + np.exp(-self.logits(question, sentences)))
