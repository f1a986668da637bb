"""``python -m model sweep``: AMP speedup vs batch size, one comparison per batch size.

Takes the train command's options (precisions, seeds, data, network...) except
``--batch-size``, which ``--batch-sizes`` replaces. The sweep goes into the same store
and queue as the dashboard's Sweeps page, so it shows up there while it runs.
"""
from __future__ import annotations

import argparse

from ..runs.schema import DEFAULT_DB_PATH
from . import train_cmd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the sweep command's options (train's, with --batch-sizes for --batch-size)."""
    from ..train.sweep_config import DEFAULT_BATCH_SIZES, DEFAULT_SWEEP_EPOCHS
    train_cmd.add_arguments(parser)
    for action in parser._actions:  # argparse cannot remove an option; hide the one replaced
        if action.dest == "batch_size":
            action.help = argparse.SUPPRESS
    parser.add_argument("--batch-sizes", default=",".join(map(str, DEFAULT_BATCH_SIZES)),
                        help="comma list of batch sizes, each <= the training examples used")
    parser.set_defaults(epochs=DEFAULT_SWEEP_EPOCHS, store=str(DEFAULT_DB_PATH))


def config_from_args(args: argparse.Namespace):
    """The SweepConfig the options describe (not yet validated)."""
    from ..train.sweep_config import SweepConfig, parse_batch_sizes
    comp = train_cmd.config_from_args(args)
    return SweepConfig(base=comp.base, batch_sizes=parse_batch_sizes(args.batch_sizes),
                       precisions=comp.precisions, epochs=args.epochs,
                       train_examples=args.train_examples, repeats=args.seeds, name=args.name)


def format_result(result) -> str:
    """Table of a SweepResult: per batch size and precision, ex/s, speedup, dev loss."""
    ref = result.reference
    opt = train_cmd.format_optional
    lines = [("batch", "precision", "runs", "steady ex/s", f"speedup vs {ref}", "dev loss",
              f"dev loss - {ref}", "note")]
    for r in result.records:
        lines.append((str(r.batch_size), r.precision, f"{r.runs_done}/{r.runs_total}",
                      opt(r.examples_per_second, ".1f"),
                      opt(r.speedup, ".2f") + ("x" if r.speedup else ""),
                      opt(r.final_dev_loss, ".4f"), opt(r.dev_loss_change, "+.4f"),
                      "1 epoch: includes compile" if r.first_epoch_only else ""))
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip()
                     for row in lines)


def run(args: argparse.Namespace) -> int:
    """Run the sweep, printing each run's events; 0 if every run finished, 1 otherwise."""
    from ..runs.jobs import get_runner
    from ..runs.sweep import sweep_result
    from ..runs.sweep_jobs import cancel_sweep, start_sweep
    from ..runs.sweep_store import read_sweep, sweep_runs
    cfg = config_from_args(args)
    runner = get_runner(args.store)
    sid = start_sweep(runner, cfg, check_values=True)
    sweep = read_sweep(runner.store, sid)
    print(f"sweep {sid}: batch sizes {', '.join(map(str, sweep.config.batch_sizes))}, "
          f"precisions {', '.join(sweep.config.precisions)}, store {runner.store.path}",
          flush=True)
    try:
        for member in sweep.members:
            print(f"-- batch {member.batch_size} (comparison {member.comparison_id})", flush=True)
            train_cmd.follow_comparison(runner, member.comparison_id, cfg.epochs)
    except KeyboardInterrupt:
        print("cancelling the sweep (stops before the next batch)...", flush=True)
        cancel_sweep(runner, read_sweep(runner.store, sid))
        for member in sweep.members:
            runner.wait(member.comparison_id)
    sweep = read_sweep(runner.store, sid)
    runs = sweep_runs(runner.store, sweep)
    print()
    print(format_result(sweep_result(runs, sweep.config.precisions)))
    rows = [r for m in sweep.members for r in runner.store.runs(m.comparison_id)]
    if train_cmd.reports_speedup(cfg.base.parallel):
        print(train_cmd.gpu_speedup_line(runner.store, rows))
    spans = [(r.started_unix, r.ended_unix) for r in rows if r.started_unix and r.ended_unix]
    if spans:
        print(f"sweep wall time {max(e for _, e in spans) - min(s for s, _ in spans):.1f} s "
              f"(first run's start to last run's end)")
    print(f"sweep {sid}: {sweep.status}")
    return 0 if all(r.status == "finished" for r in runs) else 1
