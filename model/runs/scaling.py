"""What several GPUs bought: speed-up against one GPU (pure maths over stored runs).

Data-parallel: a run's steady examples/s over the median steady examples/s of finished
one-GPU runs in the store at the same per-GPU batch, precision, network and data (weak
scaling: each GPU does the same work a step; 2.00× is perfect on 2 GPUs). Per-run
placement: the wall time the runs would have taken one after the other (the sum of
their own wall times) over the time from the first start to the last end.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable

from .store import RunRow


def _matches(run: RunRow, ref: RunRow, per_gpu_batch: int) -> bool:
    """Whether ``ref`` is a one-GPU run comparable with ``run``."""
    a, b = run.config, ref.config
    return (ref.status == "finished" and ref.summary is not None
            and b.parallel.ranks == 1 and b.batch_size == per_gpu_batch
            and ref.precision == run.precision and b.network == a.network
            and b.dataset == a.dataset and b.train_examples == a.train_examples
            and ref.summary.steady_examples_per_second is not None)


def one_gpu_examples_per_s(run: RunRow, stored: Iterable[RunRow]) -> float | None:
    """Median steady examples/s of comparable one-GPU runs (None: there are none).

    Args:
        run: a data-parallel run.
        stored: runs to look in (e.g. every run of the latest comparisons).
    """
    per_gpu = run.config.batch_size // max(run.config.parallel.ranks, 1)
    speeds = [r.summary.steady_examples_per_second for r in stored
              if r.id != run.id and _matches(run, r, per_gpu)]
    return statistics.median(speeds) if speeds else None


def data_parallel_speedup(run: RunRow, stored: Iterable[RunRow]) -> float | None:
    """A data-parallel run's steady examples/s over one GPU's at its per-GPU batch."""
    if run.summary is None or run.summary.steady_examples_per_second is None:
        return None
    ref = one_gpu_examples_per_s(run, stored)
    return run.summary.steady_examples_per_second / ref if ref else None


def placement_speedup(runs: list[RunRow]) -> float | None:
    """Per-run placement: the runs' summed wall times over the span they took together.

    Returns:
        e.g. 1.9 when 4 equal runs on 2 GPUs took a little over half the serial time;
        None until every run has started and ended.
    """
    spans = [(r.started_unix, r.ended_unix) for r in runs]
    if not spans or any(s is None or e is None for s, e in spans):
        return None
    together = max(e for _, e in spans) - min(s for s, _ in spans)
    serial = sum(e - s for s, e in spans)
    return serial / together if together > 0 else None


def recent_runs(store, limit: int = 50) -> list[RunRow]:
    """Every run of the ``limit`` latest comparisons (where one-GPU references are looked up)."""
    return [r for c in store.comparisons(limit=limit) for r in store.runs(c.id)]
