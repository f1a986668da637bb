"""Shared fixtures. Tests run on the CPU with tiny data."""
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from tests.tinydata import write_tiny_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny log-power dataset (see tests/tinydata.py), made once per test module."""
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def lab(tmp_path, tiny, monkeypatch):
    """Environment of a fresh app: temp store, tiny dataset, small network, no demo clips or candidates.

    Yields the temp folder; the process-wide runner of that store is shut down afterwards.
    """
    from model.runs.jobs import get_runner

    monkeypatch.setenv("LAB_STORE", str(tmp_path / "lab.sqlite"))
    monkeypatch.setenv("LAB_DATASET", str(tiny))
    monkeypatch.setenv("LAB_NETWORK", "8,8,0.1")
    monkeypatch.setenv("LAB_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("LAB_CANDIDATES", str(tmp_path / "candidates"))  # none unless a test adds
    monkeypatch.setenv("LAB_PROFILES", str(tmp_path / "profiles"))  # no enrolled voices unless a test adds
    yield tmp_path
    get_runner(tmp_path / "lab.sqlite").shutdown(timeout=30)
