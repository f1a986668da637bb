"""Augmentation: lengths, frequencies, filters, levels, determinism."""
import dataclasses
import json

import numpy as np
import pytest

from model.data.augment import AugmentConfig, augment_mix, augment_word, augment_word_timed
from model.audio.effects import (add_air, add_reverb, band_limit, gain_db, perturb_speed, quantize_mulaw,
                           rms_dbfs, scale_to_dbfs, shift_pitch, time_stretch)
from model.errors import ConfigError
from model.audio.features import SAMPLE_RATE_HZ as SR


def sine(freq_hz, seconds=0.6, amp=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_hz(audio):
    """Frequency of the strongest FFT bin (zero-padded 8x for resolution)."""
    n = 8 * len(audio)
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))
    return np.argmax(spec) * SR / n


def all_on():
    """Every augmentation always applied."""
    return dataclasses.replace(AugmentConfig(), **{
        f.name: 1.0 for f in dataclasses.fields(AugmentConfig) if f.name.endswith("_prob")})


@pytest.mark.parametrize("factor", [0.85, 1.15])
def test_speed_scales_duration_and_pitch_by_factor(factor):
    x = sine(440.0)
    y = perturb_speed(x, factor)
    assert len(y) == pytest.approx(len(x) / factor, rel=0.005)
    assert peak_hz(y) == pytest.approx(440.0 * factor, rel=0.005)


@pytest.mark.parametrize("semitones", [-3.0, 2.0])
def test_pitch_shift_keeps_duration_and_moves_frequency(semitones):
    x = sine(220.0)
    y = shift_pitch(x, semitones)
    assert abs(len(y) - len(x)) <= 0.05 * len(x)
    assert peak_hz(y) == pytest.approx(220.0 * 2 ** (semitones / 12), rel=0.005)
    spec = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(len(y) - 4000))) ** 2
    freqs = np.fft.rfftfreq(len(y) - 4000, 1 / SR)
    stray = spec[np.abs(freqs - peak_hz(y)) > 30].sum() / spec.sum()
    assert stray < 1e-3  # WSOLA joins periods cleanly: no smeared or doubled partials


def test_time_stretch_exact_length_same_pitch():
    y = time_stretch(sine(300.0), 40000)
    assert len(y) == 40000 and y.dtype == np.float32
    assert peak_hz(y) == pytest.approx(300.0, rel=0.005)


def test_time_stretch_to_same_length_is_identity():
    x = np.random.default_rng(0).standard_normal(20000).astype(np.float32)
    np.testing.assert_allclose(time_stretch(x, x.size), x, atol=1e-5)


def test_band_limit_attenuates_outside_phone_band():
    def level(freq):
        return rms_dbfs(band_limit(sine(freq, 1.0), 300.0, 3400.0, order=6)[SR // 4:])
    mid = level(1000.0)
    assert mid - level(100.0) > 20.0
    assert mid - level(6000.0) > 20.0
    assert mid == pytest.approx(rms_dbfs(sine(1000.0)), abs=1.0)


def test_reverb_adds_decaying_tail_after_dry_end():
    x = sine(500.0, 0.3)
    y = add_reverb(x, 0.5, 0.4, np.random.default_rng(0))
    assert len(y) == len(x) + int(0.5 * SR) - 1
    tail = y[len(x):]
    early, late = rms_dbfs(tail[:2205]), rms_dbfs(tail[-2205:])
    assert early > rms_dbfs(x) - 30.0  # audible energy after the dry sound ended
    assert early - late > 30.0  # and it decays


@pytest.mark.parametrize("target", [-35.0, -18.0])
def test_scale_to_dbfs_hits_target(target):
    x = np.random.default_rng(1).standard_normal(20000).astype(np.float32) * 0.01
    assert rms_dbfs(scale_to_dbfs(x, target)) == pytest.approx(target, abs=0.5)


def test_scale_to_dbfs_never_clips():
    x = np.zeros(1000, np.float32)
    x[10] = 0.5  # a spike: reaching -3 dBFS RMS would need a peak far above 1
    y = scale_to_dbfs(x, -3.0)
    assert np.max(np.abs(y)) == pytest.approx(1.0)


def test_gain_db_scales_amplitude():
    assert np.max(gain_db(sine(100.0, amp=0.25), 6.0206)) == pytest.approx(0.5, rel=1e-3)


def test_augment_word_deterministic_finite_and_bounded():
    x = sine(180.0, 0.5, amp=0.9)
    cfg = all_on()
    a = augment_word(x, np.random.default_rng(7), cfg)
    b = augment_word(x, np.random.default_rng(7), cfg)
    c = augment_word(x, np.random.default_rng(8), cfg)
    assert a.dtype == np.float32 and a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0


def test_augment_word_timed_reports_dry_end_before_tail():
    cfg = dataclasses.replace(AugmentConfig.off(), reverb_prob=1.0)
    x = sine(300.0, 0.4)
    y, end = augment_word_timed(x, np.random.default_rng(3), cfg)
    assert end == len(x) and len(y) > end


def test_off_config_leaves_audio_untouched():
    x = sine(300.0)
    before = x.copy()
    rng = np.random.default_rng(0)
    assert np.array_equal(augment_word(x, rng, AugmentConfig.off()), before)
    assert np.array_equal(augment_mix(x, rng, AugmentConfig.off()), before)
    assert np.array_equal(x, before)


def test_augment_mix_keeps_length_and_peak():
    x = np.random.default_rng(2).uniform(-0.95, 0.95, SR).astype(np.float32)
    cfg = dataclasses.replace(all_on(), mix_gain_db_range=(6.0, 6.0))
    outs = [augment_mix(x, np.random.default_rng(s), cfg) for s in range(4)]
    for y in outs:
        assert len(y) == len(x) and y.dtype == np.float32
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0
    assert augment_mix(x, np.random.default_rng(1), cfg).tobytes() == outs[1].tobytes()


def test_mulaw_is_close_and_has_256_levels():
    x = np.linspace(-1.0, 1.0, 5001, dtype=np.float32)
    y = quantize_mulaw(x)
    assert np.max(np.abs(y - x)) < 0.03 and len(np.unique(y)) <= 257


def test_config_json_round_trip_and_validation():
    cfg = AugmentConfig(speed_range=(0.9, 1.1))
    assert AugmentConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        AugmentConfig.from_dict({"sped_prob": 0.5})
    with pytest.raises(ConfigError, match="reverb_prob"):
        AugmentConfig(reverb_prob=1.5).validate()
    with pytest.raises(ConfigError, match="speed_range"):
        AugmentConfig(speed_range=(1.2, 0.8)).validate()


def _band_db(audio, low_hz):
    """Energy above ``low_hz`` relative to the whole, dB."""
    spec = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / SR)
    return 10 * np.log10(spec[freqs > low_hz].sum() / spec.sum())


def test_air_adds_band_above_11k_at_the_level_asked_following_the_word():
    word = np.zeros(SR, np.float32)  # a smooth "word" of three partials, silent after 0.5 s
    word[:SR // 2] = np.hanning(SR // 2) * (sine(300.0, 0.5) + sine(1200.0, 0.5) + sine(3000.0, 0.5))
    assert _band_db(word, 11500) < -60
    for rel_db in (-30.0, -15.0):
        y = add_air(word, rel_db, np.random.default_rng(1))
        assert y.shape == word.shape and y.dtype == np.float32
        assert _band_db(y, 11500) == pytest.approx(rel_db, abs=1.0)
        assert np.max(np.abs(y[SR // 2 + 400:])) < 1e-6  # silent where the word is silent


def test_air_is_off_by_default_and_draws_nothing_then():
    x = sine(300.0)
    assert AugmentConfig().air_prob == 0.0
    on = dataclasses.replace(AugmentConfig.off(), air_prob=1.0, air_db_range=(-20.0, -20.0))
    y = augment_word(x, np.random.default_rng(4), on)
    assert _band_db(y, 11500) == pytest.approx(-20.0, abs=1.0)
    rng = np.random.default_rng(5)
    augment_word(x, rng, AugmentConfig())
    follow = rng.random()  # the stream after a default word is what it was before air existed
    rng2 = np.random.default_rng(5)
    augment_word(x, rng2, dataclasses.replace(AugmentConfig(), air_db_range=(-40.0, -10.0)))
    assert rng2.random() == follow
