"""Reliability rows: settings, the environment variables the dashboard reads (LAB_NETWORK,
LAB_STORE, LAB_DATASET, LAB_MODELS): a bad value shows one line on the page, no traceback,
and a hostile model file named there runs nothing."""
from __future__ import annotations

from pathlib import Path

from bench.reliability_core import Entry, Lab, Outcome, registrar, write_wav
from bench.reliability_fixtures import custom_object_model, lambda_model, page_one_line

ROWS: list[Entry] = []
scenario = registrar(ROWS)


@scenario("setting: LAB_NETWORK=banana", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import trials_script
    return page_one_line(trials_script, {"LAB_NETWORK": "banana"}, lab)


@scenario("setting: LAB_STORE is a folder", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import history_script
    return page_one_line(history_script, {"LAB_STORE": str(lab.tmp("store-folder"))}, lab)


@scenario("setting: LAB_STORE under a file (/etc/hostname/lab.sqlite)", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import history_script
    blocker = lab.tmp("blk") / "file"
    blocker.write_text("x")
    return page_one_line(history_script, {"LAB_STORE": str(blocker / "lab.sqlite")}, lab)


@scenario("setting: LAB_DATASET missing", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import trials_script
    return page_one_line(trials_script, {"LAB_DATASET": str(lab.base / "nothing-here")}, lab)


def _detect_page_model(lab: Lab, model: Path, marker: Path | None = None) -> Outcome:
    _demo(lab)
    out = page_one_line(detect_extra_script, {"LAB_MODELS": str(model)}, lab)
    if marker is not None:
        out.checks["nothing from the file ran"] = not marker.exists()
    return out


@scenario("setting: LAB_MODELS names a .keras that is plain text", "settings")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("txtmodel") / "notes.keras"
    bad.write_text("not a zip")
    return _detect_page_model(lab, bad)


@scenario("setting: LAB_MODELS names a .keras with a custom class", "settings")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("custom-page")
    marker = folder / "PWNED"
    return _detect_page_model(lab, custom_object_model(lab, folder, marker), marker)


def detect_extra_script():
    """The Detect page with the LAB_MODELS file and a demo clip picked (the model loads)."""
    import os
    from pathlib import Path

    import streamlit as st
    from app.detect_page import detect_page
    st.session_state.setdefault("d_model", f"file {Path(os.environ['LAB_MODELS']).name}")
    st.session_state.setdefault("d_source", "Demo clip")
    detect_page()


def _demo(lab: Lab) -> None:
    """A demo clip folder for the Detect page (LAB_DEMO_DIR), made once per lab."""
    demo = lab.base / "demo"
    if not demo.is_dir():
        demo.mkdir()
        write_wav(demo / "noise.wav", 2.0, 16000)


@scenario("setting: LAB_MODELS names a .keras with a Lambda layer", "settings")
def _(lab: Lab) -> Outcome:
    _demo(lab)
    folder = lab.tmp("lambda")
    marker = folder / "PWNED"
    path = lambda_model(folder, marker)
    return _detect_page_model(lab, path, marker)
