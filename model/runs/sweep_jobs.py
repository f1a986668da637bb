"""Launch and cancel batch-size sweeps through the ordinary job queue (model/runs/jobs.py).

A sweep is validated as a whole first, so a bad batch size stores nothing; then each
batch size's comparison is queued with :meth:`Runner.start`, exactly as the Trials page
queues one, and tagged with the sweep's id.
"""
from __future__ import annotations

from dataclasses import replace

from .jobs import Runner
from ..train.sweep_config import SweepConfig, validate_sweep
from .sweep_store import SweepRow, add_member, create_sweep


def start_sweep(runner: Runner, cfg: SweepConfig, check_values: bool = False) -> str:
    """Validate, store and queue a sweep; returns its id.

    Args:
        runner: the process's job runner (its store receives the sweep).
        cfg: the sweep; an empty precision list becomes the device's default pair.
        check_values: scan the dataset for NaN/inf now (once for the whole sweep).

    Raises:
        ConfigError, DatasetError: bad settings or data; nothing is stored then.
    """
    cfg = replace(cfg, precisions=cfg.resolved_precisions(),  # store what will really run
                  batch_sizes=sorted(cfg.batch_sizes) if isinstance(cfg.batch_sizes, list)
                  else cfg.batch_sizes)
    validate_sweep(cfg, check_values=check_values)
    sid = create_sweep(runner.store, cfg)
    for batch, comparison in cfg.comparisons():
        cid = runner.start(comparison)  # validated above; the worker scans data once per process
        add_member(runner.store, sid, batch, cid)
    return sid


def cancel_sweep(runner: Runner, sweep: SweepRow) -> int:
    """Cancel every comparison of the sweep still queued or running in this process.

    Returns:
        How many comparisons were asked to stop (0: none here, e.g. started by the CLI).
    """
    count = 0
    for member in sweep.members:
        if member.comparison and member.comparison.status in ("queued", "running"):
            count += int(runner.cancel(member.comparison_id))
    return count
