"""Runs in their own processes: the exact sequence that broke inside the dashboard server
(an AMP run after an FP32 run), cancel across the process boundary, and a dying child."""
import threading
import time

import pytest

from model.train.events import TrialEvent
from model.runs.isolation import run_trial_isolated
from model.runs.jobs import Runner
from model.train.network import NetworkConfig
from model.runs.store import RunStore
from model.train.trial_config import ComparisonConfig, TrialConfig

SMALL = NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1)




def _cfg(tiny, **kw):
    base = dict(batch_size=12, epochs=1, dataset=str(tiny), network=SMALL, save_model=False,
                tensorboard=False)
    return TrialConfig(**{**base, **kw})


def test_fp32_then_amp_each_in_a_fresh_process(tiny, tmp_path):
    runner = Runner(RunStore(tmp_path / "lab.sqlite"), isolate=True)
    try:
        cid = runner.start(ComparisonConfig(_cfg(tiny, save_model=True), ["fp32", "amp-bf16"]))
        assert runner.wait(cid, timeout=300)
        status = runner.status(cid)
        assert [r.status for r in status.runs] == ["finished", "finished"], \
            [r.message for r in status.runs]
        kinds = [e.kind for e in runner.events(cid)]
        assert kinds == ["started", "epoch", "finished"] * 2
        started = [e for e in runner.events(cid) if e.kind == "started"]
        assert [e.device.compute_dtype for e in started] == ["float32", "bfloat16"]
        assert all(runner.store.model_path(r.id) for r in status.runs)
    finally:
        runner.shutdown(timeout=60)


def test_cancel_reaches_the_child(tiny, tmp_path):
    events: list[TrialEvent] = []
    cancel = threading.Event()

    def emit(ev):
        events.append(ev)
        if ev.kind == "epoch":
            cancel.set()

    t0 = time.monotonic()
    final = run_trial_isolated(_cfg(tiny, epochs=50), "r-cancel", tmp_path / "r", emit, cancel)
    assert final == "cancelled" and events[-1].kind == "cancelled"
    assert sum(e.kind == "epoch" for e in events) < 50 and time.monotonic() - t0 < 240


def _die(*_args):
    raise SystemExit(3)


def test_a_child_that_dies_fails_its_run_with_the_exit_code(tiny, tmp_path):
    events: list[TrialEvent] = []
    final = run_trial_isolated(_cfg(tiny), "r-dead", tmp_path / "r", events.append,
                               threading.Event(), target=_die)
    assert final == "failed"
    assert events[-1].kind == "failed" and "exit code 3" in events[-1].message
