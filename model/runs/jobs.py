"""The job API the dashboard and the CLI use: start, cancel, status, events.

One :class:`Runner` per process (:func:`get_runner`) owns one background worker thread
that runs comparisons one at a time, each run after the other (one accelerator: never
two trainings at once; a module-wide lock guarantees it even if several Runners exist).
With several GPUs a comparison's ``parallel`` settings place its runs
(model/runs/placement.py): each run over several GPUs (data-parallel), or several runs
at once, one per GPU (per-run); never two runs on one GPU.
Further comparisons queue. Everything a run reports goes to the :class:`RunStore`, and
readers (any thread, any process) poll it; the worker never calls UI code.

When the process stops normally (SIGTERM to the dashboard server, the end of a CLI
command) the process-wide Runner cancels its comparisons before exiting: the training
child stops before its next batch, and whatever has not ended within
:data:`EXIT_GRACE_S` is marked "interrupted", so no run stays "running" for ever. A
process killed outright (``kill -9``) cannot do this; the next process that opens the
store marks its runs "interrupted" (see model/runs/store.py).

The queue and its worker thread are in model/runs/job_worker.py; the Runner adds this API
and the training of one run.
"""
from __future__ import annotations

import atexit
import gc
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..data.dataset import Dataset
from ..errors import LabError
from ..train.distributed import visible_gpus
from ..train.events import END_KINDS, TrialEvent
from ..train.precision import default_precisions
from ..train.trial import one_line, run_trial
from ..train.trial_config import ComparisonConfig, validate_comparison
from .isolation import run_trial_isolated
from .job_worker import LOG, JobWorker, dataset_key
from .store import DEFAULT_DB_PATH, RunRow, RunStore

_RUNNER: "Runner | None" = None
_RUNNER_LOCK = threading.Lock()
ENDED = ("finished", "cancelled", "failed", "interrupted")
EXIT_GRACE_S = 15.0  # at process exit: how long running comparisons get to stop cleanly


@dataclass
class ComparisonStatus:
    """Where a comparison stands."""

    comparison_id: str  # the comparison
    state: str  # queued, running, finished, cancelled, failed, interrupted
    runs: list[RunRow]  # its runs in run order, with their own states
    current_run_id: str | None  # the run training now, if any
    queue_position: int | None  # 0: running now, 1..: waiting; None: not in this process's queue
    last_seq: int  # seq of its latest event (pass as ``since`` to poll for newer ones)
    message: str  # reason for failed/interrupted

    @property
    def done(self) -> bool:
        """True once it has ended (finished, cancelled, failed or interrupted)."""
        return self.state in ENDED


class Runner(JobWorker):
    """Queue of comparisons and the single worker thread that trains them."""

    def __init__(self, store: RunStore | None = None, isolate: bool = True):
        """Args:
            store: where comparisons, runs and events go (default runs/lab.sqlite).
            isolate: train each run in a fresh process (see model/runs/isolation.py); False
                trains in the worker thread itself (quicker to start; for tests).
        """
        super().__init__(store or RunStore(DEFAULT_DB_PATH), isolate)

    # -- public API ----------------------------------------------------------------------
    def start(self, cfg: ComparisonConfig, check_values: bool = False) -> str:
        """Validate, store and queue a comparison; returns its id.

        Args:
            cfg: the comparison.
            check_values: scan the whole dataset for NaN/inf now (otherwise the worker
                scans it before the first run; a bad dataset then fails the comparison).

        Raises:
            ConfigError, DatasetError: bad settings or data; nothing is stored then.
        """
        validate_comparison(cfg, check_values=check_values)
        if check_values:
            self._checked.add(dataset_key(cfg.base.dataset))
        if not cfg.precisions:  # store the pair that will really run
            cfg = replace(cfg, precisions=default_precisions())
        cid, _ = self.store.create_comparison(cfg)
        with self._cond:
            self._cancel[cid] = threading.Event()
            self._queue.append(cid)
            self._ensure_worker()
            self._cond.notify_all()
        return cid

    def cancel(self, comparison_id: str) -> bool:
        """Stop a comparison: the running run stops before its next batch, queued runs never
        start. Returns False if it was not queued or running in this process."""
        with self._cond:
            flag = self._cancel.get(comparison_id)
            if flag is None:
                return False
            flag.set()
            if comparison_id in self._queue:  # not started: end it here
                self._queue.remove(comparison_id)
                self._cancel.pop(comparison_id, None)
                self.store.end_queued_runs(comparison_id, "cancelled",
                                           "cancelled before it started")
                self.store.set_comparison_status(comparison_id, "cancelled")
                self._cond.notify_all()
        return True

    def status(self, comparison_id: str) -> ComparisonStatus:
        """The comparison's state, runs and queue position (raises LabError if unknown)."""
        comp = self.store.comparison(comparison_id)
        if comp is None:
            raise LabError(f"no comparison {comparison_id!r}")
        with self._cond:
            if comparison_id in self._group:
                pos, run_id = 0, self._current_run
            elif comparison_id in self._queue:
                pos, run_id = list(self._queue).index(comparison_id) + 1, None
            else:
                pos, run_id = None, None
        return ComparisonStatus(comparison_id, comp.status, self.store.runs(comparison_id),
                                run_id, pos, self.store.last_seq(comparison_id), comp.message)

    def events(self, comparison_id: str, since: int = 0) -> list[TrialEvent]:
        """The comparison's events with seq > since, in order."""
        return self.store.events(comparison_id, since)

    @property
    def busy(self) -> bool:
        """True while a comparison runs or waits in this Runner."""
        with self._cond:
            return bool(self._queue) or self._current is not None

    def wait(self, comparison_id: str, timeout: float | None = None) -> bool:
        """Block until the comparison has ended here; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while comparison_id in self._queue or comparison_id in self._group:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel everything and stop the worker (tests, process exit)."""
        with self._cond:
            self._stop = True
            for cid in list(self._queue):
                self._queue.remove(cid)
                self.store.end_queued_runs(cid, "cancelled", "runner shut down")
                self.store.set_comparison_status(cid, "cancelled")
            for flag in self._cancel.values():
                flag.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def stop_for_exit(self, grace_s: float = EXIT_GRACE_S,
                      message: str = "interrupted: the program stopped while it ran") -> None:
        """The process is ending: cancel everything, wait up to ``grace_s`` for the running
        run to stop, then mark whatever is still active in this process "interrupted"."""
        try:
            if self.busy:
                self.shutdown(timeout=grace_s)
            self.store.mark_owned_interrupted(message)
        except Exception:  # noqa: BLE001 - at exit: log, never raise
            LOG.exception("stopping the runner at exit")

    # -- training, looked up here (tests replace run_trial, run_trial_isolated, visible_gpus) --
    def _visible_gpus(self) -> list[str]:
        """The GPU ids this process may use."""
        return visible_gpus()

    def _run_one(self, cid: str, run: RunRow, cancel: threading.Event, data: Dataset,
                 devices: list[str] | None = None) -> None:
        """Train one run (on ``devices``: its GPU ids, [] for the visible default)."""
        ended = []
        with self._cond:
            self._current_run = run.id

        def emit(ev: TrialEvent) -> None:
            self.store.add_event(cid, ev)
            if ev.kind in END_KINDS:
                ended.append(ev.kind)
        try:
            if self.isolate:
                placed = {"devices": devices} if devices else {}
                run_trial_isolated(run.config, run.id, self.store.run_dir(run.id), emit, cancel,
                                   **placed)
            else:
                run_trial(run.config, run.id, self.store.run_dir(run.id), emit, cancel, data)
        except Exception as err:  # noqa: BLE001 - e.g. the store failed inside emit
            if not ended:
                try:
                    self.store.add_event(cid, TrialEvent("failed", run.id, run.precision,
                                                         run.seed, time.time(),
                                                         message=one_line(err)))
                except Exception:  # noqa: BLE001 - the store is failing too: the next open
                    LOG.exception("could not record the failure of %s", run.id)  # marks it
        finally:
            gc.collect()  # free the finished model's graphs before the next run builds one


def get_runner(store_path: str | Path | None = None) -> Runner:
    """The process-wide Runner (created on first call, on ``store_path`` or runs/lab.sqlite).

    Raises:
        LabError: the Runner here is busy training into a different store file.
    """
    global _RUNNER
    path = Path(store_path or DEFAULT_DB_PATH).resolve()
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = Runner(RunStore(path))
            _register_exit_hook()
        elif _RUNNER.store.path.resolve() != path:
            if _RUNNER.busy:
                raise LabError(f"this process is training into {_RUNNER.store.path}; "
                               f"cannot also use {path} until it ends")
            _RUNNER.shutdown()
            _RUNNER = Runner(RunStore(path))
        return _RUNNER


_EXIT_HOOK = False


def _register_exit_hook() -> None:
    """Once per process: stop the process-wide Runner cleanly when the interpreter exits.

    atexit runs its functions last-registered first, so this runs before multiprocessing's
    own exit function terminates the training children.
    """
    global _EXIT_HOOK
    if not _EXIT_HOOK:
        atexit.register(_stop_runner_at_exit)
        _EXIT_HOOK = True


def _stop_runner_at_exit() -> None:
    runner = _RUNNER
    if runner is not None:
        runner.stop_for_exit()
