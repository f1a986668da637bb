"""SQLite schema of the run store, with its version and migrations."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import LabError

DEFAULT_RUNS_DIR = Path(__file__).resolve().parents[2] / "runs"  # one folder per run inside
DEFAULT_DB_PATH = DEFAULT_RUNS_DIR / "lab.sqlite"

SCHEMA_VERSION = 1

# Statements are idempotent (IF NOT EXISTS) so opening an existing store is safe.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS comparisons (
        id TEXT PRIMARY KEY, name TEXT, status TEXT NOT NULL, config_json TEXT NOT NULL,
        created_unix REAL NOT NULL, ended_unix REAL, message TEXT, owner TEXT)""",
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, comparison_id TEXT NOT NULL REFERENCES comparisons(id),
        position INTEGER NOT NULL, repeat INTEGER NOT NULL, precision TEXT NOT NULL,
        seed INTEGER NOT NULL, status TEXT NOT NULL, config_json TEXT NOT NULL,
        device_json TEXT, summary_json TEXT, message TEXT, model_path TEXT,
        created_unix REAL NOT NULL, started_unix REAL, ended_unix REAL, owner TEXT)""",
    """CREATE TABLE IF NOT EXISTS epochs (
        run_id TEXT NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, train_loss REAL,
        dev_loss REAL, frr REAL, epoch_seconds REAL, examples_per_second REAL,
        wall_seconds REAL, peak_memory_bytes INTEGER, record_json TEXT NOT NULL,
        PRIMARY KEY (run_id, epoch))""",
    """CREATE TABLE IF NOT EXISTS events (
        comparison_id TEXT NOT NULL REFERENCES comparisons(id), seq INTEGER NOT NULL,
        run_id TEXT, kind TEXT NOT NULL, time_unix REAL NOT NULL, event_json TEXT NOT NULL,
        PRIMARY KEY (comparison_id, seq))""",
    "CREATE INDEX IF NOT EXISTS runs_by_comparison ON runs (comparison_id, position)",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status)",
    # Batch-size sweeps (model/runs/sweep_store.py): a sweep is a group of ordinary comparisons,
    # one per batch size. Added tables only, so version 1 files gain them on open and older
    # programs still read the file (no version bump needed). No foreign key on the link's
    # comparison_id: deleting a comparison in History must not be blocked by a sweep.
    """CREATE TABLE IF NOT EXISTS sweeps (
        id TEXT PRIMARY KEY, name TEXT, config_json TEXT NOT NULL, created_unix REAL NOT NULL,
        owner TEXT)""",
    """CREATE TABLE IF NOT EXISTS sweep_comparisons (
        sweep_id TEXT NOT NULL REFERENCES sweeps(id), comparison_id TEXT NOT NULL,
        batch_size INTEGER NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (sweep_id, comparison_id))""",
)


def migrate(con: sqlite3.Connection) -> int:
    """Record or check the schema version inside the caller's transaction; returns it.

    Raises:
        LabError: the file was written by a newer version of this program.
    """
    row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
    version = row[0]
    if version is None:
        con.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        return SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise LabError(f"run store schema version {version} is newer than this program's "
                       f"{SCHEMA_VERSION}; update the program or use another --store file")
    # future migrations: if version < 2: ALTER TABLE ...; UPDATE schema_version ...
    return int(version)
