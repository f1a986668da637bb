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
A child never outlives its parent: if the parent is killed outright (``kill -9`` of the
dashboard server), the child notices within :data:`_ORPHAN_POLL_S` and exits, so no
orphan keeps training (and writing files) with nobody to hear it.

A data-parallel run (``cfg.parallel``) starts one child per rank of this host, as
``torchrun`` would: each gets the torchrun environment (global rank, world size, the
rendezvous address and port: a fresh local port on one host, the given one over several
hosts), sees the run's GPUs and trains on the ``LOCAL_RANK``-th. The parent relays rank
0's events (on a host without rank 0, its local rank 0's start and end) and any rank's
failure; a rank that dies fails the run with its global rank and exit code, and the
parent ends every other rank of this host, so no process outlives its run.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from ..train.distributed import free_port, rank_env
from ..train.events import END_KINDS, TrialEvent
from ..procs import bare_main
from ..train.trial_config import TrialConfig

_POLL_S = 0.2  # how often the parent checks for cancel and a dead child, seconds
_JOIN_S = 30.0  # grace for a child to exit after its last event, seconds
_RANK_JOIN_S = 10.0  # grace for the other ranks once a data-parallel run has ended, seconds
_CHILD_NICENESS = 5  # scheduling priority of training children relative to the parent
_ORPHAN_POLL_S = 0.5  # how often a child checks that its parent is still alive, seconds
ORPHAN_EXIT_CODE = 75  # a child's exit code when it ended because its parent was gone


def _exit_when_orphaned(parent_pid: int, poll_s: float = _ORPHAN_POLL_S) -> threading.Thread:
    """Start a daemon thread that ends this process once its parent is gone (reparented)."""
    import os

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(ORPHAN_EXIT_CODE)  # nobody reads our events: stop at once
    thread = threading.Thread(target=watch, name="orphan-watch", daemon=True)
    thread.start()
    return thread


def _child_main(cfg: TrialConfig, run_id: str, run_dir: str, events: mp.Queue,
                stop: mp.Event, env: dict[str, str] | None = None) -> None:
    """Entry point of the child process: train, putting every event on ``events``.

    Args:
        env: variables set before anything imports a framework (the GPU it may see, and
            for a data-parallel rank the torchrun-style rank variables).
    """
    import os

    _exit_when_orphaned(os.getppid())
    os.environ.update(env or {})
    # a notch below the parent: on a small CPU the dashboard that shows the training must
    # stay responsive; every run of a comparison gets the same priority, so it stays fair
    os.nice(_CHILD_NICENESS)
    if cfg.parallel.ranks > 1:
        from ..train.dp_trial import run_rank
        run_rank(cfg, run_id, Path(run_dir), events.put, stop)
    else:
        from ..train.trial import run_trial
        run_trial(cfg, run_id, Path(run_dir), events.put, stop)


def child_envs(cfg: TrialConfig, devices: list[str] | None) -> list[dict[str, str]]:
    """One environment per process this host starts: its GPU, and rank variables when several.

    Args:
        cfg: the trial; this host starts ``cfg.parallel.local_ranks`` of its
            ``cfg.parallel.ranks`` ranks, global ranks ``node_rank * gpus + local``, as
            torchrun's ``--nnodes``/``--node-rank`` do.
        devices: GPU ids given to this run (None: leave the GPUs visible as they are).
    """
    par = cfg.parallel
    if par.ranks == 1:
        return [{"CUDA_VISIBLE_DEVICES": devices[0]} if devices else {}]
    # one host picks a free port itself; several meet on the port the user gave them all
    port = par.master_port or free_port()
    visible = ",".join(devices) if devices else None
    local = par.local_ranks
    return [rank_env(par.first_rank + r, par.ranks, port, visible, addr=par.master_addr,
                     nproc_per_node=local) for r in range(local)]


def run_trial_isolated(cfg: TrialConfig, run_id: str, run_dir: Path,
                       emit: Callable[[TrialEvent], None], cancel: threading.Event,
                       target: Callable[..., None] = _child_main,
                       devices: list[str] | None = None) -> str:
    """Run one trial in spawned processes (one, or one per rank) and relay its events.

    Args:
        cfg: the trial.
        run_id: identifier carried by every event.
        run_dir: the run's folder (model, TensorBoard scalars, error.txt).
        emit: called in this thread with each event.
        cancel: set it to stop the children before their next batch.
        target: the children's entry point (tests pass one that dies).
        devices: GPU ids for this run, one per rank (None: all visible, as before).

    Returns:
        The final event kind: "finished", "failed" or "cancelled"; a child that dies
        without a final event is reported as a failed run with its rank and exit code.
    """
    ctx = mp.get_context("spawn")  # never fork a process that may hold TF/threads
    events, stop = ctx.Queue(), ctx.Event()
    envs = child_envs(cfg, devices)
    children = [ctx.Process(target=target, args=(cfg, run_id, str(run_dir), events, stop, env),
                            name=f"trial-{run_id}-rank{r}", daemon=True)
                for r, env in enumerate(envs)]
    with bare_main():
        for child in children:
            child.start()
    labels = [_rank_label(env, len(envs)) for env in envs]
    try:
        final, why = _relay(children, labels, events, stop, emit, cancel)
    finally:
        _end_children(children, _JOIN_S if len(children) == 1 else _RANK_JOIN_S)
    if final is None:
        final = "failed"
        emit(TrialEvent("failed", run_id, cfg.precision, cfg.seed, time.time(), message=why))
    return final


def _end_children(children: list, grace_s: float) -> None:
    """Wait up to ``grace_s`` for the children to exit, then kill what is left."""
    deadline = time.monotonic() + grace_s
    for child in children:
        child.join(max(deadline - time.monotonic(), 0.1))
    for child in children:
        if child.is_alive():
            child.kill()
            child.join()


def _rank_label(env: dict[str, str], processes: int) -> str:
    """How a failure names a child: "rank 3 of 4" (global), or "the training process"."""
    if processes == 1 and "RANK" not in env:
        return "the training process"
    return f"rank {env.get('RANK', '0')} of {env.get('WORLD_SIZE', str(processes))}"


def _dead_rank(children: list, labels: list[str]) -> str | None:
    """Why the run cannot go on: the first child that exited with a non-zero code."""
    for label, child in zip(labels, children):
        if child.exitcode not in (None, 0):
            return (f"{label} ended unexpectedly (exit code {child.exitcode}"
                    f"{_signal_note(child.exitcode)}); see the server log")
    if all(c.exitcode is not None for c in children):
        return "the training process ended without a final event; see the server log"
    return None


def _signal_note(exitcode: int) -> str:
    """", killed by SIGKILL (out of memory or kill -9?)" for a negative exit code, else ""."""
    if exitcode >= 0:
        return ""
    import signal
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f", killed by signal {-exitcode}"
    hint = " (out of memory, or kill -9?)" if name == "SIGKILL" else ""
    return f", killed by {name}{hint}"


def _relay(children: list, labels: list[str], events: mp.Queue, stop: mp.Event,
           emit: Callable[[TrialEvent], None], cancel: threading.Event
           ) -> tuple[str | None, str]:
    """Forward events until a final one arrives or a child is gone; (final kind, why not)."""
    while True:
        if cancel.is_set():
            stop.set()
        try:
            ev = events.get(timeout=_POLL_S)
        except queue.Empty:
            why = _dead_rank(children, labels)
            if why is None:
                continue
            try:  # it may have exited right after putting its last events
                ev = events.get(timeout=1.0)
            except queue.Empty:
                return None, why
        emit(ev)
        if ev.kind in END_KINDS:
            return ev.kind, ""
