"""Detect page, "Quality on unseen voices": stored report, evaluate button, one-line errors."""
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.quality_view import condition_rows, is_stale, quality_figures, report_caption
from model.detect.dev_breakdown import ConditionRow
from model.detect.dev_scores import DevTruth, score_dev
from model.detect.evaluate import EvalReport, default_out_dir
from model.runs.jobs import get_runner
from tests.app_helpers import save_always_on_model
from tests.tinydata import write_tiny_dataset

TIMEOUT = 120


def detect_script():
    from app.detect_page import detect_page
    detect_page()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"), n_train=2, n_dev=3,
                              n_dev_negative=1, examples_csv=True)


@pytest.fixture
def lab(tmp_path, tiny, monkeypatch):
    """A fresh app environment with one extra model file: a small always-on network."""
    model = save_always_on_model(tmp_path)
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "lab.sqlite"))
    monkeypatch.setenv("LAB_DATASET", str(tiny))
    monkeypatch.setenv("LAB_MODELS", str(model))
    monkeypatch.setenv("LAB_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("LAB_CANDIDATES", str(tmp_path / "candidates"))
    yield model
    get_runner(tmp_path / "lab.sqlite").shutdown(timeout=30)


def select_model(at, name_part: str) -> None:
    """Pick the Detect page's model whose label contains ``name_part`` (the shipped
    pretrained model comes first by default)."""
    box = at.selectbox(key="d_model")
    box.set_value(next(o for o in box.options if name_part in o)).run()
    assert not at.exception and not at.error


def test_evaluate_button_stores_and_shows_the_report(lab):
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    select_model(at, "always_on")
    assert at.expander[0].label == "Quality on unseen voices"
    assert any("Not evaluated yet" in i.value for i in at.info)
    at.button(key="d_eval").click().run()
    assert not at.exception and not at.error
    folder = default_out_dir(lab)
    assert (folder / "report.json").is_file() and (folder / "det.png").is_file()
    labels = [m.label for m in at.metric]
    assert labels == ["FRR at 1 FA/h", "threshold", "latency median / p95",
                      "FA/h without the word"]
    # every step is at 0.9975: one false accept at the start of each clip, no word found
    assert at.metric[0].value == "100.0%"
    table = at.dataframe[0].value  # where it misses: the tiny set's one SNR and background
    assert list(table["condition"]) == ["SNR: 10-20 dB", "background: noise"]
    assert list(table["clips"]) == [4, 4] and set(table["missed"]) == {"100.0%"}
    assert not any("Not evaluated yet" in i.value for i in at.info)
    again = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()  # a new visit
    assert [m.label for m in again.metric] == labels and not again.warning


def test_evaluation_errors_are_one_line(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_DATASET", str(tmp_path / "no-such-data"))
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    at.button(key="d_eval").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "\n" not in at.error[0].value
    assert "does not exist" in at.error[0].value


def test_figures_and_staleness_are_plain_values(tmp_path):
    probs = np.zeros((2, 1375), np.float32)
    labels = np.zeros((2, 1375), np.float32)
    labels[0, 413:463] = 1
    probs[0, 420:440] = 0.8
    scores = score_dev(probs, labels, DevTruth(np.array([1, 0]), [[3.0], []], True))
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    report = EvalReport("m", str(model), model.stat().st_mtime, "/d", "activate",
                        "log-power-v1", ["a", "b"], "", scores, "tensorflow", 2.0, "now")
    figures = dict((label, value) for label, value, _ in quality_figures(report))
    report.scores.threshold = 0.99999  # thresholds near 1 keep their digits (not "1")
    assert dict((lb, v) for lb, v, _ in quality_figures(report))["threshold"] == "0.99999"
    assert figures["FRR at 1 FA/h"] == "0.0%" and figures["FA/h without the word"] == "0.00"
    assert figures["latency median / p95"].endswith("ms") and "2 unseen voice families" in \
        report_caption(report)
    assert not is_stale(report, model)
    assert condition_rows(report) == []  # scored without conditions: no table
    report.scores.conditions = [ConditionRow("voice engine", "piper", 0, 4, 0.25, 0, 0.0),
                                ConditionRow("SNR", "< 5 dB", 2, 3, 0.0, 1, 180.0)]
    voice, snr = condition_rows(report)
    assert voice == {"condition": "voice engine: piper", "clips": None, "trigger words": 4,
                     "missed": "25.0%", "false accepts": None, "FA/h": None}
    assert (snr["clips"], snr["false accepts"], snr["FA/h"]) == (2, 1, 180.0)
    report.model_mtime -= 10
    assert is_stale(report, model) and is_stale(report, tmp_path / "gone.keras")
    assert json.loads(json.dumps(report.to_dict()))["scores"]["n_triggers"] == 1


def test_an_embedding_models_times_and_figures_are_on_its_80ms_grid(tmp_path):
    """Chart, CSV and help texts use the model's kind: step i at 0.782 + 0.08 i s."""
    from app.detect_data import curve_frame, model_timing, probabilities_csv, timing_note
    from model.audio.features import EMBEDDING_TIMING
    from model.card import write_model_card

    model = tmp_path / "head.keras"
    model.write_bytes(b"x")
    assert model_timing(model)[0] == "log-power-v1"  # no card: log power's 7.27 ms
    write_model_card(model, "speech-embedding-v1")
    kind, timing = model_timing(model)
    assert (kind, timing) == ("speech-embedding-v1", EMBEDDING_TIMING)
    assert "80 ms" in timing_note(kind, timing) and "7 steps (0.56 s)" in timing_note(kind, timing)
    csv = probabilities_csv(np.array([0.25, 0.5], np.float32), timing).splitlines()
    assert csv[1:] == ["0,0.78200,0.25000", "1,0.86200,0.50000"]
    curve = curve_frame(np.zeros(116, np.float32), max_points=50, timing=timing)
    assert curve["time_s"].iloc[0] == pytest.approx(0.782) and len(curve) == 50
    assert curve["time_s"].iloc[-1] < 0.782 + 115 * 0.08
    probs = np.zeros((1, 116), np.float32)
    labels = np.zeros((1, 116), np.float32)
    labels[0, 28:33] = 1
    probs[0, 29] = 0.9
    scores = score_dev(probs, labels, DevTruth(np.array([1]), [[3.0]], True), 0.5,
                       timing=timing)
    report = EvalReport("m", str(model), 0.0, "/d", "hey", "speech-embedding-v1", [], "",
                        scores)
    figures = {label: (value, help_text) for label, value, help_text in quality_figures(report)}
    assert figures["latency median / p95"][0] == "102 ms / 102 ms"
    assert "steps of 80 ms" in figures["latency median / p95"][1]
    assert "speech-embedding-v1" in report_caption(report)


def test_evaluating_an_embedding_model_on_log_power_data_is_one_line(lab, monkeypatch, tmp_path):
    from tests.embedding_heads import always_on_head, save_head

    monkeypatch.setenv("LAB_MODELS", str(save_head(always_on_head(), tmp_path, "head.keras")))
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    select_model(at, "head.keras")
    at.button(key="d_eval").click().run()
    assert not at.exception and len(at.error) == 1 and "\n" not in at.error[0].value
    assert "trained on speech-embedding-v1 features but dataset" in at.error[0].value
