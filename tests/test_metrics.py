"""Detection metric: FRR at a fixed false-accept rate per hour, on hand-made tracks."""
import numpy as np
import pytest

from model.train.metrics import (detections_from_probs, frr_at_fa_rate, mask_to_runs,
                           score_detections)

STEPS = 1375


def _labels(windows_per_row):
    y = np.zeros((len(windows_per_row), STEPS), dtype=np.float32)
    for i, starts in enumerate(windows_per_row):
        for s in starts:
            y[i, s:s + 50] = 1
    return y


def test_mask_to_runs_finds_runs_with_exclusive_ends():
    mask = np.array([[0, 1, 1, 0, 1], [1, 0, 0, 0, 1]], dtype=bool)
    rows, starts, ends = mask_to_runs(mask)
    assert rows.tolist() == [0, 0, 1, 1]
    assert starts.tolist() == [1, 4, 0, 4]
    assert ends.tolist() == [3, 5, 1, 5]


def test_refractory_hold_off_counts_from_the_detection_start():
    p = np.zeros((1, 600), dtype=np.float32)
    p[0, 100:110] = 0.9
    p[0, 130:140] = 0.9  # starts 30 steps after the detection at 100: same detection
    p[0, 176:180] = 0.9  # 76 steps after 100, 36 after the last episode ends: a new one
    p[0, 300:400] = 0.9  # a long episode is one detection
    p[0, 410:412] = 0.9  # 110 steps after 300, although only 10 after the episode ends
    rows, steps = detections_from_probs(p, 0.5, refractory_steps=75)
    assert steps.tolist() == [100, 176, 300, 410]
    _, steps_short = detections_from_probs(p, 0.5, refractory_steps=10)
    assert steps_short.tolist() == [100, 130, 176, 300, 410]
    _, steps_long = detections_from_probs(p, 0.5, refractory_steps=200)
    assert steps_long.tolist() == [100, 300]


def test_back_to_back_trigger_words_are_both_found():
    # two words ~0.67 s apart: the first word's probability stays up through its 50-step
    # label window, so the second word's episode starts only 42 steps after it falls
    labels = _labels([[300, 392]])
    p = np.zeros((1, 1375), dtype=np.float32)
    p[0, 299:350] = 0.97
    p[0, 392:440] = 0.97
    rows, steps = detections_from_probs(p, 0.5, refractory_steps=75)
    assert score_detections(rows, steps, labels) == (2, 2, 0)


def test_a_chain_of_close_episodes_opens_detections_by_the_previous_detection_only():
    p = np.zeros((2, 300), dtype=np.float32)
    for start in (10, 50, 90, 130):  # 40 apart: 50 and 130 are within 75 of 10 and 90
        p[0, start:start + 5] = 0.9
    p[1, 5:8] = 0.9  # a new row always opens a detection
    rows, steps = detections_from_probs(p, 0.5, refractory_steps=75)
    assert list(zip(rows.tolist(), steps.tolist())) == [(0, 10), (0, 90), (1, 5)]


def test_score_counts_found_missed_and_false_accepts():
    labels = _labels([[200, 800], [500]])
    det_rows = np.array([0, 0, 1, 1])
    det_steps = np.array([210, 600, 10, 549])  # hit, FA, FA, hit on the last window step
    assert score_detections(det_rows, det_steps, labels) == (3, 2, 2)
    # a detection right after a window (step 550 of row 1) is a false accept
    assert score_detections(np.array([1]), np.array([550]), labels) == (3, 0, 1)


def test_detection_during_the_words_end_counts_but_not_earlier():
    labels = _labels([[200, 800]])
    # one step before the window (the boundary a trained network rises at): found
    assert score_detections(np.array([0]), np.array([199]), labels) == (2, 1, 0)
    # 41 steps early (0.3 s, still inside the word) is found; 42 steps is a false accept
    assert score_detections(np.array([0]), np.array([200 - 41]), labels) == (2, 1, 0)
    assert score_detections(np.array([0]), np.array([200 - 42]), labels) == (2, 0, 1)
    # the tolerance never reaches back into the previous window of the same clip
    close = _labels([[200, 260]])  # windows 200..249 and 260..309
    assert score_detections(np.array([0, 0]), np.array([210, 245]), close) == (2, 1, 0)


def test_perfect_detector_has_zero_frr():
    labels = _labels([[200], [700], [300]])
    probs = labels * 0.95 + 0.01
    m = frr_at_fa_rate(probs, labels, target_fa_per_hour=1.0)
    assert m.frr == 0.0 and m.n_found == 3 and m.n_false_accepts == 0
    assert m.dev_hours == pytest.approx(30 / 3600)


def test_budget_forces_a_threshold_above_false_peaks():
    labels = _labels([[200], [700]])
    probs = np.full(labels.shape, 0.01, dtype=np.float32)
    probs[0, 210] = 0.6  # weak true peak
    probs[1, 720] = 0.95  # strong true peak
    probs[1, 100] = 0.8  # false peak between the two
    m = frr_at_fa_rate(probs, labels, target_fa_per_hour=1.0)
    # with 20 s of audio, one false accept is 180/hour: only thresholds above 0.8 qualify
    assert m.threshold > 0.8 and m.frr == 0.5 and m.n_false_accepts == 0
    loose = frr_at_fa_rate(probs, labels, target_fa_per_hour=200.0)
    assert loose.frr == 0.0 and loose.n_false_accepts == 1 and loose.fa_per_hour == 180.0


def test_all_zero_model_misses_everything_and_no_triggers_gives_none():
    labels = _labels([[200], []])
    m = frr_at_fa_rate(np.zeros_like(labels), labels)
    assert m.frr == 1.0 and m.n_triggers == 1
    empty = frr_at_fa_rate(np.zeros((2, STEPS)), np.zeros((2, STEPS)))
    assert empty.frr is None and empty.n_triggers == 0


def test_accepts_keras_shaped_arrays():
    labels = _labels([[200]])[..., None]
    m = frr_at_fa_rate(labels * 0.9, labels)
    assert m.frr == 0.0
