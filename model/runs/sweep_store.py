"""Sweeps in the run store: the sweep row, its comparisons, and its runs for model/runs/sweep.py.

A sweep is a group of ordinary comparisons (one per batch size) tagged with the sweep's
id in the ``sweep_comparisons`` table (schema in model/runs/schema.py). Its runs, epochs
and events live where every comparison's do, so History, export and delete keep working;
a comparison deleted in History simply drops out of its sweep. Reads go through the
store's own locked reader (``RunStore.query``): same file, same shared connection.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .store import ComparisonRow, RunStore, new_id
from .sweep import SweepRun, sweep_state
from ..train.sweep_config import SweepConfig


@dataclass
class SweepMember:
    """One comparison of a sweep."""

    batch_size: int  # its batch size
    comparison_id: str  # the comparison
    comparison: ComparisonRow | None  # None if it was deleted since


@dataclass
class SweepRow:
    """A stored sweep."""

    id: str  # e.g. "s20261128-142700-1a2b3c"
    name: str  # free label
    config: SweepConfig  # what was asked for (precisions resolved)
    created_unix: float  # time.time() at creation
    members: list[SweepMember]  # its comparisons, smallest batch first

    @property
    def status(self) -> str:
        """queued, running, finished, cancelled, failed or interrupted (from its comparisons)."""
        return sweep_state([m.comparison.status for m in self.members if m.comparison])


def create_sweep(store: RunStore, cfg: SweepConfig) -> str:
    """Store the sweep row (before its comparisons are queued); returns its id."""
    sid = new_id("s")
    with store.transaction() as con:
        con.execute("INSERT INTO sweeps (id, name, config_json, created_unix, owner)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (sid, cfg.name, cfg.to_json(), time.time(), store.owner))
    return sid


def add_member(store: RunStore, sweep_id: str, batch_size: int, comparison_id: str) -> None:
    """Tag a stored comparison as the sweep's run at ``batch_size``."""
    with store.transaction() as con:
        pos = con.execute("SELECT COUNT(*) FROM sweep_comparisons WHERE sweep_id=?",
                          (sweep_id,)).fetchone()[0]
        con.execute("INSERT INTO sweep_comparisons (sweep_id, comparison_id, batch_size,"
                    " position) VALUES (?, ?, ?, ?)", (sweep_id, comparison_id, batch_size, pos))


def sweep_ids(store: RunStore, limit: int = 100) -> list[str]:
    """Most recent sweeps first."""
    rows = store.query("SELECT id FROM sweeps ORDER BY created_unix DESC, id DESC LIMIT ?",
                       (limit,))
    return [r[0] for r in rows]


def read_sweep(store: RunStore, sweep_id: str) -> SweepRow | None:
    """One sweep with its comparisons, or None."""
    rows = store.query("SELECT id, name, config_json, created_unix FROM sweeps WHERE id=?",
                       (sweep_id,))
    if not rows:
        return None
    links = store.query("SELECT batch_size, comparison_id FROM sweep_comparisons WHERE"
                        " sweep_id=? ORDER BY position", (sweep_id,))
    members = [SweepMember(b, cid, store.comparison(cid)) for b, cid in links]
    sid, name, cfg_json, created = rows[0]
    return SweepRow(sid, name or "", SweepConfig.from_json(cfg_json), created, members)


def sweeps(store: RunStore, limit: int = 100) -> list[SweepRow]:
    """Most recent sweeps first, with their comparisons."""
    return [s for s in (read_sweep(store, sid) for sid in sweep_ids(store, limit)) if s]


def sweep_runs(store: RunStore, sweep: SweepRow) -> list[SweepRun]:
    """Every run of the sweep with its epochs, ready for model.runs.sweep.sweep_result."""
    out = []
    for member in sweep.members:
        if member.comparison is None:
            continue
        for run in store.runs(member.comparison_id):
            out.append(SweepRun(member.batch_size, run.precision, run.repeat, run.status,
                                store.epochs(run.id)))
    return out
