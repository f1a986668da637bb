"""Bring-your-own recordings: layout, validation and the name-hash split."""
import numpy as np
import pytest

from model.audio.files import write_wav_atomic
from model.errors import DatasetError
from model.data.rawdata import is_dev_file, load_raw_data


def _tone(seconds, sr=16000):
    return 0.2 * np.sin(np.arange(int(seconds * sr)) * 0.3).astype(np.float32)


def _make(root, n=6, sr=16000):
    for role, secs in (("activates", 0.6), ("negatives", 0.5), ("backgrounds", 10.0)):
        for i in range(n):
            write_wav_atomic(root / role / f"{role}_{i}.wav", _tone(secs, sr), sr)
    return root


def test_loads_resamples_and_splits_by_name(tmp_path):
    raw = load_raw_data(_make(tmp_path / "raw"))
    assert raw.files["activates"] == [f"activates_{i}.wav" for i in range(6)]
    n_dev = sum(is_dev_file(f"activates_{i}.wav") for i in range(6))
    assert len(raw.train.activates) + len(raw.dev.activates) == 6 or not raw.dev_disjoint
    if raw.dev_disjoint:
        assert len(raw.dev.activates) == n_dev
    assert abs(len(raw.train.backgrounds[0]) - 441000) <= 1  # 16 kHz -> 44.1 kHz


def test_missing_folder_and_subfolder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_raw_data(tmp_path / "nope")
    (tmp_path / "r" / "activates").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no negatives/ folder|holds no WAV"):
        load_raw_data(tmp_path / "r")


def test_non_wav_and_corrupt_files(tmp_path):
    root = _make(tmp_path / "raw", n=1)
    (root / "negatives" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="not a WAV file"):
        load_raw_data(root)
    (root / "negatives" / "notes.txt").unlink()
    (root / "activates" / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(DatasetError, match="bad.wav"):
        load_raw_data(root)


def test_word_longer_than_clip_is_refused(tmp_path):
    root = _make(tmp_path / "raw", n=1)
    write_wav_atomic(root / "activates" / "long.wav", _tone(11.0), 16000)
    with pytest.raises(DatasetError, match="longer than the 10 s clip"):
        load_raw_data(root)
