"""Word bank: deterministic builds, lossless save/load, family filtering, caching."""
import numpy as np
import pytest

from model.data import bank as bank_mod
from model.data.bank import BankConfig, WordBank, build_bank, build_or_load_bank
from model.errors import DatasetError
from model.audio.features import SAMPLE_RATE_HZ

FAMILIES = ("espeak:en-us+f3", "espeak:en-gb+m1", "piper:pitch+2", "piper:pitch-2")


def tiny_config(seed: int = 3) -> BankConfig:
    return BankConfig(word="activate", other_words=("window", "captivate", "seven"),
                      n_trigger_clips=3, n_other_clips=3, neural_share=0.5, seed=seed, families=FAMILIES)


@pytest.fixture(scope="module")
def tiny_bank() -> WordBank:
    return build_bank(tiny_config(), workers=2)


def test_build_is_deterministic_whatever_the_workers(tiny_bank):
    again = build_bank(tiny_config(), workers=1)
    assert np.array_equal(again.audio, tiny_bank.audio)
    assert np.array_equal(again.offsets, tiny_bank.offsets)
    assert again.voices == tiny_bank.voices
    assert build_bank(tiny_config(seed=4)).voices != tiny_bank.voices


def test_bank_contents(tiny_bank):
    assert len(tiny_bank) == 6
    assert tiny_bank.words[:3] == ["activate"] * 3
    assert set(tiny_bank.words[3:]) <= {"window", "captivate", "seven"}
    assert set(tiny_bank.families) <= set(FAMILIES)
    clip = tiny_bank.clip(0)
    assert clip.dtype == np.float32 and clip.ndim == 1
    assert clip.size == pytest.approx(2 * np.diff(tiny_bank.offsets)[0], abs=2)  # 22.05 -> 44.1 kHz
    assert 0.2 < clip.size / SAMPLE_RATE_HZ < 2.0


def test_indices_filter_by_trigger_and_family(tiny_bank):
    assert tiny_bank.indices(True).tolist() == [0, 1, 2]
    assert tiny_bank.indices(False).tolist() == [3, 4, 5]
    fam = tiny_bank.families[4]
    got = tiny_bank.indices(False, {fam})
    assert 4 in got and all(tiny_bank.families[i] == fam and not tiny_bank.is_trigger[i] for i in got)
    assert tiny_bank.indices(True, {"espeak:en-029+f1"}).size == 0


def test_save_load_round_trip(tiny_bank, tmp_path):
    path = tmp_path / "bank.npz"
    tiny_bank.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["bank.npz"]  # no temporary file left
    loaded = WordBank.load(path)
    for name in ("audio", "offsets", "is_trigger"):
        assert np.array_equal(getattr(loaded, name), getattr(tiny_bank, name))
    assert (loaded.words, loaded.voices, loaded.families) == (tiny_bank.words, tiny_bank.voices,
                                                              tiny_bank.families)
    assert np.array_equal(loaded.clip(5), tiny_bank.clip(5))
    with np.load(path, allow_pickle=False) as z:
        assert z["words"].dtype.kind == "U"


def test_load_rejects_a_damaged_file(tmp_path):
    path = tmp_path / "bank.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="bank.npz"):
        WordBank.load(path)


def test_cache_reuses_the_bank_of_the_same_config(tiny_bank, tmp_path, monkeypatch):
    calls = []

    def fake_build(config, progress=None, workers=2):
        calls.append(config.seed)
        return tiny_bank

    monkeypatch.setattr(bank_mod, "build_bank", fake_build)
    first = build_or_load_bank(tiny_config(), tmp_path)
    second = build_or_load_bank(tiny_config(), tmp_path)
    assert calls == [3] and np.array_equal(second.audio, first.audio)
    build_or_load_bank(tiny_config(seed=9), tmp_path)
    assert calls == [3, 9] and len(list(tmp_path.glob("bank-*.npz"))) == 2
    assert tiny_config().key() == tiny_config().key() != tiny_config(seed=9).key()


@pytest.mark.parametrize("damage", ["truncated", "crc", "other config"])
def test_a_damaged_cached_bank_is_rebuilt_not_trusted(tiny_bank, tmp_path, monkeypatch, damage):
    """A truncated file or a flipped byte (BadZipFile inside numpy) and another config's bank
    saved under this key are all rebuilt."""
    calls = []

    def fake_build(config, progress=None, workers=2):
        calls.append(config.seed)
        return tiny_bank

    monkeypatch.setattr(bank_mod, "build_bank", fake_build)
    path = bank_mod.bank_path(tiny_config(), tmp_path)
    tiny_bank.save(path)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "crc":
        path.write_bytes(raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:])
    else:
        build_bank(tiny_config(seed=4), workers=2).save(path)
    loaded = build_or_load_bank(tiny_config(), tmp_path)
    assert calls == [3] and np.array_equal(loaded.audio, tiny_bank.audio)
    assert WordBank.load(path).config_json == tiny_config().to_json()
