"""What a trial reports while it runs: typed events, per-epoch records, run summaries.

Event kinds, in order: ``started`` (device record), ``epoch`` (one per epoch), then one of
``finished`` (summary), ``failed`` (message) or ``cancelled``. The first epoch includes
tracing/compilation and is reported apart from the steady epochs.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from .metrics import DetectionMetrics
from .precision import PrecisionRecord

EVENT_KINDS = ("started", "epoch", "finished", "failed", "cancelled")
END_KINDS = ("finished", "failed", "cancelled")


@dataclass
class EpochRecord:
    """Figures of one finished epoch."""

    epoch: int  # 1-based
    train_loss: float  # mean training loss over the epoch's batches (with dropout)
    dev_loss: float  # binary cross-entropy on the dev split, no dropout
    detection: DetectionMetrics | None  # FRR at the FA/hour budget on the dev split
    epoch_seconds: float  # training time of this epoch, device-synchronised, no dev scoring
    examples_per_second: float  # training examples / epoch_seconds
    eval_seconds: float  # time spent scoring the dev split after this epoch
    wall_seconds: float  # since the run's first batch, including dev scoring
    peak_memory_bytes: int  # peak since the run started (see memory_kind)
    memory_kind: str = "rss"  # "rss" (host process), "device" (GPU) or "unknown"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "EpochRecord":
        """Inverse of to_dict."""
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("detection"), dict):
            known["detection"] = DetectionMetrics.from_dict(known["detection"])
        return cls(**known)


@dataclass
class RunSummary:
    """One finished (or stopped) run, condensed from its epochs."""

    epochs_done: int  # epochs completed
    first_epoch_seconds: float | None  # epoch 1 (includes tracing/compilation)
    steady_epoch_seconds: float | None  # median of epochs 2.. (None with a single epoch)
    steady_examples_per_second: float | None  # median of epochs 2..
    final_train_loss: float | None  # last epoch
    final_dev_loss: float | None  # last epoch
    final_frr: float | None  # last epoch's FRR at the FA budget
    seconds_to_target: float | None  # wall seconds until dev loss <= target (None: never)
    peak_memory_bytes: int  # largest peak seen
    memory_kind: str  # what peak_memory_bytes measures
    wall_seconds: float  # whole run, first batch to last dev scoring

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunSummary":
        """Inverse of to_dict."""
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


@dataclass
class TrialEvent:
    """One event of one run; ``seq`` orders the events of a comparison."""

    kind: str  # one of EVENT_KINDS
    run_id: str  # the run
    precision: str  # the run's precision
    seed: int  # the run's seed
    time_unix: float  # when it happened (time.time())
    seq: int = 0  # assigned by the job runner / store, 1-based per comparison
    device: PrecisionRecord | None = None  # "started": what runs
    epoch: EpochRecord | None = None  # "epoch": the figures
    summary: RunSummary | None = None  # "finished" (and "cancelled" if any epoch ran)
    message: str = ""  # "failed": one-line reason; "cancelled": note
    extra: dict[str, str] = field(default_factory=dict)  # free text (e.g. model path)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrialEvent":
        """Inverse of to_dict."""
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("device"), dict):
            known["device"] = PrecisionRecord.from_dict(known["device"])
        if isinstance(known.get("epoch"), dict):
            known["epoch"] = EpochRecord.from_dict(known["epoch"])
        if isinstance(known.get("summary"), dict):
            known["summary"] = RunSummary.from_dict(known["summary"])
        return cls(**known)


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def summarise_epochs(epochs: list[EpochRecord], dev_loss_target: float) -> RunSummary:
    """Condense a run's epochs: first vs steady time, final losses, time to target.

    Args:
        epochs: the run's epochs in order.
        dev_loss_target: dev loss counted as converged.

    Returns:
        RunSummary (None fields where there is no data, e.g. steady time of a 1-epoch run).
    """
    steady = epochs[1:]
    reached = [e.wall_seconds for e in epochs if e.dev_loss <= dev_loss_target]
    last = epochs[-1] if epochs else None
    return RunSummary(
        epochs_done=len(epochs),
        first_epoch_seconds=epochs[0].epoch_seconds if epochs else None,
        steady_epoch_seconds=_median([e.epoch_seconds for e in steady]),
        steady_examples_per_second=_median([e.examples_per_second for e in steady]),
        final_train_loss=last.train_loss if last else None,
        final_dev_loss=last.dev_loss if last else None,
        final_frr=last.detection.frr if last and last.detection else None,
        seconds_to_target=reached[0] if reached else None,
        peak_memory_bytes=max((e.peak_memory_bytes for e in epochs), default=0),
        memory_kind=last.memory_kind if last else "unknown",
        wall_seconds=last.wall_seconds if last else 0.0)


@dataclass
class PrecisionSummary:
    """All finished runs of one precision in a comparison (medians over seeds)."""

    precision: str  # the precision
    runs: int  # finished runs aggregated
    first_epoch_seconds: float | None  # median
    steady_epoch_seconds: float | None  # median
    examples_per_second: float | None  # median steady examples/s
    speedup: float | None  # examples/s over the reference precision's
    final_train_loss: float | None  # median
    final_dev_loss: float | None  # median
    final_frr: float | None  # median
    seconds_to_target: float | None  # median over runs that reached it
    reached_target: int  # runs that reached the dev-loss target
    peak_memory_bytes: int  # largest


def summarise_precisions(runs: list[tuple[str, RunSummary]], reference: str = "fp32"
                         ) -> list[PrecisionSummary]:
    """Side-by-side figures per precision, speedup relative to ``reference``.

    Args:
        runs: (precision, summary) of each finished run, in any order.
        reference: precision whose examples/s is 1.0x (the first precision seen if absent).

    Returns:
        One PrecisionSummary per precision, in first-seen order.
    """
    order = list(dict.fromkeys(p for p, _ in runs))
    groups = {p: [s for q, s in runs if q == p] for p in order}
    rows = []
    for prec in order:
        group = groups[prec]
        vals = lambda attr: [getattr(s, attr) for s in group if getattr(s, attr) is not None]
        rows.append(PrecisionSummary(
            precision=prec, runs=len(group),
            first_epoch_seconds=_median(vals("first_epoch_seconds")),
            steady_epoch_seconds=_median(vals("steady_epoch_seconds")),
            examples_per_second=_median(vals("steady_examples_per_second")),
            speedup=None, final_train_loss=_median(vals("final_train_loss")),
            final_dev_loss=_median(vals("final_dev_loss")), final_frr=_median(vals("final_frr")),
            seconds_to_target=_median(vals("seconds_to_target")),
            reached_target=len(vals("seconds_to_target")),
            peak_memory_bytes=max((s.peak_memory_bytes for s in group), default=0)))
    ref = next((r for r in rows if r.precision == reference), rows[0] if rows else None)
    for row in rows:
        if ref and ref.examples_per_second and row.examples_per_second:
            row.speedup = row.examples_per_second / ref.examples_per_second
    return rows
