"""The run store's write transactions and its one-line errors.

A write is ``BEGIN IMMEDIATE`` ... ``COMMIT`` under the store's lock (``ROLLBACK`` on any
error), and every SQLite failure becomes one :class:`StoreError` line naming the file and
what to do (model/runs/store.py's :class:`RunStore` uses both).
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from ..errors import StoreError

BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's write before giving up


class _Store(Protocol):
    """What a transaction needs of the RunStore (typed here, as store.py imports this module)."""

    path: Path

    def _con(self) -> sqlite3.Connection: ...


class WriteTxn:
    """``with`` block: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), under the store's lock."""

    def __init__(self, store: _Store, lock: threading.RLock):
        self.store, self.lock = store, lock
        self.con: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.con = self.store._con()
            self.con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            self.lock.release()
            raise store_error(self.store.path, err) from None
        except BaseException:
            self.lock.release()
            raise
        return self.con

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    self.con.execute("COMMIT")
                    return
                except sqlite3.Error as err:  # e.g. the disk filled up at commit
                    exc = err
            if self.con.in_transaction:
                try:
                    self.con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite already rolled back (it does after SQLITE_FULL and IOERR)
            if isinstance(exc, sqlite3.Error):
                raise store_error(self.store.path, exc) from None
        finally:
            self.lock.release()


def store_error(path: Path, err: sqlite3.Error) -> StoreError:
    """A one-line StoreError for a SQLite failure on the store at ``path``."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    low = text.lower()
    if "disk is full" in low or "disk full" in low:
        why = ("the disk is full; free some space and try again (the last change was rolled "
               "back, nothing was half-written)")
    elif "locked" in low or "busy" in low:
        why = (f"another program kept it busy for over {BUSY_TIMEOUT_S:.0f} s; try again "
               "when it has finished writing")
    elif "not a database" in low or "malformed" in low or "corrupt" in low:
        why = ("it is damaged or not a run store; move it away (a fresh one is then made) "
               "or point LAB_STORE / --store at another file")
    elif "readonly" in low or "read-only" in low or "unable to open" in low:
        why = "it cannot be opened for writing (check the folder exists and its permissions)"
    elif "disk i/o" in low:
        why = "the disk reported an input/output error"
    else:
        why = "SQLite failed"
    return StoreError(f"run store {path}: {why} ({text})")
