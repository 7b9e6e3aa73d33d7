"""`python -m train soup`: the mean of readers' weights, in a reader folder of its own."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import load_file, save_file  # noqa: E402

from rag.backends.reader import verify_model  # noqa: E402
from train.soup import main  # noqa: E402


def reader_folder(path, value: float, shape=(2, 3)):
    path.mkdir()
    tensors = {
        "layer.weight": torch.full(shape, value, dtype=torch.float16),
        "position_ids": torch.arange(4),
    }
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps({"value": value}))
    (path / "calibration.json").write_text("{}")
    (path / "training-log.jsonl").write_text("")
    return path


def test_the_soup_is_the_mean_with_the_first_readers_settings_and_a_manifest(tmp_path):
    a, b = reader_folder(tmp_path / "a", 1.0), reader_folder(tmp_path / "b", 2.0)
    c = reader_folder(tmp_path / "c", 6.0)
    out = tmp_path / "soup"
    assert main([str(a), str(b), str(c), "--out", str(out)]) == 0
    weights = load_file(out / "model.safetensors")
    assert weights["layer.weight"].dtype == torch.float16
    assert torch.equal(weights["layer.weight"], torch.full((2, 3), 3.0, dtype=torch.float16))
    assert torch.equal(weights["position_ids"], torch.arange(4))
    assert json.loads((out / "config.json").read_text()) == {"value": 1.0}
    # No calibration is carried over: it belongs to other weights.
    assert not (out / "calibration.json").exists()
    verify_model(out)


def test_readers_of_other_shapes_or_a_taken_folder_are_refused_by_name(tmp_path, capsys):
    a = reader_folder(tmp_path / "a", 1.0)
    wide = reader_folder(tmp_path / "wide", 1.0, shape=(2, 4))
    assert main([str(a), str(wide), "--out", str(tmp_path / "x")]) == 2
    assert "wide" in capsys.readouterr().err
    assert main([str(a), str(tmp_path / "nothing"), "--out", str(tmp_path / "y")]) == 2
    assert "nothing" in capsys.readouterr().err
    assert main([str(a), str(a), "--out", str(a)]) == 2
    assert "already holds a reader" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(a), "--out", str(tmp_path / "z")])
