"""The Enrol page through AppTest: uploads become checked takes on disk (a bad one is one
line), Delete removes one, Start enrolment (a tiny real one) runs in the background, and the
Detect page then lists "my model (<profile>)" with its before/after curves."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from model.audio.features import SAMPLE_RATE_HZ
from model.enroll.standin import standin_takes

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[1]
BASE = "bench/candidates/embed-head-1000.keras"


def enroll_script():
    from app.enroll_page import enroll_page
    enroll_page()


def detect_script():
    from app.detect_page import detect_page
    detect_page()


def _wav(audio) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE_HZ, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def take_bytes():
    return [_wav(t) for t in standin_takes("activate", 3, seed=11)]


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def test_enrol_page_takes_enrols_and_detect_lists_my_model(lab, take_bytes):
    (lab / "candidates").mkdir()
    for suffix in (".keras", ".json"):
        shutil.copy(ROOT / BASE.replace(".keras", suffix), lab / "candidates")
    at = AppTest.from_function(enroll_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert at.button(key="e_start").disabled  # no takes yet
    at.file_uploader(key="e_upload").upload("a.wav", take_bytes[0], "audio/wav").run()
    at.file_uploader(key="e_upload").upload("notes.wav", b"not audio", "audio/wav").run()
    assert not at.exception
    assert any("notes.wav" in w and "not audio" in w for w in _texts(at.warning))
    folder = lab / "profiles" / "activate-me"
    assert sorted(p.name for p in (folder / "takes").iterdir()) == ["01.wav"]
    at.file_uploader(key="e_upload").upload("b.wav", take_bytes[1], "audio/wav").run()
    at.file_uploader(key="e_upload").upload("c.wav", take_bytes[2], "audio/wav").run()
    assert len(list((folder / "takes").iterdir())) == 3
    at.button(key="e_del_activate-me_03.wav").click().run()
    assert sorted(p.name for p in (folder / "takes").iterdir()) == ["01.wav", "02.wav"]
    assert not at.button(key="e_start").disabled
    # a refresh (a new session) sees the same takes
    again = AppTest.from_function(enroll_script, default_timeout=TIMEOUT).run()
    assert any("Takes (2 of" in s for s in _texts(again.subheader))
    # a tiny real enrolment: 2 takes -> leave-one-out (2 fine-tunes) + the final one
    again.selectbox(key="e_init").set_value(str(lab / "candidates" / "embed-head-1000.keras"))
    again.number_input(key="e_epochs").set_value(1)
    again.number_input(key="e_cpt").set_value(3)
    again.number_input(key="e_syn").set_value(4)
    again.number_input(key="e_neg").set_value(4)
    again.number_input(key="e_own").set_value(2)
    again.number_input(key="e_dev").set_value(6)
    again.button(key="e_start").click().run()
    from app.enroll_data import get_enroll_job
    get_enroll_job().join(timeout=600)
    state = get_enroll_job().snapshot()
    assert state.ok, state.message
    assert (folder / "my-model.keras").is_file()
    det = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    assert not det.exception
    assert det.selectbox(key="d_model").value == "my model (activate-me)"  # listed first
    assert any("leave-one-out over 2 takes" in c for c in _texts(det.caption))
    assert any("false accepts per hour on dev" in c for c in _texts(det.caption))


def test_enrol_page_empty_word_is_one_line(lab):
    at = AppTest.from_function(enroll_script, default_timeout=TIMEOUT).run()
    at.text_input(key="e_word").set_value("").run()
    assert not at.exception
    assert len(at.error) == 1 and "the word is empty" in at.error[0].value
    assert "\n" not in at.error[0].value
