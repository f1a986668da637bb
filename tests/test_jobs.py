"""Job API: one worker, queueing, cancel, failure isolation, validation before storing."""
import time

import numpy as np
import pytest

import model.train.trial as trial_mod
from model.errors import ConfigError
from model.runs.jobs import Runner, get_runner
from model.train.network import NetworkConfig
from model.runs.store import RunStore
from model.train.trial_config import ComparisonConfig, TrialConfig
from tests.tinydata import write_tiny_dataset

SMALL = NetworkConfig(conv_filters=16, gru_units=16, dropout=0.1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def runner(tmp_path):
    r = Runner(RunStore(tmp_path / "lab.sqlite"), isolate=False)  # in-thread: quick; see test_isolation
    yield r
    r.shutdown(timeout=60)


def comparison(tiny, precisions=("fp32",), **kw):
    base = dict(batch_size=12, epochs=1, learning_rate=0.01, dataset=str(tiny), network=SMALL,
                save_model=False, tensorboard=False)
    base.update(kw)
    return ComparisonConfig(TrialConfig(**base), list(precisions))


def wait_for(runner, cid, kind, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.kind == kind for e in runner.events(cid)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event")


def test_comparisons_queue_and_never_overlap(runner, tiny):
    first = runner.start(comparison(tiny, ("fp32", "amp-bf16")))
    second = runner.start(comparison(tiny))
    assert runner.status(second).queue_position >= 1 and runner.status(second).state == "queued"
    assert runner.wait(second, timeout=300)
    for cid in (first, second):
        status = runner.status(cid)
        assert status.done and status.state == "finished" and status.queue_position is None
        assert {r.status for r in status.runs} == {"finished"}
    events = runner.events(first) + runner.events(second)
    spans = {}
    for ev in events:
        spans.setdefault(ev.run_id, []).append(ev.time_unix)
    ordered = sorted((min(t), max(t)) for t in spans.values())
    assert len(ordered) == 3
    for (_, end), (start, _) in zip(ordered, ordered[1:]):
        assert end <= start  # one training at a time
    kinds = [e.kind for e in runner.events(first)]
    assert kinds == ["started", "epoch", "finished"] * 2
    assert [e.seq for e in runner.events(first, since=2)] == [3, 4, 5, 6]
    devices = [e.device.compute_dtype for e in runner.events(first) if e.kind == "started"]
    assert devices == ["float32", "bfloat16"]


def test_cancel_running_and_queued(runner, tiny):
    long_cmp = runner.start(comparison(tiny, ("fp32", "amp-bf16"), epochs=1000, batch_size=4))
    queued = runner.start(comparison(tiny))
    wait_for(runner, long_cmp, "epoch")
    assert runner.cancel(queued)  # waiting: ends at once, never trains
    assert runner.status(queued).state == "cancelled"
    assert [r.status for r in runner.status(queued).runs] == ["cancelled"]
    assert runner.cancel(long_cmp)
    assert runner.wait(long_cmp, timeout=120)
    status = runner.status(long_cmp)
    assert status.state == "cancelled"
    assert [r.status for r in status.runs] == ["cancelled", "cancelled"]
    assert status.runs[1].message == "cancelled before it started"
    assert status.runs[0].summary is not None and status.runs[0].summary.epochs_done < 1000
    assert runner.events(long_cmp)[-1].kind == "cancelled"
    assert not runner.cancel(long_cmp)  # already over


def test_a_failing_run_does_not_stop_the_worker(runner, tiny, monkeypatch):
    real_build = trial_mod.build_trial_model

    def build(cfg, record, *rest):
        if cfg.precision == "amp-bf16":
            raise RuntimeError("simulated out of memory\nwith detail lines")
        return real_build(cfg, record, *rest)
    monkeypatch.setattr(trial_mod, "build_trial_model", build)
    cid = runner.start(comparison(tiny, ("amp-bf16", "fp32")))
    assert runner.wait(cid, timeout=300)
    runs = runner.status(cid).runs
    # the run after the failed one still trained: the worker went on
    assert [(r.precision, r.status) for r in runs] == [("amp-bf16", "failed"), ("fp32", "finished")]
    assert runs[0].message == "RuntimeError: simulated out of memory"
    assert runner.status(cid).state == "finished"
    assert [e.kind for e in runner.events(cid)] == ["failed", "started", "epoch", "finished"]


def test_bad_input_stores_nothing(runner, tiny):
    with pytest.raises(ConfigError, match="epochs must be between 1 and 1000"):
        runner.start(comparison(tiny, epochs=0))
    with pytest.raises(ConfigError, match="batch size 64 is larger"):
        runner.start(comparison(tiny, batch_size=64))
    assert runner.store.comparisons() == []


def test_nan_data_found_by_the_worker_fails_the_comparison(runner, tiny, tmp_path):
    import shutil
    folder = tmp_path / "nan"
    shutil.copytree(tiny, folder)
    x = np.load(folder / "X_dev.npy")
    x[1, 5, 5] = np.inf
    np.save(folder / "X_dev.npy", x)
    cid = runner.start(comparison(folder, ("fp32", "amp-bf16")))  # shapes fine: accepted
    assert runner.wait(cid, timeout=120)
    status = runner.status(cid)
    assert status.state == "failed" and "NaN or infinite" in status.message
    assert {r.status for r in status.runs} == {"failed"}
    assert runner.events(cid) == []  # no training started


def test_get_runner_is_process_wide(tmp_path):
    a = get_runner(tmp_path / "one.sqlite")
    assert get_runner(tmp_path / "one.sqlite") is a
    b = get_runner(tmp_path / "two.sqlite")  # idle: may move to another store
    assert b is not a and b.store.path == tmp_path / "two.sqlite"
