"""What the heavy reliability rows drive: a real dashboard server (``streamlit run``) on a
free loopback port, headless chromium through Playwright, and the store's run statuses
read straight from SQLite. Used by bench/reliability_server_faults.py and
bench/reliability_load.py.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.reliability_core import ROOT, Lab
from model.procs import children_of

CHROMIUM = os.environ.get("LAB_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run"]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
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
        from tests.app_helpers import app_env
        env = {**os.environ, **app_env(self.lab.base, self.lab.dataset, self.store),
               "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
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
    """A kB field (VmRSS, VmHWM) of /proc/<pid>/status; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_for(cond, timeout: float, step: float = 0.2):
    """Poll ``cond()`` every ``step`` s for up to ``timeout`` s: its first truthy value, else None."""
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


def comparisons(db: Path) -> int:
    """How many comparisons the store holds runs of."""
    return len({s[0] for s in statuses(db)})


def listen_address(port: int) -> str:
    """The address a local TCP ``port`` listens on (``ss``), "?" when none."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
    fields = out.stdout.split()
    return fields[3].rsplit(":", 1)[0] if len(fields) > 3 else "?"


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
    """Type ``value`` into the number box labelled ``label`` and wait for the rerun."""
    from playwright.sync_api import expect
    wait_idle(page)
    box = page.get_by_label(label, exact=True)
    expect(box).to_have_count(1, timeout=60_000)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(500)
    wait_idle(page)


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
