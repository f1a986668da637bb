"""bench/yardstick.py's pure parts: thresholds, spans, labels, scoring, levels, the fetch hint.

No network, no fetched files, no model: probability traces are made by hand.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import yardstick as ys  # noqa: E402
from model.audio.feature_kinds import (CLIP_SAMPLES, EMBEDDING_TIMING, N_STEPS,  # noqa: E402
                                       SEED_TIMING, STEP_SECONDS)
from model.data.synth import labels_for_ends  # noqa: E402
from model.detect.detector import probabilities_to_detections  # noqa: E402


def test_report_thresholds_add_the_card_threshold_once_in_order():
    assert ys.report_thresholds(0.84) == [0.5, 0.84, 0.9, 0.99]
    assert ys.report_thresholds(0.9) == [0.5, 0.9, 0.99]
    assert ys.report_thresholds(None) == [0.5, 0.9, 0.99]


def test_timing_comes_from_the_kind_else_from_the_step_length_in_seconds():
    assert ys.timing_for("log-power-v1+pcen-v1", STEP_SECONDS) == SEED_TIMING
    assert ys.timing_for("speech-embedding-v1", 0.08) == EMBEDDING_TIMING
    t = ys.timing_for("no-such-kind", 0.02)  # 0.36 s, 0.55 s and 0.3 s in 20 ms steps
    assert (t.label_steps, t.refractory_steps, t.early_tolerance_steps) == (18, 27, 15)
    assert t.clip_steps == 500 and t.step_seconds == 0.02


def test_labels_on_the_seed_grid_equal_make_data_labels():
    ends = [44_100, 200_000, CLIP_SAMPLES - 100]  # the last one's window runs off the end
    np.testing.assert_array_equal(ys.labels_on_grid(ends, N_STEPS, SEED_TIMING), labels_for_ends(ends))


def _two_clips():
    """Clip 0: words ending at 2 s and 6 s; clip 1: no word. Spikes placed by hand."""
    ends = [[88_200, 264_600], []]
    labels = np.stack([ys.labels_on_grid(e, N_STEPS, SEED_TIMING) for e in ends])
    probs = np.zeros_like(labels)
    first = [SEED_TIMING.label_start_step(e) for e in ends[0]]
    probs[0, first[0] + 3:first[0] + 10] = 0.95  # inside the first word's window
    probs[0, first[1] - 30:first[1] - 25] = 0.7  # 30 steps early: within the 41-step tolerance
    probs[0, 1000:1004] = 0.6  # far from every word: a false accept
    probs[1, 500:503] = 0.99  # a clip without the word: a false accept
    return probs, labels


def test_score_clips_counts_found_words_and_false_accepts_per_threshold():
    probs, labels = _two_clips()
    rows = ys.score_clips(probs, labels, [0.5, 0.8, 0.97], SEED_TIMING, 10.0)
    got = [(r["triggers"], r["found"], r["false_accepts"]) for r in rows]
    assert got == [(2, 2, 2), (2, 1, 1), (2, 0, 1)]
    assert rows[0]["recall"] == 1.0 and rows[1]["recall"] == 0.5
    assert rows[0]["fa_per_hour"] == pytest.approx(2 / (20 / 3600))


def test_a_detection_earlier_than_the_tolerance_is_a_miss_and_a_false_accept():
    labels = ys.labels_on_grid([220_500], N_STEPS, SEED_TIMING)[None]
    probs = np.zeros_like(labels)
    start = SEED_TIMING.label_start_step(220_500)
    probs[0, start - 60:start - 50] = 0.9  # 50+ steps before the window: not this word
    (row,) = ys.score_clips(probs, labels, [0.5], SEED_TIMING, 10.0)
    assert (row["found"], row["false_accepts"]) == (0, 1)


def test_false_accepts_follow_the_detectors_rule_with_its_hold_off():
    rng = np.random.default_rng(3)
    trace = (rng.random(4000) > 0.995).astype(np.float32) * rng.uniform(0.4, 1.0, 4000).astype(np.float32)
    for thr in (0.5, 0.9):
        (row,) = ys.count_false_accepts([trace], [thr], 75, 3600.0)
        assert row["false_accepts"] == len(probabilities_to_detections(trace, thr, 1, 75))
    close = np.zeros(300, np.float32)
    close[[10, 50, 120]] = 1.0  # 50 is within 75 steps of 10's detection; 120 is not
    rows = ys.count_false_accepts([close, close], [0.5], 75, 1800.0)
    assert rows[0]["false_accepts"] == 4 and rows[0]["fa_per_hour"] == 8.0


def test_min_steps_drops_one_step_spikes_as_the_detector_rule_does():
    trace = np.zeros(400, np.float32)
    trace[[20, 200]] = 0.95  # one-step spikes
    trace[300:303] = 0.95  # three steps on: a detection under either rule
    for k, expect in ((1, 3), (2, 1), (4, 0)):
        (row,) = ys.count_false_accepts([trace], [0.5], 75, 3600.0, min_steps=k)
        assert row["false_accepts"] == expect == len(probabilities_to_detections(trace, 0.5, k, 75))
    labels = ys.labels_on_grid([220_500], N_STEPS, SEED_TIMING)[None]
    probs = np.zeros_like(labels)
    start = SEED_TIMING.label_start_step(220_500)
    probs[0, start + 5] = 0.9  # the word's only on-step
    assert [ys.score_clips(probs, labels, [0.5], SEED_TIMING, 10.0, min_steps=k)[0]["found"]
            for k in (1, 2)] == [1, 0]


def test_prob_levels():
    lv = ys.prob_levels(np.linspace(0.0, 1.0, 101))
    assert lv["median"] == pytest.approx(0.5) and lv["max"] == 1.0 and lv["steps"] == 101
    assert lv["p99"] == pytest.approx(0.99)
    assert ys.prob_levels(np.zeros(0))["steps"] == 0


def test_missing_real_speech_says_how_to_fetch_it(tmp_path):
    with pytest.raises(SystemExit, match="fetch_yardstick.sh"):
        ys.real_speech_files(tmp_path)
    (tmp_path / "real").mkdir()
    for src in ys.REAL_SOURCES:
        (tmp_path / "real" / src.file).write_bytes(b"not the file")
    with pytest.raises(SystemExit, match="SHA-256"):
        ys.real_speech_files(tmp_path)


def test_the_table_states_the_false_accept_resolution():
    row = {"threshold": 0.5, "false_accepts": 0, "fa_per_hour": 0.0}
    res = {"model": "m", "feature_kind": "k", "card_threshold": None, "seconds_wall": 1.0,
           "real": {"seconds": 37.1, "fa_per_hour_resolution": 3600 / 37.1, "files": [],
                    "levels": ys.prob_levels(np.zeros(3)), "rows": [row]},
           "held_out": [{"set": "piper held-out", "families": ["piper:pitch+1"], "clips": 1,
                         "seconds": 10.0, "levels_outside_labels": ys.prob_levels(np.zeros(3)),
                         "rows": [{**row, "triggers": 2, "found": 1, "recall": 0.5}]}]}
    text = ys.format_table(res)
    assert "1 false accept = 97/h" in text and "1/2" in text and "50.0%" in text


def test_held_out_families_come_from_the_card_then_its_seed_then_the_arguments(tmp_path):
    import json

    from model.data.sources import split_families

    model = tmp_path / "m.keras"
    card = tmp_path / "m.json"
    assert ys.held_out_families(model, 5, 0.2)[0] == split_families(5, 0.2)[1]  # no card
    card.write_text(json.dumps({"feature_kind": "pcen-v1", "data": {"synth_config": {
        "seed": 2026, "dev_family_share": 0.3}}}))
    fams, note = ys.held_out_families(model, 5, 0.2)
    assert fams == split_families(2026, 0.3)[1] and "2026" in note
    card.write_text(json.dumps({"data": {"seed": 1, "dev_voice_families_list": ["piper:pitch+1"]}}))
    assert ys.held_out_families(model, 5, 0.2)[0] == ["piper:pitch+1"]


def test_kokoro_families_are_all_for_models_that_never_heard_kokoro_else_their_dev_ones(tmp_path):
    import json

    from model.data.sources import split_families
    from model.data.speech import voice_families

    model, card = tmp_path / "m.keras", tmp_path / "m.json"
    dev_part = [f for f in split_families(5, 0.2, kokoro=True)[1] if f.startswith("kokoro:")]
    assert ys.kokoro_held_out(model, 5, 0.2)[0] == dev_part and len(dev_part) == 5  # no card
    card.write_text(json.dumps({"data": {"recipe_command": "python -m model make-data --seed 0",
                                         "seed": 0, "dev_voice_families_list": ["piper:pitch+1"]}}))
    fams, note = ys.kokoro_held_out(model, 5, 0.2)
    assert fams == voice_families("kokoro") and "no Kokoro" in note  # today's models
    card.write_text(json.dumps({"data": {"synth_config": {"seed": 2026, "dev_family_share": 0.3,
                                                          "kokoro_share": 0.3}}}))
    fams = ys.kokoro_held_out(model, 5, 0.2)[0]
    assert fams == [f for f in split_families(2026, 0.3, kokoro=True)[1] if f.startswith("kokoro:")]
    listed = ["kokoro:t=kumo100:p=kumo100"]
    card.write_text(json.dumps({"data": {"recipe_command": "make-data --kokoro-share 0.2", "seed": 1,
                                         "dev_voice_families_list": ["piper:pitch+1", *listed]}}))
    assert ys.kokoro_held_out(model, 5, 0.2)[0] == listed


def _row(thr, recall, fa):
    return {"threshold": thr, "triggers": 10, "found": int(recall * 10), "recall": recall,
            "false_accepts": fa, "fa_per_hour": fa * 2.4}


def test_best_recall_within_one_false_accept_prefers_recall_then_the_higher_threshold():
    from yardstick_score import best_recall_within
    rows = [_row(0.5, 1.0, 4), _row(0.8, 0.9, 1), _row(0.9, 0.9, 0), _row(0.99, 0.6, 0)]
    assert best_recall_within(rows)["threshold"] == 0.9
    assert best_recall_within(rows, max_false_accepts=0)["threshold"] == 0.9
    assert best_recall_within([_row(0.5, 1.0, 3)]) is None


def test_calibration_needs_every_group_within_budget_and_no_real_speech_false_accept():
    from yardstick_score import calibrate
    a = [_row(0.5, 1.0, 0), _row(0.9, 0.8, 0), _row(0.99, 0.5, 0)]
    b = [_row(0.5, 1.0, 3), _row(0.9, 0.9, 2), _row(0.99, 0.7, 0)]  # 2.4 FA/h each
    real = [{"threshold": t, "false_accepts": n} for t, n in ((0.5, 2), (0.9, 0), (0.99, 0))]
    cal = calibrate([a, b], real)
    assert cal["threshold"] == 0.9 and cal["recall"] == [0.8, 0.9] and cal["false_accepts"] == [0, 2]
    real_high = [{"threshold": t, "false_accepts": n} for t, n in ((0.5, 2), (0.9, 1), (0.99, 0))]
    assert calibrate([a, b], real_high)["threshold"] == 0.99
    assert calibrate([a, b], None)["threshold"] == 0.9
    assert calibrate([a, b], None, max_fa_per_hour=2.4)["threshold"] == 0.99
    assert calibrate([[_row(0.5, 1.0, 3)]], None) is None


def test_the_table_shows_best_recall_and_the_calibrated_threshold():
    res = {"model": "m", "feature_kind": "k", "card_threshold": None, "seconds_wall": 1.0,
           "real": None, "held_out": [
               {"set": "piper held-out", "families": ["a"], "clips": 1, "seconds": 600.0,
                "levels_outside_labels": {"median": 0.0, "p99": 0.0}, "rows": [_row(0.5, 0.9, 1)],
                "best_at_1fa": _row(0.5, 0.9, 1)}],
           "calibrated": {"threshold": 0.5, "mean_recall": 0.9, "recall": [0.9], "false_accepts": [1],
                          "max_fa_per_hour": 6.0}}
    text = ys.format_table(res)
    assert "best recall with at most 1 false accept: 90.0% (9/10, 1 FA) at 0.5" in text
    assert "calibrated threshold" in text and "0.5: piper 90.0%/1 FA" in text


def test_clear_windows_follow_the_label_windows_and_score_only_heard_words():
    from model.train.metrics import mask_to_runs
    from yardstick_score import clear_windows
    probs, labels = _two_clips()
    w_rows, w_starts, _ = mask_to_runs(labels >= 0.5)
    # one word per window: heard in the first window only
    clear = clear_windows(labels, list(w_rows), list(w_starts), [True, False])
    assert clear.tolist() == [True, False]
    all_words = ys.score_clips(probs, labels, [0.5, 0.8], SEED_TIMING, 10.0)
    rows = ys.score_clips(probs, labels, [0.5, 0.8], SEED_TIMING, 10.0, clear)
    assert [r["found"] for r in rows] == [r["found"] for r in all_words]  # unchanged
    assert [(r["clear_triggers"], r["clear_found"]) for r in rows] == [(1, 1), (1, 1)]
    none = ys.score_clips(probs, labels, [0.5], SEED_TIMING, 10.0, np.zeros(2, bool))
    assert none[0]["clear_recall"] is None and "clear_recall" not in all_words[0]
    # a word whose step is in no window (its label fell off the grid) marks nothing
    assert not clear_windows(labels, [0], [labels.shape[1] - 1], [True]).any()


def test_the_table_shows_clear_word_recall_when_measured():
    row = {**_row(0.5, 0.9, 1), "clear_triggers": 4, "clear_found": 3, "clear_recall": 0.75}
    res = {"model": "m", "feature_kind": "k", "card_threshold": None, "seconds_wall": 1.0,
           "real": None, "held_out": [
               {"set": "espeak held-out", "families": ["a"], "clips": 1, "seconds": 600.0,
                "heard_words": 4, "words": 10, "levels_outside_labels": {"median": 0.0, "p99": 0.0},
                "rows": [row], "best_at_1fa": row}],
           "calibrated": {"threshold": 0.5, "mean_recall": 0.9, "recall": [0.9], "false_accepts": [1],
                          "clear_recall": [0.75], "max_fa_per_hour": 6.0}}
    text = ys.format_table(res)
    assert "4 of 10 trigger words are clear" in text and "75.0% (3/4)" in text
    assert "clear words 75.0%" in text and "espeak 90.0%/1 FA (clear words 75.0%)" in text
