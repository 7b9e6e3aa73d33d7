"""The reader that ships with the product: it loads, reads the right way round, and refuses damage."""

from __future__ import annotations

import shutil

import pytest

from rag.backends.reader import BUNDLED_READER, Reader, ReaderError, reading_windows

QUESTION = "When was the Bicentennial Framework launched?"
ANSWER = (
    "The framework was launched in 2010 to commemorate the bicentennial of Mexico’s "
    "independence and the centennial of the Mexican Revolution."
)
OTHER = "They have also pledged to prevent the trafficking of weapons and people across their shared border."


@pytest.fixture(scope="module")
def reader():
    reader = Reader()
    reader.warm_up()
    return reader


def test_the_shipped_reader_loads_and_prefers_the_answering_sentence(reader):
    assert reader.model_dir == BUNDLED_READER
    answer, other = reader.probabilities(QUESTION, [ANSWER, OTHER])
    assert answer > 0.5 > other


def test_the_reader_reads_nothing_when_given_nothing(reader):
    assert reader.probabilities(QUESTION, []).shape == (0,)


# Sixty-odd word pieces of preamble, then the answer: past the reader's 96-piece window.
PREAMBLE = ", ".join(["the committee discussed the budget of the harbour project"] * 12)
LONG_ANSWER = f"{PREAMBLE} and finally the Harbour Bridge was opened in 1987 by Mayor Alice Brandt."


def test_a_sentence_longer_than_the_window_is_read_to_its_end(reader):
    question = "Who opened the Harbour Bridge?"
    long_answer, cut_answer, other = reader.logits(
        question, [LONG_ANSWER, PREAMBLE + " and finally.", OTHER]
    )
    # Cut at the window, the long sentence would read as its preamble does.
    assert long_answer > 0 > max(cut_answer, other)


def test_the_torch_runtime_reads_long_sentences_as_onnx_does(reader):
    sentences = [LONG_ANSWER, ANSWER, OTHER]
    onnx = reader.logits(QUESTION, sentences)
    torch = Reader(runtime="torch").logits(QUESTION, sentences)
    assert abs(onnx - torch).max() < 1e-3


def test_reading_windows_cover_a_long_sentence_and_leave_a_short_one_whole():
    sentence = " ".join(f"w{i}" for i in range(100))
    spans = [(m, m + len(word)) for m, word in _word_offsets(sentence)]
    assert reading_windows("w0 w1", spans[:2], room=10) == ["w0 w1"]
    windows = reading_windows(sentence, spans, room=40)
    assert windows[0].startswith("w0 ") and windows[-1].endswith(" w99")
    assert all(len(w.split()) == 40 for w in windows)
    assert len(windows) == 4  # by half a window: starts 0, 20, 40, 60
    # More than the most windows allowed: as many, spread over the whole sentence.
    spread = reading_windows(sentence, spans, room=10, max_windows=3)
    assert [w.split()[0] for w in spread] == ["w0", "w45", "w90"]
    assert all(w in sentence for w in spread)


def _word_offsets(text: str):
    position = 0
    for word in text.split(" "):
        yield position, word
        position += len(word) + 1


@pytest.fixture
def copied_model(tmp_path):
    folder = tmp_path / "reader"
    shutil.copytree(BUNDLED_READER, folder)
    return folder


def test_a_damaged_weights_file_is_refused_naming_it_and_the_rebuild(copied_model):
    weights = copied_model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ReaderError) as error:
        Reader(copied_model).warm_up()
    assert str(weights) in str(error.value)
    assert "damaged" in str(error.value) and "python -m train reader" in str(error.value)


def test_a_missing_file_or_manifest_is_refused_naming_it(copied_model):
    (copied_model / "tokenizer.json").unlink()
    with pytest.raises(ReaderError, match=r"tokenizer\.json is missing"):
        Reader(copied_model).warm_up()
    (copied_model / "manifest.json").unlink()
    with pytest.raises(ReaderError, match=r"manifest\.json"):
        Reader(copied_model).warm_up()


def test_a_reader_model_option_naming_no_model_says_so_and_how_to_fix_it(tmp_path):
    from rag.backends.reader import what_to_do

    # The shipped reader is restored by reinstalling; a folder of the user's own is the
    # `reader_model` option to correct, and reinstalling would not help.
    assert "make install" in what_to_do(BUNDLED_READER)
    not_a_model = tmp_path / "documents"
    not_a_model.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a model", encoding="utf-8")
    for folder, says in (
        (tmp_path / "no-such-folder", "does not exist"),
        (a_file, "is a file, not a folder"),
        (not_a_model, "has no " + str(not_a_model / "manifest.json")),
    ):
        with pytest.raises(ReaderError) as error:
            Reader(folder).warm_up()
        message = str(error.value)
        assert str(folder) in message and says in message
        assert "`reader_model`" in message and "make install" not in message


def test_a_truncated_weights_file_is_refused(copied_model):
    weights = copied_model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ReaderError, match="damaged"):
        Reader(copied_model).warm_up()


def test_rag_ask_with_a_damaged_reader_says_which_file_and_what_to_do(
    copied_model, seed_pipeline, tmp_path
):
    from .test_backend_registry import run_rag

    weights = copied_model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    result = run_rag(
        "ask",
        "When was the Bicentennial Framework launched?",
        "--index",
        str(seed_pipeline.settings.index_dir),
        env={
            "RAG_BACKEND_EXTRACTIVE_USE_READER": "true",
            "RAG_BACKEND_EXTRACTIVE_READER_MODEL": str(copied_model),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert str(weights) in result.stderr and "python -m train reader" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_calibration_for_other_features_is_refused_naming_it(copied_model):
    import json

    from rag.backends.reader import Calibration

    path = copied_model / "calibration.json"
    values = json.loads(path.read_text(encoding="utf-8"))
    values["weights"] = values["weights"] + [0.5]
    path.write_text(json.dumps(values), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"calibration\.json is damaged \(5 weights for the 4"):
        Calibration.read(copied_model)


def test_a_calibration_says_how_many_sentences_the_reader_reads(copied_model):
    import json

    from rag.backends.reader import Calibration

    path = copied_model / "calibration.json"
    values = json.loads(path.read_text(encoding="utf-8"))
    values["candidates"] = 7
    path.write_text(json.dumps(values), encoding="utf-8")
    assert Calibration.read(copied_model).candidates == 7
    # One written before the reader chose: it vetoes the signals' pick, as it did then.
    del values["candidates"]
    path.write_text(json.dumps(values), encoding="utf-8")
    assert Calibration.read(copied_model).candidates == 1
    for wrong in (0, 41):
        values["candidates"] = wrong
        path.write_text(json.dumps(values), encoding="utf-8")
        with pytest.raises(ReaderError, match=r"calibration\.json is damaged \(candidates must"):
            Calibration.read(copied_model)


class TestPickRead:
    """Which of the sentences read are quoted: the calibration fits exactly this."""

    def test_the_most_likely_sentence_is_quoted_whatever_the_signals_ranked_first(self):
        from rag.backends.extractive import pick_read

        assert pick_read([0.2, 0.9, 0.4], ["a", "b", "c"], threshold=0.3, most=1) == [1]

    def test_nothing_is_quoted_when_even_the_best_is_under_the_threshold(self):
        from rag.backends.extractive import pick_read

        assert pick_read([0.2, 0.25], ["a", "b"], threshold=0.3, most=2) == []
        assert pick_read([], [], threshold=0.3, most=2) == []

    def test_a_second_sentence_only_when_nearly_as_likely_and_its_text_is_new(self):
        from rag.backends.extractive import pick_read

        assert pick_read([0.9, 0.85, 0.5], ["a", "b", "c"], threshold=0.3, most=2) == [0, 1]
        assert pick_read([0.9, 0.5], ["a", "b"], threshold=0.3, most=2) == [0]
        # The same sentence in two documents is quoted once; the next one may stand in.
        assert pick_read([0.9, 0.88, 0.8], ["a", "a", "c"], threshold=0.3, most=2) == [0, 2]
        assert pick_read([0.9, 0.88, 0.87], ["a", "b", "c"], threshold=0.3, most=2) == [0, 1]
