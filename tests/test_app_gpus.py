"""The Trials page on a (faked) host with 2 GPUs: the GPUs and placement settings reach the
runs, runs go to distinct GPUs, and the summary gains a speed-up vs 1 GPU column."""
from streamlit.testing.v1 import AppTest

import app.trials_page as trials_page_mod
import model.runs.jobs as jobs_mod
import model.train.distributed as dist_mod
from app.device_panel import DeviceSummary
from model.runs.jobs import get_runner
from model.train.distributed import ParallelConfig
from tests.test_app_pages import TIMEOUT, FakeTrainer, texts, trials_script


def test_trials_page_sends_per_run_placement_over_two_gpus(lab, monkeypatch):
    two = DeviceSummary("gpu", "Fake GPU", "torch", [], ["Fake GPU, 80 GB", "Fake GPU, 80 GB"])
    monkeypatch.setattr(trials_page_mod, "device_summary", lambda: two)
    for mod in (dist_mod, jobs_mod):
        monkeypatch.setattr(mod, "visible_gpus", lambda: ["0", "1"])
    placed = []

    def fake(cfg, run_id, run_dir, emit, cancel, devices=None):
        placed.append(devices)
        return FakeTrainer()(cfg, run_id, run_dir, emit, cancel, None)
    monkeypatch.setattr(jobs_mod, "run_trial_isolated", fake)
    at = AppTest.from_function(trials_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert any("**GPUs:** 2 × Fake GPU, 80 GB" in m.value and "`torch`" in m.value
               for m in at.markdown)
    at.number_input(key="t_gpus").set_value(2)
    at.selectbox(key="t_placement").set_value("per-run")
    at.number_input(key="t_epochs").set_value(2)
    at.number_input(key="t_batch").set_value(4)
    at.button(key="t_start").click().run()
    assert texts(at.success)[0].startswith("Started c")
    runner = get_runner(lab / "lab.sqlite")
    cid = runner.store.comparisons()[0].id
    assert runner.wait(cid, 60)
    runs = runner.store.runs(cid)
    assert [r.config.parallel for r in runs] == [ParallelConfig(2, "per-run")] * len(runs)
    assert sorted(map(tuple, placed)) == [("0",), ("1",)]  # one run per GPU, never shared
    at.run()
    assert not at.exception and not at.error
    assert "speed-up vs 1 GPU" in at.table[0].value.columns


def test_sweeps_page_spreads_a_sweep_over_two_gpus(lab, monkeypatch):
    import time

    import app.sweeps_page as sweeps_page_mod
    from model.runs.sweep_store import sweeps
    from tests.test_app_sweeps import sweeps_script
    two = DeviceSummary("gpu", "Fake GPU", "torch", [], ["Fake GPU, 80 GB", "Fake GPU, 80 GB"])
    monkeypatch.setattr(sweeps_page_mod, "device_summary", lambda: two)
    for mod in (dist_mod, jobs_mod):
        monkeypatch.setattr(mod, "visible_gpus", lambda: ["0", "1"])
    placed = []

    def fake(cfg, run_id, run_dir, emit, cancel, devices=None):
        placed.append(devices)
        time.sleep(0.2)  # long enough for the two GPUs' runs to overlap
        return FakeTrainer()(cfg, run_id, run_dir, emit, cancel, None)
    monkeypatch.setattr(jobs_mod, "run_trial_isolated", fake)
    at = AppTest.from_function(sweeps_script, default_timeout=TIMEOUT).run()
    at.text_input(key="s_batches").input("2, 4")
    at.number_input(key="s_gpus").set_value(2)
    at.selectbox(key="s_placement").set_value("per-run")
    at.button(key="s_start").click().run()
    assert not at.exception and not at.error
    runner = get_runner(lab / "lab.sqlite")
    for member in sweeps(runner.store)[0].members:
        assert runner.wait(member.comparison_id, 60)
    at.run()
    assert not at.exception and not at.error
    assert sorted(d for devs in placed for d in devs) == ["0", "0", "1", "1"]
    assert any(c.value.startswith("2 GPUs, one run per GPU: ") and "faster than one run at a "
               "time" in c.value for c in at.caption)
