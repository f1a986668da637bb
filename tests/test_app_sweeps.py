"""Sweeps page through AppTest: launch a sweep with a fake trainer, see the chart and table.

The fake trainer's speeds are known (tests/sweep_helpers.py): AMP gains 1.0x at batch 2,
1.25x at 4 and 1.5x at 8, and its first epoch is slow (it must not count).
"""
import json
import threading
import time

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from app.sweep_data import SweepFormValues, form_to_sweep, medians_frame, records_table
from model.errors import ConfigError
from model.runs.jobs import get_runner
from model.runs.sweep import SweepRecord, SweepResult
from model.runs.sweep_store import sweeps
from tests.sweep_helpers import SpeedTrainer
from tests.test_app_pages import use_fake_trainer

TIMEOUT = 120


def sweeps_script():
    from app.sweeps_page import sweeps_page
    sweeps_page()






def texts(elements):
    return [e.value for e in elements]


def chart_data(at, name):
    """The named dataset of the page's first chart, as a DataFrame (Arrow bytes in the proto)."""
    chart = at.get("vega_lite_chart")[0].proto
    raw = next(d.data.data for d in chart.datasets if d.name == name)
    return convert_arrow_bytes_to_pandas_df(raw)


def chart_specs(at):
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_sweeps_page_launches_a_sweep_and_shows_speedup_vs_batch_size(lab, monkeypatch):
    use_fake_trainer(monkeypatch, SpeedTrainer())
    at = AppTest.from_function(sweeps_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert at.multiselect(key="s_precisions").value == ["fp32", "amp-bf16"]
    assert "No sweep yet" in texts(at.info)[0]
    at.text_input(key="s_batches").input("8, 2, 4")
    at.button(key="s_start").click().run()
    assert not at.exception and not at.error
    assert texts(at.success)[0].startswith("Started sweep s") and "3 comparisons, 6 runs" in \
        texts(at.success)[0]
    runner = get_runner(lab / "lab.sqlite")
    for member in sweeps(runner.store)[0].members:
        assert runner.wait(member.comparison_id, 60)
    at.run()
    assert not at.exception and not at.error
    table = at.table[0].value
    amp = table[table["precision"] == "amp-bf16"]
    assert list(amp.index) == [2, 4, 8]
    assert list(amp["speedup vs fp32"]) == ["1.00×", "1.25×", "1.50×"]
    assert list(amp["steady examples/s"]) == ["20.0", "50.0", "120.0"]
    assert list(amp["dev loss − fp32"]) == ["+0.0100"] * 3
    spec = chart_specs(at)[0]
    assert spec["title"] == "AMP speedup vs batch size"
    assert spec["layer"][2]["encoding"]["x"]["scale"] == {"type": "log", "base": 2}
    line = chart_data(at, spec["layer"][2]["data"]["name"])
    assert [tuple(r) for r in line[["batch_size", "speedup"]].values] == \
        [(2, 1.0), (4, 1.25), (8, 1.5)]
    assert list(line["reference_examples_per_s"]) == [20.0, 40.0, 80.0]
    assert any("6/6 runs ended · finished" in p.proto.text for p in at.get("progress"))


def test_bad_sweep_settings_are_one_line_errors(lab, monkeypatch):
    use_fake_trainer(monkeypatch, SpeedTrainer())
    at = AppTest.from_function(sweeps_script, default_timeout=TIMEOUT).run()
    at.button(key="s_start").click().run()  # default 32..256 > 12 training examples
    assert not at.exception
    assert len(at.error) == 1 and "32, 64, 128, 256 are larger than the 12" in at.error[0].value
    at.text_input(key="s_batches").input("2, 2")
    at.button(key="s_start").click().run()
    assert texts(at.error) == ["batch sizes repeat 2; list each once"]
    at.text_input(key="s_batches").input("2, four")
    at.button(key="s_start").click().run()
    assert "whole numbers separated by commas" in at.error[0].value
    assert sweeps(get_runner(lab / "lab.sqlite").store) == []


def test_form_values_and_tables_without_streamlit():
    cfg = form_to_sweep(SweepFormValues("64,32", ["amp-fp16", "fp32"], 3, 100, 2, " n ", "/d"))
    assert cfg.batch_sizes == [64, 32] and cfg.precisions == ["fp32", "amp-fp16"]
    assert (cfg.epochs, cfg.train_examples, cfg.repeats, cfg.name, cfg.base.dataset) == \
        (3, 100, 2, "n", "/d")
    with pytest.raises(ConfigError):
        form_to_sweep(SweepFormValues("64,x"))
    res = SweepResult("fp32", [SweepRecord(64, "fp32", 1, 1, 100.0, 1.0, 0.5, 0.0, True),
                               SweepRecord(64, "amp-fp16", 0, 1, None, None, None, None, False)],
                      [])
    assert medians_frame(res).empty  # AMP not finished yet: no point on the line
    table = records_table(res)
    assert list(table["speedup vs fp32"]) == ["1.00×", "–"]
    assert table["note"][0] == "1 epoch: includes compile/warm-up"


def test_a_running_sweep_shows_progress_and_can_be_cancelled(lab, monkeypatch):
    gate, fast = threading.Event(), SpeedTrainer()
    use_fake_trainer(monkeypatch, lambda *a: (gate.wait(30), fast(*a))[1])
    at = AppTest.from_function(sweeps_script, default_timeout=TIMEOUT).run()
    at.text_input(key="s_batches").input("2, 4")
    at.button(key="s_start").click().run()
    for _ in range(50):  # on a loaded machine the worker may not have picked the run up yet
        if any("0/4 runs ended · running" in p.proto.text for p in at.get("progress")):
            break
        time.sleep(0.1)
        at.run()
    assert any("0/4 runs ended · running" in p.proto.text for p in at.get("progress"))
    assert "No batch size has finished" in texts(at.info)[0]
    at.button(key="s_cancel").click().run()
    assert any("Cancelling" in w for w in texts(at.warning))
    gate.set()
    runner = get_runner(lab / "lab.sqlite")
    sweep = sweeps(runner.store)[0]
    for member in sweep.members:
        assert runner.wait(member.comparison_id, 30)
    assert sweeps(runner.store)[0].status == "cancelled"
