"""AMP speedup vs batch size: pure maths over a sweep's stored runs (no store, no UI).

Per batch size and precision the figure of merit is the *steady* training speed in
examples/s: the median over epochs 2.. of each run (epoch 1 includes tracing/compilation
and warm-up, see model/train/events.py), then the median over repeats (seeds). The speedup of
a precision is its median steady examples/s over the reference precision's (fp32) at the
same batch size; each repeat also gets its own paired speedup (same seed, run back to
back) so the chart can show the spread. A run with a single epoch has no steady epochs:
its first epoch is used instead and the figures are flagged.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ..train.events import EpochRecord, summarise_epochs

REFERENCE = "fp32"  # the precision a speedup is measured against (when the sweep has it)


@dataclass
class SweepRun:
    """One stored run of a sweep, as the maths needs it."""

    batch_size: int  # examples per step
    precision: str  # requested precision
    repeat: int  # 0-based repeat (seed index) within its comparison
    status: str  # queued, running, finished, failed, cancelled, interrupted
    epochs: list[EpochRecord] = field(default_factory=list)  # its epochs in order


@dataclass
class RunSpeed:
    """The steady speed of one finished run."""

    examples_per_second: float  # median of epochs 2.., or epoch 1 if it is the only one
    first_epoch_only: bool  # True: a 1-epoch run, the figure includes compile/warm-up
    final_dev_loss: float  # dev loss after the last epoch


@dataclass
class SweepPoint:
    """One repeat's paired speedup (a dot on the chart)."""

    batch_size: int  # examples per step
    precision: str  # the non-reference precision
    repeat: int  # 0-based repeat
    speedup: float  # its ex/s over the reference's ex/s in the same repeat
    examples_per_second: float  # this precision, steady
    reference_examples_per_second: float  # the reference, steady


@dataclass
class SweepRecord:
    """One batch size and precision: medians over finished repeats."""

    batch_size: int  # examples per step
    precision: str  # the precision
    runs_done: int  # finished runs that count
    runs_total: int  # runs asked for
    examples_per_second: float | None  # median steady training examples/s
    speedup: float | None  # examples_per_second over the reference's (None: either missing)
    final_dev_loss: float | None  # median final dev loss (the quality side)
    dev_loss_change: float | None  # final_dev_loss minus the reference's (+: worse)
    first_epoch_only: bool  # some run had one epoch: the figure includes compile/warm-up


@dataclass
class SweepResult:
    """What the sweep view and the CLI show."""

    reference: str  # precision whose speed is 1.0x
    records: list[SweepRecord]  # by batch size, then precision in sweep order
    points: list[SweepPoint]  # per repeat, non-reference precisions only


def run_speed(epochs: list[EpochRecord]) -> RunSpeed | None:
    """Steady examples/s of one run from its epochs (None if it has none).

    Args:
        epochs: the run's epochs in order.

    Returns:
        RunSpeed; ``first_epoch_only`` when there is no steady epoch to use.
    """
    if not epochs:
        return None
    summary = summarise_epochs(epochs, dev_loss_target=0.0)  # target unused here
    steady = summary.steady_examples_per_second
    if steady is None:  # 1 epoch: the only figure there is, compile time included
        return RunSpeed(epochs[0].examples_per_second, True, epochs[-1].dev_loss)
    return RunSpeed(steady, False, epochs[-1].dev_loss)


def pick_reference(precisions: list[str]) -> str:
    """fp32 if the sweep has it, else its first precision."""
    return REFERENCE if REFERENCE in precisions else (precisions[0] if precisions else REFERENCE)


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _speeds(runs: list[SweepRun]) -> dict[tuple[int, str, int], RunSpeed]:
    """(batch, precision, repeat) -> speed of each finished run with epochs."""
    out = {}
    for run in runs:
        speed = run_speed(run.epochs) if run.status == "finished" else None
        if speed is not None:
            out[(run.batch_size, run.precision, run.repeat)] = speed
    return out


def sweep_result(runs: list[SweepRun], precisions: list[str] | None = None) -> SweepResult:
    """Per batch size and precision: steady ex/s, speedup over fp32, final dev loss.

    Only finished runs count (a running run's figures are still moving).

    Args:
        runs: every run of the sweep, any order, any status.
        precisions: the sweep's precisions in display order (default: order first seen).

    Returns:
        SweepResult with records sorted by batch size and per-repeat points.
    """
    order = list(precisions or dict.fromkeys(r.precision for r in runs))
    ref = pick_reference(order)
    speeds = _speeds(runs)
    records, points = [], []
    for batch in sorted({r.batch_size for r in runs}):
        group = {p: [s for (b, q, _), s in speeds.items() if b == batch and q == p]
                 for p in order}
        ref_eps = _median([s.examples_per_second for s in group[ref]])
        ref_loss = _median([s.final_dev_loss for s in group[ref]])
        for prec in order:
            sp = group[prec]
            eps = _median([s.examples_per_second for s in sp])
            loss = _median([s.final_dev_loss for s in sp])
            records.append(SweepRecord(
                batch, prec, len(sp),
                sum(1 for r in runs if r.batch_size == batch and r.precision == prec),
                eps, eps / ref_eps if eps and ref_eps else None, loss,
                loss - ref_loss if loss is not None and ref_loss is not None else None,
                any(s.first_epoch_only for s in sp)))
        points += _paired_points(batch, order, ref, speeds)
    return SweepResult(ref, records, points)


def _paired_points(batch: int, order: list[str], ref: str,
                   speeds: dict[tuple[int, str, int], RunSpeed]) -> list[SweepPoint]:
    """Speedup of each non-reference precision per repeat, where both runs finished."""
    out = []
    repeats = sorted({rep for (b, _, rep) in speeds if b == batch})
    for prec in (p for p in order if p != ref):
        for rep in repeats:
            mine, base = speeds.get((batch, prec, rep)), speeds.get((batch, ref, rep))
            if mine and base and base.examples_per_second > 0:
                out.append(SweepPoint(batch, prec, rep,
                                      mine.examples_per_second / base.examples_per_second,
                                      mine.examples_per_second, base.examples_per_second))
    return out


def sweep_state(statuses: list[str]) -> str:
    """A sweep's state from its comparisons' states.

    Args:
        statuses: each comparison's status.

    Returns:
        "running" while any runs or waits (queued only if all wait), "finished" if all
        finished, otherwise the first ended state that is not "finished".
    """
    if not statuses:
        return "finished"
    if all(s == "queued" for s in statuses):
        return "queued"
    if any(s in ("queued", "running") for s in statuses):
        return "running"
    return next((s for s in statuses if s != "finished"), "finished")
