"""The run store's rows: the stored comparison and run, decoded from SQLite, and how an
event updates its run (model/runs/store.py writes and reads through these)."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from ..train.events import RunSummary, TrialEvent
from ..train.precision import PrecisionRecord
from ..train.trial_config import ComparisonConfig, TrialConfig

_END_STATUS = {"finished": "finished", "failed": "failed", "cancelled": "cancelled"}


@dataclass
class ComparisonRow:
    """A stored comparison."""

    id: str  # e.g. "c20261128-142700-1a2b3c"
    name: str  # free label
    status: str  # queued, running, finished, cancelled, failed, interrupted
    config: ComparisonConfig  # what was asked for
    created_unix: float  # time.time() at creation
    ended_unix: float | None  # when it stopped
    message: str  # reason for failed/interrupted


@dataclass
class RunRow:
    """A stored run (one precision, one seed)."""

    id: str  # e.g. "r20261128-142700-4d5e6f"
    comparison_id: str  # its comparison
    position: int  # 0-based run order within the comparison
    repeat: int  # 0-based repeat (seed index)
    precision: str  # requested precision
    seed: int  # its seed
    status: str  # queued, running, finished, failed, cancelled, interrupted
    config: TrialConfig  # the full trial settings
    device: PrecisionRecord | None  # what ran (after "started")
    summary: RunSummary | None  # after the run ends (if any epoch ran)
    message: str  # failure/cancel/interrupt reason
    model_path: str  # saved model, "" if none
    created_unix: float  # when it was queued
    started_unix: float | None  # when training started
    ended_unix: float | None  # when it stopped


def apply_event(con: sqlite3.Connection, ev: TrialEvent) -> None:
    """Update the run (and epochs table) from one event, inside the caller's transaction."""
    now = ev.time_unix
    if ev.kind == "started":
        con.execute("UPDATE runs SET status='running', started_unix=?, device_json=? WHERE id=?",
                    (now, json.dumps(ev.device.to_dict()) if ev.device else None, ev.run_id))
    elif ev.kind == "epoch" and ev.epoch is not None:
        e = ev.epoch
        con.execute("INSERT OR REPLACE INTO epochs (run_id, epoch, train_loss, dev_loss, frr,"
                    " epoch_seconds, examples_per_second, wall_seconds, peak_memory_bytes,"
                    " record_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (ev.run_id, e.epoch, e.train_loss, e.dev_loss,
                     e.detection.frr if e.detection else None, e.epoch_seconds,
                     e.examples_per_second, e.wall_seconds, e.peak_memory_bytes,
                     json.dumps(e.to_dict())))
    elif ev.kind in _END_STATUS:
        con.execute("UPDATE runs SET status=?, message=?, summary_json=?, model_path=?,"
                    " ended_unix=? WHERE id=?",
                    (_END_STATUS[ev.kind], ev.message,
                     json.dumps(ev.summary.to_dict()) if ev.summary else None,
                     ev.extra.get("model_path", ""), now, ev.run_id))


COMP_COLS = "id, name, status, config_json, created_unix, ended_unix, message"
RUN_COLS = ("id, comparison_id, position, repeat, precision, seed, status, config_json,"
            " device_json, summary_json, message, model_path, created_unix, started_unix,"
            " ended_unix")


def comparison_row(r: tuple) -> ComparisonRow:
    """A ComparisonRow from a row selected with COMP_COLS."""
    return ComparisonRow(r[0], r[1] or "", r[2], ComparisonConfig.from_json(r[3]), r[4], r[5],
                         r[6] or "")


def run_row(r: tuple) -> RunRow:
    """A RunRow from a row selected with RUN_COLS."""
    return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                  TrialConfig.from_dict(json.loads(r[7])),
                  PrecisionRecord.from_dict(json.loads(r[8])) if r[8] else None,
                  RunSummary.from_dict(json.loads(r[9])) if r[9] else None,
                  r[10] or "", r[11] or "", r[12], r[13], r[14])
