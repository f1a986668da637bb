"""Dev-set evaluation maths on hand-made probability tracks with known answers, the report's
JSON round trip, the DET plot, and the evaluate path's imports (no TF/soundfile/matplotlib)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from model.detect.dev_scores import (DET_THRESHOLDS, DevTruth, read_dev_truth, score_dev,
                              window_end_times)
from model.detect.evaluate import EvalReport, read_report, write_report
from model.audio.features import CLIP_SAMPLES, N_STEPS, SAMPLE_RATE_HZ, STEP_SECONDS
from model.train.metrics import (THRESHOLDS, frr_at_fa_rate, match_detections, operating_point,
                           sweep_thresholds)
from model.data.synth import labels_for_ends
from tests.conftest import ROOT
from tests.tinydata import write_examples_csv

END_S = 3.0  # the trigger word ends at 3.0 s
WINDOW = int(END_S * SAMPLE_RATE_HZ) * N_STEPS // CLIP_SAMPLES + 1  # first label step: 413


def _ramp_and_bump():
    """Clip 0: a trigger ending at 3.0 s, probability ramping 0, 0.02, ... 0.98 over its label
    window. Clip 1: no trigger, a false bump of 0.9 over steps 100..109."""
    labels = np.stack([labels_for_ends([int(END_S * SAMPLE_RATE_HZ)]), np.zeros(N_STEPS)])
    probs = np.zeros((2, N_STEPS), np.float32)
    probs[0, WINDOW:WINDOW + 50] = np.arange(50, dtype=np.float32) / 50
    probs[1, 100:110] = 0.9
    truth = DevTruth(np.array([1, 0]), [[END_S], []], True)
    return probs, labels.astype(np.float32), truth


def test_latency_from_the_word_end_on_a_ramp():
    probs, labels, truth = _ramp_and_bump()
    assert WINDOW == 413 and labels[0, WINDOW] == 1 and labels[0, WINDOW - 1] == 0
    s = score_dev(probs, labels, truth, threshold=0.5)
    # 0.5 is first reached 25 steps into the window: step 438 = 3.18545 s
    expect_ms = (438 * STEP_SECONDS - END_S) * 1000
    assert s.latency.median_ms == pytest.approx(expect_ms) == pytest.approx(185.4545, abs=1e-3)
    assert s.latency.p95_ms == pytest.approx(expect_ms)
    assert (s.latency.n, s.latency.n_ends_from_csv, s.n_found) == (1, 1, 1)
    assert s.threshold_given and s.threshold == 0.5


def test_false_bump_on_a_negative_clip_gives_known_fa_per_hour():
    probs, labels, truth = _ramp_and_bump()
    s = score_dev(probs, labels, truth, threshold=0.5)
    neg = s.negatives
    assert (neg.n_clips, neg.n_false_accepts) == (1, 1)
    assert neg.hours == pytest.approx(10 / 3600) and neg.fa_per_hour == pytest.approx(360.0)
    assert s.n_clips == 2 and s.n_triggers == 1 and s.hours == pytest.approx(20 / 3600)


def test_det_curve_and_frr_at_one_fa_per_hour():
    probs, labels, truth = _ramp_and_bump()
    s = score_dev(probs, labels, truth)  # threshold chosen at 1 FA/h
    th = np.array(s.det.thresholds)
    assert np.all(np.diff(th) > 0) and len(s.det.miss_rate) == len(s.det.fa_per_hour) == th.size
    at = lambda t: int(np.flatnonzero(np.isclose(th, t))[0])  # noqa: E731
    # at 0.5 the word is found and the bump is one false accept in 20 s: 180 per hour
    assert s.det.miss_rate[at(0.5)] == 0.0 and s.det.fa_per_hour[at(0.5)] == pytest.approx(180.0)
    # above the ramp's top (0.98) nothing is detected
    assert s.det.miss_rate[at(0.99)] == 1.0 and s.det.fa_per_hour[at(0.99)] == 0.0
    # within 1 FA/h the threshold must clear the 0.9 bump: the next grid value, 0.91
    assert s.at_target.threshold == pytest.approx(0.91) and s.at_target.frr == 0.0
    assert s.threshold == s.at_target.threshold and not s.threshold_given
    assert s.negatives.n_false_accepts == 0 and s.negatives.fa_per_hour == 0.0
    # 0.91 is first reached at 0.92, 46 steps into the window
    assert s.latency.median_ms == pytest.approx(((WINDOW + 46) * STEP_SECONDS - END_S) * 1000)


def test_fine_grid_operating_point_equals_frr_at_fa_rate_on_that_grid():
    probs, labels, _ = _ramp_and_bump()
    for grid in (THRESHOLDS, DET_THRESHOLDS):
        via_sweep = operating_point(sweep_thresholds(probs, labels, grid), 1.0)
        assert via_sweep == frr_at_fa_rate(probs, labels, 1.0, thresholds=grid)


def test_first_detection_per_window_is_the_earliest_inside_it():
    labels = np.zeros((2, 100), np.float32)
    labels[0, 10:20] = labels[0, 50:60] = labels[1, 30:40] = 1
    rows, steps = np.array([0, 0, 0, 1]), np.array([12, 15, 70, 5])
    w_rows, w_starts, _, first, inside = match_detections(rows, steps, labels, early_steps=0)
    assert w_rows.tolist() == [0, 0, 1] and w_starts.tolist() == [10, 50, 30]
    assert first.tolist() == [12, -1, -1] and inside.tolist() == [True, True, False, False]
    # with the default early tolerance, step 5 (25 steps before row 1's window) is a hit,
    # and step 15 still belongs to row 0's first window, not the second one's widened start
    _, _, _, first, inside = match_detections(rows, steps, labels)
    assert first.tolist() == [12, -1, 5] and inside.tolist() == [True, True, False, True]


def test_ends_come_from_the_csv_or_else_from_the_label_convention():
    truth = DevTruth(np.array([2]), [[1.0, 5.0]], True)
    start_1s = int(1.0 * SAMPLE_RATE_HZ) * N_STEPS // CLIP_SAMPLES + 1
    end_s, from_csv = window_end_times(np.array([0, 0]), np.array([start_1s, 1000]), truth)
    assert end_s[0] == 1.0 and from_csv.tolist() == [True, False]
    assert end_s[1] == pytest.approx(999 * STEP_SECONDS)  # no csv end near step 1000


def test_read_dev_truth_from_csv_and_fallbacks(tmp_path):
    probs, labels, _ = _ramp_and_bump()
    truth, notes = read_dev_truth(tmp_path, labels)  # no csv: labels give the counts
    assert not truth.from_csv and truth.n_triggers.tolist() == [1, 0] and notes
    write_examples_csv(tmp_path / "examples.csv", {"train": labels[:1], "dev": labels})
    truth, notes = read_dev_truth(tmp_path, labels)
    assert truth.from_csv and notes == [] and truth.n_triggers.tolist() == [1, 0]
    assert truth.ends_s[0] == [pytest.approx(round((WINDOW - 1) * STEP_SECONDS, 3))]
    truth, notes = read_dev_truth(tmp_path, np.concatenate([labels, labels]))  # 4 dev clips
    assert not truth.from_csv and "not listed" in notes[0] and "\n" not in notes[0]


def test_report_round_trips_through_json(tmp_path):
    probs, labels, truth = _ramp_and_bump()
    report = EvalReport("pretrained", "/m/activate.keras", 12.5, "/data", "activate",
                        "log-power-v1", ["en-gb"], "2026-11-01T00:00:00+00:00",
                        score_dev(probs, labels, truth), "tensorflow", 1.5, "now", ["a note"])
    path = write_report(report, tmp_path / "eval")
    again = EvalReport.from_dict(json.loads(path.read_text()))
    assert again == report and read_report(tmp_path / "eval") == report
    assert [p.name for p in (tmp_path / "eval").iterdir()] == ["report.json"]  # no temp file
    path.write_text("{not json")
    assert read_report(tmp_path / "eval") is None and read_report(tmp_path / "none") is None


def test_det_png_is_written_atomically(tmp_path):
    from model.detect.det_plot import det_curve_png

    probs, labels, truth = _ramp_and_bump()
    report = EvalReport("m", "/m.keras", 0.0, "/d", "activate", "log-power-v1", [], "",
                        score_dev(probs, labels, truth))
    out = det_curve_png(report, tmp_path / "det.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert [p.name for p in tmp_path.iterdir()] == ["det.png"]


def test_evaluate_path_needs_no_tensorflow_soundfile_librosa_or_matplotlib():
    code = ("import sys\n"
            "for name in ('tensorflow', 'soundfile', 'librosa'): sys.modules[name] = None\n"
            "import model.detect.evaluate, model.detect.dev_scores, model.cli.evaluate_cmd\n"
            "from model.cli import main\n"
            "assert 'matplotlib' not in sys.modules and 'streamlit' not in sys.modules\n"
            "import model.detect.det_plot\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- speech embeddings: 80 ms steps

def _embedding_labels(ends_s, timing):
    """(116,) labels of one clip: the kind's label span from its label_start_step."""
    row = np.zeros(timing.clip_steps, np.float32)
    for end in ends_s:
        start = timing.label_start_step(int(round(end * SAMPLE_RATE_HZ)))
        row[start:start + timing.label_steps] = 1
    return row


def test_embedding_timing_scores_latency_hold_off_and_early_tolerance():
    """Step i is at 0.782 + 0.08 i s; the hold-off is 7 steps and a detection 4 steps (not
    41) before a window counts: each figure differs from the seed grid's."""
    from model.audio.features import EMBEDDING_TIMING as T

    ends = [[3.0], [6.5], [], []]
    labels = np.stack([_embedding_labels(e, T) for e in ends])
    assert np.flatnonzero(labels[0]).tolist() == [28, 29, 30, 31, 32]  # (3.0 - 0.782) / 0.08 = 27.7
    probs = np.zeros_like(labels)
    probs[0, 29] = 0.9  # 0.782 + 29 * 0.08 - 3.0 = 102 ms after the word
    probs[1, 68] = 0.9  # 4 steps before its window (72..76): found, 0.782 + 5.44 - 6.5 = -278 ms
    probs[1, 75] = 0.9  # 7 steps after 68: a second detection, inside the found window
    probs[2, 40] = probs[2, 46] = 0.9  # 6 steps apart: one false accept, not two
    probs[3, 20] = 0.9  # 8 steps before nothing: a false accept
    truth = DevTruth(np.array([1, 1, 0, 0]), ends, True)
    s = score_dev(probs, labels, truth, threshold=0.5, timing=T)
    assert (s.n_triggers, s.n_found, s.latency.n, s.latency.n_ends_from_csv) == (2, 2, 2, 2)
    assert s.latency.median_ms == pytest.approx((102.0 - 278.0) / 2, abs=1e-6)
    assert (s.negatives.n_false_accepts, s.negatives.fa_per_hour) == (2, pytest.approx(360.0))
    at = int(np.flatnonzero(np.isclose(s.det.thresholds, 0.5))[0])
    assert s.det.miss_rate[at] == 0.0 and s.det.fa_per_hour[at] == pytest.approx(180.0)
    probs[1, 68] = 0.0
    probs[1, 67] = 0.9  # 5 steps early: a false accept, and 75 alone finds the word
    s = score_dev(probs, labels, truth, threshold=0.5, timing=T)
    assert s.n_found == 2 and s.det.fa_per_hour[at] == pytest.approx(270.0)
    assert s.latency.median_ms == pytest.approx((102.0 + 282.0) / 2, abs=1e-6)


def test_embedding_ends_fall_back_to_the_window_start_on_its_grid():
    from model.audio.features import EMBEDDING_TIMING as T

    truth = DevTruth(np.array([2]), [[3.0, 9.0]], True)
    end_s, from_csv = window_end_times(np.array([0, 0]), np.array([28, 60]), truth, T)
    assert end_s[0] == 3.0 and from_csv.tolist() == [True, False]
    assert end_s[1] == pytest.approx(0.782 + 59 * 0.08)  # no csv end within 2 steps of 59


def _write_embedding_dev_set(folder, timing):
    """X/Y/X_dev/Y_dev/meta.json/examples.csv of speech-embedding clips (m, 116, 96): noise
    with embedding value 0 set to 1 where the oracle head should fire."""
    import csv

    from model.data.dataset import DatasetMeta

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ends = [[3.0], [6.5], [], []]
    fire = [[29], [72, 80], [50], []]  # step 80: 8 steps after 72, a second detection
    x = rng.normal(0, 10, (4, timing.clip_steps, 96)).astype(np.float16)
    x[..., 0] = 0
    for i, steps in enumerate(fire):
        x[i, steps, 0] = 1
    y = np.stack([_embedding_labels(e, timing) for e in ends])[..., None].astype(np.float16)
    for name, arr in (("X", x[:2]), ("Y", y[:2]), ("X_dev", x), ("Y_dev", y)):
        np.save(folder / f"{name}.npy", arr, allow_pickle=False)
    meta = DatasetMeta(word="pattern", feature_kind="speech-embedding-v1", n_train=2, n_dev=4)
    (folder / "meta.json").write_text(meta.to_json())
    with open(folder / "examples.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["split", "index", "n_triggers", "trigger_end_s", "n_other",
                         "background", "snr_db"])
        for i, e in enumerate(ends):
            writer.writerow(["dev", i, len(e), " ".join(map(str, e)), 0, "noise", "12.0"])
    return folder


def test_evaluate_an_embedding_head_on_an_embedding_dataset(tmp_path):
    """End to end on (4, 116, 96) dev clips: FA/h and latency in ms on the 80 ms grid."""
    from model.audio.features import EMBEDDING_TIMING as T
    from model.detect.evaluate import evaluate_model
    from tests.embedding_heads import oracle_head, save_head

    data = _write_embedding_dev_set(tmp_path / "data", T)
    model = save_head(oracle_head(), tmp_path, "oracle.keras")
    report = evaluate_model(str(model), data, threshold=0.5, batch_size=3)
    s = report.scores
    assert report.feature_kind == "speech-embedding-v1" and s.n_clips == 4
    assert s.hours == pytest.approx(40 / 3600) and (s.n_triggers, s.n_found) == (2, 2)
    # 0.782 + 29 * 0.08 - 3.0 = 102 ms; 0.782 + 72 * 0.08 - 6.5 = 42 ms
    assert s.latency.median_ms == pytest.approx(72.0, abs=1e-3) and s.latency.n == 2
    assert s.latency.p95_ms == pytest.approx(42 + 0.95 * 60, abs=1e-3)
    assert (s.negatives.n_false_accepts, s.negatives.fa_per_hour) == (1, pytest.approx(180.0))
    at = int(np.flatnonzero(np.isclose(s.det.thresholds, 0.5))[0])
    # step 80 is 8 steps after 72, past the 7-step hold-off: a false accept (with the
    # seed's 75 it would have merged), so 2 in 40 s
    assert s.det.fa_per_hour[at] == pytest.approx(180.0) and s.det.miss_rate[at] == 0.0
    rows = {(r.group, r.value): r for r in s.conditions}
    assert rows[("SNR", "10-20 dB")].n_false_accepts == 2
