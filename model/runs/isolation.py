"""Each training run in its own fresh process.

Why: a comparison must not let one run's state leak into the next. In one long-lived
process (the dashboard's server) the runs shared TensorFlow's and Keras' process state:
caches warmed by the first run favoured the second, the peak-memory reading of a run
included its predecessors, and an AMP run that followed an FP32 run inside the Streamlit
server failed in GRUCell with a bfloat16/float32 mismatch that no plain script reproduced.
A spawned child starts clean, so every precision is measured the same way, and a child
that crashes (a segfault, the OOM killer) fails its run instead of the whole app.

The child runs :func:`model.train.trial.run_trial` and sends its events through a queue; the
parent's worker thread writes them to the store, so only one process writes SQLite.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from ..train.events import END_KINDS, TrialEvent
from ..procs import bare_main
from ..train.trial_config import TrialConfig

_POLL_S = 0.2  # how often the parent checks for cancel and a dead child, seconds
_JOIN_S = 30.0  # grace for a child to exit after its last event, seconds
_CHILD_NICENESS = 5  # scheduling priority of training children relative to the parent


def _child_main(cfg: TrialConfig, run_id: str, run_dir: str, events: mp.Queue,
                stop: mp.Event) -> None:
    """Entry point of the child process: train, putting every event on ``events``."""
    import os

    from ..train.trial import run_trial

    # a notch below the parent: on a small CPU the dashboard that shows the training must
    # stay responsive; every run of a comparison gets the same priority, so it stays fair
    os.nice(_CHILD_NICENESS)

    run_trial(cfg, run_id, Path(run_dir), events.put, stop)


def run_trial_isolated(cfg: TrialConfig, run_id: str, run_dir: Path,
                       emit: Callable[[TrialEvent], None], cancel: threading.Event,
                       target: Callable[..., None] = _child_main) -> str:
    """Run one trial in a spawned process and relay its events, in order, to ``emit``.

    Args:
        cfg: the trial.
        run_id: identifier carried by every event.
        run_dir: the run's folder (model, TensorBoard scalars, error.txt).
        emit: called in this thread with each event.
        cancel: set it to stop the child before its next batch.
        target: the child's entry point (tests pass one that dies).

    Returns:
        The final event kind: "finished", "failed" or "cancelled"; a child that dies
        without a final event is reported as a failed run with its exit code.
    """
    ctx = mp.get_context("spawn")  # never fork a process that may hold TF/threads
    events, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=target, args=(cfg, run_id, str(run_dir), events, stop),
                        name=f"trial-{run_id}", daemon=True)
    with bare_main():
        child.start()
    final = _relay(child, events, stop, emit, cancel)
    child.join(_JOIN_S)
    if child.is_alive():
        child.kill()
        child.join()
    if final is None:
        final = "failed"
        emit(TrialEvent("failed", run_id, cfg.precision, cfg.seed, time.time(),
                        message=f"the training process ended unexpectedly "
                                f"(exit code {child.exitcode}); see the server log"))
    return final


def _relay(child: mp.Process, events: mp.Queue, stop: mp.Event,
           emit: Callable[[TrialEvent], None], cancel: threading.Event) -> str | None:
    """Forward events until the final one arrives or the child is gone."""
    while True:
        if cancel.is_set():
            stop.set()
        try:
            ev = events.get(timeout=_POLL_S)
        except queue.Empty:
            if child.is_alive():
                continue
            try:  # it may have exited right after putting its last events
                ev = events.get(timeout=1.0)
            except queue.Empty:
                return None
        emit(ev)
        if ev.kind in END_KINDS:
            return ev.kind
