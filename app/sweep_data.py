"""A sweep's form values, progress and result as plain values and tables (no Streamlit here)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from model.runs.jobs import ENDED
from model.train.distributed import ParallelConfig
from model.train.network import NetworkConfig
from model.train.precision import PRECISIONS
from model.runs.store import RunStore
from model.runs.sweep import SweepResult, sweep_result
from model.train.sweep_config import SweepConfig, parse_batch_sizes
from model.runs.sweep_store import SweepRow, sweep_runs
from model.train.trial_config import TrialConfig


@dataclass
class SweepFormValues:
    """What the sweep widgets hold (plain values, so tests can build them)."""

    batch_sizes: str = "32, 64, 128, 256"  # comma-separated examples per step
    precisions: list[str] = field(default_factory=list)  # chosen; empty: device default pair
    epochs: int = 2  # per run; epoch 1 is compile/warm-up, the rest are "steady"
    train_examples: int = 0  # cap per epoch (0: all)
    repeats: int = 1  # seeds at every batch size
    name: str = ""  # label
    dataset: str = ""  # dataset folder
    network: NetworkConfig = field(default_factory=NetworkConfig)  # architecture
    gpus: int = 1  # GPUs to use, 1..found
    placement: str = "data-parallel"  # model.train.distributed.PLACEMENTS


def form_to_sweep(values: SweepFormValues) -> SweepConfig:
    """Build the sweep the Start button launches (raises ConfigError for bad batch text;
    the rest is validated by model.runs.sweep_jobs.start_sweep)."""
    base = TrialConfig(dataset=values.dataset, network=values.network,
                       parallel=ParallelConfig(gpus=int(values.gpus), placement=values.placement))
    ordered = [p for p in PRECISIONS if p in values.precisions]
    return SweepConfig(base=base, batch_sizes=parse_batch_sizes(values.batch_sizes),
                       precisions=ordered, epochs=int(values.epochs),
                       train_examples=int(values.train_examples), repeats=int(values.repeats),
                       name=values.name.strip())


@dataclass
class SweepView:
    """Everything the sweep view draws, read once from the store."""

    sweep: SweepRow  # the sweep and its comparisons
    result: SweepResult  # the maths (finished runs only)
    runs_ended: int  # runs that have ended (any way)
    runs_total: int  # runs asked for
    now: str  # what trains now, e.g. "batch 64 · amp-bf16 seed 0", "" if nothing


def read_sweep_view(store: RunStore, sweep: SweepRow) -> SweepView:
    """The sweep's runs, result and progress."""
    runs = sweep_runs(store, sweep)
    result = sweep_result(runs, sweep.config.precisions)
    ended = 0
    now = ""
    for member in sweep.members:
        if member.comparison is None:
            continue
        for run in store.runs(member.comparison_id):
            ended += run.status in ENDED
            if run.status == "running":
                now = f"batch {member.batch_size} · {run.precision} seed {run.seed}"
    return SweepView(sweep, result, ended, len(runs), now)


def progress_text(view: SweepView) -> tuple[float, str]:
    """(fraction 0..1, text) for the sweep's progress bar."""
    frac = view.runs_ended / view.runs_total if view.runs_total else 1.0
    text = f"{view.runs_ended}/{view.runs_total} runs ended · {view.sweep.status}"
    return min(frac, 1.0), text + (f" · now {view.now}" if view.now else "")


def _fmt(value: float | None, fmt: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


def records_table(result: SweepResult) -> pd.DataFrame:
    """One row per batch size and precision: steady ex/s, speedup, final dev loss."""
    ref = result.reference
    rows = [{"batch": r.batch_size, "precision": r.precision,
             "runs": f"{r.runs_done}/{r.runs_total}",
             "steady examples/s": _fmt(r.examples_per_second, ".1f"),
             f"speedup vs {ref}": _fmt(r.speedup, ".2f") + ("×" if r.speedup else ""),
             "final dev loss": _fmt(r.final_dev_loss, ".4f"),
             f"dev loss − {ref}": _fmt(r.dev_loss_change, "+.4f"),
             "note": "1 epoch: includes compile/warm-up" if r.first_epoch_only else ""}
            for r in result.records]
    return pd.DataFrame(rows, columns=["batch", "precision", "runs", "steady examples/s",
                                       f"speedup vs {ref}", "final dev loss",
                                       f"dev loss − {ref}", "note"])


def medians_frame(result: SweepResult) -> pd.DataFrame:
    """Chart line: per batch size and non-reference precision, the median speedup and both ex/s."""
    by_key = {(r.batch_size, r.precision): r for r in result.records}
    rows = []
    for r in result.records:
        ref = by_key.get((r.batch_size, result.reference))
        if r.precision == result.reference or r.speedup is None or ref is None:
            continue
        rows.append({"batch_size": r.batch_size, "precision": r.precision,
                     "speedup": round(r.speedup, 4),
                     "examples_per_s": round(r.examples_per_second, 1),
                     "reference_examples_per_s": round(ref.examples_per_second, 1),
                     "final_dev_loss": r.final_dev_loss, "runs": r.runs_done,
                     "flag": "1 epoch only" if r.first_epoch_only else ""})
    return pd.DataFrame(rows, columns=["batch_size", "precision", "speedup", "examples_per_s",
                                       "reference_examples_per_s", "final_dev_loss", "runs",
                                       "flag"])


def points_frame(result: SweepResult) -> pd.DataFrame:
    """Chart dots: one per repeat (paired with the reference run of the same seed)."""
    rows = [{"batch_size": p.batch_size, "precision": p.precision, "repeat": p.repeat,
             "speedup": round(p.speedup, 4), "examples_per_s": round(p.examples_per_second, 1),
             "reference_examples_per_s": round(p.reference_examples_per_second, 1)}
            for p in result.points]
    return pd.DataFrame(rows, columns=["batch_size", "precision", "repeat", "speedup",
                                       "examples_per_s", "reference_examples_per_s"])


def sweep_label(sweep: SweepRow) -> str:
    """Picker label: id, name, batch sizes and state."""
    name = f" “{sweep.name}”" if sweep.name else ""
    sizes = ",".join(str(b) for b in sweep.config.batch_sizes)
    return f"{sweep.id}{name} · batch {sizes} · {sweep.status}"
