"""Dev figures per recording condition: hand-made tracks with known answers, the csv
reader, and the report's JSON round trip with and without the breakdown."""
import json

import numpy as np
import pytest

from model.detect.dev_breakdown import (DevConditions, breakdown_by_condition, read_dev_conditions,
                                 snr_band, voice_groups)
from model.detect.dev_scores import DevTruth, score_dev
from model.detect.evaluate import EvalReport

STEPS = 1375


def _tracks():
    """Four clips with one trigger word each (label steps 400..449), at 2, 7, 15 and 25 dB.
    Clip 0 (babble, 2 dB) misses its word and has a false bump; the others detect theirs;
    clip 3 (pink) also has a false bump."""
    labels = np.zeros((4, STEPS), np.float32)
    labels[:, 400:450] = 1
    probs = np.zeros((4, STEPS), np.float32)
    probs[1:, 405:440] = 0.95
    probs[0, 900:920] = 0.95
    probs[3, 1100:1110] = 0.95
    # each word ends at step 399 (labels start one step later): 399 * 10 / 1375 s
    ends = [[399 * 10 / STEPS]] * 4
    fams = [["espeak:en-029+Annie"], ["piper:pitch+1"], ["espeak:en-029+Lee"], ["piper:pitch+1"]]
    return probs, labels, DevConditions(np.array([2.0, 7.0, 15.0, 25.0]),
                                        ["babble", "pink", "babble", "pink"], ends, fams)


def test_misses_and_false_accepts_land_in_their_clip_condition():
    probs, labels, cond = _tracks()
    rows = {(r.group, r.value): r for r in breakdown_by_condition(probs, labels, cond, 0.5)}
    assert [k for k in rows if k[0] == "SNR"] == [("SNR", "< 5 dB"), ("SNR", "5-10 dB"),
                                                  ("SNR", "10-20 dB"), ("SNR", ">= 20 dB")]
    low = rows[("SNR", "< 5 dB")]
    assert (low.n_clips, low.n_words, low.miss_rate, low.n_false_accepts) == (1, 1, 1.0, 1)
    assert low.fa_per_hour == pytest.approx(360.0)  # one in 10 s
    assert rows[("SNR", "5-10 dB")].miss_rate == 0.0
    babble, pink = rows[("background", "babble")], rows[("background", "pink")]
    assert (babble.n_words, babble.miss_rate, babble.n_false_accepts) == (2, 0.5, 1)
    assert (pink.n_words, pink.miss_rate, pink.n_false_accepts) == (2, 0.0, 1)
    assert pink.fa_per_hour == pytest.approx(180.0)
    # worst background first
    order = [r.value for r in breakdown_by_condition(probs, labels, cond, 0.5)
             if r.group == "background"]
    assert order == ["babble", "pink"]
    # misses per voice: clip 0's word (espeak en-029 Annie) is the one missed
    assert (rows[("voice engine", "espeak")].n_words, rows[("voice engine", "espeak")].miss_rate) \
        == (2, 0.5)
    assert rows[("voice engine", "piper")].miss_rate == 0.0
    assert rows[("accent", "espeak:en-029")].n_words == 2
    assert rows[("voice family", "espeak:en-029+Annie")].miss_rate == 1.0
    assert rows[("voice family", "espeak:en-029+Lee")].miss_rate == 0.0
    assert rows[("voice family", "piper:pitch+1")].n_words == 2
    cond.trigger_families = None  # an older dataset: no voice rows
    assert {r.group for r in breakdown_by_condition(probs, labels, cond, 0.5)} == \
        {"SNR", "background"}


def test_voice_groups():
    assert voice_groups("espeak:en-us-nyc+m8") == {
        "voice engine": "espeak", "accent": "espeak:en-us-nyc", "voice family": "espeak:en-us-nyc+m8"}
    assert voice_groups("piper:pitch-2")["accent"] == "piper"
    assert voice_groups("")["voice family"] == "unknown"


def test_snr_bands():
    assert [snr_band(v) for v in (-3, 4.99, 5, 9.9, 10, 19.99, 20, 40)] == [
        "< 5 dB", "< 5 dB", "5-10 dB", "5-10 dB", "10-20 dB", "10-20 dB", ">= 20 dB", ">= 20 dB"]


def test_conditions_read_from_examples_csv(tmp_path):
    (tmp_path / "examples.csv").write_text(
        "split,index,n_triggers,trigger_end_s,n_other,background,snr_db,trigger_families\n"
        "train,0,1,1.0,0,room,40.0,espeak:en+a\n"
        "dev,1,0,,2,pink,3.5,\n"
        "dev,0,2,2.5 7.1,0,babble+hum,12.0,piper:pitch+1;espeak:en-us+b\n")
    cond = read_dev_conditions(tmp_path, 2)
    assert cond.snr_db.tolist() == [12.0, 3.5] and cond.background == ["babble+hum", "pink"]
    assert cond.trigger_ends_s == [[2.5, 7.1], []]
    assert cond.trigger_families == [["piper:pitch+1", "espeak:en-us+b"], []]
    assert read_dev_conditions(tmp_path, 3) is None  # a dev clip not listed
    assert read_dev_conditions(tmp_path / "nowhere", 2) is None
    # a dataset from before the families column: conditions without voices
    text = (tmp_path / "examples.csv").read_text().splitlines()
    (tmp_path / "examples.csv").write_text("\n".join(ln.rsplit(",", 1)[0] for ln in text) + "\n")
    old = read_dev_conditions(tmp_path, 2)
    assert old.trigger_families is None and old.background == ["babble+hum", "pink"]


def test_breakdown_travels_in_the_report_and_old_reports_still_load(tmp_path):
    probs, labels, cond = _tracks()
    truth = DevTruth(np.ones(4, np.int64), [[2.9]] * 4, True)
    scores = score_dev(probs, labels, truth, threshold=0.5, conditions=cond)
    assert len(scores.conditions) == 6 + 2 + 2 + 3 and score_dev(probs, labels, truth).conditions == []
    report = EvalReport("m", "m.keras", 0.0, "/d", "activate", "log-power-v1", [], "", scores)
    raw = json.loads(json.dumps(report.to_dict()))
    assert EvalReport.from_dict(raw).scores.conditions == scores.conditions
    del raw["scores"]["conditions"]  # a report written before the breakdown existed
    assert EvalReport.from_dict(raw).scores.conditions == []
