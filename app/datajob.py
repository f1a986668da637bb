"""Making a dataset from the browser: one background thread per process, polled by the page.

The thread only calls :func:`model.data.makedata.make_dataset` and writes plain fields under a
lock; the page reads a snapshot every second. Nothing here calls Streamlit.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.bgjob import BackgroundJob
from model.errors import LabError
from model.data.synth import SynthConfig

MakeFn = Callable[..., object]  # make_dataset's signature (replaceable in tests)


@dataclass
class DataJobState:
    """A snapshot of the data job."""

    running: bool = False  # the thread is working
    stage: str = ""  # "bank" (text-to-speech) or "mix"
    done: int = 0  # items done in this stage
    total: int = 0  # items in this stage
    out_dir: str = ""  # destination folder
    message: str = ""  # result or one-line error
    ok: bool | None = None  # None while running or never run; True/False once ended
    started_unix: float = 0.0  # when it started

    @property
    def fraction(self) -> float:
        """Progress of the current stage, 0..1."""
        return min(self.done / self.total, 1.0) if self.total else 0.0


class DataJob(BackgroundJob):
    """At most one make-data run at a time in this process."""

    def __init__(self, make: MakeFn | None = None):
        super().__init__(DataJobState())
        self._make = make

    def start(self, cfg: SynthConfig, out_dir: str | Path, feature_kind: str = "log-power-v1") -> None:
        """Validate and start; raises LabError if invalid or one is already running.

        Args:
            cfg: synthesis settings.
            out_dir: dataset folder to (re)place.
            feature_kind: features stored (``model.audio.features.SYNTH_FEATURE_KINDS``).
        """
        from model.audio.features import SYNTH_FEATURE_KINDS
        cfg.validate()
        if feature_kind not in SYNTH_FEATURE_KINDS:
            raise LabError(f"unknown feature kind {feature_kind!r}")
        self._launch(DataJobState(running=True, out_dir=str(out_dir), stage="starting",
                                  started_unix=time.time()),
                     self._work, (cfg, Path(out_dir), feature_kind), "make-data",
                     "a dataset is already being made; wait for it or cancel it")

    def _work(self, cfg: SynthConfig, out_dir: Path, feature_kind: str) -> None:
        make = self._make
        if make is None:
            from model.data.makedata import make_dataset as make
        try:
            report = make(cfg, out_dir, progress=self._progress, cancel=self._cancel,
                          feature_kind=feature_kind)
            meta = getattr(report, "meta", None)
            msg = (f"made {meta.n_train} training and {meta.n_dev} dev examples of "
                   f"“{meta.word}” in {out_dir}" if meta else f"made {out_dir}")
            ok = True
        except LabError as err:
            msg, ok = str(err), False
        except Exception as err:  # noqa: BLE001 - report, never kill the process
            msg, ok = f"making data failed: {type(err).__name__}: {err}".splitlines()[0], False
        self._end(msg, ok)


_JOB: DataJob | None = None
_JOB_LOCK = threading.Lock()


def get_data_job() -> DataJob:
    """The process-wide data job (shared by every tab)."""
    global _JOB
    with _JOB_LOCK:
        if _JOB is None:
            _JOB = DataJob()
        return _JOB
