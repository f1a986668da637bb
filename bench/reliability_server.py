"""The heavy rows of bench/bench_reliability.py: a real dashboard server (``streamlit run``)
killed, stopped, shared and loaded, driven by headless chromium (Playwright) and, for the
30 connections, by Streamlit's own websocket protocol.

Each scenario starts its own server on a free loopback port, on the catalogue's scratch
store and tiny dataset, and ends it. Loopback only; bounded in count and time.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.bench_reliability import ROOT, Lab, Outcome, one_line

CHROMIUM = os.environ.get("LAB_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run"]
FIGURES: dict[str, object] = {}  # load figures, also written into the results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """``streamlit run app/main.py`` on a free loopback port with the lab's environment."""

    def __init__(self, lab: Lab, store: Path, name: str = "server"):
        self.lab, self.store = lab, store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = store.parent / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "DashboardServer":
        env = dict(os.environ, LAB_STORE=str(self.store), LAB_DATASET=str(self.lab.dataset),
                   LAB_NETWORK="8,8,0.1", LAB_DEMO_DIR=str(self.lab.base / "demo"),
                   LAB_CANDIDATES=str(self.lab.base / "no-candidates"), LAB_MODELS="",
                   LAB_PROFILES=str(self.lab.base / "profiles"), TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONUNBUFFERED="1")
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port",
             str(self.port), "--server.headless", "true", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"the server did not start: {self.log()[-500:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def children(self) -> list[int]:
        return children_of(self.pid)

    def signal(self, sig: int, wait: float = 60) -> int | None:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peak_rss_mb(self) -> float:
        """The server process's own peak RSS so far (VmHWM), MB."""
        return status_kb(self.pid, "VmHWM") / 1024


def status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return None


def statuses(db: Path) -> list[tuple[str, str, str]]:
    """(comparison id, run status, comparison status) of every run, oldest first."""
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("SELECT r.comparison_id, r.status, c.status FROM runs r JOIN "
                           "comparisons c ON c.id = r.comparison_id ORDER BY c.created_unix, "
                           "r.position").fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()


# -- the browser -----------------------------------------------------------------------------------
class Browser:
    """Headless chromium through Playwright (the Debian package; no download)."""

    def __enter__(self) -> "Browser":
        from playwright.sync_api import sync_playwright
        if not Path(CHROMIUM).is_file():
            raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                headless=True)
        return self

    def __exit__(self, *exc) -> None:
        self.browser.close()
        self._pw.stop()

    def trials(self, url: str):
        page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=180_000)
        page.get_by_text("Trials: does AMP", exact=False).first.wait_for(timeout=90_000)
        return page


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait until Streamlit's "Running..." indicator is gone (the script run has ended)."""
    page.wait_for_timeout(300)
    try:
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - a fragment rerun may keep it up; go on
        pass


def set_number(page, label: str, value: int) -> None:
    from playwright.sync_api import expect
    wait_idle(page)
    box = page.get_by_label(label, exact=True)
    expect(box).to_have_count(1, timeout=60_000)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(500)
    wait_idle(page)


def comparisons(db: Path) -> int:
    return len({s[0] for s in statuses(db)})


def press_start(page, batch: int = 4, epochs: int = 1, double: bool = False,
                db: Path | None = None) -> None:
    """Fill batch size and epochs, press Start (twice quickly with ``double``); with ``db``,
    wait until the store holds one more comparison (a click that landed mid-rerun is
    pressed again, once)."""
    set_number(page, "batch size", batch)
    set_number(page, "epochs", epochs)
    before = comparisons(db) if db is not None else 0
    for _ in range(3):
        wait_idle(page)
        button = page.get_by_role("button", name="Start", exact=True)
        if double:
            button.dblclick()
        else:
            button.click()
        if db is None or wait_for(lambda: comparisons(db) > before, 30):
            return


# -- the scenarios ---------------------------------------------------------------------------------
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
                msg = next((ln for ln in text.splitlines() if "interrupted:" in ln),
                           "interrupted")
            finally:
                server2.stop()
    finally:
        server.stop()
    return Outcome(msg.strip(), checks)


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
    listening = _ss_address(server.port)
    seen: dict[str, list[str]] = {}
    try:
        with Browser() as b:
            for path in ("/trials", "/no-such-page"):
                page = b.browser.new_page()
                page.goto(server.url + path, timeout=180_000)
                marks: list[str] = []
                for _ in range(80):
                    page.wait_for_timeout(250)
                    body = page.inner_text("body")
                    if "Page not found" in body and "not found" not in marks:
                        marks.append("not found")
                    if "Trials: does AMP" in body:
                        marks.append("trials")
                        break
                seen[path] = marks
                page.close()
    finally:
        server.stop()
    return Outcome(f"/trials: {seen.get('/trials')}; /no-such-page: {seen.get('/no-such-page')}",
                   {"/trials shows the Trials page, no 'Page not found'":
                        seen.get("/trials") == ["trials"],
                    "an unknown path: one 'Page not found' notice, then the Trials page":
                        seen.get("/no-such-page") == ["not found", "trials"],
                    "the server listened on 127.0.0.1 only (no --server.address given)":
                        listening == "127.0.0.1"})


def two_tabs_and_cli(lab: Lab) -> Outcome:
    """Two tabs on one server and a CLI `train` on the same store at the same time."""
    db = lab.tmp("twotabs") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    addr = _ss_address(server.port)
    texts: list[str] = []
    try:
        with Browser() as b:
            tab_a, tab_b = b.trials(server.url), b.trials(server.url)
            press_start(tab_a, batch=4, epochs=2, db=db)
            cli = subprocess.Popen([sys.executable, "-m", "model", "train", "--dataset",
                                    str(lab.dataset), "--store", str(db), "--precisions",
                                    "fp32,amp-bf16", "--batch-size", "4", "--epochs", "2",
                                    "--conv-filters", "8", "--gru-units", "8", "--dropout",
                                    "0.1", "--name", "from-the-cli"],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
            live = []
            for tab in (tab_a, tab_b):
                body = wait_for(lambda: (lambda t: t if "Live view" in t else None)(
                    tab.inner_text("body")), 300, 1.0) or ""
                after = body.split("Live view", 1)[-1] if "Live view" in body else ""
                live.append(re.findall(r"c\d{8}-\d{6}-[0-9a-f]{6}", after)[:1])
            out, _ = cli.communicate(timeout=600)
            wait_for(lambda: len(statuses(db)) == 4
                     and all(s[2] in ("finished", "failed") for s in statuses(db)), 300)
            texts = [t.inner_text("body") for t in (tab_a, tab_b)]
    finally:
        server.stop()
    rows = statuses(db)
    con = sqlite3.connect(db)
    dup = con.execute("SELECT COUNT(*) - COUNT(DISTINCT comparison_id || position) FROM runs"
                      ).fetchone()[0]
    names = [r[0] for r in con.execute("SELECT name FROM comparisons ORDER BY created_unix")]
    con.close()
    locked = [s for s in [out, server.log(), *texts] if "database is locked" in s]
    return Outcome(f"2 comparisons ({names}), {len(rows)} runs: {sorted({s[1] for s in rows})}; "
                   f"server listened on {addr}",
                   {"every run recorded once (2 comparisons x 2 runs)": len(rows) == 4 and dup == 0,
                    "all finished": {s[1] for s in rows} == {"finished"},
                    "both tabs showed the same live job": len(live) == 2 and live[0] == live[1]
                    and bool(live[0]),
                    "no 'database is locked' reached the CLI, the log or a page": not locked,
                    "binds 127.0.0.1 without --server.address": addr == "127.0.0.1"})


def _ss_address(port: int) -> str:
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
    fields = out.stdout.split()
    return fields[3].rsplit(":", 1)[0] if len(fields) > 3 else "?"


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


# -- 30 connections while a comparison trains ----------------------------------------------------
async def _load_once(url: str, port: int) -> float:
    """One page load: GET the page, then a websocket session until the script finished."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    t0 = time.perf_counter()
    await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/trials", timeout=60).read())
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream",
                                  subprotocols=["streamlit"], max_size=2**26,
                                  origin=f"http://127.0.0.1:{port}", open_timeout=60) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = ""  # the default page (Trials) at /
        await ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout=120)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            if fwd.WhichOneof("type") == "script_finished":
                return time.perf_counter() - t0


async def _load(url: str, port: int, n: int) -> list[float]:
    return list(await asyncio.gather(*(_load_once(url, port) for _ in range(n))))


def _epochs(db: Path) -> int:
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def load_30(lab: Lab, n: int = 30) -> Outcome:
    """30 concurrent connections load the Trials page while a comparison trains."""
    db = lab.tmp("load") / "lab.sqlite"
    server = DashboardServer(lab, db).start()
    peak_kb = {"server": 0, "children": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak_kb["children"] = max(peak_kb["children"], sum(
                status_kb(k, "VmRSS") for k in children_of(trainer.pid)))
            time.sleep(0.1)
    # the comparison trains in a `train` command on the same store (its child trains like
    # the server's would; the pages show it live): the server itself only serves pages
    trainer = subprocess.Popen([sys.executable, "-m", "model", "train", "--dataset",
                                str(lab.dataset), "--store", str(db), "--precisions",
                                "fp32,amp-bf16", "--batch-size", "2", "--epochs", "200",
                                "--conv-filters", "8", "--gru-units", "8", "--dropout", "0.1"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(statuses(db)) and any(s_[1] == "running" for s_ in statuses(db))
                 and _epochs(db) >= 1, 300)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        cold = asyncio.run(_load(server.url, server.port, 1))[0]  # the server's first page
        idle = asyncio.run(_load(server.url, server.port, 1))[0]  # one page, warm
        times = asyncio.run(_load(server.url, server.port, n))
        training = any(s_[1] == "running" for s_ in statuses(db))
        stop.set()
        peak_kb["server"] = status_kb(server.pid, "VmHWM")
    finally:
        stop.set()
        trainer.send_signal(signal.SIGTERM)  # cancels its comparison
        try:
            trainer.wait(60)
        except subprocess.TimeoutExpired:
            trainer.kill()
        server.stop()
    times.sort()
    p50 = statistics.median(times)
    p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
    FIGURES.update({"connections": n, "page_load_p50_s": round(p50, 3),
                    "page_load_p95_s": round(p95, 3), "page_load_max_s": round(times[-1], 3),
                    "single_load_while_training_s": round(idle, 3),
                    "first_load_after_start_s": round(cold, 3),
                    "server_peak_rss_mb": round(peak_kb["server"] / 1024, 1),
                    "training_child_peak_rss_mb": round(peak_kb["children"] / 1024, 1),
                    "cpu_cores": os.cpu_count()})
    goal = "met" if p95 < 2.0 else "NOT met"
    FIGURES["p95_under_2s_goal"] = goal
    return Outcome(f"[p95 < 2 s goal {goal}] "
                   f"{n} connections while training: page load p50 {p50:.2f} s, p95 {p95:.2f} s "
                   f"(max {times[-1]:.2f} s; one alone {idle:.2f} s, the server's first "
                   f"{cold:.2f} s); server peak RSS "
                   f"{peak_kb['server'] / 1024:.0f} MB, training child {peak_kb['children'] / 1024:.0f} MB",
                   # the goal (p95 under 2 s) is a figure, reported in the message and in
                   # the results' "load" section; the row checks that every page was served
                   {"every connection got the page (no error, no refused session)":
                        len(times) == n,
                    "a comparison was training throughout": training})


SCENARIOS = [
    ("server: kill -9 during run 2 of a 2-run comparison, then restart", "faults", True,
     kill9_server),
    ("server: SIGTERM while a comparison trains and another waits", "faults", True,
     sigterm_server),
    ("server: two tabs and a CLI train on one store, binding", "dashboard", True,
     two_tabs_and_cli),
    ("server: /trials and an unknown URL", "dashboard", True, urls),
    ("server: Start double-clicked, Cancel in the first epoch", "dashboard", True,
     double_start_and_cancel),
    ("load: 30 connections load the Trials page while training", "load", True, load_30),
]

__all__ = ["SCENARIOS", "FIGURES", "DashboardServer", "Browser", "one_line"]
