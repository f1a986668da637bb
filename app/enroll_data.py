"""Enrol page helpers without Streamlit: profiles, take waveforms, the enrolment job, curves.

The enrolment job is one background thread per process: it calls
:func:`model.enroll.pipeline.enroll` (whose fine-tune goes through the shared job queue, so
the Trials and History pages list it) and writes plain fields under a lock; the page polls a
snapshot. Nothing here calls Streamlit.
"""
from __future__ import annotations

import json
import os
import threading
import traceback
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from app.bgjob import BackgroundJob
from model.audio.feature_kinds import EMBEDDING_TIMING
from model.enroll.profile import (DEFAULT_PROFILES_DIR, MODEL_FILE, PROFILE_FILE, RESULT_FILE,
                                  Profile)
from model.errors import LabError

WAVE_POINTS = 400  # points of a take's drawn envelope


def profiles_root() -> Path:
    """Where profiles live: ``$LAB_PROFILES`` or ``profiles/``."""
    return Path(os.environ.get("LAB_PROFILES") or DEFAULT_PROFILES_DIR)


def list_profiles(root: Path) -> list[tuple[Path, Profile]]:
    """Every readable profile under ``root``, by folder name."""
    out = []
    for path in sorted(Path(root).glob(f"*/{PROFILE_FILE}")):
        try:
            out.append((path.parent, Profile.from_json(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue  # a damaged profile is skipped, not fatal to the page
    return out


def my_models(root: Path) -> list[tuple[str, Path]]:
    """("my model (<profile>)", path) of every profile with a saved personal model."""
    return [(f"my model ({folder.name})", folder / MODEL_FILE)
            for folder, _ in list_profiles(root) if (folder / MODEL_FILE).is_file()]


def take_waveform(audio: np.ndarray, rate_hz: int, points: int = WAVE_POINTS) -> pd.DataFrame:
    """A take's peak envelope: columns time_s, peak (0..1), at most ``points`` rows."""
    n = max(1, min(points, audio.size))
    edges = np.linspace(0, audio.size, n + 1).astype(int)
    peaks = [float(np.max(np.abs(audio[a:b]))) if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])]
    return pd.DataFrame({"time_s": edges[:-1] / rate_hz, "peak": peaks})


def read_result(folder: Path) -> dict | None:
    """The profile's last enrolment (enroll.json), or None."""
    try:
        return json.loads((Path(folder) / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def curves_frame(curve: dict) -> pd.DataFrame:
    """One clip's before/after probabilities as rows (time_s, model, probability)."""
    steps = np.arange(len(curve["after"]))
    t = EMBEDDING_TIMING.first_step_end_seconds + EMBEDDING_TIMING.step_seconds * steps
    rows = [pd.DataFrame({"time_s": t, "model": name, "probability": curve[key]})
            for name, key in (("before (base)", "before"), ("after (my model)", "after"))]
    return pd.concat(rows, ignore_index=True)


def result_lines(res: dict) -> list[str]:
    """The enrolment's figures, one line each."""
    b, a = res["before"], res["after"]
    pct = lambda v: "n/a" if v is None else f"{v:.0%}"  # noqa: E731
    return [res["scheme"],
            f"held-out takes found: before {pct(b['recall'])} at {b['threshold']:g}, after "
            f"{pct(a['recall'])} at {a['threshold']:g} ({a['found']}/{a['words']} words)",
            f"false accepts per hour on dev ({a['hours'] * 60:.0f} min): before "
            f"{b['fa_per_hour']:.1f}, after {a['fa_per_hour']:.1f}",
            f"threshold {a['threshold']:g}: {res['threshold_note']}"] + _tuned_line(res)


def _tuned_line(res: dict) -> list[str]:
    """The base at a threshold picked on the same takes, if the result records it."""
    t = res.get("base_tuned")
    if not t:
        return []
    pct = "n/a" if t["recall"] is None else f"{t['recall']:.0%}"
    return [f"the base at a threshold picked the same way ({t['threshold']:g}): {pct}"
            + (" (kept: the fine-tune did worse)" if res.get("kept_base") else "")]


@dataclass
class EnrollState:
    """A snapshot of the enrolment job."""

    running: bool = False  # the thread is working
    profile: str = ""  # the profile folder's name
    stage: str = ""  # what it does now
    done: int = 0  # items done in this stage
    total: int = 0  # items in this stage
    message: str = ""  # result or one-line error
    ok: bool | None = None  # None while running or never run
    model_path: str = ""  # the saved model, once done
    started_unix: float = 0.0  # when it started

    @property
    def fraction(self) -> float:
        """Progress of the current stage, 0..1."""
        return min(self.done / self.total, 1.0) if self.total else 0.0


class EnrollJob(BackgroundJob):
    """At most one enrolment at a time in this process."""

    def __init__(self) -> None:
        super().__init__(EnrollState())

    def start(self, folder: Path, prof: Profile, cfg, runner) -> None:
        """Start enrolling a profile (an EnrollConfig, a job-queue Runner); LabError if busy."""
        self._launch(EnrollState(True, Path(folder).name, "starting", started_unix=time.time()),
                     self._work, (folder, prof, cfg, runner), "enroll",
                     "an enrolment is already running; wait for it or cancel it")

    def _work(self, folder: Path, prof: Profile, cfg, runner) -> None:
        from model.enroll.pipeline import enroll
        path, ok = "", False
        try:
            res = enroll(folder, prof, cfg, runner, progress=self._progress, cancel=self._cancel)
            msg, ok = f"saved {res.model_path.name} in {res.seconds:.0f} s", True
            path = str(res.model_path)
        except LabError as err:
            msg = str(err)
        except Exception as err:  # noqa: BLE001 - report, never kill the server
            traceback.print_exc()  # the whole story in the server's log; the page gets one line
            msg = f"enrolment failed: {type(err).__name__}: {err}".splitlines()[0]
        self._end(msg, ok, model_path=path)


_JOB: EnrollJob | None = None
_JOB_LOCK = threading.Lock()


def get_enroll_job() -> EnrollJob:
    """The process-wide enrolment job (shared by every tab)."""
    global _JOB
    with _JOB_LOCK:
        if _JOB is None:
            _JOB = EnrollJob()
        return _JOB
