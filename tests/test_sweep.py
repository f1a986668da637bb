"""Batch-size sweeps: config and validation, the speedup maths, store and queue (fake trainer)."""
import json
import threading

import pytest

import model.runs.jobs as jobs_mod
from model.errors import ConfigError
from model.train.events import EpochRecord
from model.runs.jobs import Runner
from model.train.network import NetworkConfig
from model.runs.store import RunStore
from model.runs.sweep import SweepRun, pick_reference, run_speed, sweep_result, sweep_state
from model.train.sweep_config import SweepConfig, parse_batch_sizes, validate_sweep
from model.runs.sweep_jobs import cancel_sweep, start_sweep
from model.runs.sweep_store import read_sweep, sweep_runs, sweeps
from model.train.trial_config import TrialConfig
from tests.sweep_helpers import SpeedTrainer
from tests.tinydata import write_tiny_dataset


def ep(n, eps, dev=0.5):
    """An epoch with the given examples/s and dev loss."""
    return EpochRecord(n, 1.0, dev, None, 10 / eps, eps, 0.1, float(n), 1, "rss")


def run(batch, prec, rep, speeds, dev=0.5, status="finished"):
    return SweepRun(batch, prec, rep, status, [ep(i + 1, s, dev) for i, s in enumerate(speeds)])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def sweep_cfg(tiny, **kw):
    base = TrialConfig(dataset=str(tiny), network=NetworkConfig(8, 8, 0.1), save_model=False,
                       tensorboard=False)
    fields = dict(base=base, batch_sizes=[2, 4, 8], precisions=["fp32", "amp-bf16"])
    fields.update(kw)
    return SweepConfig(**fields)


# -- maths ------------------------------------------------------------------------------
def test_run_speed_skips_the_first_epoch_and_flags_one_epoch_runs():
    assert run_speed([ep(1, 1.0), ep(2, 30.0), ep(3, 50.0), ep(4, 40.0)]).examples_per_second == 40.0
    one = run_speed([ep(1, 7.0, dev=0.3)])
    assert one.examples_per_second == 7.0 and one.first_epoch_only and one.final_dev_loss == 0.3
    assert run_speed([]) is None


def test_speedup_is_ratio_of_medians_with_paired_points_per_repeat():
    runs = [run(64, "fp32", 0, [1, 100]), run(64, "amp-fp16", 0, [1, 100], dev=0.6),
            run(256, "fp32", 0, [1, 100], dev=0.4), run(256, "amp-fp16", 0, [1, 150], dev=0.42),
            run(256, "fp32", 1, [1, 200], dev=0.4), run(256, "amp-fp16", 1, [1, 240], dev=0.44),
            run(256, "fp32", 2, [1, 120], dev=0.4), run(256, "amp-fp16", 2, [1, 180], dev=0.5)]
    res = sweep_result(runs, ["fp32", "amp-fp16"])
    assert res.reference == "fp32"
    rec = {(r.batch_size, r.precision): r for r in res.records}
    assert [(r.batch_size, r.precision) for r in res.records] == \
        [(64, "fp32"), (64, "amp-fp16"), (256, "fp32"), (256, "amp-fp16")]
    assert rec[(64, "amp-fp16")].speedup == pytest.approx(1.0)
    assert rec[(64, "amp-fp16")].dev_loss_change == pytest.approx(0.1)
    assert rec[(256, "fp32")].examples_per_second == 120  # median of 100, 200, 120
    assert rec[(256, "amp-fp16")].examples_per_second == 180  # median of 150, 240, 180
    assert rec[(256, "amp-fp16")].speedup == pytest.approx(1.5)
    assert rec[(256, "amp-fp16")].final_dev_loss == pytest.approx(0.44)
    assert rec[(256, "fp32")].speedup == pytest.approx(1.0) and rec[(256, "fp32")].runs_done == 3
    pts = [(p.batch_size, p.repeat, round(p.speedup, 3)) for p in res.points]
    assert pts == [(64, 0, 1.0), (256, 0, 1.5), (256, 1, 1.2), (256, 2, 1.5)]
    assert res.points[1].examples_per_second == 150 and \
        res.points[1].reference_examples_per_second == 100


def test_unfinished_runs_do_not_count_and_one_epoch_runs_are_flagged():
    runs = [run(32, "fp32", 0, [10]), run(32, "amp-bf16", 0, [20]),
            run(64, "fp32", 0, [1, 50]), run(64, "amp-bf16", 0, [1, 70], status="running")]
    rec = {(r.batch_size, r.precision): r for r in sweep_result(runs).records}
    assert rec[(32, "amp-bf16")].speedup == pytest.approx(2.0)
    assert rec[(32, "amp-bf16")].first_epoch_only and rec[(32, "fp32")].first_epoch_only
    assert rec[(64, "amp-bf16")].runs_done == 0 and rec[(64, "amp-bf16")].runs_total == 1
    assert rec[(64, "amp-bf16")].speedup is None and rec[(64, "amp-bf16")].examples_per_second is None
    assert not rec[(64, "fp32")].first_epoch_only


def test_reference_and_state():
    assert pick_reference(["amp-fp16", "fp32"]) == "fp32"
    assert pick_reference(["tf32", "amp-fp16"]) == "tf32"
    assert sweep_state(["queued", "queued"]) == "queued"
    assert sweep_state(["finished", "queued"]) == "running"
    assert sweep_state(["finished", "cancelled", "failed"]) == "cancelled"
    assert sweep_state(["finished"]) == "finished"


# -- config and validation --------------------------------------------------------------
def test_config_json_round_trip_and_expansion():
    cfg = SweepConfig(TrialConfig(learning_rate=0.01), [256, 32], ["fp32", "amp-fp16"], 3, 100,
                      2, "s")
    back = SweepConfig.from_json(cfg.to_json())
    assert back == cfg and json.loads(cfg.to_json())["epochs"] == 3
    comps = cfg.comparisons()
    assert [b for b, _ in comps] == [32, 256]
    c = comps[1][1]
    assert (c.base.batch_size, c.base.epochs, c.base.train_examples, c.base.learning_rate) == \
        (256, 3, 100, 0.01)
    assert c.precisions == ["fp32", "amp-fp16"] and c.repeats == 2 and c.name == "s · batch 256"
    assert SweepConfig().batch_sizes == [32, 64, 128, 256] and SweepConfig().epochs == 2


def test_parse_batch_sizes():
    assert parse_batch_sizes("32, 64,256") == [32, 64, 256]
    assert parse_batch_sizes("8 16;32") == [8, 16, 32]
    with pytest.raises(ConfigError, match="whole numbers"):
        parse_batch_sizes("32, x")


@pytest.mark.parametrize("kw, message", [
    (dict(batch_sizes=[]), "at least one batch size"),
    (dict(batch_sizes=[4, 2, 4]), "batch sizes repeat 4"),
    (dict(batch_sizes=[0, 2]), "at least 1, got 0"),
    (dict(batch_sizes=[2, 16, 32]), "batch sizes 16, 32 are larger than the 12 training"),
    (dict(batch_sizes=[2, 8], train_examples=6), "batch size 8 is larger than the 6 training"),
    (dict(precisions=["fp32"]), "at least two precisions"),
    (dict(precisions=["fp32", "fp64"]), "unknown precision 'fp64'"),
    (dict(epochs=0), "epochs must be a whole number between 1 and 1000"),
    (dict(repeats=0), "repeats"),
])
def test_validation_gives_one_line_messages(tiny, kw, message):
    with pytest.raises(ConfigError, match=message) as err:
        validate_sweep(sweep_cfg(tiny, **kw))
    assert "\n" not in str(err.value)


# -- store and queue --------------------------------------------------------------------
@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs_mod, "run_trial", SpeedTrainer())
    r = Runner(RunStore(tmp_path / "lab.sqlite"), isolate=False)
    yield r
    r.shutdown(timeout=30)


def test_a_sweep_queues_one_comparison_per_batch_size_and_gives_the_speedups(tiny, runner):
    sid = start_sweep(runner, sweep_cfg(tiny, batch_sizes=[8, 2, 4], epochs=3, name="bs"))
    sweep = read_sweep(runner.store, sid)
    assert [m.batch_size for m in sweep.members] == [2, 4, 8]
    assert sweep.config.batch_sizes == [2, 4, 8] and sweep.config.precisions == ["fp32", "amp-bf16"]
    for m in sweep.members:
        assert runner.wait(m.comparison_id, 30)
    sweep = read_sweep(runner.store, sid)
    assert sweep.status == "finished" and [s.id for s in sweeps(runner.store)] == [sid]
    assert sweep.members[0].comparison.name == "bs · batch 2"
    res = sweep_result(sweep_runs(runner.store, sweep), sweep.config.precisions)
    amp = [(r.batch_size, round(r.speedup, 3), r.examples_per_second)
           for r in res.records if r.precision == "amp-bf16"]
    assert amp == [(2, 1.0, 20.0), (4, 1.25, 50.0), (8, 1.5, 120.0)]
    assert all(r.dev_loss_change == pytest.approx(0.01) for r in res.records
               if r.precision == "amp-bf16")


def test_a_bad_sweep_stores_nothing_and_cancel_stops_the_queue(tiny, runner, monkeypatch):
    with pytest.raises(ConfigError):
        start_sweep(runner, sweep_cfg(tiny, batch_sizes=[2, 64]))
    assert runner.store.comparisons() == [] and sweeps(runner.store) == []
    gate, fast = threading.Event(), SpeedTrainer()
    monkeypatch.setattr(jobs_mod, "run_trial", lambda *a: (gate.wait(30), fast(*a))[1])
    sid = start_sweep(runner, sweep_cfg(tiny))
    assert cancel_sweep(runner, read_sweep(runner.store, sid)) == 3
    gate.set()
    sweep = read_sweep(runner.store, sid)
    for m in sweep.members:
        assert runner.wait(m.comparison_id, 30)
    assert read_sweep(runner.store, sid).status == "cancelled"
