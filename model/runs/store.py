"""The run store: comparisons, runs, epochs and events in SQLite, files under runs/<run_id>/.

One SQLite file (default ``runs/lab.sqlite``) in WAL mode, so the training worker can
write while the dashboard reads (another process). Within a process, threads share one
connection behind a lock (no per-thread connections to leak when a UI reruns on fresh
threads); writes are short ``BEGIN IMMEDIATE`` transactions with parametrised queries.
A run's state is derived from its events inside the same transaction that stores the
event, so the store never shows an epoch without its run being "running", or a
"finished" run without its summary.

Runs and comparisons record the process that owns them. On open, any run still
"queued" or "running" whose owner process is gone (crash, kill, reboot) is marked
"interrupted".

Every SQLite failure (a damaged file, a full disk, a store held busy past the timeout, a
read-only folder) reaches callers as one :class:`StoreError` line naming the file; SQLite
rolls the transaction back, so nothing is half-written.

Beside it: the row types and their decoding (``store_rows.py``), write transactions and the
error lines (``store_txn.py``), process tokens (``ownership.py``); all importable from here.
"""
from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path

from ..errors import LabError, StoreError, os_error_line
from ..train.events import EpochRecord, TrialEvent
from ..train.trial_config import ComparisonConfig
from .ownership import owner_alive, process_token
from .schema import DEFAULT_DB_PATH, DEFAULT_RUNS_DIR, SCHEMA, SCHEMA_VERSION, migrate
from .store_rows import (COMP_COLS, RUN_COLS, ComparisonRow, RunRow, apply_event,
                         comparison_row, run_row)
from .store_txn import BUSY_TIMEOUT_S, WriteTxn, store_error

ACTIVE = ("queued", "running")


def new_id(prefix: str) -> str:
    """A sortable, unique id: prefix + UTC time + random hex."""
    return f"{prefix}{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


class RunStore:
    """Thread-safe access to the SQLite run store (one shared connection and a lock)."""

    def __init__(self, path: str | Path = DEFAULT_DB_PATH):
        self.path = Path(path)
        self.runs_dir = self.path.parent
        if self.path.is_dir():
            raise StoreError(f"run store {self.path} is a folder; give a file path "
                             "(e.g. runs/lab.sqlite)")
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"run store {self.path}: cannot make its folder "
                             f"({os_error_line(err)})") from None
        self._lock = threading.RLock()  # guards the shared connection, reads included
        self._conn: sqlite3.Connection | None = None
        self.owner = process_token()
        with self.transaction() as con:
            for stmt in SCHEMA:
                con.execute(stmt)
            migrate(con)
        self.interrupted_on_open = self.mark_interrupted()

    # -- connection ----------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        """The shared connection (opened on first use, and again after close())."""
        if self._conn is None:
            try:
                con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                      check_same_thread=False)
                try:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.execute("PRAGMA foreign_keys=ON")
                    con.execute("PRAGMA synchronous=NORMAL")
                except BaseException:
                    con.close()
                    raise
            except sqlite3.Error as err:
                raise store_error(self.path, err) from None
            self._conn = con
        return self._conn

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """All rows of a query; under the lock, so never inside another thread's write."""
        with self._lock:
            try:
                return self._con().execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise store_error(self.path, err) from None

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: "ok", or the problems it found (one line)."""
        return "; ".join(str(r[0]) for r in self.query("PRAGMA integrity_check"))

    def transaction(self) -> WriteTxn:
        """``with store.transaction() as con:`` a serialised write transaction."""
        return WriteTxn(self, self._lock)

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def release_thread_connection(self) -> None:
        """Nothing to release: all threads share one connection (kept for callers)."""

    def run_dir(self, run_id: str) -> Path:
        """Folder of a run's files (model.keras, tb/, error.txt)."""
        return self.runs_dir / run_id

    # -- writes --------------------------------------------------------------------------
    def create_comparison(self, cfg: ComparisonConfig) -> tuple[str, list[str]]:
        """Store a comparison and its queued runs in one transaction; returns (id, run ids)."""
        cid, now = new_id("c"), time.time()
        run_ids = []
        with self.transaction() as con:
            con.execute("INSERT INTO comparisons (id, name, status, config_json, created_unix,"
                        " owner) VALUES (?, ?, 'queued', ?, ?, ?)",
                        (cid, cfg.name, cfg.to_json(), now, self.owner))
            for pos, (rep, trial) in enumerate(cfg.trials()):
                rid = new_id("r")
                run_ids.append(rid)
                con.execute("INSERT INTO runs (id, comparison_id, position, repeat, precision,"
                            " seed, status, config_json, created_unix, owner) VALUES"
                            " (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                            (rid, cid, pos, rep, trial.precision, trial.seed,
                             json.dumps(trial.to_dict()), now, self.owner))
        return cid, run_ids

    def add_event(self, comparison_id: str, event: TrialEvent) -> int:
        """Store an event (assigning its seq) and update its run; returns the seq."""
        with self.transaction() as con:
            row = con.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE comparison_id=?",
                              (comparison_id,)).fetchone()
            event.seq = int(row[0]) + 1
            con.execute("INSERT INTO events (comparison_id, seq, run_id, kind, time_unix,"
                        " event_json) VALUES (?, ?, ?, ?, ?, ?)",
                        (comparison_id, event.seq, event.run_id, event.kind, event.time_unix,
                         json.dumps(event.to_dict())))
            apply_event(con, event)
        return event.seq

    def set_comparison_status(self, comparison_id: str, status: str, message: str = "") -> None:
        """Set a comparison's status (ended time too, unless it is active)."""
        ended = None if status in ACTIVE else time.time()
        with self.transaction() as con:
            con.execute("UPDATE comparisons SET status=?, message=?, ended_unix=? WHERE id=?",
                        (status, message, ended, comparison_id))

    def end_queued_runs(self, comparison_id: str, status: str, message: str) -> int:
        """Mark a comparison's still-queued runs (cancelled/failed); returns how many."""
        with self.transaction() as con:
            cur = con.execute("UPDATE runs SET status=?, message=?, ended_unix=? WHERE"
                              " comparison_id=? AND status='queued'",
                              (status, message, time.time(), comparison_id))
            return cur.rowcount

    def mark_interrupted(self) -> int:
        """Mark active runs/comparisons of dead owner processes "interrupted".

        Returns:
            How many runs were marked.
        """
        owners = {r[0] for r in self.query(
            "SELECT owner FROM runs WHERE status IN ('queued', 'running') UNION "
            "SELECT owner FROM comparisons WHERE status IN ('queued', 'running')")}
        dead = [o for o in owners if not owner_alive(o)]
        count, now = 0, time.time()
        msg = "interrupted: the process running it stopped before it ended"
        with self.transaction() as con:
            for owner in dead:
                count += con.execute("UPDATE runs SET status='interrupted', message=?,"
                                     " ended_unix=? WHERE owner=? AND status IN"
                                     " ('queued', 'running')", (msg, now, owner)).rowcount
                con.execute("UPDATE comparisons SET status='interrupted', message=?,"
                            " ended_unix=? WHERE owner=? AND status IN ('queued', 'running')",
                            (msg, now, owner))
        return count

    def mark_owned_interrupted(self, message: str) -> int:
        """Mark this process's own active runs and comparisons "interrupted" (it is stopping).

        Returns:
            How many runs were marked.
        """
        now = time.time()
        with self.transaction() as con:
            count = con.execute("UPDATE runs SET status='interrupted', message=?, ended_unix=?"
                                " WHERE owner=? AND status IN ('queued', 'running')",
                                (message, now, self.owner)).rowcount
            con.execute("UPDATE comparisons SET status='interrupted', message=?, ended_unix=?"
                        " WHERE owner=? AND status IN ('queued', 'running')",
                        (message, now, self.owner))
        return count

    def delete_comparison(self, comparison_id: str) -> bool:
        """Delete an ended comparison, its runs, epochs, events and run folders.

        Returns:
            False if there was no such comparison.

        Raises:
            LabError: it is still queued or running.
        """
        comp = self.comparison(comparison_id)
        if comp is None:
            return False
        if comp.status in ACTIVE:
            raise LabError(f"comparison {comparison_id} is {comp.status}; "
                           "cancel it before deleting")
        run_ids = [r.id for r in self.runs(comparison_id)]
        with self.transaction() as con:
            con.execute("DELETE FROM events WHERE comparison_id=?", (comparison_id,))
            for rid in run_ids:
                con.execute("DELETE FROM epochs WHERE run_id=?", (rid,))
            con.execute("DELETE FROM runs WHERE comparison_id=?", (comparison_id,))
            con.execute("DELETE FROM comparisons WHERE id=?", (comparison_id,))
        for rid in run_ids:
            shutil.rmtree(self.run_dir(rid), ignore_errors=True)
        return True

    # -- reads ---------------------------------------------------------------------------
    def comparison(self, comparison_id: str) -> ComparisonRow | None:
        """One comparison, or None."""
        rows = self.query(f"SELECT {COMP_COLS} FROM comparisons WHERE id=?", (comparison_id,))
        return comparison_row(rows[0]) if rows else None

    def comparisons(self, limit: int = 100) -> list[ComparisonRow]:
        """Most recent comparisons first."""
        rows = self.query(f"SELECT {COMP_COLS} FROM comparisons ORDER BY created_unix DESC,"
                          " id DESC LIMIT ?", (limit,))
        return [comparison_row(r) for r in rows]

    def runs(self, comparison_id: str) -> list[RunRow]:
        """A comparison's runs in run order."""
        rows = self.query(f"SELECT {RUN_COLS} FROM runs WHERE comparison_id=? ORDER BY"
                          " position", (comparison_id,))
        return [run_row(r) for r in rows]

    def run(self, run_id: str) -> RunRow | None:
        """One run, or None."""
        rows = self.query(f"SELECT {RUN_COLS} FROM runs WHERE id=?", (run_id,))
        return run_row(rows[0]) if rows else None

    def epochs(self, run_id: str) -> list[EpochRecord]:
        """A run's epochs in order."""
        rows = self.query("SELECT record_json FROM epochs WHERE run_id=? ORDER BY epoch",
                          (run_id,))
        return [EpochRecord.from_dict(json.loads(r[0])) for r in rows]

    def events(self, comparison_id: str, since: int = 0) -> list[TrialEvent]:
        """Events of a comparison with seq > since, in order."""
        rows = self.query("SELECT event_json FROM events WHERE comparison_id=? AND seq>?"
                          " ORDER BY seq", (comparison_id, since))
        return [TrialEvent.from_dict(json.loads(r[0])) for r in rows]

    def last_seq(self, comparison_id: str) -> int:
        """Seq of the comparison's latest event (0: none yet)."""
        rows = self.query("SELECT COALESCE(MAX(seq), 0) FROM events WHERE comparison_id=?",
                          (comparison_id,))
        return int(rows[0][0])

    def model_path(self, run_id: str) -> Path | None:
        """The saved model of a finished run, if its file exists."""
        run = self.run(run_id)
        if run is None or run.status != "finished" or not run.model_path:
            return None
        path = Path(run.model_path)
        return path if path.is_file() else None


__all__ = ["RunStore", "RunRow", "ComparisonRow", "DEFAULT_DB_PATH", "DEFAULT_RUNS_DIR",
           "SCHEMA_VERSION", "new_id", "process_token", "owner_alive", "store_error"]
