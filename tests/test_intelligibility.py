"""The intelligibility check (pocketsphinx, grammar mode) and make-data's --clear-triggers."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from model.data import intelligibility as intel
from model.data.bank import WordBank
from model.data.sources import split_sources
from model.data.speech import NATIVE_RATE_HZ, default_voice, speak_native
from model.data.synth import SynthConfig
from model.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def recogniser():
    return intel.WordRecogniser("activate")


def _bank(clips: list[np.ndarray], words: list[str], families: list[str]) -> WordBank:
    pcm = [np.round(c * 32767).astype(np.int16) for c in clips]
    offsets = np.cumsum([0] + [p.size for p in pcm]).astype(np.int64)
    return WordBank(audio=np.concatenate(pcm), offsets=offsets, words=words,
                    voices=[f"{f}:v" for f in families], families=families,
                    is_trigger=np.array([w == "activate" for w in words]), rate_hz=NATIVE_RATE_HZ)


def test_rivals_are_near_misses_first_and_only_known_words():
    known = {"activity", "active", "motivate", "table", "activist", "ask"}
    rivals = intel.rival_words("activate", lambda w: w in known, n=5)
    assert rivals[:3] == ["activity", "active", "activist"]  # ACTIVATE_NEAR_MISSES order
    assert "activate" not in rivals and set(rivals) <= known and len(rivals) == 5


def test_a_natural_take_is_heard_and_a_rival_or_silence_is_not(recogniser):
    assert len(recogniser.rivals) == intel.N_RIVALS
    piper = default_voice("piper")
    assert recogniser.hears_word(speak_native("activate", piper, seed=1), NATIVE_RATE_HZ)
    assert recogniser.hear(speak_native("motivate", piper, seed=1), NATIVE_RATE_HZ) != "activate"
    assert not recogniser.hears_word(np.zeros(NATIVE_RATE_HZ, np.float32), NATIVE_RATE_HZ)


def test_unknown_word_and_missing_package_are_one_line_errors(monkeypatch):
    with pytest.raises(ConfigError, match="no pronunciation for 'zzqxv'"):
        intel.WordRecogniser("zzqxv")
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import fails as when not installed
    with pytest.raises(ConfigError, match="pip install pocketsphinx"):
        intel.WordRecogniser("activate")


def test_check_is_cached_beside_the_bank_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    piper = default_voice("piper")
    bank = _bank([speak_native("activate", piper, seed=2), np.zeros(4000, np.float32),
                  speak_native("table", piper, seed=2)],
                 ["activate", "activate", "table"], ["piper:a", "espeak:b", "piper:a"])
    bank_file = tmp_path / "bank-x.npz"
    bank.save(bank_file)
    mask = intel.attach_heard(bank, bank_file, "activate")
    assert mask.tolist() == [True, False, True]  # silence is no take; other words stay
    assert intel.heard_summary(bank) == {"piper": (1, 1), "espeak": (0, 1)}
    cache = list(tmp_path.glob("bank-x.heard-v*.npy"))
    assert len(cache) == 1

    def no_decoding(*a, **k):
        raise AssertionError("decoded again although the cache was readable")
    fresh = WordBank.load(bank_file)
    monkeypatch.setattr(intel, "heard_mask", no_decoding)
    assert intel.attach_heard(fresh, bank_file, "activate").tolist() == [True, False, True]
    cache[0].write_bytes(b"not a numpy file")
    monkeypatch.undo()
    assert intel.attach_heard(WordBank.load(bank_file), bank_file, "activate").tolist() == [True, False, True]


def test_clear_triggers_drops_unheard_takes_from_train_only():
    clips = [np.full(2000, 0.1, np.float32)] * 4
    bank = _bank(clips, ["activate", "activate", "activate", "table"],
                 ["piper:a", "espeak:b", "kokoro:c", "piper:a"])
    cfg = SynthConfig(clear_triggers=True)
    with pytest.raises(DatasetError, match="not checked"):
        split_sources(cfg, bank, None, "train")
    bank.heard = np.array([True, False, True, True])
    assert list(split_sources(cfg, bank, None, "train").triggers.rows) == [0, 2]
    assert list(split_sources(cfg, bank, None, "dev").triggers.rows) == [0, 1, 2]
    assert list(split_sources(SynthConfig(), bank, None, "train").triggers.rows) == [0, 1, 2]
    bank.heard = np.array([False, False, False, True])
    with pytest.raises(ConfigError, match="without --clear-triggers"):
        split_sources(cfg, bank, None, "train")


def test_recipe_without_the_option_reads_as_before():
    assert "clear_triggers" not in SynthConfig().to_dict()
    on = SynthConfig(clear_triggers=True)
    assert SynthConfig.from_dict(on.to_dict()) == on
