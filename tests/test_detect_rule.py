"""Detection: the rule (threshold, minimum run, hold-off, the dev metric's agreement, the
80 ms grid of embedding heads), the detector's config, and the chime."""
import json

import numpy as np
import pytest
import soundfile as sf

from model.audio.features import STEP_SECONDS
from model.detect.chime import (CHIME_PATH, load_chime, mix_chimes, overlay_chime, synthesize_chime,
                                write_chimed_wav)
from model.detect.detector import DetectConfig, Detector, probabilities_to_detections
from model.errors import AudioError, ConfigError, LabError
from tests.detect_helpers import detector, keras_model, reference  # noqa: F401 (fixtures)

# ---------------------------------------------------------------- the detection rule

def _trace(n=400, runs=()):
    p = np.full(n, 0.1, np.float32)
    for start, length, value in runs:
        p[start:start + length] = value
    return p


def test_threshold_is_inclusive_and_times_are_steps():
    found = probabilities_to_detections(_trace(runs=[(100, 5, 0.5)]), threshold=0.5)
    assert [(d.step, d.end_step) for d in found] == [(100, 105)]
    assert found[0].time_s == pytest.approx(100 * STEP_SECONDS)
    assert probabilities_to_detections(_trace(runs=[(100, 5, 0.49)]), threshold=0.5) == []


def test_min_steps_drops_short_runs():
    p = _trace(runs=[(50, 2, 0.9), (200, 3, 0.8)])
    assert [d.step for d in probabilities_to_detections(p, 0.5, min_steps=3)] == [200]
    assert [d.step for d in probabilities_to_detections(p, 0.5, min_steps=1)] == [50, 200]


def test_refractory_hold_off_runs_from_the_detection_start_and_keeps_the_peak():
    p = _trace(runs=[(100, 10, 0.6), (174, 3, 0.95), (250, 3, 0.7), (325, 3, 0.8)])
    found = probabilities_to_detections(p, 0.5, refractory_steps=75)
    assert [d.step for d in found] == [100, 250, 325]  # 74 after a detection merges, 75 does not
    assert found[0].score == pytest.approx(0.95) and found[0].end_step == 177
    assert found[1].score == pytest.approx(0.7) and found[1].end_step == 253
    assert len(probabilities_to_detections(p, 0.5, refractory_steps=0)) == 4


def test_a_long_run_is_one_detection_and_edges_count():
    p = _trace(runs=[(0, 3, 0.9), (150, 250, 0.8)])
    found = probabilities_to_detections(p[:, None], 0.5)  # (steps, 1) is accepted
    assert [(d.step, d.end_step) for d in found] == [(0, 3), (150, 400)]
    assert probabilities_to_detections(np.zeros(0), 0.5) == []


def test_detector_applies_its_config(keras_model, reference):
    x, ref = reference
    cfg = DetectConfig(threshold=float(np.quantile(ref, 0.9)), refractory_steps=0)
    result = Detector.from_keras(keras_model, cfg).detect_samples(x, 44100)
    expected = probabilities_to_detections(result.probabilities, cfg.threshold, 1, 0)
    assert len(result.detections) == len(expected) > 0
    assert all(d.score >= cfg.threshold for d in result.detections)


def test_config_is_validated_and_json_ready():
    with pytest.raises(ConfigError):
        DetectConfig(threshold=1.5).validate()
    with pytest.raises(ConfigError):
        DetectConfig(min_steps=0).validate()
    assert json.loads(json.dumps(DetectConfig().to_dict()))["limits"]["max_seconds"] == 3600.0


def test_rule_matches_the_dev_metric_with_min_steps_1():
    """The dashboard's dev metric and the detector must agree, so a dev threshold carries over."""
    from model.train.metrics import detections_from_probs

    rng = np.random.default_rng(7)
    traces = np.full((6, 1375), 0.2, np.float32)
    for trace in traces:  # bursts of 1..30 steps separated by gaps of 1..60: every case
        pos = int(rng.integers(0, 20))
        while pos < trace.shape[0]:
            length = int(rng.integers(1, 31))
            trace[pos:pos + length] = rng.uniform(0.5, 1.0)
            pos += length + int(rng.integers(1, 61))
    rows, steps = detections_from_probs(traces, 0.5, refractory_steps=20)
    for i, trace in enumerate(traces):
        mine = [d.step for d in probabilities_to_detections(trace, 0.5, 1, 20)]
        assert mine == steps[rows == i].tolist() and len(mine) > 3


# ---------------------------------------------------------------- the chime

def test_chime_is_a_decaying_bell_and_the_asset_is_ours():
    chime = synthesize_chime(44100)
    assert 0.5 < chime.shape[0] / 44100 < 1.5 and np.abs(chime).max() == pytest.approx(0.8)
    assert abs(chime[0]) < 0.01 and abs(chime[-1]) < 1e-3  # no clicks
    spectrum = np.abs(np.fft.rfft(chime))
    assert 1000 < np.argmax(spectrum) * 44100 / chime.shape[0] < 1100  # C6 fundamental
    quarter = chime.shape[0] // 4
    assert np.abs(chime[:quarter]).max() > 4 * np.abs(chime[-quarter:]).max()  # it rings out
    asset, rate = sf.read(CHIME_PATH, dtype="float32")
    assert rate == 44100 and np.abs(asset - chime).max() < 1e-4  # committed = synthesised


def test_overlay_puts_the_chime_at_each_time_and_streaming_matches(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.05, 48000 * 25).astype(np.float32)  # 25 s: more than two read blocks
    times = [1.0, 9.95, 20.0]  # the second chime crosses a 10 s block boundary
    mixed = overlay_chime(x, 48000, times, gain=0.5)
    chime = load_chime(48000)
    start = 48000
    assert np.allclose(mixed[start:start + chime.shape[0]] - x[start:start + chime.shape[0]],
                       0.5 * chime, atol=1e-6)
    assert np.array_equal(mixed[:start], x[:start])
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    assert write_chimed_wav(tmp_path / "in.wav", times, tmp_path / "out.wav") == 48000
    written, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 48000 and np.abs(written - mixed).max() < 1e-4  # 16-bit rounding
    assert np.array_equal(mix_chimes(x[:10], 5, np.array([0]), chime, 1.0),
                          np.clip(x[:10] + chime[5:15], -1, 1))


# ---------------------------------------------------------------- speech-embedding heads (80 ms)

def test_embedding_detections_lie_on_the_80ms_grid_with_the_kinds_hold_off():
    """Step i is at 0.782 + 0.08 i s; the default hold-off is 7 steps (0.56 s), not 75."""
    from model.audio.features import EMBEDDING_TIMING

    trace = _trace(116, runs=[(10, 2, 0.9), (15, 1, 0.8), (17, 1, 0.95), (30, 3, 0.7)])
    found = probabilities_to_detections(trace, 0.5, timing=EMBEDDING_TIMING)
    assert [d.step for d in found] == [10, 17, 30]  # 15 is within 7 steps of 10; 17 is not
    assert [d.time_s for d in found] == pytest.approx([1.582, 2.142, 3.182])
    seed_rule = probabilities_to_detections(trace, 0.5, refractory_steps=75,
                                            timing=EMBEDDING_TIMING)
    assert [d.step for d in seed_rule] == [10]


def test_embedding_head_detects_on_its_grid_and_refuses_short_or_wrong_input(tmp_path):
    """An always-on head: one detection at step 0, i.e. 0.782 s; a clip under 0.782 s and a
    head of another width are one-line errors."""
    import keras

    from model.card import write_model_card
    from tests.embedding_heads import always_on_head, save_head

    path = save_head(always_on_head(), tmp_path, "on.keras")
    det = Detector(path)
    noise = np.random.default_rng(9).normal(0, 0.1, 44100 * 3).astype(np.float32)
    result = det.detect_samples(noise, 44100)
    assert result.probabilities.shape == (28,)  # 1 + (3 s - 0.782 s) // 0.08
    assert [(d.step, d.time_s) for d in result.detections] == [(0, pytest.approx(0.782))]
    assert det.refractory_steps == 7
    with pytest.raises(AudioError, match="needs at least 782 ms"):
        det.detect_samples(noise[:22050], 44100)
    inputs = keras.Input((None, 101))
    wide = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.GRU(4, return_sequences=True)(inputs)))
    wide.save(tmp_path / "wide.keras")
    write_model_card(tmp_path / "wide.keras", "speech-embedding-v1")
    with pytest.raises(LabError) as info:
        Detector(tmp_path / "wide.keras")
    assert "expects 101 values per frame, speech-embedding-v1 features have 96" in str(info.value)
    assert "\n" not in str(info.value)
