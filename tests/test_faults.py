"""Faults and hostile input: the reliability catalogue's quick rows, and the process faults
that fit the default run (kill -9 of a training command and of a training child, SIGTERM,
a full disk through a fault hook, two processes writing one store, Start pressed twice,
Cancel inside the first epoch).

The dashboard-server faults (kill -9 and SIGTERM of ``streamlit run``, two tabs and a CLI,
30 connections) are in tests/e2e/test_faults_e2e.py behind LAB_LOAD_TESTS=1.
"""
from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench import bench_reliability as rel
from bench.reliability_harness import wait_for as _wait
from tests.fault_children import sleepy_child
from model.procs import alive, children_of
from model.runs import jobs as jobs_mod
from model.runs.isolation import run_trial_isolated
from model.runs.jobs import Runner
from model.runs.store import RunStore
from model.train.events import TrialEvent
from model.train.network import NetworkConfig
from model.train.trial_config import ComparisonConfig, TrialConfig

ROOT = Path(__file__).resolve().parents[1]
SMALL = NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1)
SLOW_ROWS = ("10-hour", "384 kHz")  # a fresh detect process each (~15 s): the bench runs them


def test_catalogue_quick_rows_all_pass(tmp_path):
    rows = rel.run_catalogue(base=tmp_path, exclude=SLOW_ROWS)
    assert len(rows) >= 40
    failed = [f"{r.scenario}: {r.check} -> {r.message}" for r in rows if not r.passed]
    assert not failed, "\n".join(failed)
    assert all("\n" not in r.message and "Traceback" not in r.message for r in rows)


def test_full_disk_fault_hook_works_unprivileged(tmp_path, monkeypatch):
    """The same full-disk rows through the fault hook alone (what a non-root CI runs)."""
    monkeypatch.setenv("LAB_FAULT_HOOK_ONLY", "1")
    rows = rel.run_catalogue(base=tmp_path, only="full disk: make-data")
    assert rows and all(r.passed for r in rows), [(r.check, r.message) for r in rows]
    assert "fault hook" in rows[0].message


# -- a training command killed outright, then the store reopened ----------------------------
def test_children_of_and_alive_see_a_child_until_it_is_killed():
    """model.procs reads /proc: a child is listed and alive, a killed one is a zombie (not
    alive) until reaped, then gone."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in children_of(os.getpid()) and alive(child.pid)
        child.send_signal(signal.SIGKILL)
        assert _wait(lambda: not alive(child.pid), 5)  # a zombie: not reaped yet
        assert child.pid in children_of(os.getpid())
    finally:
        child.kill()
        child.wait(5)
    assert child.pid not in children_of(os.getpid())  # reaped: gone


def test_kill_9_mid_comparison_then_reopen(tmp_path, tiny):
    """kill -9 of the process that owns a 2-run comparison (the dashboard server and the CLI
    share the Runner) after its first run finished: after a reopen the store is intact, the
    finished run and its epochs are there, the second run is interrupted, no training child
    survives, and the queue takes a new comparison."""
    db = tmp_path / "lab.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "model", "train", "--dataset", str(tiny),
                             "--store", str(db), "--precisions", "fp32,amp-bf16",
                             "--batch-size", "4", "--epochs", "1", "--conv-filters", "8",
                             "--gru-units", "8", "--dropout", "0.1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        def second_running():
            if not db.exists():
                return None
            con = sqlite3.connect(db, timeout=5)
            try:
                rows = con.execute("SELECT status FROM runs ORDER BY position").fetchall()
            except sqlite3.Error:
                rows = []
            con.close()
            return [r[0] for r in rows] == ["finished", "running"]
        assert _wait(second_running, 240), proc.stdout.read() if proc.poll() is not None else ""
        kids = children_of(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    orphans_gone = _wait(lambda: not any(alive(k) for k in kids), 10)
    assert orphans_gone, f"training children {kids} outlived the killed process"

    store = RunStore(db)
    assert store.integrity_check() == "ok"
    comp = store.comparisons()[0]
    runs = store.runs(comp.id)
    assert comp.status == "interrupted"
    assert [r.status for r in runs] == ["finished", "interrupted"]
    assert len(store.epochs(runs[0].id)) == 1 and runs[0].summary is not None
    assert store.model_path(runs[0].id) is not None
    assert "interrupted" in runs[1].message
    runner = Runner(store, isolate=False)  # the queue is usable
    try:
        cid = runner.start(ComparisonConfig(TrialConfig(batch_size=4, epochs=1, dataset=str(tiny),
                                                        network=SMALL, tensorboard=False,
                                                        save_model=False), ["fp32"]))
        assert runner.wait(cid, 120) and runner.status(cid).state == "finished"
    finally:
        runner.shutdown(timeout=30)


@pytest.mark.skipif(not os.environ.get("LAB_LOAD_TESTS"), reason="opt-in (LAB_LOAD_TESTS=1): ~30 s")
def test_sigterm_to_a_training_command_cancels_it(tmp_path, tiny):
    db = tmp_path / "lab.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "model", "train", "--dataset", str(tiny),
                             "--store", str(db), "--precisions", "fp32,amp-bf16",
                             "--batch-size", "4", "--epochs", "50", "--conv-filters", "8",
                             "--gru-units", "8", "--dropout", "0.1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def started():
            if not db.exists():
                return None
            con = sqlite3.connect(db, timeout=5)
            try:
                n = con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
            except sqlite3.Error:
                n = 0
            con.close()
            return n >= 1
        assert _wait(started, 240)
        kids = children_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in out and "cancelling" in out
    assert _wait(lambda: not any(alive(k) for k in kids), 10)
    store = RunStore(db)
    comp = store.comparisons()[0]
    assert comp.status == "cancelled"
    assert [r.status for r in store.runs(comp.id)] == ["cancelled", "cancelled"]


# -- a training child killed outright: its run fails, the next run starts ------------------------
def test_kill_9_of_a_training_child_fails_its_run_and_the_next_starts(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(jobs_mod, "run_trial_isolated",
                        functools.partial(run_trial_isolated, target=sleepy_child))
    runner = Runner(RunStore(tmp_path / "lab.sqlite"), isolate=True)
    me = os.getpid()
    try:
        cid = runner.start(ComparisonConfig(TrialConfig(batch_size=4, epochs=1, dataset=str(tiny),
                                                        network=SMALL), ["fp32", "amp-bf16"]))
        first = runner.store.runs(cid)[0].id
        assert _wait(lambda: runner.store.run(first).status == "running", 60)
        kids = [k for k in children_of(me) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        assert kids
        for k in kids:
            os.kill(k, signal.SIGKILL)
        assert runner.wait(cid, 60)
        runs = runner.store.runs(cid)
        assert [r.status for r in runs] == ["failed", "finished"]
        assert "exit code -9" in runs[0].message and "SIGKILL" in runs[0].message
        assert runner.store.comparison(cid).status == "finished"
    finally:
        runner.shutdown(timeout=30)


def test_stop_for_exit_ends_runs_cancelled_or_interrupted(tmp_path, tiny, monkeypatch):
    """What SIGTERM to the dashboard server does at exit: nothing stays "running"."""
    gate = threading.Event()

    def stuck(cfg, run_id, run_dir, emit, cancel, data):
        emit(TrialEvent("started", run_id, cfg.precision, cfg.seed, time.time()))
        gate.wait(60)  # ignores cancel: a run that cannot stop in time
        return "finished"
    monkeypatch.setattr(jobs_mod, "run_trial", stuck)
    store = RunStore(tmp_path / "lab.sqlite")
    runner = Runner(store, isolate=False)
    cid = runner.start(ComparisonConfig(TrialConfig(batch_size=4, epochs=1, dataset=str(tiny),
                                                    network=SMALL), ["fp32", "amp-bf16"]))
    queued = runner.start(ComparisonConfig(TrialConfig(batch_size=4, epochs=1,
                                                       dataset=str(tiny), network=SMALL), ["fp32"]))
    assert _wait(lambda: store.runs(cid)[0].status == "running", 30)
    t0 = time.monotonic()
    runner.stop_for_exit(grace_s=1.0)
    assert time.monotonic() - t0 < 10
    gate.set()
    statuses = [r.status for c in (cid, queued) for r in store.runs(c)]
    assert "running" not in statuses and "queued" not in statuses
    assert store.comparison(cid).status == "interrupted"
    assert store.comparison(queued).status == "cancelled"


# -- concurrency -----------------------------------------------------------------------------------
WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from model.runs.store import RunStore
from tests.app_helpers import fake_comparison
store = RunStore({db!r})
print("ready", flush=True)
for i in range({n}):
    fake_comparison(store, ("fp32", "amp-bf16"), epochs=5, name=f"cli-{{i}}")
print("done", flush=True)
"""


def test_two_processes_write_one_store_every_run_once(tmp_path):
    """The dashboard server and a CLI `train` write one store at once: every comparison,
    run and epoch is stored once and no 'database is locked' reaches anyone."""
    from tests.app_helpers import fake_comparison
    db = tmp_path / "lab.sqlite"
    store = RunStore(db)
    n = 6
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), db=str(db), n=n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"  # both write from here on
    errors: list[str] = []

    def reader():
        while proc.poll() is None:
            try:
                for c in store.comparisons(limit=50):
                    store.runs(c.id)
            except Exception as err:  # noqa: BLE001 - any error fails the test below
                errors.append(str(err))
    t = threading.Thread(target=reader)
    t.start()
    for i in range(n):
        fake_comparison(store, ("fp32", "amp-bf16"), epochs=5, name=f"tab-{i}")
    out, err = proc.communicate(timeout=120)
    t.join()
    assert "done" in out and "locked" not in err and "Traceback" not in err, err
    assert not errors, errors[:3]
    comps = store.comparisons(limit=1000)
    names = sorted(c.name for c in comps)
    assert names == sorted([f"cli-{i}" for i in range(n)] + [f"tab-{i}" for i in range(n)])
    assert all(len(store.runs(c.id)) == 2 for c in comps)
    assert store.query("SELECT COUNT(*) FROM epochs")[0][0] == 2 * n * 2 * 5
    assert store.integrity_check() == "ok"


def test_start_pressed_twice_quickly_starts_one_comparison(lab, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from tests.app_helpers import FakeTrainer, trials_script, use_fake_trainer
    gate = threading.Event()
    use_fake_trainer(monkeypatch, FakeTrainer(gate))
    at = AppTest.from_function(trials_script, default_timeout=120).run()
    at.number_input(key="t_batch").set_value(4)
    at.button(key="t_start").click().run()
    at.button(key="t_start").click().run()
    gate.set()
    runner = jobs_mod.get_runner(lab / "lab.sqlite")
    comps = runner.store.comparisons()
    assert len(comps) == 1
    assert any("pressed twice" in s.value for s in at.success)
    assert runner.wait(comps[0].id, 30)


def test_cancel_in_the_first_epoch_stops_within_one_batch(tmp_path, tiny, monkeypatch):
    """Cancel pressed during epoch 1 (after its third batch): no further batch runs."""
    from model.train import trial as trial_mod
    real = trial_mod.make_step_runner
    steps: list[float] = []
    cancel = threading.Event()
    cancelled_at: list[int] = []

    def counting(model, path):
        runner = real(model, path)
        step = runner.step

        def wrapped(xb, yb):
            steps.append(time.perf_counter())
            out = step(xb, yb)
            if len(steps) == 3:
                cancel.set()  # the user presses Cancel while batch 3 trains
                cancelled_at.append(len(steps))
            return out
        runner.step = wrapped
        return runner
    monkeypatch.setattr(trial_mod, "make_step_runner", counting)
    events: list[TrialEvent] = []
    cfg = TrialConfig(batch_size=2, epochs=3, dataset=str(tiny), network=SMALL,
                      tensorboard=False, save_model=False)
    final = trial_mod.run_trial(cfg, "r-cancel", tmp_path / "r", events.append, cancel)
    assert final == "cancelled" and cancelled_at == [3]
    assert len(steps) == 3  # 6 batches an epoch: none ran after the press
    assert events[-1].message == "cancelled during epoch 1"
