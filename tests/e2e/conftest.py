"""Real-browser tests: a real ``streamlit run`` server on a free port, driven by Debian's
chromium through Playwright, on a temporary store, a tiny dataset and a small network.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` Python
package (no Playwright browser download). Select with ``-m e2e``; skip with ``-m "not e2e"``.
Screenshots go to tests/e2e/screenshots/ (or $LAB_E2E_SCREENSHOTS).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.app_helpers import save_always_on_model

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LAB_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = Path(os.environ.get("LAB_E2E_SCREENSHOTS", ROOT / "tests" / "e2e" / "screenshots"))
FIGURES: dict[str, object] = {}  # performance figures, printed at the end of the session


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: real-browser tests (headless chromium + real server)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("dashboard performance (measured, not asserted)")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
        terminalreporter.write_line(f"screenshots: {SCREENSHOTS}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def always_on_model(folder: Path) -> Path:
    """A small model whose every step scores 0.9975: a deterministic detection at 0 s."""
    return save_always_on_model(folder)


def noise_wav(path: Path, seconds: float = 4.0, rate: int = 16000) -> Path:
    import soundfile as sf
    rng = np.random.default_rng(3)
    sf.write(path, (0.1 * rng.normal(size=int(seconds * rate))).astype(np.float32), rate,
             subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Files the server uses: tiny dataset, store path, an extra model, clips."""
    from tests.tinydata import write_tiny_dataset
    base = tmp_path_factory.mktemp("e2e")
    demo = base / "demo"
    demo.mkdir()
    noise_wav(demo / "demo_noise.wav")
    (base / "bad.wav").write_bytes(b"RIFF....WAVEfmt this is not really audio")
    return {"base": base, "dataset": write_tiny_dataset(base / "tiny"),
            "store": base / "lab.sqlite", "model": always_on_model(base),
            "clip": noise_wav(base / "noise.wav"), "bad": base / "bad.wav", "demo": demo}


@pytest.fixture(scope="session")
def server(lab):
    """A real ``streamlit run app/main.py`` on a free port; yields its URL."""
    port = free_port()
    env = dict(os.environ, LAB_STORE=str(lab["store"]), LAB_DATASET=str(lab["dataset"]),
               LAB_NETWORK="8,8,0.1", LAB_MODELS=str(lab["model"]), LAB_DEMO_DIR=str(lab["demo"]),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    log = open(lab["base"] / "server.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {(lab['base'] / 'server.log').read_text()}")
    FIGURES["server up (health ok)"] = f"{time.monotonic() - t0:.1f} s"
    yield {"url": url, "started": t0, "log": lab["base"] / "server.log"}
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def figures():
    """Performance figures to print at the end (this module's dict; tests add to it)."""
    return FIGURES


@pytest.fixture(scope="session")
def shots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS
