"""Generated backgrounds: spectra, levels, lengths, determinism; cropping recordings."""
import dataclasses
import json

import numpy as np
import pytest

from model.audio.effects import rms_dbfs
from model.data.backgrounds import (BABBLE, BLUE, BROWN, HUM, KINDS, MIXTURE, PINK, ROOM, TONES,
                               WHITE, BackgroundConfig, crop_background, make_background)
from model.errors import AudioError, ConfigError
from model.audio.features import SAMPLE_RATE_HZ as SR

N = SR * 2  # 2 s keeps the tests quick; spectra are resolved to 0.5 Hz


def only(kind, **changes):
    """A config that always makes ``kind``, at -40 dBFS, with a negligible noise floor."""
    weights = {f"weight_{k}": float(k == kind) for k in KINDS}
    return BackgroundConfig(**weights, level_range_dbfs=(-40.0, -40.0),
                            floor_level_range_dbfs=(-140.0, -140.0), **changes)


def band_db(audio, lo_hz, hi_hz):
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    return 10 * np.log10(power[(freqs >= lo_hz) & (freqs < hi_hz)].mean())


def peak_hz(audio):
    """Frequency of the strongest FFT bin (Hann window, zero-padded 8x)."""
    n = 8 * len(audio)
    return np.argmax(np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))) * SR / n


def word_clip(freq_hz=700.0):
    t = np.arange(20000) / SR
    return (0.3 * np.sin(2 * np.pi * freq_hz * t) * np.hanning(t.size)).astype(np.float32)


@pytest.mark.parametrize("kind, slope_sign", [(WHITE, 0), (PINK, -1), (BROWN, -1), (BLUE, 1)])
def test_noise_colour_has_the_right_spectral_slope(kind, slope_sign):
    audio, got = make_background(np.random.default_rng(0), N, only(kind))
    assert got == kind
    tilt = band_db(audio, 4000, 8000) - band_db(audio, 250, 500)  # 4 octaves apart
    expected = {0: 0.0, -1: -12.0 if kind == PINK else -24.0, 1: 12.0}[slope_sign]
    assert tilt == pytest.approx(expected, abs=3.0)


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_hum_peaks_at_mains_frequency(mains):
    audio, got = make_background(np.random.default_rng(1), N, only(HUM, hum_mains_hz=(mains,)))
    assert got == HUM
    assert peak_hz(audio) % mains == pytest.approx(0.0, abs=0.6) or \
        peak_hz(audio) % mains == pytest.approx(mains, abs=0.6)
    assert band_db(audio, mains - 1, mains + 1) - band_db(audio, 2000, 4000) > 40.0


def test_steady_tone_is_where_asked_and_glides_stay_in_range():
    cfg = only(TONES, tones_count_range=(1, 1), tones_hz_range=(1000.0, 1000.0), tones_glide_max=0.08)
    glides = []
    for seed in range(16):
        audio, _ = make_background(np.random.default_rng(seed), N, cfg)
        start, end = peak_hz(audio[:SR // 5]), peak_hz(audio[-SR // 5:])
        assert 995.0 < start < 1005.0 and 915.0 < end < 1085.0
        glides.append(abs(end - start))
    assert min(glides) < 1.0 and max(glides) > 20.0  # both steady and gliding tones occur


def test_babble_is_made_of_the_given_clips():
    audio, got = make_background(np.random.default_rng(2), N, only(BABBLE), [word_clip(700.0)])
    assert got == BABBLE
    assert peak_hz(audio) == pytest.approx(700.0, abs=2.0)


def test_babble_needs_clips():
    with pytest.raises(ConfigError, match="babble"):
        make_background(np.random.default_rng(0), N, only(BABBLE), None)
    _, kind = make_background(np.random.default_rng(0), N, BackgroundConfig(weight_babble=1e9), [])
    assert BABBLE not in kind


@pytest.mark.parametrize("kind", [k for k in KINDS])
def test_every_kind_has_length_level_and_finite_samples(kind):
    cfg = dataclasses.replace(only(kind), floor_level_range_dbfs=(-80.0, -70.0),
                              room_level_range_dbfs=(-65.0, -65.0))
    audio, got = make_background(np.random.default_rng(3), N, cfg, [word_clip()])
    assert audio.shape == (N,) and audio.dtype == np.float32 and np.all(np.isfinite(audio))
    target = -65.0 if kind == ROOM else -40.0
    assert rms_dbfs(audio) == pytest.approx(target, abs=1.0)
    parts = got.split("+")
    assert all(p in KINDS and p != MIXTURE for p in parts)
    assert (len(parts) >= 2) == (kind == MIXTURE)


def test_room_noise_is_quiet_and_dark():
    audio, got = make_background(np.random.default_rng(4), N, BackgroundConfig(
        **{f"weight_{k}": float(k == ROOM) for k in KINDS}))
    assert got == ROOM and rms_dbfs(audio) <= -55.0
    assert band_db(audio, 100, 400) - band_db(audio, 8000, 16000) > 20.0


def test_noise_floor_under_tones():
    cfg = dataclasses.replace(only(TONES), floor_level_range_dbfs=(-75.0, -75.0))
    audio, _ = make_background(np.random.default_rng(5), N, cfg)
    assert np.isfinite(band_db(audio, 18000, 20000)) and band_db(audio, 100, 200) > -40.0


def test_same_seed_same_bytes():
    clips = [word_clip(500.0), word_clip(900.0)]
    for seed in range(6):
        a, ka = make_background(np.random.default_rng(seed), N, BackgroundConfig(), clips)
        b, kb = make_background(np.random.default_rng(seed), N, BackgroundConfig(), clips)
        assert ka == kb and a.tobytes() == b.tobytes()


def test_short_backgrounds_work():
    for seed in range(10):
        audio, _ = make_background(np.random.default_rng(seed), 300, BackgroundConfig(), [word_clip()])
        assert audio.shape == (300,) and np.all(np.isfinite(audio))


def test_crop_longer_recording_is_a_window():
    rec = np.arange(5000, dtype=np.float32)
    out = crop_background(np.random.default_rng(0), rec, 1000)
    assert out.shape == (1000,) and np.all(np.diff(out) == 1.0)
    again = crop_background(np.random.default_rng(0), rec, 1000)
    assert out.tobytes() == again.tobytes()


def test_crop_shorter_recording_loops_without_clicks():
    t = np.arange(int(0.3 * SR)) / SR
    rec = (0.5 * np.sin(2 * np.pi * 123.0 * t)).astype(np.float32)  # period does not divide length
    out = crop_background(np.random.default_rng(1), rec, SR)
    assert out.shape == (SR,) and out.dtype == np.float32
    assert np.max(np.abs(np.diff(out))) < 2.0 * np.max(np.abs(np.diff(rec)))


def test_crop_rejects_bad_recordings():
    with pytest.raises(AudioError):
        crop_background(np.random.default_rng(0), np.zeros(0, np.float32), 100)
    with pytest.raises(AudioError):
        crop_background(np.random.default_rng(0), np.array([0.1, np.nan], np.float32), 100)


def test_config_json_round_trip_and_validation():
    cfg = BackgroundConfig(weight_hum=3.0, hum_mains_hz=(60.0,))
    assert BackgroundConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    with pytest.raises(ConfigError):
        BackgroundConfig(**{f"weight_{k}": 0.0 for k in KINDS}).validate()
    with pytest.raises(ConfigError, match="level_range_dbfs"):
        BackgroundConfig(level_range_dbfs=(-20.0, -50.0)).validate()
