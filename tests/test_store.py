"""Run store: state from events, concurrent access, restart, schema version, export round-trip."""
import csv
import io
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from model.errors import LabError
from model.train.events import EpochRecord, RunSummary, TrialEvent
from model.train.metrics import DetectionMetrics
from model.train.precision import PrecisionRecord
from model.runs.store import RunStore, owner_alive, process_token
from model.runs.export import export_csv, export_json, import_json
from model.train.trial_config import ComparisonConfig, TrialConfig
from tests.conftest import ROOT


def _cfg(repeats=1):
    return ComparisonConfig(TrialConfig(epochs=2, batch_size=4), ["fp32", "amp-bf16"], repeats,
                            name="demo")


def _epoch(n):
    det = DetectionMetrics(0.25 * n, 0.5, 0.0, 1.0, 4, 3, 0, 0.01)
    return EpochRecord(n, 0.5 / n, 0.4 / n, det, 1.5 + n, 8.0 / (1.5 + n), 0.2, 2.0 * n,
                       123456789 + n, "rss")


def _play_run(store, cid, run, epochs=2, end="finished", model_path=""):
    """Feed the events a real trial would emit."""
    mk = lambda kind, **kw: TrialEvent(kind, run.id, run.precision, run.seed, time.time(), **kw)
    store.add_event(cid, mk("started", device=PrecisionRecord(
        run.precision, "tensorflow", "cpu", "test cpu", "float32", "float32", "float32")))
    for n in range(1, epochs + 1):
        store.add_event(cid, mk("epoch", epoch=_epoch(n)))
    summary = RunSummary(epochs, 2.5, 3.5, 2.3, 0.25, 0.2, 0.5, None, 123, "rss", 4.0)
    store.add_event(cid, mk(end, summary=summary, message="" if end == "finished" else "boom",
                            extra={"model_path": model_path} if model_path else {}))


def test_runs_alternate_and_state_follows_events(tmp_path):
    store = RunStore(tmp_path / "lab.sqlite")
    cid, run_ids = store.create_comparison(_cfg(repeats=2))
    runs = store.runs(cid)
    assert [r.id for r in runs] == run_ids
    assert [(r.precision, r.seed) for r in runs] == [("fp32", 0), ("amp-bf16", 0),
                                                     ("amp-bf16", 1), ("fp32", 1)]
    assert {r.status for r in runs} == {"queued"}
    model = tmp_path / "model.keras"
    model.write_bytes(b"x")
    _play_run(store, cid, runs[0], model_path=str(model))
    _play_run(store, cid, runs[1], end="failed")
    done, failed = store.run(runs[0].id), store.run(runs[1].id)
    assert done.status == "finished" and done.summary.steady_epoch_seconds == 3.5
    assert done.device.device_name == "test cpu" and done.started_unix <= done.ended_unix
    assert failed.status == "failed" and failed.message == "boom"
    assert [e.epoch for e in store.epochs(runs[0].id)] == [1, 2]
    assert store.epochs(runs[0].id)[1] == _epoch(2)
    assert store.model_path(runs[0].id) == model
    assert store.model_path(runs[1].id) is None and store.model_path("nope") is None
    seqs = [e.seq for e in store.events(cid)]
    assert seqs == list(range(1, 9))
    assert [e.kind for e in store.events(cid, since=6)] == ["epoch", "failed"]


def test_writer_thread_and_reader_do_not_block_or_tear(tmp_path):
    store = RunStore(tmp_path / "lab.sqlite")
    cid, _ = store.create_comparison(_cfg(repeats=5))
    runs = store.runs(cid)
    errors = []

    def write():
        try:
            for run in runs:
                _play_run(store, cid, run, epochs=3)
        except Exception as err:  # noqa: BLE001 - surfaced below
            errors.append(err)
    worker = threading.Thread(target=write)
    worker.start()
    while worker.is_alive():
        for run in runs:
            # never an epoch of a run still "queued": event and state change are one txn
            has_epochs = bool(store.epochs(run.id))
            assert not (has_epochs and store.run(run.id).status == "queued")
        seqs = [e.seq for e in store.events(cid)]
        assert seqs == list(range(1, len(seqs) + 1))
    worker.join()
    assert not errors
    assert len(store.events(cid)) == 10 * 5
    assert {r.status for r in store.runs(cid)} == {"finished"}


def test_export_round_trips(tmp_path):
    store = RunStore(tmp_path / "a.sqlite")
    cid, _ = store.create_comparison(_cfg())
    runs = store.runs(cid)
    _play_run(store, cid, runs[0])
    _play_run(store, cid, runs[1], epochs=1, end="cancelled")
    store.set_comparison_status(cid, "cancelled")
    text = export_json(store, cid)
    other = RunStore(tmp_path / "b.sqlite")
    assert import_json(other, text) == cid
    assert export_json(other, cid) == text
    assert other.runs(cid)[0].config == runs[0].config
    with pytest.raises(LabError, match="already in"):
        import_json(other, text)
    rows = list(csv.DictReader(io.StringIO(export_csv(store, cid))))
    assert [(r["precision"], r["epoch"]) for r in rows] == [("fp32", "1"), ("fp32", "2"),
                                                            ("amp-bf16", "1")]
    for row in rows:
        stored = store.epochs(row["run_id"])[int(row["epoch"]) - 1]
        assert float(row["dev_loss"]) == stored.dev_loss
        assert float(row["examples_per_second"]) == stored.examples_per_second
        assert float(row["frr"]) == stored.detection.frr
        assert int(row["peak_memory_bytes"]) == stored.peak_memory_bytes
        assert row["compute_dtype"] == "float32" and row["status"] in ("finished", "cancelled")


def test_restart_marks_runs_of_a_dead_process_interrupted(tmp_path):
    db = tmp_path / "lab.sqlite"
    crash = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from model.runs.store import RunStore
        from model.train.events import TrialEvent
        from model.train.trial_config import ComparisonConfig, TrialConfig
        store = RunStore({str(db)!r})
        cid, ids = store.create_comparison(ComparisonConfig(TrialConfig(), ["fp32", "amp-bf16"]))
        store.set_comparison_status(cid, "running")
        store.add_event(cid, TrialEvent("started", ids[0], "fp32", 0, time.time()))
        print(cid, flush=True)
        os._exit(9)  # a crash: no cleanup
    """)
    out = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True,
                         timeout=120)
    cid = out.stdout.strip()
    assert cid.startswith("c"), out.stderr
    # this process's own active comparison must survive the reopen
    store = RunStore(db)
    mine, _ = store.create_comparison(_cfg())
    store.set_comparison_status(mine, "running")
    reopened = RunStore(db)
    assert reopened.interrupted_on_open == 0  # the crash was already handled by `store`
    assert store.interrupted_on_open == 2
    assert [r.status for r in reopened.runs(cid)] == ["interrupted", "interrupted"]
    assert reopened.comparison(cid).status == "interrupted"
    assert "interrupted" in reopened.runs(cid)[0].message
    assert reopened.comparison(mine).status == "running"


def test_owner_tokens():
    assert owner_alive(process_token())
    assert not owner_alive("garbage")
    host, boot, pid, start = process_token().rsplit(":", 3)
    assert not owner_alive(f"{host}:{boot}:{pid}:{int(start) + 1}")  # pid reused later


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "lab.sqlite"
    RunStore(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    with pytest.raises(LabError, match="schema version 99 is newer"):
        RunStore(db)


def test_wal_mode_and_json_config(tmp_path):
    store = RunStore(tmp_path / "lab.sqlite")
    cid, _ = store.create_comparison(_cfg())
    con = sqlite3.connect(tmp_path / "lab.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw = con.execute("SELECT config_json FROM comparisons WHERE id=?", (cid,)).fetchone()[0]
    assert json.loads(raw)["base"]["batch_size"] == 4
    assert store.comparison(cid).config == _cfg()
