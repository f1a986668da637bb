"""Reliability rows: run store files (random bytes, a newer schema, a damaged header, cut to
one page, a full disk mid-write, a damaged store under a page): one line, and the file left
as it was for recovery."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from bench.reliability_core import Entry, Lab, Outcome, lab_error, registrar, small_cfg
from bench.reliability_fixtures import page_one_line

ROWS: list[Entry] = []
scenario = registrar(ROWS)


def _store_refused(path: Path) -> Outcome:
    from model.runs.store import RunStore
    before = path.read_bytes() if path.is_file() else None
    msg, ok = lab_error(lambda: RunStore(path))
    msg2, ok2 = lab_error(lambda: RunStore(path))  # again: same line, no crash loop
    return Outcome(msg, {"one-line StoreError": ok, "same line when opened again": ok2 and msg2 == msg,
                         "the file is left as it was (for recovery)":
                             before is None or path.read_bytes() == before})


@scenario("store: a file of random bytes", "store")
def _(lab: Lab) -> Outcome:
    path = lab.tmp("garbage") / "lab.sqlite"
    path.write_bytes(np.random.default_rng(2).bytes(8192))
    return _store_refused(path)


@scenario("store: written by a newer schema (version 99)", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    path = lab.tmp("newer") / "lab.sqlite"
    RunStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    return _store_refused(path)


@scenario("store: header overwritten (damaged file)", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    from tests.app_helpers import fake_comparison
    path = lab.tmp("damaged") / "lab.sqlite"
    store = RunStore(path)
    fake_comparison(store)
    store.close()
    data = bytearray(path.read_bytes())
    data[:100] = b"X" * 100
    path.write_bytes(bytes(data))
    return _store_refused(path)


@scenario("store: truncated to its first page", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    from tests.app_helpers import fake_comparison
    path = lab.tmp("truncstore") / "lab.sqlite"
    store = RunStore(path)
    for _ in range(5):
        fake_comparison(store, epochs=20)
    store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[:4096])

    def use() -> None:
        s = RunStore(path)
        for c in s.comparisons():
            s.runs(c.id)
        s.create_comparison(small_cfg(lab))
    msg, ok = lab_error(use)
    return Outcome(msg, {"one-line StoreError": ok})


@scenario("store: disk full while writing an event (SQLITE_FULL)", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    from model.train.events import TrialEvent
    from tests.app_helpers import fake_comparison
    path = lab.tmp("full") / "lab.sqlite"
    store = RunStore(path)
    done = fake_comparison(store, epochs=3)
    cid, ids = store.create_comparison(small_cfg(lab))
    pages = store.query("PRAGMA page_count")[0][0]
    store.query(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: a full disk

    def write() -> None:
        for i in range(200):
            store.add_event(cid, TrialEvent("started", ids[0], "fp32", 0, time.time(),
                                            message="x" * 4000))
    msg, ok = lab_error(write)
    store.close()
    again = RunStore(path)
    checks = {"one-line StoreError naming the full disk": ok and "disk is full" in msg,
              "integrity_check ok": again.integrity_check() == "ok",
              "the finished comparison and its epochs are intact":
                  again.comparison(done).status == "finished"
                  and all(len(again.epochs(r.id)) == 3 for r in again.runs(done))}
    again.close()
    return Outcome(msg, checks)


@scenario("store: dashboard page on a damaged store, opened twice", "store")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import history_script
    path = lab.tmp("pagestore") / "lab.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(200))
    return page_one_line(history_script, {"LAB_STORE": str(path)}, lab, runs=2)
