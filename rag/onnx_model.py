"""Run a sentence-transformers model folder on ONNX Runtime, without importing torch.

Importing torch, transformers and sentence-transformers takes most of the ten
seconds a cold `rag ask` used to cost; ONNX Runtime and the `tokenizers`
library load the same weights in a fraction of a second. The model folder
stays the source of truth: it is exported once with torch's own exporter
(sentence-transformers' `backend="onnx"` needs optimum, which does not import
with the pinned transformers), its outputs are checked against torch's on a
set of probe texts, and the result is kept in a cache folder keyed by the
model folder's content hash:

    <cache_dir>/
        <kind>-<hash>/          one exported model, renamed into place when complete
            model.onnx
            tokenizer.json      the fast tokenizer sentence-transformers itself uses
            export.json         written last: what was exported, its size and SHA-256
            verified            the file state whose SHA-256 was last found right
        <kind>-<hash>.lock      held while exporting, so two processes export once
        <kind>-<hash>.refused   why a model cannot run on ONNX (it stays on torch)
        fingerprints/           file sizes and times → content hash, so a start
                                does not re-read the weights to find its export

Two kinds: a bi-encoder (`SentenceTransformer`: texts → vectors, and the token
vectors they are pooled from) and a cross-encoder (`CrossEncoder` with a
classification head: (question, text) pairs → logits).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import default_model_cache_dir
from rag.durable import fsync_tree, write_text_atomically
from rag.errors import RagError

KINDS = ("bi-encoder", "cross-encoder")
# Bump when the exported files change shape; older exports are then made again.
EXPORT_FORMAT = 1
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "export.json"
VERIFIED_FILE = "verified"
# The bar for "the same vectors": every probe's cosine to torch's vector.
MIN_COSINE = 0.9999
MAX_LOGIT_ERROR = 1e-3
# Another process exporting the same model is waited for this long (an export takes ~30 s).
EXPORT_WAIT_SECONDS = 900
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Files of a model folder that do not change what it computes.
# Files beside a model that its export does not depend on (a reader's notes, log and
# calibration change without the weights changing); names starting "training-" too.
NOT_MODEL_FILES = {"README.md", "TRAINING.md", "manifest.json", "calibration.json"}
# Probes for the export check: short, long (past any max length), accented, non-Latin,
# digits and punctuation, odd white space; run as one padded batch and one by one.
PROBE_TEXTS = (
    "When was the Bicentennial Framework launched?",
    "Fentanyl",
    "The framework was launched in 2010 to commemorate the bicentennial of Mexico’s "
    "independence and the centennial of the Mexican Revolution.",
    "Crème brûlée, naïve café — déjà vu at 3:45 p.m. (±2%)!",
    "東京は日本の首都です。 Москва — столица России.",
    "  tabs\tand\nnew lines   between words  ",
    " ".join(["A very long sentence that goes on and on past any model's limit."] * 60),
)
PROBE_PAIRS = tuple(
    (question, text) for question in PROBE_TEXTS[:2] for text in PROBE_TEXTS[2:]
) + ((PROBE_TEXTS[-1], PROBE_TEXTS[-1]),)

Notify = Callable[[str], None]


def print_notice(message: str) -> None:
    """The default way a notice reaches the user: one line on standard error."""
    print(f"note: {message}", file=sys.stderr, flush=True)


class ExportError(RagError):
    """This model cannot run on ONNX Runtime; the caller can fall back to torch."""


@dataclass(frozen=True)
class ExportInfo:
    """What one export holds, written beside it as export.json."""

    format: int
    kind: str
    source: str
    content_hash: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    max_length: int
    pad_id: int
    # Bi-encoder: vector size. Cross-encoder: number of logits per pair.
    output_size: int
    # Bi-encoder: "mean" when a text's vector is the mean of its token vectors, normalised
    # (so any span of tokens can be pooled the same way); "" otherwise.
    pooling: str
    normalized: bool
    # Cross-encoder: what sentence-transformers applies to the logits ("sigmoid", "identity").
    activation: str
    onnx_bytes: int
    onnx_sha256: str
    min_probe_agreement: float
    exported_with: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> ExportInfo:
        values = dict(values)
        for name in ("inputs", "outputs"):
            values[name] = tuple(values[name])
        values["exported_with"] = tuple(tuple(pair) for pair in values["exported_with"])
        return cls(**values)


# -- the cache ------------------------------------------------------------------------
def model_files(folder: Path) -> list[tuple[str, Path]]:
    """(path relative to `folder`, path) of each file that decides what the model computes."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if (
            path.is_file()
            and path.name not in NOT_MODEL_FILES
            and not path.name.startswith("training-")
            and not relative.startswith(".")
        ):
            found.append((relative, path))
    return found


def content_hash(folder: Path, cache_dir: Path) -> str:
    """SHA-256 over the model folder's files, remembered by their sizes and times."""
    files = model_files(folder)
    if not files:
        raise ExportError(f"{folder} holds no model files.")
    stats = [(relative, path.stat().st_size, path.stat().st_mtime_ns) for relative, path in files]
    fingerprint = hashlib.sha256(json.dumps([str(folder.resolve()), stats]).encode()).hexdigest()
    remembered = cache_dir / "fingerprints" / fingerprint
    try:
        digest = remembered.read_text(encoding="utf-8").strip()
        if len(digest) == 64:
            return digest
    except OSError:
        pass
    whole = hashlib.sha256()
    for relative, path in files:
        whole.update(relative.encode() + b"\0")
        with open(path, "rb") as handle:
            whole.update(hashlib.file_digest(handle, "sha256").digest())
    digest = whole.hexdigest()
    remembered.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(remembered, digest)
    return digest


def _file_state(path: Path) -> str:
    found = path.stat()
    return f"{found.st_size} {found.st_mtime_ns} {found.st_ino}"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes (the ONNX export and the reader's manifest check)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _read_info(folder: Path, kind: str, digest: str) -> tuple[ExportInfo | None, str]:
    """The export's info, or None and what is wrong with the folder (size checked, not hash)."""
    if not folder.is_dir():
        return None, "missing"
    try:
        info = ExportInfo.from_json(json.loads((folder / INFO_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None, f"{INFO_FILE} is missing (an export that did not finish)"
    except (OSError, ValueError, TypeError, KeyError) as error:
        return None, f"{INFO_FILE} is unreadable ({type(error).__name__}: {error})"
    if info.format != EXPORT_FORMAT or info.kind != kind or info.content_hash != digest:
        return None, "it was made by another version or from other files"
    try:
        size = (folder / ONNX_FILE).stat().st_size
    except OSError:
        return None, f"{ONNX_FILE} is missing"
    if size != info.onnx_bytes:
        return None, f"{ONNX_FILE} has {size:,} bytes, not the {info.onnx_bytes:,} written"
    if not (folder / TOKENIZER_FILE).is_file():
        return None, f"{TOKENIZER_FILE} is missing"
    return info, ""


def prepare(
    model_dir: Path,
    kind: str,
    cache_dir: Path,
    notify: Notify = print_notice,
    label: str = "",
    damaged: str = "",
) -> tuple[Path, ExportInfo]:
    """The export folder of `model_dir`, exported and checked first if it is not there.

    `damaged` names a fault the caller found in the current export (a wrong hash),
    which makes it be exported again.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    model_dir = Path(model_dir)
    label = label or model_dir.name
    if not (model_dir / "config.json").is_file():
        raise ExportError(f"{model_dir} is not a model folder (it has no config.json)")
    cache_dir = Path(cache_dir).expanduser()
    digest = content_hash(model_dir, cache_dir)
    folder = cache_dir / f"{kind}-{digest[:32]}"
    info, problem = _read_info(folder, kind, digest)
    if info is not None and not damaged:
        return folder, info

    from filelock import FileLock, Timeout

    refused = folder.with_name(folder.name + ".refused")
    try:
        with FileLock(str(folder.with_name(folder.name + ".lock")), timeout=EXPORT_WAIT_SECONDS):
            if refused.is_file():
                raise ExportError(refused.read_text(encoding="utf-8").strip())
            info, problem = _read_info(folder, kind, digest)
            if info is not None and not damaged:
                return folder, info  # another process exported it while we waited
            if folder.exists():
                notify(
                    f"The ONNX copy of {label} in {folder} is damaged "
                    f"({damaged or problem}); exporting it again."
                )
                shutil.rmtree(folder)
            else:
                notify(
                    f"Preparing {label} for ONNX Runtime: a one-time export "
                    f"(about 30 s) into {folder}."
                )
            return folder, _export_into(model_dir, kind, digest, folder, refused, notify, label)
    except Timeout:
        raise ExportError(
            f"Another process has been exporting {model_dir} for {EXPORT_WAIT_SECONDS} s "
            f"(lock {folder}.lock); if none is running, delete that lock file."
        ) from None


def _export_into(
    model_dir: Path,
    kind: str,
    digest: str,
    folder: Path,
    refused: Path,
    notify: Notify,
    label: str,
) -> ExportInfo:
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.perf_counter()
    try:
        info = _export(model_dir, kind, digest, staging)
    except _Refused as error:
        # The model ran but ONNX gives other outputs: that will not change by trying again.
        write_text_atomically(refused, str(error))
        raise ExportError(str(error)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_text_atomically(staging / INFO_FILE, json.dumps(info.to_json(), indent=2))
    fsync_tree(staging)
    os.rename(staging, folder)
    notify(f"Exported {label} in {time.perf_counter() - started:.0f} s.")
    return info


class _Refused(Exception):
    """The exported model does not compute what the torch model computes."""


# -- the export (the only place torch is imported) --------------------------------------
def _export(model_dir: Path, kind: str, digest: str, staging: Path) -> ExportInfo:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
        import torch
        from sentence_transformers import CrossEncoder, SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ImportError as error:
        raise ExportError(
            f"Exporting to ONNX needs the `{error.name}` package (pip install the versions "
            "pinned in pyproject.toml)."
        ) from None
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    loader = SentenceTransformer if kind == "bi-encoder" else CrossEncoder
    try:
        model = loader(str(model_dir), device="cpu")
    except (OSError, ValueError) as error:
        raise ExportError(f"sentence-transformers cannot load {model_dir} ({error})") from None
    model = model.float().eval()
    hf_tokenizer = model.tokenizer
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise _Refused(f"{model_dir} has no fast tokenizer, which ONNX Runtime needs.")
    max_length = int(min(model.max_seq_length or 10**9, hf_tokenizer.model_max_length))
    example = (
        ["an example", "another, longer example text"]
        if kind == "bi-encoder"
        else [("a question?", "an answer"), ("another question", "a longer answer text here")]
    )
    features = _hf_features(hf_tokenizer, example, max_length)
    inputs = tuple(name for name in MODEL_INPUTS if name in features)
    outputs = ("token_embeddings", "sentence_embedding") if kind == "bi-encoder" else ("scores",)

    class NamedOutputs(torch.nn.Module):
        """sentence-transformers' forward with positional tensors in, named outputs out."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            result = self.model(dict(zip(inputs, tensors, strict=True)))
            return tuple(result[name] for name in outputs)

    axes = {name: {0: "batch", 1: "tokens"} for name in (*inputs, "token_embeddings")}
    axes.update({name: {0: "batch"} for name in ("sentence_embedding", "scores")})
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy (TorchScript) exporter: the dynamo one needs onnxscript and traces
        # transformers' masking code less reliably. Its tracer warnings are about branches
        # that are constant for these inputs; the probe check below is the real test.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            NamedOutputs().eval(),
            tuple(features[name] for name in inputs),
            str(staging / ONNX_FILE),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={name: axes[name] for name in (*inputs, *outputs)},
            opset_version=17,
            dynamo=False,
        )
    backend.save(str(staging / TOKENIZER_FILE))

    modules = [type(module).__name__ for module in model]
    pooling = ""
    if kind == "bi-encoder" and modules[:2] == ["Transformer", "Pooling"]:
        config = model[1].get_config_dict()
        if config.get("pooling_mode") == "mean" and modules[2:] in ([], ["Normalize"]):
            pooling = "mean"
    activation = ""
    if kind == "cross-encoder":
        activation = type(model.activation_fn).__name__.lower()
        if activation not in ("sigmoid", "identity"):
            raise _Refused(f"{model_dir} applies {activation} to its logits; ONNX path knows none.")
    versions = (
        ("torch", torch.__version__),
        ("sentence-transformers", _version("sentence-transformers")),
        ("transformers", _version("transformers")),
        ("onnxruntime", _version("onnxruntime")),
    )
    pad_id = hf_tokenizer.pad_token_id
    info = ExportInfo(
        format=EXPORT_FORMAT,
        kind=kind,
        source=str(model_dir),
        content_hash=digest,
        inputs=inputs,
        outputs=outputs,
        max_length=max_length,
        pad_id=int(pad_id if pad_id is not None else 0),
        output_size=0,
        pooling=pooling,
        normalized="Normalize" in modules,
        activation=activation,
        onnx_bytes=(staging / ONNX_FILE).stat().st_size,
        onnx_sha256=file_sha256(staging / ONNX_FILE),
        min_probe_agreement=0.0,
        exported_with=versions,
    )
    return _checked(model, hf_tokenizer, info, staging)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _hf_features(hf_tokenizer, inputs: list, max_length: int) -> dict[str, Any]:
    if inputs and isinstance(inputs[0], tuple):
        first, second = [list(side) for side in zip(*inputs, strict=True)]
        return hf_tokenizer(
            first,
            second,
            padding=True,
            truncation="longest_first",
            max_length=max_length,
            return_tensors="pt",
        )
    return hf_tokenizer(
        inputs, padding=True, truncation="longest_first", max_length=max_length, return_tensors="pt"
    )


def _checked(model, hf_tokenizer, info: ExportInfo, staging: Path) -> ExportInfo:
    """Run the export next to torch on the probes; refuse it if the outputs differ."""
    import torch

    onnx_model = OnnxModel(info.source, info.kind)._opened(staging, info)
    probes: list = list(PROBE_TEXTS if info.kind == "bi-encoder" else PROBE_PAIRS)
    ours = [encoding.ids for encoding in onnx_model.tokenize(probes)]
    features = _hf_features(hf_tokenizer, probes, info.max_length)
    theirs = [
        [int(i) for i, keep in zip(row, mask, strict=True) if keep]
        for row, mask in zip(features["input_ids"], features["attention_mask"], strict=True)
    ]
    if ours != theirs:
        raise _Refused(
            f"the tokenizers library splits {info.source}'s text differently from "
            "sentence-transformers."
        )
    if info.kind == "bi-encoder":
        expected = model.encode(probes, convert_to_numpy=True, normalize_embeddings=False)
        together = onnx_model._run(probes, "sentence_embedding", batch_size=len(probes))
        alone = onnx_model._run(probes, "sentence_embedding", batch_size=1)
        agreement = min(_min_cosine(expected, together), _min_cosine(expected, alone))
        if agreement < MIN_COSINE:
            raise _Refused(
                f"{info.source} on ONNX Runtime gives other vectors than on torch "
                f"(cosine {agreement:.5f} < {MIN_COSINE})."
            )
        size = int(expected.shape[1])
    else:
        expected = np.asarray(
            model.predict(probes, activation_fn=torch.nn.Identity(), convert_to_numpy=True),
            dtype=np.float32,
        ).reshape(len(probes), -1)
        together = onnx_model._run(probes, "scores", batch_size=len(probes))
        alone = onnx_model._run(probes, "scores", batch_size=1)
        error = float(max(np.abs(expected - together).max(), np.abs(expected - alone).max()))
        if error > MAX_LOGIT_ERROR:
            raise _Refused(
                f"{info.source} on ONNX Runtime gives other logits than on torch "
                f"(off by {error:.4f} > {MAX_LOGIT_ERROR})."
            )
        agreement, size = 1.0 - error, int(expected.shape[1])
    return ExportInfo(
        **{**info.to_json(), "output_size": size, "min_probe_agreement": round(agreement, 6)}
    )


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


# -- running -------------------------------------------------------------------------------
class OnnxModel:
    """A sentence-transformers model folder, run on ONNX Runtime (exported on first use).

    `kind` is "bi-encoder" (`embed`, `token_vectors`) or "cross-encoder" (`logits`,
    `scores`). Loads lazily; `load()` loads now. Safe to share between threads.
    """

    def __init__(
        self,
        model_dir: Path | str,
        kind: str = "bi-encoder",
        cache_dir: Path | None = None,
        notify: Notify = print_notice,
        threads: int = 0,
        label: str = "",
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.model_dir = Path(model_dir)
        self.kind = kind
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_model_cache_dir()
        self.notify = notify
        self.threads = threads
        self.label = label or self.model_dir.name
        self._loading = threading.Lock()
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> OnnxModel:
        """Export if needed, check the export and open it; ExportError if it cannot run here."""
        with self._loading:
            if self._loaded:
                return self
            folder, info = prepare(
                self.model_dir, self.kind, self.cache_dir, self.notify, label=self.label
            )
            problem = self._open_checked(folder, info)
            if problem:
                folder, info = prepare(
                    self.model_dir,
                    self.kind,
                    self.cache_dir,
                    self.notify,
                    label=self.label,
                    damaged=problem,
                )
                problem = self._open_checked(folder, info)
                if problem:
                    raise ExportError(f"The fresh ONNX export in {folder} is unusable: {problem}.")
            self._loaded = True
        return self

    def _open_checked(self, folder: Path, info: ExportInfo) -> str:
        """Open the export, its SHA-256 checked if the file changed; what is wrong, or ""."""
        onnx_file = folder / ONNX_FILE
        # The hash is checked once per state of the file (size, time, inode), and again
        # whenever anything writes to it: a warm start then costs no 90 MB read.
        stamp = folder / VERIFIED_FILE
        state = _file_state(onnx_file)
        verified = _read_text(stamp) == state
        digests: list[str] = []
        # hashlib releases the GIL: the hash costs little next to the session's own loading.
        hashing = threading.Thread(
            target=lambda: digests.append("" if verified else file_sha256(onnx_file)),
            daemon=True,
        )
        hashing.start()
        try:
            self._open(folder, info)
        except Exception as error:  # onnxruntime's own exception types for a damaged file
            return f"ONNX Runtime cannot read it: {type(error).__name__}: {error}"
        finally:
            hashing.join()
        if not verified:
            if digests != [info.onnx_sha256]:
                return f"{ONNX_FILE} does not have the SHA-256 it was written with"
            try:
                write_text_atomically(stamp, state)
            except OSError:
                pass  # a read-only cache is checked on every start instead
        return ""

    def _open(self, folder: Path, info: ExportInfo) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its warnings are about graph rewrites, not for users
        if self.threads:
            options.intra_op_num_threads = self.threads
        # The thread pool spins while a run lasts (fast) but not after it: with the reader
        # on, the embedder's spinning threads took the cores from the reader's run that
        # follows it, and the reader's run took twice as long (bench query: read p50 80 ms
        # spinning on, 44-48 ms with this).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self._session = onnxruntime.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(info.max_length, strategy="longest_first")
        self._tokenizer = tokenizer
        self._folder = folder
        self.info = info

    def _opened(self, folder: Path, info: ExportInfo) -> OnnxModel:
        self._open(folder, info)
        self._loaded = True
        return self

    def _require(self) -> ExportInfo:
        if not self._loaded:
            self.load()
        return self.info

    # -- shared ----------------------------------------------------------------------------
    @property
    def max_length(self) -> int:
        """Word pieces the model reads, special tokens included; the rest is cut off."""
        return self._require().max_length

    @property
    def dimension(self) -> int:
        return self._require().output_size

    def tokenize(self, inputs: Sequence[str] | Sequence[tuple[str, str]]):
        """`tokenizers` encodings, cut to `max_length` as sentence-transformers cuts them."""
        self._require()
        return self._tokenizer.encode_batch(list(inputs)) if inputs else []

    @cached_property
    def _counting_tokenizer(self):
        from tokenizers import Tokenizer

        self._require()
        tokenizer = Tokenizer.from_file(str(self._folder / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included, without cutting."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counting_tokenizer.encode_batch(list(texts))]

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Each text's word pieces as (start, end) character offsets, uncut, no special tokens."""
        if not texts:
            return []
        encodings = self._counting_tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [[tuple(offset) for offset in e.offsets] for e in encodings]

    def _feed(self, encodings) -> dict[str, np.ndarray]:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self.info.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            types[row, :n] = encoding.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name] for name in self.info.inputs}

    def _batches(self, encodings, batch_size: int):
        """Rows grouped by length, longest first, so a batch pads little."""
        order = sorted(range(len(encodings)), key=lambda row: -len(encodings[row].ids))
        for begin in range(0, len(order), max(batch_size, 1)):
            yield order[begin : begin + batch_size]

    def _run(self, inputs, output: str, batch_size: int) -> np.ndarray:
        encodings = self.tokenize(inputs)
        result: np.ndarray | None = None
        for rows in self._batches(encodings, batch_size):
            values = self._session.run([output], self._feed([encodings[r] for r in rows]))[0]
            if result is None:
                result = np.zeros((len(encodings), values.shape[1]), dtype=np.float32)
            result[rows] = values
        assert result is not None
        return result

    # -- bi-encoder --------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One L2-normalised float32 vector per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._require()
        return _normalised(self._run(list(texts), "sentence_embedding", batch_size))

    @property
    def pools_spans(self) -> bool:
        """Whether a span of a text's tokens can be pooled as the model pools a whole text."""
        return self.kind == "bi-encoder" and self._require().pooling == "mean"

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of `texts`, and of the character spans of each, from one forward pass.

        A span's vector is the normalised mean of the token vectors that overlap it
        (the text's own special tokens left out): the span read in its context, at no
        extra cost, where embedding it alone would run the model again.
        """
        if not self.pools_spans:
            raise ExportError(
                f"{self.label} does not mean-pool its tokens; spans cannot be pooled."
            )
        encodings = self.tokenize(list(texts))
        vectors = np.zeros((len(encodings), self.dimension), dtype=np.float32)
        span_vectors = [np.zeros((0, self.dimension), dtype=np.float32) for _ in encodings]
        for rows in self._batches(encodings, batch_size):
            tokens, pooled = self._session.run(
                ["token_embeddings", "sentence_embedding"],
                self._feed([encodings[r] for r in rows]),
            )
            vectors[rows] = pooled
            for position, row in enumerate(rows):
                if spans[row]:
                    span_vectors[row] = _pool_spans(
                        encodings[row], tokens[position], np.asarray(spans[row]).reshape(-1, 2)
                    )
        return _normalised(vectors), span_vectors

    # -- cross-encoder -----------------------------------------------------------------------
    def logits(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """The classification head's raw output per pair: shape (pairs, labels)."""
        if not pairs:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._require()
        return self._run(list(pairs), "scores", batch_size)

    def scores(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """What sentence-transformers' `CrossEncoder.predict` returns: the activated logits."""
        logits = self.logits(pairs, batch_size)
        if self.info.activation == "sigmoid":
            logits = 1.0 / (1.0 + np.exp(-logits))
        return logits[:, 0] if logits.shape[1] == 1 else logits


def _normalised(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _pool_spans(encoding, tokens: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Normalised mean of the token vectors overlapping each (start, end) character span."""
    offsets = np.asarray(encoding.offsets).reshape(-1, 2)
    real = ~np.asarray(encoding.special_tokens_mask, dtype=bool)
    # (spans, tokens): token t is in span s when their character ranges overlap.
    inside = (
        real[None, :]
        & (offsets[None, :, 0] < spans[:, 1:2])
        & (offsets[None, :, 1] > spans[:, 0:1])
    )
    counts = inside.sum(1, keepdims=True)
    pooled = inside.astype(np.float32) @ tokens[: len(offsets)]
    return _normalised(pooled / np.maximum(counts, 1))
