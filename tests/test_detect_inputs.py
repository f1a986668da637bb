"""Detection: bad input (files, arrays, uploads, decoded clips) fails in one line and writes
nothing; model specs (pretrained, paths, run ids, cards, unstreamable layouts)."""
import struct

import numpy as np
import pytest
import soundfile as sf

from model.audio.files import AudioLimits
from model.detect.chime import write_chimed_wav
from model.detect.detector import DetectConfig, Detector
from model.errors import AudioError, LabError
from tests.detect_helpers import detector, keras_model  # noqa: F401 (fixtures)

# ---------------------------------------------------------------- bad input

def _wav_with_format_tag(path, tag):
    data = np.zeros(4410, np.int16).tobytes()
    fmt = struct.pack("<HHIIHH", tag, 1, 44100, 88200, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _bad_inputs(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, 44100).astype(np.float32)
    p = tmp_path
    (p / "empty.wav").write_bytes(b"")
    (p / "text.wav").write_text("this is not audio\n" * 20)
    sf.write(p / "ok.wav", noise, 44100, subtype="PCM_16")
    (p / "truncated.wav").write_bytes((p / "ok.wav").read_bytes()[:30000])
    (p / "corrupt.wav").write_bytes(b"RIFF\xff\xff\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(200))
    sf.write(p / "zero.wav", np.zeros(0, np.float32), 44100, subtype="PCM_16")
    sf.write(p / "silent.wav", np.zeros(44100, np.float32), 44100, subtype="PCM_16")
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = noise.copy()
        bad[1000] = value
        sf.write(p / f"{name}.wav", bad, 44100, subtype="FLOAT")
    sf.write(p / "short.wav", noise[:500], 44100, subtype="PCM_16")
    sf.write(p / "long.wav", rng.normal(0, 0.1, 44100 * 3).astype(np.float32), 44100)
    _wav_with_format_tag(p / "codec.wav", 0x0161)  # WMA in a WAV: no decoder
    return {"empty": "empty", "text": "not a readable audio", "truncated": "truncated",
            "corrupt": "not a readable audio", "zero": "no audio samples", "silent": "silent",
            "nan": "NaN", "inf": "NaN or infinite", "short": "too short", "long": "over the 2 s",
            "codec": "not a readable audio", "big": "over the"}


def test_every_bad_input_is_one_line_and_writes_nothing(keras_model, tmp_path):
    expected = _bad_inputs(tmp_path)
    det = Detector.from_keras(keras_model, DetectConfig(limits=AudioLimits(max_seconds=2.0)))
    small = Detector.from_keras(keras_model, DetectConfig(limits=AudioLimits(max_bytes=10_000)))
    for name, words in expected.items():
        target = small if name == "big" else det
        path = tmp_path / ("ok.wav" if name == "big" else f"{name}.wav")
        with pytest.raises(AudioError) as info:
            target.detect_file(path)
        message = str(info.value)
        assert words in message and "\n" not in message and len(message) < 300, (name, message)
        if name in ("silent", "short"):
            continue  # readable audio: only detection refuses it (the CLI writes nothing then)
        with pytest.raises(AudioError):
            write_chimed_wav(path, [0.1], tmp_path / "out" / f"{name}.wav",
                             limits=target.config.limits)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert det.detect_file(tmp_path / "ok.wav").probabilities.shape[0] > 0


def test_duration_limit_holds_while_decoding(tmp_path):
    """A header may understate the length (VBR MP3): decoding stops at the limit anyway."""
    from model.detect.stream import iter_mono_blocks, open_source

    sf.write(tmp_path / "a.wav", np.full(44100 * 3, 0.1, np.float32), 44100)
    info = open_source(tmp_path / "a.wav")
    info.max_seconds = 1.5
    with pytest.raises(AudioError, match="more than the 2 s limit"):
        list(iter_mono_blocks(tmp_path / "a.wav", info, block_seconds=1.0))


def test_bad_arrays_and_uploads(detector):
    with pytest.raises(AudioError, match="empty"):
        detector.detect_samples(np.zeros(0, np.float32), 44100)
    with pytest.raises(AudioError, match="NaN"):
        detector.detect_samples(np.full(44100, np.nan, np.float32), 44100)
    with pytest.raises(AudioError, match="not a readable"):
        detector.detect_file(b"RIFF but not really a wave file at all")


def test_decode_clip_refuses_bad_input_like_the_file_path(keras_model, tmp_path):
    """Every bad upload fails with the same one line, whether streamed or decoded once."""
    from model.detect.detector import decode_clip

    for name in _bad_inputs(tmp_path):
        limits = AudioLimits(max_bytes=10_000) if name == "big" else AudioLimits(max_seconds=2.0)
        det = Detector.from_keras(keras_model, DetectConfig(limits=limits))
        data = (tmp_path / ("ok.wav" if name == "big" else f"{name}.wav")).read_bytes()
        with pytest.raises(AudioError) as want:
            det.detect_file(data)
        with pytest.raises(AudioError) as got:
            det.detect_clip(decode_clip(data, limits))
        assert str(got.value) == str(want.value), name


# ---------------------------------------------------------------- model specs

def test_pretrained_names_the_embedding_detector_when_shipped_else_the_pair(tmp_path, monkeypatch):
    import model.card as card
    from model.detect.inference import resolve_model_path

    pair, head = tmp_path / "activate.keras", tmp_path / "activate-embedding.keras"
    monkeypatch.setattr(card, "PRETRAINED_PATH", pair)
    monkeypatch.setattr(card, "DETECTOR_PATH", head)
    pair.write_bytes(b"pair")
    assert resolve_model_path("pretrained") == pair
    head.write_bytes(b"head")
    assert resolve_model_path("pretrained") == head


def test_model_specs_fail_in_one_line(tmp_path, monkeypatch):
    import model.detect.inference as inference

    monkeypatch.setattr(inference, "shipped_detector_path", lambda: tmp_path / "missing.keras")
    (tmp_path / "fake.keras").write_bytes(b"not a zip")
    (tmp_path / "m.h5").write_bytes(b"x")
    for spec, words in [("pretrained", "no pretrained model"),
                        (tmp_path / "fake.keras", "not a .keras"),
                        (tmp_path / "m.h5", "only .keras"), (tmp_path / "nope.keras", "no such"),
                        ("no-such-run-id", "no-such-run-id")]:
        with pytest.raises(LabError) as info:
            Detector(spec, store_path=tmp_path / "lab.sqlite")
        assert words in str(info.value) and "\n" not in str(info.value)


def test_saved_model_loads_with_its_feature_card(keras_model, tmp_path):
    from model.card import read_model_card, write_model_card

    path = tmp_path / "model.keras"
    keras_model.save(path)
    assert Detector(path).feature_kind == "log-power-v1"  # no card: our default
    write_model_card(path, "seed-linear")
    assert read_model_card(path) == "seed-linear" and Detector(path).feature_kind == "seed-linear"


def test_unstreamable_layout_is_refused():
    import keras

    inputs = keras.Input((None, 101))
    x = keras.layers.Conv1D(8, 15, strides=4)(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(LabError, match="cannot be run in pieces"):
        Detector.from_keras(model)
