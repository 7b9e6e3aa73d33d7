"""Average the weights of readers fine-tuned from one start: `python -m train soup A B --out C`.

Readers trained from the same weights on different samples (a "model soup", Wortsman et
al. 2022) usually sit in one basin of the loss, where their average generalises at least
as well as either and costs nothing to train or to run. The result is a reader folder like
the others (fp16 weights, the first reader's tokenizer and settings, a new manifest), with
no calibration: run `python -m train calibrate --model C` on it next.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from rag.backends.reader import write_manifest
from rag.onnx_model import model_files

WEIGHTS = "model.safetensors"


class SoupError(ValueError):
    """The readers cannot be averaged (missing files, different architectures)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train soup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("readers", type=Path, nargs="+", help="reader folders (two or more)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the averaged reader")
    args = parser.parse_args(argv)
    if len(args.readers) < 2:
        parser.error("give two or more reader folders to average")
    return args


def average_weights(readers: list[Path]) -> dict:
    """The element-wise mean of the readers' floating-point tensors (others: the first's)."""
    import torch
    from safetensors.torch import load_file

    tensors = []
    for reader in readers:
        path = reader / WEIGHTS
        if not path.is_file():
            raise SoupError(f"{path} is missing: is {reader} a reader folder?")
        tensors.append(load_file(path))
    first = tensors[0]
    for reader, other in zip(readers[1:], tensors[1:], strict=True):
        if other.keys() != first.keys() or any(other[k].shape != first[k].shape for k in first):
            raise SoupError(
                f"{reader} has other weights than {readers[0]} (names or shapes differ): "
                "only readers of one architecture can be averaged."
            )
    return {
        name: torch.stack([t[name].float() for t in tensors]).mean(0).to(torch.float16)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in first.items()
    }


def soup(readers: list[Path], out: Path) -> None:
    """Write the averaged reader into `out` (created; refused if it already holds a reader)."""
    from safetensors.torch import save_file

    if (out / WEIGHTS).exists():
        raise SoupError(f"{out} already holds a reader; give a new folder.")
    averaged = average_weights(readers)
    out.mkdir(parents=True, exist_ok=True)
    # The first reader's tokenizer and settings; not its calibration, manifest or logs.
    for relative, path in model_files(readers[0]):
        if relative != WEIGHTS:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / relative)
    save_file(averaged, out / WEIGHTS, metadata={"format": "pt"})
    (out / "training-log.jsonl").write_text(
        json.dumps({"event": "soup", "readers": [str(r) for r in readers]}) + "\n",
        encoding="utf-8",
    )
    write_manifest(out, trained_by="python -m train soup", base_model="all-MiniLM-L6-v2")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        soup(args.readers, args.out)
    except SoupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"Averaged {len(args.readers)} readers into {args.out}; next: "
        f"python -m train calibrate --model {args.out}"
    )
    return 0
