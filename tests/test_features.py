import numpy as np
import pytest

from model.errors import AudioError
from model.audio.features import (FEATURE_KIND_SEED, N_FRAMES, N_FREQ, audio_to_features,
                            frames_for_samples, steps_for_frames)


def _tone(sr, seconds=10.0, hz=1000.0, amp=0.3):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_ten_seconds_at_44k_gives_5511_by_101():
    feats = audio_to_features(_tone(44100), 44100)
    assert feats.shape == (N_FRAMES, N_FREQ) == (5511, 101)
    assert feats.dtype == np.float32


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 48000])
def test_other_rates_resample_to_same_grid(sr):
    feats = audio_to_features(_tone(sr), sr)
    assert feats.shape == (5511, 101)
    ref = audio_to_features(_tone(44100), 44100)
    # the 1 kHz tone lands in the same bin (1000 Hz / 220.5 Hz per bin -> bin 4 or 5)
    assert np.argmax(feats[2000]) == np.argmax(ref[2000])


def test_stereo_both_layouts_equal_mono():
    mono = _tone(44100, 2.0)
    ref = audio_to_features(mono, 44100)
    assert np.allclose(audio_to_features(np.stack([mono, mono], 1), 44100), ref, atol=1e-5)
    assert np.allclose(audio_to_features(np.stack([mono, mono], 0), 44100), ref, atol=1e-5)


def test_int16_input_matches_float():
    # noise, not a pure tone: quantisation noise would dominate a tone's empty bins
    mono = np.random.default_rng(1).normal(0, 0.1, 44100).astype(np.float32)
    pcm = np.round(mono * 32767).astype(np.int16)
    diff = np.abs(audio_to_features(pcm, 44100) - audio_to_features(mono, 44100))
    assert diff.mean() < 1e-3 and diff.max() < 0.2  # 16-bit rounding, visible only in weak bins


def test_log_features_are_float16_safe_and_level_ordered():
    loud = audio_to_features(_tone(44100, 1.0, amp=0.9), 44100)
    quiet = audio_to_features(_tone(44100, 1.0, amp=0.01), 44100)
    silent = audio_to_features(np.zeros(44100, np.float32), 44100)
    for f in (loud, quiet, silent):
        assert np.all(np.isfinite(f.astype(np.float16)))
        assert np.abs(f).max() < 10
    assert loud.max() > quiet.max() > silent.max()


def test_features_are_framewise_so_pieces_equal_whole():
    audio = np.random.default_rng(0).normal(0, 0.1, 44100 * 3).astype(np.float32)
    whole = audio_to_features(audio, 44100)
    split = 80 * 1000  # a multiple of the hop
    head = audio_to_features(audio[: split + 120], 44100)
    tail = audio_to_features(audio[split:], 44100)
    assert np.allclose(np.concatenate([head, tail]), whole, atol=1e-6)


def test_seed_kind_matches_matplotlib_scale():
    feats = audio_to_features(_tone(44100, 10.0), 44100, kind=FEATURE_KIND_SEED)
    assert feats.shape == (5511, 101)
    assert feats.max() > 65504  # the float16 hazard: linear power above float16 max


def test_counts():
    assert frames_for_samples(441000) == 5511
    assert frames_for_samples(199) == 0
    assert steps_for_frames(5511) == 1375


@pytest.mark.parametrize("bad,msg", [
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.0, np.nan] * 200, np.float32), "NaN"),
    (np.zeros(50, np.float32), "too short"),
])
def test_bad_audio_is_a_one_line_error(bad, msg):
    with pytest.raises(AudioError, match=msg):
        audio_to_features(bad, 44100)


def _speechlike(seconds=4.0, seed=0):
    """Noise bursts (syllable-like on/off) over a quiet noise floor, 44.1 kHz."""
    rng = np.random.default_rng(seed)
    n = int(44100 * seconds)
    env = np.repeat(rng.random(n // 4410 + 1) < 0.4, 4410)[:n].astype(np.float32)
    return (rng.normal(0, 0.1, n) * (0.02 + env)).astype(np.float32)


def _eq(audio):
    """A fixed 'cheap microphone' colour: first-order low-pass, about 3 dB down at 2 kHz."""
    from scipy.signal import lfilter
    return lfilter([0.25], [1.0, -0.75], audio).astype(np.float32)


def test_pcen_is_float16_safe_and_resumable_bit_exactly():
    from model.audio.features import FEATURE_KIND_PCEN, audio_to_power, power_to_pcen
    audio = _speechlike()
    feats = audio_to_features(audio, 44100, FEATURE_KIND_PCEN)
    assert feats.shape == (frames_for_samples(audio.size), N_FREQ) and feats.dtype == np.float32
    assert np.all(np.isfinite(feats.astype(np.float16))) and np.abs(feats).max() < 1000
    silent = audio_to_features(np.zeros(44100, np.float32), 44100, FEATURE_KIND_PCEN)
    assert np.all(np.isfinite(silent))
    power = audio_to_power(audio)
    a, state = power_to_pcen(power[:777])
    b, _ = power_to_pcen(power[777:], state)
    assert np.array_equal(np.concatenate([a, b]), feats)  # a stream may be cut anywhere


@pytest.mark.parametrize("change", ["gain +20 dB", "low-pass colour"])
def test_pcen_ignores_level_and_colour_far_more_than_log_power(change):
    """The point of PCEN: a louder or coloured recording of the same sound looks the same."""
    from model.audio.features import FEATURE_KIND_LOG, FEATURE_KIND_PCEN
    audio = _speechlike(seed=1)
    other = audio * 10.0 if change == "gain +20 dB" else _eq(audio)
    moved = {}
    for kind in (FEATURE_KIND_LOG, FEATURE_KIND_PCEN):
        ref, new = (audio_to_features(a, 44100, kind)[500:] for a in (audio, other))  # past the start
        moved[kind] = float(np.abs(new - ref).mean() / ref.std())
    assert moved[FEATURE_KIND_PCEN] < 0.1 * moved[FEATURE_KIND_LOG], moved


def test_every_kind_has_a_registry_row_that_keeps_its_promises():
    """Each name in FEATURE_KINDS has a row; its shape, grid, float16 and synthesis flags hold."""
    from model.audio.features import (FEATURE_KINDS, FEATURE_REGISTRY, SYNTH_FEATURE_KINDS,
                                      audio_to_power, feature_kind)
    assert FEATURE_KINDS == tuple(FEATURE_REGISTRY) and len(FEATURE_KINDS) >= 3
    assert SYNTH_FEATURE_KINDS == tuple(k for k in FEATURE_KINDS if feature_kind(k).synthesisable)
    audio = (_speechlike(2.0) * 8.0).clip(-1, 1)  # loud: the seed's values overflow float16
    for name in FEATURE_KINDS:
        row = feature_kind(name)
        assert row.name == name
        feats = audio_to_features(audio, 44100, name)
        assert feats.dtype == np.float32
        assert feats.shape == (row.frames.frames_for_audio(audio.size), row.n_values)
        assert row.steps.steps_for_frames(feats.shape[0]) > 0
        assert (float(np.abs(feats).max()) <= 65504.0) == row.float16_safe, name  # float16's max
        if row.synthesisable:  # make-data stores float16
            assert row.float16_safe, name
        if row.from_power is not None:  # the shared-power path gives the same features
            assert np.array_equal(row.from_power(audio_to_power(audio)), feats), name
    with pytest.raises(ValueError, match="unknown feature kind"):
        feature_kind("log-power-v2")


def test_every_declared_conversion_matches_the_direct_features():
    """A conversion in a row's table must give what the kind computes from the audio."""
    from model.audio.features import FEATURE_REGISTRY, convert_features
    audio = _speechlike(3.0, seed=2)
    pairs = [(src, row.name) for row in FEATURE_REGISTRY.values() for src in row.converts_from]
    assert ("log-power-v1", "pcen-v1") in pairs
    for src, dst in pairs:
        stored = audio_to_features(audio, 44100, src)
        direct = audio_to_features(audio, 44100, dst)
        np.testing.assert_allclose(convert_features(stored, src, dst), direct, atol=2e-3)
        batch = np.stack([stored, stored[::-1]]).astype(np.float16)  # as a dataset keeps clips
        converted = convert_features(batch, src, dst)
        assert converted.shape == batch.shape and converted.dtype == np.float32
        assert np.abs(converted[0] - direct).mean() < 2e-3
    with pytest.raises(ValueError, match="cannot be computed"):
        convert_features(np.zeros((20, N_FREQ)), "pcen-v1", "log-power-v1")


def test_each_running_state_gives_the_whole_clip_features_in_any_split():
    """A kind's stream state (PCEN: the running mean) fed frames in pieces equals one pass."""
    from model.audio.features import FEATURE_REGISTRY, audio_to_power
    power = audio_to_power(_speechlike(3.0, seed=3))
    streamed = [row for row in FEATURE_REGISTRY.values() if row.new_stream is not None]
    assert [row.name for row in streamed] == ["pcen-v1"]
    for row in streamed:
        stream, cuts = row.new_stream(), [0, 1, 15, 700, 701, power.shape[0]]
        parts = [stream(power[a:b]) for a, b in zip(cuts, cuts[1:])]
        assert np.array_equal(np.concatenate(parts), row.from_power(power)), row.name


def test_time_grid_is_derived_from_the_seed_steps():
    from model.audio.feature_kinds import LOG_POWER_FRAMES, SEED_STEPS
    from model.audio.features import CLIP_SAMPLES, N_STEPS, STEP_SECONDS
    assert N_FRAMES == LOG_POWER_FRAMES.frames_for_samples(CLIP_SAMPLES) == 5511
    k, s = SEED_STEPS.kernel_frames, SEED_STEPS.stride_frames
    assert N_STEPS == (N_FRAMES - k) // s + 1 == 1375
    assert SEED_STEPS.frames_for_steps(N_STEPS) <= N_FRAMES
    assert SEED_STEPS.frames_for_steps(N_STEPS + 1) > N_FRAMES
    assert STEP_SECONDS == 10.0 / N_STEPS
    assert LOG_POWER_FRAMES.samples_for_frames(N_FRAMES) <= CLIP_SAMPLES
