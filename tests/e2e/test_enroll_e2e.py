"""Enrolment in a real headless chromium: upload 2 takes on the Enrol page, start a tiny
enrolment, and find "my model" in the Detect page's model list.

Its own server (temporary store, profiles and candidates folders), so the dashboard test's
store and order are untouched.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from model.enroll.standin import write_standin_takes
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "bench" / "candidates" / "embed-head-1000.keras"
ENROL_TIMEOUT_MS = 480_000  # 3 tiny fine-tunes on a shared 2-core CPU


@pytest.fixture(scope="module")
def enroll_server(tmp_path_factory):
    """``streamlit run app/main.py`` on temp folders; yields (url, takes, base folder)."""
    base = tmp_path_factory.mktemp("e2e-enroll")
    (base / "candidates").mkdir()
    for suffix in (".keras", ".json"):
        shutil.copy(BASE.with_suffix(suffix), base / "candidates")
    takes = write_standin_takes(base / "takes", "activate", 2, seed=21)
    port = free_port()
    env = dict(os.environ, LAB_STORE=str(base / "lab.sqlite"), LAB_PROFILES=str(base / "profiles"),
               LAB_CANDIDATES=str(base / "candidates"), LAB_DEMO_DIR=str(base / "demo"),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    log = open(base / "server.log", "w")
    # SIGUSR1 dumps every thread's stack into the server log (a hung enrolment says where)
    boot = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
            "from streamlit.web.cli import main; sys.argv = ['streamlit', *sys.argv[1:]]; main()")
    proc = subprocess.Popen([sys.executable, "-c", boot, "run", "app/main.py",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    yield url, takes, base, proc
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _fill(page, label: str, value: int) -> None:
    """Type a number into a box and confirm it, retrying across Streamlit's reruns.

    While a rerun draws, the page can hold the previous run's copy of a box beside the new one,
    or replace a box under the cursor; a slow rerun (cold caches on a fresh clone) can also draw
    the "Data size" expander anew, closed. So each try opens the expander when the box is hidden,
    fills it and waits until the box shows the value; a try that loses the race starts over.
    """
    box = page.get_by_label(label, exact=True)
    for _ in range(8):
        try:
            expect(box).to_have_count(1, timeout=30_000)
            if not box.is_visible():
                page.get_by_text("Data size", exact=True).click(timeout=5_000)
                page.wait_for_timeout(500)
            box.fill(str(value), timeout=5_000)
            box.press("Enter", timeout=5_000)
            page.wait_for_timeout(500)
            expect(box).to_have_value(str(value), timeout=5_000)
            return
        except (PlaywrightError, AssertionError):
            page.wait_for_timeout(1_000)
    raise AssertionError(f"could not set {label!r} to {value} on the Enrol page")


def test_upload_two_takes_enrol_and_find_my_model(enroll_server, browser, shots):
    url, takes, base, proc = enroll_server
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url + "/enroll")
    page.get_by_text("Enrol your voice").wait_for(timeout=90_000)
    page.get_by_test_id("stFileUploader").locator('input[type="file"]').set_input_files(
        [str(p) for p in takes])
    page.get_by_text("Takes (2 of 2-10)").wait_for(timeout=60_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Base model").click()
    page.get_by_role("option", name="embed-head-1000").click()
    _fill(page, "Epochs", 1)
    page.get_by_text("Data size", exact=True).click()
    _fill(page, "10 s clips per take (0: automatic)", 3)
    _fill(page, "synthetic training clips", 4)
    _fill(page, "synthetic negative clips", 4)
    _fill(page, "your-voice negative clips", 2)
    _fill(page, "synthetic dev clips", 6)
    page.wait_for_timeout(1500)  # let the last value reach the server before Start
    page.get_by_role("button", name="Start enrolment").click()
    try:
        page.get_by_text("saved my-model.keras", exact=False).wait_for(timeout=ENROL_TIMEOUT_MS)
    except Exception:
        page.screenshot(path=str(shots / "enroll_failed.png"), full_page=True)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        pytest.fail(f"no model saved; server log ends: {(base / 'server.log').read_text()[-4000:]}")
    page.screenshot(path=str(shots / "enroll_done.png"), full_page=True)
    assert (base / "profiles" / "activate-me" / "my-model.keras").is_file()
    page.goto(url + "/detect")
    page.get_by_text("Detect the trigger word in a clip").wait_for(timeout=60_000)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("my model (activate-me)",
                                                                     timeout=60_000)
    page.screenshot(path=str(shots / "enroll_detect.png"), full_page=True)
