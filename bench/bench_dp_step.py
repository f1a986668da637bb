"""Where a data-parallel step's time goes: the lean step on N GPUs, with parts taken out.

Times the engine's lean torch step (model/train/torch_step.py) on the seed network with
device-resident random batches, one process per GPU as torchrun starts them:
* ``one``: 1 process at the per-GPU batch (the reference);
* ``dp``: N ranks, global-batch batch norm and the gradient all-reduce (what a run does);
* ``dp-local-bn``: N ranks, each normalising with its own rows' statistics (what plain
  DDP does; not the maths of one GPU, here only to price the batch-norm collectives);
* ``dp-no-allreduce``: N ranks, gradients not averaged (prices the all-reduce).
Also checks, per precision, that 2 ranks on the GPUs take the step one process takes
(largest weight difference after 2 steps at a small batch, tests/dp_checks.py), and
prints rank 0's top CUDA kernels for ``dp`` with ``--profile``. Prints figures.

    KERAS_BACKEND=torch python bench/bench_dp_step.py --json OUT.json [--profile]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = ("dp", "dp-local-bn", "dp-no-allreduce")


def _patch(mode: str) -> None:
    """Take a part out of the step for the ablation modes (this process only)."""
    from model.train import distributed, sync_bn, torch_bn
    if mode == "dp-local-bn":
        sync_bn.bn_train_global = torch_bn.bn_train_fused
    if mode == "dp-no-allreduce":
        distributed.allreduce_mean = lambda tensors: None


def _rank_main(mode: str, precision: str, batch: int, steps: int, env: dict, out: str,
               profile: bool) -> None:
    """One process: ``steps`` timed lean steps after 5 warm ones; rank 0 writes the figures."""
    os.environ.update(env)
    import torch

    from model.train import distributed
    _patch(mode)
    from model.train.precision import apply_precision
    from model.train.torch_step import TorchLeanStep
    from model.train.trial import build_trial_model
    from model.train.trial_config import TrialConfig
    info = distributed.init_rank()
    rank, world = (info.rank, info.world) if info else (0, 1)
    if info is None:
        torch.cuda.set_device(0)
    model = build_trial_model(TrialConfig(precision=precision, seed=rank), apply_precision(precision))
    step = TorchLeanStep(model)
    dev = step.params[0].device
    gen = torch.Generator(device=dev).manual_seed(rank)
    x = torch.randn((batch, 5511, 101), device=dev, generator=gen)
    y = (torch.rand((batch, 1375, 1), device=dev, generator=gen) < 0.1).float()
    step.start_epoch()
    for _ in range(5):
        step.step(x, y)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step.step(x, y)
    step.epoch_loss()  # the epoch's one host read, as a run's epoch ends
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    table = _profile(step, x, y) if profile else ""  # every rank steps: the collectives pair up
    if rank == 0:
        Path(out).write_text(json.dumps({"mode": mode, "precision": precision, "gpus": world,
                                         "per_gpu_batch": batch, "steps": steps,
                                         "ms_per_step": round(1000 * seconds / steps, 2),
                                         "examples_per_s": round(world * batch * steps / seconds, 1),
                                         "profile": table}))
    distributed.shutdown_rank()


def _profile(step, x, y) -> str:
    """This rank's top CUDA kernels over 5 steps (run on every rank; rank 0's is kept)."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step.step(x, y)
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=18)


def run_mode(mode: str, precision: str, batch: int, steps: int, gpus: int,
             profile: bool = False) -> dict:
    """Spawn the processes of one mode and return rank 0's figures."""
    from model.train.distributed import free_port, rank_env
    ctx = mp.get_context("spawn")
    world = 1 if mode == "one" else gpus
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "r.json")
        envs = [rank_env(r, world, port) for r in range(world)] if world > 1 else [{}]
        procs = [ctx.Process(target=_rank_main,
                             args=(mode, precision, batch, steps, e, out, profile)) for e in envs]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        if not Path(out).is_file():
            return {"mode": mode, "precision": precision, "failed": [p.exitcode for p in procs]}
        return json.loads(Path(out).read_text())


def maths_check(precision: str) -> dict:
    """2 ranks on the GPUs against 1 process: largest weight difference after 2 steps."""
    from tests.dp_checks import gloo_vs_one_process
    with tempfile.TemporaryDirectory() as tmp:
        return {"precision": precision, **gloo_vs_one_process(precision, Path(tmp), steps=2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", required=True)
    p.add_argument("--precisions", default="fp32,amp-fp16")
    p.add_argument("--batch", type=int, default=256, help="examples per GPU")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--gpus", type=int, default=2)
    p.add_argument("--modes", default=",".join(("one",) + MODES))
    p.add_argument("--profile", action="store_true")
    p.add_argument("--no-check", action="store_true")
    args = p.parse_args()
    rows, checks = [], []
    for prec in args.precisions.split(","):
        if not args.no_check:
            checks.append(maths_check(prec))
            print(json.dumps(checks[-1]), flush=True)
        for mode in args.modes.split(","):
            row = run_mode(mode, prec, args.batch, args.steps, args.gpus,
                           args.profile and mode == "dp")
            table = row.pop("profile", "")
            rows.append(row)
            print(json.dumps(row), flush=True)
            if table:
                print(table, flush=True)
    Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "checks": checks},
                                          indent=2))


if __name__ == "__main__":
    main()
