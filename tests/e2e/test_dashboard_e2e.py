"""The dashboard in a real headless chromium against a real server (see conftest.py).

Order matters (one server, one store): the Trials test trains a tiny comparison that the
History test then finds. Timings are printed at the end of the run, not asserted.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import time

import pytest
from playwright.sync_api import expect

from pathlib import Path

from model.runs.store import RunStore

ROOT = Path(__file__).resolve().parents[2]

EPOCHS_RE = re.compile(r"epochs shown: (\d+)")
TRAIN_TIMEOUT_S = 240
VIEW = {"width": 1500, "height": 1000}


def epochs_shown(page) -> int | None:
    """The 'epochs shown: N' caption of the live view, or None if not on the page (yet)."""
    loc = page.get_by_text(EPOCHS_RE).first
    try:
        text = loc.inner_text(timeout=200)
    except Exception:  # noqa: BLE001 - not rendered yet, or mid-rerun
        return None
    match = EPOCHS_RE.search(text)
    return int(match.group(1)) if match else None


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    # a rerun can briefly show the previous run's copy beside the new one: wait for one
    expect(box).to_have_count(1, timeout=60_000)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(400)  # let the rerun land before the next widget


def click_response_ms(page) -> float:
    """Click the x-axis radio during training; ms until the server's answer shows."""
    radio = page.get_by_text("wall-clock seconds", exact=True)
    radio.wait_for(timeout=30_000)
    t0 = time.perf_counter()
    radio.click()
    page.get_by_text("Loss against wall-clock seconds", exact=False).wait_for(timeout=10_000)
    return (time.perf_counter() - t0) * 1000


def watch_training(page, context, shots) -> dict:
    """Poll the live view until the comparison ends; click, refresh and open a tab midway."""
    seen: dict[int, float] = {}
    facts = {"click_ms": None, "refresh_ok": False, "second_tab_ok": False}
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        n = epochs_shown(page)
        now = time.time()
        for k in range(1, (n or 0) + 1):
            seen.setdefault(k, now)
        if n and n >= 1 and facts["click_ms"] is None and \
                page.get_by_text("Live view", exact=True).count():
            facts["click_ms"] = click_response_ms(page)
            page.screenshot(path=str(shots / "trials_live.png"), full_page=True)
            page.reload()
            page.get_by_text("Live view", exact=True).wait_for(timeout=30_000)
            page.get_by_text(EPOCHS_RE).first.wait_for(timeout=30_000)
            facts["refresh_ok"] = True
            other = context.new_page()
            other.goto(page.url)
            other.get_by_text("Live view", exact=True).wait_for(timeout=30_000)
            facts["second_tab_ok"] = True
            other.close()
        if page.get_by_text("Ended after", exact=False).count():
            break
        page.wait_for_timeout(100)
    facts["seen"] = seen
    return facts


def test_trials_run_live_refresh_and_summary(server, browser, shots, lab, figures):
    context = browser.new_context(viewport=VIEW)
    page = context.new_page()
    t0 = time.monotonic()
    page.goto(server["url"])
    page.get_by_role("button", name="Start").wait_for(timeout=90_000)
    figures["cold start: server launch -> usable Trials page"] = \
        f"{time.monotonic() - server['started']:.1f} s (first page load {time.monotonic() - t0:.1f} s)"
    assert page.get_by_text("CPU only", exact=False).count() or page.get_by_text("GPU:").count()
    page.screenshot(path=str(shots / "trials_start.png"), full_page=True)
    second = os.environ.get("LAB_E2E_SECOND_PRECISION", "amp-bf16")
    if second != "amp-bf16":  # the checkboxes: FP32 and the device default AMP are ticked
        page.get_by_text("AMP bf16", exact=True).click()
        page.get_by_text({"amp-fp16": "AMP fp16"}[second], exact=True).click()
        page.wait_for_timeout(400)
    set_number(page, "batch size", 12)
    set_number(page, "epochs", 2)
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"Started c\d")).wait_for(timeout=30_000)
    facts = watch_training(page, context, shots)
    page.get_by_text("Ended after", exact=False).wait_for(timeout=30_000)
    assert facts["refresh_ok"] and facts["second_tab_ok"]

    store = RunStore(lab["store"])
    cid = store.comparisons()[0].id
    ev_times = [e.time_unix for e in store.events(cid) if e.kind == "epoch"]
    lags = [facts["seen"][k + 1] - t for k, t in enumerate(ev_times) if k + 1 in facts["seen"]]
    figures["click response during training (x-axis radio -> server answer)"] = \
        f"{facts['click_ms']:.0f} ms"
    figures["epoch end -> shown in browser"] = (
        f"median {statistics.median(lags):.2f} s, max {max(lags):.2f} s over {len(lags)} epochs"
        " (includes one page refresh)")
    table = page.locator("table").last
    assert [(r.precision, r.status, r.message) for r in store.runs(cid)] == \
        [("fp32", "finished", ""), (second, "finished", "")]
    assert "fp32" in table.inner_text() and second in table.inner_text()
    assert "1.00×" in table.inner_text()  # the fp32 row's speedup
    assert epochs_shown(page) == 4
    assert page.locator("svg text", has_text=second).count() >= 1  # chart legends
    assert page.locator("g.mark-line path").count() >= 4  # 2 precisions x train/dev
    page.screenshot(path=str(shots / "trials_finished.png"), full_page=True)
    if os.environ.get("LAB_E2E_DOCS_SCREENSHOT") == "1":
        # Streamlit scrolls inside its own container, so full_page sees one viewport:
        # a tall viewport shows the settings, charts and summary in one picture
        page.set_viewport_size({"width": 1400, "height": 2600})
        page.wait_for_timeout(2500)
        page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))

    assert store.comparison(cid).status == "finished"
    context.close()


def test_detect_upload_shows_detections_and_bad_file_error(server, browser, shots, lab, figures):
    context = browser.new_context(viewport=VIEW)
    page = context.new_page()
    page.goto(server["url"] + "/detect")
    page.get_by_text("Detect the trigger word in a clip").wait_for(timeout=60_000)
    # the shipped pretrained model is listed first: pick the test's always-on model
    page.get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name="file always_on.keras").click()
    expect(page.get_by_role("combobox", name="Model")).to_have_value("file always_on.keras",
                                                                     timeout=30_000)
    t0 = time.monotonic()
    page.locator('input[type="file"]').set_input_files(str(lab["clip"]))
    metric = page.locator('[data-testid="stMetricValue"]:visible').first
    metric.wait_for(timeout=120_000)
    figures["detect: upload -> detections shown (model load + XLA compile)"] = \
        f"{time.monotonic() - t0:.1f} s"
    assert metric.inner_text().strip() == "1"  # always-on model: one detection at 0 s
    page.get_by_text("Download probabilities CSV").wait_for(timeout=60_000)  # last element
    # both buttons come in one rerun, but the browser may paint them a frame apart
    page.get_by_text("Download chimed WAV").wait_for(timeout=30_000)
    assert page.get_by_text("Download chimed WAV").count() == 1
    assert page.locator("audio").count() >= 2  # original and chimed players
    assert page.get_by_test_id("stImage").count() >= 1  # spectrogram
    page.screenshot(path=str(shots / "detect.png"), full_page=True)

    page.locator('input[type="file"]').set_input_files(str(lab["bad"]))
    err = page.locator('[data-testid="stAlertContentError"]').first
    err.wait_for(timeout=60_000)
    text = err.inner_text().strip()
    assert text and "\n" not in text and "Traceback" not in page.inner_text("body")
    figures["bad upload message"] = text
    page.screenshot(path=str(shots / "detect_bad_file.png"), full_page=True)
    context.close()


def test_history_lists_and_opens_the_comparison(server, browser, shots, lab):
    context = browser.new_context(viewport=VIEW)
    page = context.new_page()
    page.goto(server["url"] + "/history")
    page.get_by_text("History", exact=True).first.wait_for(timeout=60_000)
    cid = RunStore(lab["store"]).comparisons()[0].id
    page.get_by_text(cid, exact=False).first.wait_for(timeout=30_000)
    page.get_by_text(EPOCHS_RE).first.wait_for(timeout=30_000)
    page.get_by_text("Export CSV").first.wait_for(timeout=30_000)
    page.screenshot(path=str(shots / "history.png"), full_page=True)
    context.close()
    shutil.copy(server["log"], shots / "server.log")
