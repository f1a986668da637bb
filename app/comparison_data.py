"""A stored comparison as plain tables for the charts and the summary (no Streamlit here)."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import pandas as pd

from model.train.events import EpochRecord, RunSummary, summarise_epochs
from model.runs.scaling import data_parallel_speedup, placement_speedup, recent_runs
from model.runs.store import ComparisonRow, RunRow, RunStore

REFERENCE = "fp32"


@dataclass
class ComparisonData:
    """A comparison, its runs and each run's epochs, read once from the store."""

    comparison: ComparisonRow  # the comparison
    runs: list[RunRow]  # in run order
    epochs: dict[str, list[EpochRecord]]  # run id -> epochs in order
    # several GPUs: run id -> speed-up against 1 GPU (data-parallel, vs stored 1-GPU runs at
    # the same per-GPU batch), or the comparison's side-by-side gain under "" (per-run)
    gpu_speedups: dict[str, float] = field(default_factory=dict)

    @property
    def epochs_shown(self) -> int:
        """Epochs stored over all runs (the page prints it; tests wait for it)."""
        return sum(len(v) for v in self.epochs.values())


def read_comparison(store: RunStore, comparison_id: str) -> ComparisonData | None:
    """Everything the views need about one comparison (None if it is not in the store)."""
    comp = store.comparison(comparison_id)
    if comp is None:
        return None
    runs = store.runs(comparison_id)
    return ComparisonData(comp, runs, {r.id: store.epochs(r.id) for r in runs},
                          gpu_speedups(store, runs))


def gpu_speedups(store: RunStore, runs: list[RunRow]) -> dict[str, float]:
    """What several GPUs bought (see ComparisonData.gpu_speedups); {} on one GPU."""
    if not runs or runs[0].config.parallel.gpus <= 1:
        return {}
    if runs[0].config.parallel.placement == "per-run":
        gain = placement_speedup(runs)
        return {"": gain} if gain else {}
    stored = recent_runs(store)
    found = {r.id: data_parallel_speedup(r, stored) for r in runs}
    return {k: v for k, v in found.items() if v}


def runs_gpu_text(store: RunStore, runs: list[RunRow]) -> str:
    """One line on what several GPUs bought a set of runs (a sweep); "" on one GPU."""
    if not runs or runs[0].config.parallel.gpus <= 1:
        return ""
    par = runs[0].config.parallel
    if par.placement == "per-run":
        gain = placement_speedup(runs)
        return (f"{par.gpus} GPUs, one run per GPU: "
                + (f"{gain:.2f}× faster than one run at a time" if gain else "runs not ended yet"))
    stored = recent_runs(store)
    gains = [g for g in (data_parallel_speedup(r, stored) for r in runs) if g]
    return (f"data-parallel over {par.gpus} GPUs: "
            + (f"{statistics.median(gains):.2f}× the examples/s of 1 GPU at the same per-GPU "
               "batch (median over runs)" if gains else "no 1-GPU run at these per-GPU batches"))


def gpu_speedup_text(data: ComparisonData, precision: str) -> str:
    """The summary's "speed-up vs 1 GPU" cell of one precision."""
    gpus = data.runs[0].config.parallel.gpus
    if data.runs[0].config.parallel.placement == "per-run":
        gain = data.gpu_speedups.get("")
        return f"{gain:.2f}× wall, {gpus} runs side by side" if gain else "– (runs not ended)"
    gains = [data.gpu_speedups[r.id] for r in data.runs
             if r.precision == precision and r.id in data.gpu_speedups]
    return (f"{statistics.fmean(gains):.2f}× on {gpus} GPUs" if gains
            else "– (no 1-GPU run at this per-GPU batch)")


def run_label(run: RunRow) -> str:
    """Legend name of a run: precision and seed."""
    return f"{run.precision} · seed {run.seed}"


def loss_frame(data: ComparisonData) -> pd.DataFrame:
    """Long table: one row per run, epoch and split (train/dev) with its loss."""
    rows = []
    for run in data.runs:
        for e in data.epochs.get(run.id, []):
            for split, loss in (("train", e.train_loss), ("dev", e.dev_loss)):
                rows.append({"run": run_label(run), "precision": run.precision, "seed": run.seed,
                             "epoch": e.epoch, "wall_s": round(e.wall_seconds, 3),
                             "split": split, "loss": loss})
    return pd.DataFrame(rows, columns=["run", "precision", "seed", "epoch", "wall_s", "split",
                                       "loss"])


def epoch_time_frame(data: ComparisonData) -> pd.DataFrame:
    """One row per run and epoch: training seconds of that epoch."""
    rows = [{"run": run_label(run), "precision": run.precision, "epoch": e.epoch,
             "epoch_s": e.epoch_seconds, "examples_per_s": e.examples_per_second}
            for run in data.runs for e in data.epochs.get(run.id, [])]
    return pd.DataFrame(rows, columns=["run", "precision", "epoch", "epoch_s", "examples_per_s"])


@dataclass
class RunProgress:
    """Progress of one run for its progress bar."""

    label: str  # run label
    status: str  # run status
    fraction: float  # 0..1
    text: str  # e.g. "epoch 3/10 · ETA 42 s"


def run_progress(run: RunRow, epochs: list[EpochRecord], now: float | None = None) -> RunProgress:
    """Epochs done over epochs asked, with an ETA from the mean time per epoch so far."""
    total = max(run.config.epochs, 1)
    done = len(epochs)
    text = f"{run_label(run)}: epoch {done}/{total} · {run.status}"
    if run.status == "running" and done and run.started_unix:
        elapsed = (now or time.time()) - run.started_unix
        eta = elapsed / done * (total - done)
        text += f" · ETA {format_seconds(eta)}"
    elif run.status in ("failed", "interrupted", "cancelled") and run.message:
        text += f" · {run.message}"
    return RunProgress(run_label(run), run.status, min(done / total, 1.0), text)


def format_seconds(seconds: float) -> str:
    """42 s, 3 min 5 s, 1 h 02 min."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _mean_spread(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def _run_summary(run: RunRow, epochs: list[EpochRecord]) -> RunSummary | None:
    """The stored summary, or one from the epochs so far (a running run)."""
    if run.summary is not None:
        return run.summary
    return summarise_epochs(epochs, run.config.dev_loss_target) if epochs else None


def ran_as(run: RunRow) -> str:
    """What actually ran: compute/variable dtype, TF32, loss scaling, emulation, and the
    engine's path (data feed, step mode, GRU kernel) where the run recorded one."""
    dev = run.device
    if dev is None:
        return ""
    parts = [f"{dev.compute_dtype or '?'}/{dev.variable_dtype or '?'}"]
    parts += [x for x, on in (("TF32", dev.tf32), ("loss scaling", dev.loss_scaling),
                              ("emulated", dev.emulated)) if on]
    path = [x for x in (dev.feed, f"{dev.step_mode} steps" if dev.step_mode else "",
                        gru_label(dev.gru_kernel)) if x]
    return ", ".join(parts + path)


def gru_label(recorded: str) -> str:
    """The GRU kernel a run recorded, short: "GRU persistent", "GRU cudnn", and "GRU cudnn
    (persistent fell back)" when the persistent kernel was asked for but could not run."""
    if not recorded:
        return ""
    fell_back = "persistent refused" in recorded or "persistent failed" in recorded
    return f"GRU {recorded.split(' (')[0]}" + (" (persistent fell back)" if fell_back else "")


def summary_frame(data: ComparisonData) -> pd.DataFrame:
    """Per precision: speed and quality, mean ± spread (standard deviation) over seeds."""
    order = list(dict.fromkeys(r.precision for r in data.runs))
    per = {p: [(r, s) for r in data.runs if r.precision == p
               for s in [_run_summary(r, data.epochs.get(r.id, []))] if s is not None]
           for p in order}
    speed = {p: [s.steady_examples_per_second for _, s in v if s.steady_examples_per_second]
             for p, v in per.items()}
    ref = speed.get(REFERENCE) or next(iter(speed.values()), [])
    rows = []
    for prec in order:
        pairs = per[prec]
        sums = [s for _, s in pairs]
        vals = lambda attr: [getattr(s, attr) for s in sums if getattr(s, attr) is not None]
        reached = vals("seconds_to_target")
        speedup = (statistics.fmean(speed[prec]) / statistics.fmean(ref)
                   if speed[prec] and ref else None)
        runs = [r for r in data.runs if r.precision == prec]
        rows.append({
            "precision": prec,
            "runs": f"{len(sums)}/{len(runs)}",
            "steady epoch (s)": _mean_spread(vals("steady_epoch_seconds"), ".2f"),
            "examples/s": _mean_spread(speed[prec], ".1f"),
            f"speedup vs {REFERENCE}": f"{speedup:.2f}×" if speedup else "–",
            **({"speed-up vs 1 GPU": gpu_speedup_text(data, prec)}
               if data.runs[0].config.parallel.gpus > 1 else {}),
            "first epoch (s)": _mean_spread(vals("first_epoch_seconds"), ".2f"),
            "final train loss": _mean_spread(vals("final_train_loss"), ".4f"),
            "final dev loss": _mean_spread(vals("final_dev_loss"), ".4f"),
            "dev FRR": _mean_spread(vals("final_frr"), ".2f"),
            "time to target (s)": (f"{statistics.median(reached):.1f} ({len(reached)}/{len(sums)})"
                                   if reached else f"not reached (0/{len(sums)})"),
            "peak memory (MB)": (f"{max(s.peak_memory_bytes for s in sums) / 1e6:.0f} "
                                 f"{sums[-1].memory_kind}" if sums else "–"),
            "device": next((r.device.device_name for r in runs if r.device), ""),
            "ran as": next((ran_as(r) for r in runs if r.device), ""),
        })
    return pd.DataFrame(rows)
