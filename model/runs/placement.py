"""Which GPUs each run of a comparison trains on.

Two trainings on one H200 each ran at half speed (2026-11-30), so a GPU never holds two
runs. ``data-parallel``: each run in turn gets the first ``gpus`` GPUs. ``per-run``: the
runs of a comparison train concurrently, each on one free GPU; when a run ends, the next
waiting run takes its GPU. One GPU (or a CPU) is the old behaviour: one run at a time.
The assignment is a pure function (:func:`assign`); :func:`run_placed` drives it with one
thread per GPU in use.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..train.distributed import ParallelConfig


@dataclass
class Placement:
    """One run put on devices."""

    run_id: str  # the run
    devices: list[str]  # GPU ids it trains on (one per rank); [] means "as visible" (CPU, 1 GPU)


def devices_for(cfg: ParallelConfig, visible: Sequence[str]) -> list[str]:
    """The GPUs a comparison may use: the first ``cfg.gpus`` visible ones ([] for one GPU).

    Args:
        cfg: the comparison's parallel settings (already validated against ``visible``).
        visible: the GPU ids found (:func:`model.train.distributed.visible_gpus`).
    """
    return list(visible[:cfg.gpus]) if cfg.gpus > 1 else []


def assign(pending: Sequence[str], free: Sequence[str], per_run: int = 1) -> list[Placement]:
    """Put as many waiting runs as fit on free devices, in order; never two runs on one device.

    Args:
        pending: run ids waiting, in run order.
        free: device ids idle now, in preference order.
        per_run: devices each run needs (its data-parallel ranks).

    Returns:
        Placements for the first runs that fit, each on ``per_run`` distinct free devices.
    """
    if per_run < 1:
        raise ValueError("a run needs at least one device")
    slots = len(free) // per_run
    return [Placement(run, list(free[i * per_run:(i + 1) * per_run]))
            for i, run in enumerate(pending[:slots])]


def run_placed(run_ids: Sequence[str], devices: Sequence[str],
               train: Callable[[str, list[str]], None], stop: threading.Event) -> None:
    """Train runs concurrently, one per device, until all ran or ``stop`` is set.

    Args:
        run_ids: runs in order.
        devices: GPU ids to spread them over (at least one).
        train: trains one run on the given devices; called from a worker thread.
        stop: once set, no further run starts (running ones stop through their own cancel).
    """
    pending, free = list(run_ids), list(devices)
    done: queue.Queue = queue.Queue()
    active = 0
    while pending or active:
        if not stop.is_set():
            for placed in assign(pending, free):
                pending.remove(placed.run_id)
                for dev in placed.devices:
                    free.remove(dev)
                active += 1
                threading.Thread(target=_train_then_free, args=(train, placed, done),
                                 name=f"placed-{placed.run_id}", daemon=True).start()
        elif not active:
            return
        if active:
            free.extend(done.get())
            active -= 1


def _train_then_free(train: Callable[[str, list[str]], None], placed: Placement,
                     done: queue.Queue) -> None:
    """Train one placed run; its devices go back to the pool whatever happens."""
    try:
        train(placed.run_id, placed.devices)
    finally:
        done.put(placed.devices)
