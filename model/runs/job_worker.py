"""The job queue's worker: one thread that takes queued comparisons and trains their runs.

:class:`JobWorker` holds the queue and its state; model/runs/jobs.py's :class:`Runner` adds
the public API (start, cancel, status, wait) and trains each run (``_run_one``), so that the
trainers and the GPU list are looked up in jobs.py, where tests replace them. One comparison
at a time, its runs one after the other, unless its ``parallel`` settings place them
(model/runs/placement.py): per-run comparisons with the same GPUs queued back to back (a
sweep's batch sizes) then share the GPUs, one run per GPU.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

from ..data.dataset import Dataset, load_dataset
from ..errors import LabError
from ..train.trial import one_line
from .placement import devices_for, run_placed
from .store import RunRow, RunStore

TRAINING_LOCK = threading.Lock()  # held while any Runner in this process trains
LOG = logging.getLogger("amp_lab.jobs")


class JobWorker:
    """Queue of comparisons and the single worker thread that trains them (see Runner)."""

    def __init__(self, store: RunStore, isolate: bool):
        """Args:
            store: where comparisons, runs and events go.
            isolate: train each run in a fresh process (False: in the worker thread).
        """
        self.store = store
        self.isolate = isolate
        self._queue: deque[str] = deque()
        self._cancel: dict[str, threading.Event] = {}
        self._cond = threading.Condition()
        self._current: str | None = None
        self._current_run: str | None = None
        self._group: list[str] = []  # comparisons training now (several: per-run placement)
        self._stop = False
        self._thread: threading.Thread | None = None
        self._checked: set[tuple] = set()

    # -- what the Runner provides -------------------------------------------------------
    def _run_one(self, cid: str, run: RunRow, cancel: threading.Event, data: Dataset,
                 devices: list[str] | None = None) -> None:
        """Train one run (on ``devices``: its GPU ids, [] for the visible default)."""
        raise NotImplementedError

    def _visible_gpus(self) -> list[str]:
        """The GPU ids this process may use."""
        raise NotImplementedError

    # -- the worker thread --------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._work, name="trial-worker", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                group = self._take_group()
                self._current, self._group = group[0], group
            try:
                with TRAINING_LOCK:
                    if len(group) == 1:
                        self._run_comparison(group[0], self._cancel[group[0]])
                    else:
                        self._run_group(group)
            except Exception as err:  # noqa: BLE001 - the worker must survive anything
                for cid in group:
                    try:
                        self._end_comparison(cid, "failed", one_line(err))
                    except Exception:  # noqa: BLE001 - e.g. the store itself is failing
                        LOG.exception("could not record the end of %s", cid)
            finally:
                with self._cond:
                    self._current = self._current_run = None
                    self._group = []
                    for cid in group:
                        self._cancel.pop(cid, None)
                    self._cond.notify_all()

    def _take_group(self) -> list[str]:
        """The next comparison, and with per-run placement the per-run comparisons queued
        right behind it with the same GPUs (a sweep's batch sizes), to share the GPUs.

        Called under ``self._cond``.
        """
        first = self._queue.popleft()
        group = [first]
        try:
            runs = self.store.runs(first) if self.isolate else []
            par = runs[0].config.parallel if runs else None
            while par is not None and par.concurrent_runs > 1 and self._queue:
                nxt = self.store.runs(self._queue[0])
                if not nxt or nxt[0].config.parallel != par:
                    break
                group.append(self._queue.popleft())
        except Exception:  # noqa: BLE001 - the store failed: run what was taken, alone or not
            pass
        return group

    def _start_comparison(self, cid: str) -> tuple[list[RunRow], Dataset] | None:
        """Mark ``cid`` running and open its dataset; None (the comparison failed) if it won't open."""
        self.store.set_comparison_status(cid, "running")
        runs = self.store.runs(cid)
        try:
            return runs, self._open_checked(runs[0].config.dataset)
        except LabError as err:
            self._end_comparison(cid, "failed", str(err))
            return None

    def _run_comparison(self, cid: str, cancel: threading.Event) -> None:
        started = self._start_comparison(cid)
        if started is None:
            return
        runs, data = started
        parallel = runs[0].config.parallel
        devices = devices_for(parallel, self._visible_gpus()) if parallel.gpus > 1 else []
        if parallel.concurrent_runs > 1 and self.isolate:
            self._place(cid, runs, data, devices)
        else:
            for run in runs:
                if cancel.is_set():
                    break
                self._run_one(cid, run, cancel, data, devices)
        self._finish(cid)

    def _run_group(self, group: list[str]) -> None:
        """Several per-run comparisons at once: all their runs share the GPUs, one per GPU."""
        todo: list[tuple[str, RunRow, Dataset]] = []
        for cid in group:
            started = self._start_comparison(cid)
            if started is not None:
                todo += [(cid, run, started[1]) for run in started[0]]
        parallel = todo[0][1].config.parallel if todo else None
        if parallel is not None:
            self._place_all(todo, devices_for(parallel, self._visible_gpus()))
        for cid in group:
            if self.store.comparison(cid).status == "running":
                self._finish(cid)

    def _place(self, cid: str, runs: list[RunRow], data: Dataset, devices: list[str]) -> None:
        self._place_all([(cid, run, data) for run in runs], devices)

    def _place_all(self, todo: list[tuple[str, RunRow, Dataset]], devices: list[str]) -> None:
        """Train (comparison, run, data) items concurrently, one per free GPU (placement.py)."""
        by_id = {run.id: (cid, run, data) for cid, run, data in todo}

        def train(run_id: str, devs: list[str]) -> None:
            cid, run, data = by_id[run_id]
            if not self._cancel[cid].is_set():  # a cancelled comparison starts no more runs
                self._run_one(cid, run, self._cancel[cid], data, devs)
        run_placed(list(by_id), devices, train, threading.Event())

    def _finish(self, cid: str) -> None:
        if self._cancel[cid].is_set():
            self._end_comparison(cid, "cancelled", "cancelled")
        else:
            self.store.set_comparison_status(cid, "finished")

    def _open_checked(self, path: str) -> Dataset:
        """Open the dataset; scan its values once per process per file version."""
        key = dataset_key(path)
        data = load_dataset(path, check_values=key not in self._checked)
        self._checked.add(key)
        return data

    def _end_comparison(self, cid: str, status: str, message: str) -> None:
        self.store.end_queued_runs(cid, status, message if status != "cancelled"
                                   else "cancelled before it started")
        self.store.set_comparison_status(cid, status, message)


def dataset_key(path: str | Path) -> tuple:
    """Identity of a dataset's files (path, names, sizes, mtimes): rescan when it changes."""
    folder = Path(path)
    files = sorted(folder.glob("*.npy")) + sorted(folder.parent.glob("XY_dev/*.npy"))
    return (str(folder.resolve()),) + tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                                            for p in files)
