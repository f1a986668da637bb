"""``python -m model train``: run an AMP-vs-FP32 comparison, print live epochs and a summary.

Runs go into the same store as the dashboard's (runs/lab.sqlite by default), through
the same job API, so a comparison started here shows up in the browser.
"""
from __future__ import annotations

import argparse
import time

from ..train.events import PrecisionSummary, TrialEvent, summarise_precisions
from ..runs.schema import DEFAULT_DB_PATH

_POLL_SECONDS = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the train command's options."""
    from ..data.dataset import DEFAULT_DATASET_DIR
    from ..train.precision import PRECISIONS, default_precisions
    gpu, cpu = ",".join(default_precisions("gpu")), ",".join(default_precisions("cpu"))
    parser.add_argument("--precisions", default="",
                        help=f"comma list of {', '.join(PRECISIONS)} "
                             f"(default: {gpu} on a GPU, {cpu} on a CPU)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (1..1000)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="repeats with seeds seed, seed+1, ...; precision order alternates")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--init", choices=("scratch", "pretrained"), default="scratch",
                        help="random weights or the shipped model that reads the dataset's "
                             "features (the speech-embedding head, or the spectrogram network)")
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET_DIR), help="dataset folder")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                        help="constant, or cosine decay per epoch from --lr towards 0")
    parser.add_argument("--target-dev-loss", type=float, default=0.05,
                        help="dev loss that counts as converged (time-to-target)")
    parser.add_argument("--fa-per-hour", type=float, default=1.0,
                        help="false-accept budget of the FRR metric")
    parser.add_argument("--train-examples", type=int, default=0,
                        help="use only the first N training examples (0: all)")
    parser.add_argument("--dev-examples", type=int, default=0,
                        help="score only the first N dev examples (0: all)")
    parser.add_argument("--store", default=str(DEFAULT_DB_PATH), help="SQLite run store")
    parser.add_argument("--conv-filters", type=int, default=None,
                        help="spectrogram datasets: Conv1D channels (default: the seed's 196)")
    parser.add_argument("--gru-units", type=int, default=None,
                        help="units of each GRU (default: the seed's 128)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="drop rate of every Dropout layer (default: the seed's 0.8)")
    parser.add_argument("--head-dense-units", type=int, default=None,
                        help="speech-embedding datasets: units of the head's Dense (default 64)")
    parser.add_argument("--head-gru-units", type=int, default=None,
                        help="speech-embedding datasets: units of the head's GRU (default 64)")
    parser.add_argument("--head-dropout", type=float, default=None,
                        help="speech-embedding datasets: the head's drop rate (default 0.2)")
    parser.add_argument("--spec-augment", default="",
                        help="SpecAugment-style masking per training clip: 'on' (2 time spans of "
                             "<= 100 frames, 2 bands of <= 10 bins) or 'T,FRAMES,F,BINS'")
    parser.add_argument("--gpus", type=int, default=1,
                        help="GPUs to use on this host (1..found): ranks of each run here, "
                             "or runs at once")
    parser.add_argument("--placement", choices=("data-parallel", "per-run"),
                        default="data-parallel",
                        help="data-parallel: each run over --gpus GPUs (global --batch-size "
                             "split); per-run: runs side by side, one per GPU")
    hosts = parser.add_argument_group(
        "several hosts (data-parallel; torchrun's flags: run the same command on every host)")
    hosts.add_argument("--nnodes", type=int, default=1,
                       help="hosts in each run; ranks in all = --gpus x --nnodes")
    hosts.add_argument("--node-rank", type=int, default=0,
                       help="this host's index, 0..nnodes-1 (host 0 holds rank 0, which reports)")
    hosts.add_argument("--master-addr", default="127.0.0.1",
                       help="address of host 0, reachable from every host")
    hosts.add_argument("--master-port", type=int, default=0,
                       help="rendezvous port on host 0, the same on every host (needed with "
                            "--nnodes > 1; 0: a free local port)")
    parser.add_argument("--gru-kernel", choices=("cudnn", "persistent", "auto"), default="auto",
                        help="torch GPU runs: cuDNN's GRU, the persistent Triton GRU, or auto "
                             "(persistent where measured faster); cuDNN wherever the other "
                             "cannot run, with the reason in the run's record")
    parser.add_argument("--name", default="", help="label for the comparison")


def config_from_args(args: argparse.Namespace):
    """The ComparisonConfig the options describe (not yet validated)."""
    from dataclasses import replace

    from ..train.distributed import ParallelConfig
    from ..train.network import HeadConfig, NetworkConfig
    from ..train.trial_config import ComparisonConfig, TrialConfig
    net = NetworkConfig()
    for name in ("conv_filters", "gru_units", "dropout"):
        if getattr(args, name) is not None:
            setattr(net, name, getattr(args, name))
    # the dataset's feature kind picks network or head when the run starts; both are stored
    head = replace(HeadConfig(), **{field: getattr(args, f"head_{field}")
                                    for field in ("dense_units", "gru_units", "dropout")
                                    if getattr(args, f"head_{field}") is not None})
    base = TrialConfig(network=net, head=head, batch_size=args.batch_size, epochs=args.epochs,
                       learning_rate=args.lr, lr_schedule=args.lr_schedule,
                       init=args.init, seed=args.seed, dataset=args.dataset,
                       train_examples=args.train_examples, dev_examples=args.dev_examples,
                       dev_loss_target=args.target_dev_loss, target_fa_per_hour=args.fa_per_hour,
                       spec_augment=parse_spec_augment(args.spec_augment),
                       gru_kernel=args.gru_kernel,
                       parallel=ParallelConfig(gpus=args.gpus, placement=args.placement,
                                               nnodes=args.nnodes, node_rank=args.node_rank,
                                               master_addr=args.master_addr,
                                               master_port=args.master_port))
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    return ComparisonConfig(base=base, precisions=precisions, repeats=args.seeds, name=args.name)


def parse_spec_augment(text: str):
    """'' or 'off' -> off, 'on' -> the preset, 'T,FRAMES,F,BINS' -> those; ConfigError else."""
    from dataclasses import replace

    from ..errors import ConfigError
    from ..train.specaug import PRESET, SpecAugmentConfig
    text = text.strip().lower()
    if text in ("", "off"):
        return SpecAugmentConfig()
    if text == "on":
        return replace(PRESET)
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--spec-augment takes on, off or four integers T,FRAMES,F,BINS, got {text!r}")
    return SpecAugmentConfig(*(int(p) for p in parts))


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.2f} GB"


def format_optional(value: float | None, fmt: str, none: str = "-") -> str:
    return none if value is None else format(value, fmt)


def format_event(ev: TrialEvent, epochs: int) -> str:
    """One human line for an event."""
    who = f"{ev.precision:8s} seed {ev.seed}"
    if ev.kind == "started" and ev.device is not None:
        d = ev.device
        notes = f"  [{'; '.join(d.notes)}]" if d.notes else ""
        return (f"{who}: started on {d.backend}/{d.device_kind} {d.device_name}; compute "
                f"{d.compute_dtype}, variables {d.variable_dtype}, TF32 "
                f"{'on' if d.tf32 else 'off'}, loss scaling {'on' if d.loss_scaling else 'off'}"
                f"{', EMULATED' if d.emulated else ''}{notes}")
    if ev.kind == "epoch" and ev.epoch is not None:
        e = ev.epoch
        frr = e.detection.frr if e.detection else None
        budget = e.detection.target_fa_per_hour if e.detection else 0.0
        first = "  (first epoch: includes compile)" if e.epoch == 1 else ""
        return (f"{who} epoch {e.epoch:>3}/{epochs}  train {e.train_loss:.4f}  dev "
                f"{e.dev_loss:.4f}  FRR {format_optional(frr, '.2f')}@{budget:g}FA/h  "
                f"{e.epoch_seconds:.1f} s  {e.examples_per_second:.1f} ex/s  wall "
                f"{e.wall_seconds:.1f} s  peak {e.memory_kind} {_gb(e.peak_memory_bytes)}{first}")
    if ev.kind == "finished":
        return f"{who}: finished" + (f", model {ev.extra['model_path']}"
                                     if ev.extra.get("model_path") else "") + \
            (f" ({ev.message})" if ev.message else "")
    return f"{who}: {ev.kind.upper()} {ev.message}".rstrip()


def format_summary(rows: list[PrecisionSummary], target: float) -> str:
    """Side-by-side table of a comparison's precisions (medians over seeds)."""
    head = ("precision", "runs", "first ep s", "steady ep s", "ex/s", "speedup",
            "train loss", "dev loss", "FRR", f"s to dev<={target:g}", "peak mem")
    lines = [head]
    for r in rows:
        reach = (f"{format_optional(r.seconds_to_target, '.1f')} ({r.reached_target}/{r.runs})"
                 if r.seconds_to_target is not None else f"never (0/{r.runs})")
        lines.append((r.precision, str(r.runs), format_optional(r.first_epoch_seconds, ".2f"),
                      format_optional(r.steady_epoch_seconds, ".2f"), format_optional(r.examples_per_second, ".1f"),
                      format_optional(r.speedup, ".2f") + ("x" if r.speedup else ""),
                      format_optional(r.final_train_loss, ".4f"), format_optional(r.final_dev_loss, ".4f"),
                      format_optional(r.final_frr, ".2f"), reach, _gb(r.peak_memory_bytes)))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in lines)


def gpu_speedup_line(store, runs) -> str:
    """What the GPUs bought: per precision against 1 GPU (data-parallel), or the wall-clock
    gain of running side by side (per-run)."""
    from ..runs.scaling import data_parallel_speedup, placement_speedup, recent_runs
    par = runs[0].config.parallel
    gpus = par.gpus * par.nnodes
    if par.placement == "per-run":
        gain = placement_speedup(runs)
        return (f"{par.gpus} GPUs, one run per GPU: "
                + (f"{gain:.2f}x faster than one run at a time" if gain else "no figure yet"))
    stored = recent_runs(store)
    parts = []
    for run in runs:
        gain = data_parallel_speedup(run, stored)
        parts.append(f"{run.precision}/seed {run.seed} "
                     + (f"{gain:.2f}x" if gain else "- (no 1-GPU run at this per-GPU batch stored)"))
    hosts = f" ({par.nnodes} hosts)" if par.nnodes > 1 else ""
    return f"speed-up on {gpus} GPUs{hosts} against 1 GPU: " + ", ".join(parts)


def reports_speedup(par) -> bool:
    """Whether this host prints the GPU speed-up: several GPUs, and it holds rank 0."""
    return par.gpus * par.nnodes > 1 and par.node_rank == 0


def follow_comparison(runner, cid: str, epochs: int) -> None:
    """Print events as they arrive until the comparison ends."""
    since = 0
    while True:
        status = runner.status(cid)
        for ev in runner.events(cid, since):
            print(format_event(ev, epochs), flush=True)
            since = ev.seq
        if status.done and since >= status.last_seq:
            return
        time.sleep(_POLL_SECONDS)


def run(args: argparse.Namespace) -> int:
    """Run the comparison; 0 if every run finished, 1 otherwise."""
    from ..runs.jobs import get_runner
    cfg = config_from_args(args)
    runner = get_runner(args.store)
    cid = runner.start(cfg, check_values=True)
    print(f"comparison {cid}: {len(runner.store.runs(cid))} runs, store {runner.store.path}",
          flush=True)
    try:
        follow_comparison(runner, cid, cfg.base.epochs)
    except KeyboardInterrupt:
        print("cancelling (stops before the next batch)...", flush=True)
        runner.cancel(cid)
        runner.wait(cid)
        follow_comparison(runner, cid, cfg.base.epochs)
    runs = runner.store.runs(cid)
    done = [(r.precision, r.summary) for r in runs if r.status == "finished" and r.summary]
    print()
    if done:
        print(format_summary(summarise_precisions(done), cfg.base.dev_loss_target))
    if reports_speedup(cfg.base.parallel):
        print(gpu_speedup_line(runner.store, runs))
    status = runner.status(cid)
    print(f"comparison {cid}: {status.state}; "
          + ", ".join(f"{r.precision}/seed {r.seed} {r.status}" for r in runs))
    return 0 if all(r.status == "finished" for r in runs) else 1
