"""The heavy rows on a real dashboard server: kill -9 mid-comparison and a restart, SIGTERM
while training, two tabs and a CLI ``train`` on one store, /trials and an unknown URL, a
double-clicked Start and a Cancel in the first epoch. Each starts its own server on a free
loopback port (bench/reliability_harness.py) and ends it.
"""
from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.reliability_core import ROOT, Lab, Outcome
from bench.reliability_harness import (Browser, DashboardServer, listen_address, press_start,
                                       set_number, statuses, wait_for)
from model.procs import alive


def kill9_server(lab: Lab) -> Outcome:
    """kill -9 of the server during run 2 of a 2-run comparison started in the browser."""
    db = lab.tmp("kill9") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    checks: dict[str, bool] = {}
    try:
        with Browser() as b:
            page = b.trials(server.url)
            press_start(page, batch=4, epochs=2, db=db)
            ok = wait_for(lambda: [s[1] for s in statuses(db)] == ["finished", "running"], 300)
            checks["run 1 finished, run 2 training before the kill"] = bool(ok)
            kids = server.children()
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(10)
            checks["no training child outlives the server (within 3 s)"] = bool(
                wait_for(lambda: not any(alive(k) for k in kids), 3, 0.1))
            msg = _restart_after_kill(lab, db, b, checks)
    finally:
        server.stop()
    return Outcome(msg.strip(), checks)


def _restart_after_kill(lab: Lab, db: Path, b: Browser, checks: dict[str, bool]) -> str:
    """A second server on the killed one's store: the store and page say what happened and
    the queue runs a new comparison. Adds its checks; returns the page's "interrupted" line."""
    server2 = DashboardServer(lab, db, "restart").start()
    try:
        page = b.trials(server2.url)
        page.get_by_text("interrupted", exact=False).first.wait_for(timeout=60_000)
        text = page.inner_text("body")
        from model.runs.store import RunStore
        store = RunStore(db)
        comp = store.comparisons()[0]
        runs = store.runs(comp.id)
        checks["integrity_check ok"] = store.integrity_check() == "ok"
        checks["finished run and its 2 epochs kept, its model loads"] = (
            runs[0].status == "finished" and len(store.epochs(runs[0].id)) == 2
            and store.model_path(runs[0].id) is not None)
        checks["interrupted run and comparison marked interrupted"] = (
            runs[1].status == "interrupted" and comp.status == "interrupted")
        checks["the page says so, no traceback"] = ("interrupted" in text
                                                    and "Traceback" not in text)
        store.close()
        press_start(page, batch=4, epochs=1, db=db)
        done = wait_for(lambda: len(statuses(db)) == 4
                        and all(s[2] == "finished" for s in statuses(db)[2:]), 300)
        checks["the queue is usable: a new comparison ran to the end"] = bool(done)
        return next((ln for ln in text.splitlines() if "interrupted:" in ln), "interrupted")
    finally:
        server2.stop()


def sigterm_server(lab: Lab) -> Outcome:
    """SIGTERM to the server while a comparison trains and another waits."""
    db = lab.tmp("sigterm") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    try:
        with Browser() as b:
            page = b.trials(server.url)
            press_start(page, batch=4, epochs=50, db=db)
            wait_for(lambda: statuses(db) and statuses(db)[0][1] == "running", 300)
            set_number(page, "epochs", 3)  # a second, different comparison: queued
            page.get_by_role("button", name="Start", exact=True).click()
            wait_for(lambda: len(statuses(db)) == 4, 60)
            kids = server.children()
            t0 = time.monotonic()
            code = server.signal(signal.SIGTERM, wait=60)
            took = time.monotonic() - t0
    finally:
        server.stop()
    rows = statuses(db)
    ends = sorted({s[1] for s in rows}), sorted({s[2] for s in rows})
    return Outcome(f"server exited {code} {took:.1f} s after SIGTERM; runs {ends[0]}, "
                   f"comparisons {ends[1]}",
                   {"the server exited within 60 s": code is not None,
                    "no run or comparison left queued or running": rows != [] and not (
                        {s[1] for s in rows} | {s[2] for s in rows}) & {"queued", "running"},
                    "runs ended cancelled or interrupted": {s[1] for s in rows}
                    <= {"cancelled", "interrupted"},
                    "no training child left": not any(alive(k) for k in kids)})


def urls(lab: Lab) -> Outcome:
    """/trials (the default page's own path) and an unknown path."""
    db = lab.tmp("urls") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    listening = listen_address(server.port)
    seen: dict[str, list[str]] = {}
    try:
        with Browser() as b:
            for path in ("/trials", "/no-such-page"):
                seen[path] = _what_the_page_shows(b, server.url + path)
    finally:
        server.stop()
    return Outcome(f"/trials: {seen.get('/trials')}; /no-such-page: {seen.get('/no-such-page')}",
                   {"/trials shows the Trials page, no 'Page not found'":
                        seen.get("/trials") == ["trials"],
                    "an unknown path: one 'Page not found' notice, then the Trials page":
                        seen.get("/no-such-page") == ["not found", "trials"],
                    "the server listened on 127.0.0.1 only (no --server.address given)":
                        listening == "127.0.0.1"})


def _what_the_page_shows(b: Browser, url: str) -> list[str]:
    """Open ``url`` and watch it for up to 20 s: "not found" once if Streamlit's notice
    appeared, then "trials" when the Trials page is shown."""
    page = b.browser.new_page()
    page.goto(url, timeout=180_000)
    marks: list[str] = []
    for _ in range(80):
        page.wait_for_timeout(250)
        body = page.inner_text("body")
        if "Page not found" in body and "not found" not in marks:
            marks.append("not found")
        if "Trials: does AMP" in body:
            marks.append("trials")
            break
    page.close()
    return marks


def two_tabs_and_cli(lab: Lab) -> Outcome:
    """Two tabs on one server and a CLI `train` on the same store at the same time."""
    db = lab.tmp("twotabs") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    addr = listen_address(server.port)
    texts: list[str] = []
    try:
        with Browser() as b:
            tab_a, tab_b = b.trials(server.url), b.trials(server.url)
            press_start(tab_a, batch=4, epochs=2, db=db)
            cli = _cli_train(lab, db)
            live = [_live_comparison(tab) for tab in (tab_a, tab_b)]
            out, _ = cli.communicate(timeout=600)
            wait_for(lambda: len(statuses(db)) == 4
                     and all(s[2] in ("finished", "failed") for s in statuses(db)), 300)
            texts = [t.inner_text("body") for t in (tab_a, tab_b)]
    finally:
        server.stop()
    rows = statuses(db)
    dup, names = _duplicates_and_names(db)
    locked = [s for s in [out, server.log(), *texts] if "database is locked" in s]
    return Outcome(f"2 comparisons ({names}), {len(rows)} runs: {sorted({s[1] for s in rows})}; "
                   f"server listened on {addr}",
                   {"every run recorded once (2 comparisons x 2 runs)": len(rows) == 4 and dup == 0,
                    "all finished": {s[1] for s in rows} == {"finished"},
                    "both tabs showed the same live job": len(live) == 2 and live[0] == live[1]
                    and bool(live[0]),
                    "no 'database is locked' reached the CLI, the log or a page": not locked,
                    "binds 127.0.0.1 without --server.address": addr == "127.0.0.1"})


def _cli_train(lab: Lab, db: Path) -> subprocess.Popen:
    """A 2-run, 2-epoch ``python -m model train`` named from-the-cli on the store ``db``."""
    return subprocess.Popen([sys.executable, "-m", "model", "train", "--dataset",
                             str(lab.dataset), "--store", str(db), "--precisions",
                             "fp32,amp-bf16", "--batch-size", "4", "--epochs", "2",
                             "--conv-filters", "8", "--gru-units", "8", "--dropout",
                             "0.1", "--name", "from-the-cli"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _live_comparison(tab) -> list[str]:
    """The first comparison id shown after a tab's "Live view" heading (waits up to 300 s)."""
    body = wait_for(lambda: (lambda t: t if "Live view" in t else None)(
        tab.inner_text("body")), 300, 1.0) or ""
    after = body.split("Live view", 1)[-1] if "Live view" in body else ""
    return re.findall(r"c\d{8}-\d{6}-[0-9a-f]{6}", after)[:1]


def _duplicates_and_names(db: Path) -> tuple[int, list[str]]:
    """(runs stored twice under one comparison and position, comparison names oldest first)."""
    con = sqlite3.connect(db)
    dup = con.execute("SELECT COUNT(*) - COUNT(DISTINCT comparison_id || position) FROM runs"
                      ).fetchone()[0]
    names = [r[0] for r in con.execute("SELECT name FROM comparisons ORDER BY created_unix")]
    con.close()
    return dup, names


def double_start_and_cancel(lab: Lab) -> Outcome:
    """Start double-clicked, then Cancel pressed during the first epoch."""
    db = lab.tmp("dbl") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    try:
        with Browser() as b:
            page = b.trials(server.url)
            press_start(page, batch=2, epochs=20, double=True, db=db)
            wait_for(lambda: statuses(db) and statuses(db)[0][1] == "running", 300)
            page.wait_for_timeout(3000)  # let a second comparison appear if there was one
            n_comps = len({s[0] for s in statuses(db)})
            cancel = page.get_by_role("button", name="Cancel", exact=True)
            cancel.wait_for(timeout=60_000)
            con = sqlite3.connect(db)
            epochs_before = con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
            con.close()
            t0 = time.monotonic()
            cancel.click()
            ended = wait_for(lambda: statuses(db)[0][1] == "cancelled", 60, 0.05)
            latency = time.monotonic() - t0
    finally:
        server.stop()
    from model.runs.store import RunStore
    store = RunStore(db)
    comp = store.comparisons()[-1]
    run = store.runs(comp.id)[0]
    store.close()
    return Outcome(f"{n_comps} comparison(s); cancel took {latency:.2f} s from the click; "
                   f"run: {run.message}",
                   {"exactly one comparison from a double click": n_comps == 1,
                    "cancelled in the first epoch": bool(ended) and epochs_before == 0
                    and run.message == "cancelled during epoch 1",
                    # the click's rerun + the parent's 0.2 s poll + the batch in flight (the
                    # child checks before every batch; its first batch includes compiling)
                    "cancel reached the run within 10 s of the click": latency < 10.0})
