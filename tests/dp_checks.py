"""Data-parallel checks on the CPU (gloo), run in a subprocess with KERAS_BACKEND=torch.

tests/test_distributed.py runs this file and reads the JSON it prints (the test process
has TensorFlow's Keras backend loaded). Each check spawns its ranks as torchrun would,
with the torchrun environment from model/train/distributed.py.

    KERAS_BACKEND=torch python tests/dp_checks.py
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
assert os.environ.get("KERAS_BACKEND") == "torch"

import numpy as np  # noqa: E402

FRAMES, BINS, GLOBAL_BATCH = 200, 101, 8  # input frames and bins; examples per step


def _batch() -> tuple[np.ndarray, np.ndarray]:
    """A fixed global batch: random features, labels on the network's step grid."""
    rng = np.random.default_rng(5)
    steps = (FRAMES - 15) // 4 + 1
    x = rng.normal(0, 1, (GLOBAL_BATCH, FRAMES, BINS)).astype("float32")
    y = (rng.random((GLOBAL_BATCH, steps, 1)) < 0.2).astype("float32")
    return x, y


def _weights_after_steps(precision: str, env: dict, out: str, steps: int) -> None:
    """One process's share: ``steps`` lean steps on its slice of the global batch, weights saved."""
    os.environ.update(env)
    import torch

    from model.train import distributed
    from model.train.network import NetworkConfig
    from model.train.precision import apply_precision
    from model.train.torch_step import TorchLeanStep
    from model.train.trial import build_trial_model
    from model.train.trial_config import TrialConfig
    info = distributed.init_rank()
    rank, world = (info.rank, info.world) if info else (0, 1)
    cfg = TrialConfig(precision=precision, network=NetworkConfig(conv_filters=8, gru_units=8, dropout=0.0), seed=rank)
    model = build_trial_model(cfg, apply_precision(precision))  # ranks differ: broadcast fixes
    step = TorchLeanStep(model)
    x, y = _batch()
    part = GLOBAL_BATCH // world
    xs, ys = (torch.from_numpy(a[rank * part:(rank + 1) * part]) for a in (x, y))
    step.start_epoch()
    for _ in range(steps):
        step.step(xs, ys)
    loss = step.epoch_loss()
    if rank == 0:
        arrays = {f"w{i}": np.asarray(v.value.detach().cpu()) for i, v in enumerate(model.weights)}
        np.savez(out, loss=loss, **arrays)
    distributed.shutdown_rank()


def gloo_vs_one_process(precision: str, tmp: Path, steps: int = 1,
                        per_node: int | None = None, world: int = 2) -> dict:
    """Largest weight difference after ``steps`` steps: ``world`` gloo ranks against 1 process.

    ``per_node=1`` simulates hosts of one GPU each (local rank 0 on every one, host rank 0,
    1, ...), the environment a run over several hosts gives its ranks. ``world`` 4 and 8
    stand in for the 4- and 8-GPU machines: the same all-reduce and synchronised batch
    norm over more ranks (8 ranks hold 1 example each of the global batch of 8)."""
    from model.train.distributed import free_port, rank_env
    ctx = mp.get_context("spawn")
    one = ctx.Process(target=_weights_after_steps, args=(precision, {}, str(tmp / "one.npz"), steps))
    one.start()
    one.join()
    port = free_port()
    ranks = [ctx.Process(target=_weights_after_steps,
                         args=(precision, rank_env(r, world, port, nproc_per_node=per_node),
                               str(tmp / "two.npz"), steps))
             for r in range(world)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join()
    a, b = np.load(tmp / "one.npz"), np.load(tmp / "two.npz")
    diffs = [float(np.max(np.abs(a[k] - b[k]))) for k in a.files if k != "loss"]
    moved = max(float(np.max(np.abs(a[k]))) for k in a.files if k != "loss")
    return {"max_weight_diff": max(diffs), "loss_one": float(a["loss"]),
            "loss_two": float(b["loss"]), "exit_codes": [one.exitcode] + [p.exitcode for p in ranks],
            "largest_weight": moved}


def _dies_on_rank_1(cfg, run_id, run_dir, events, stop, env=None):
    """A child entry point whose rank 1 dies at once (exit code 3); rank 0 trains normally."""
    if (env or {}).get("RANK") == "1":
        raise SystemExit(3)
    from model.runs.isolation import _child_main
    _child_main(cfg, run_id, run_dir, events, stop, env)


def data_parallel_trial(dataset: str, tmp: Path, die: bool = False) -> dict:
    """A whole 2-rank trial through the job API's process isolation (gloo on the CPU).

    On a speech-embedding dataset (its small head trains in seconds on a CPU; the seed
    network's batch norm is checked step by step above)."""
    from model.runs.isolation import run_trial_isolated
    from model.train.distributed import ParallelConfig
    from model.train.network import NetworkConfig
    from model.train.trial_config import TrialConfig
    cfg = TrialConfig(batch_size=8, epochs=1, dataset=dataset, train_examples=16, dev_examples=8,
                      network=NetworkConfig(conv_filters=8, gru_units=8, dropout=0.0),
                      save_model=not die, tensorboard=False, parallel=ParallelConfig(gpus=2))
    events = []
    from tests import dp_checks  # by module name: spawned children do not import __main__
    extra = {"target": dp_checks._dies_on_rank_1} if die else {}
    final = run_trial_isolated(cfg, "r-dp", tmp / ("dead" if die else "dp"), events.append,
                               threading.Event(), **extra)
    started = [e for e in events if e.kind == "started"]
    return {"final": final, "kinds": [e.kind for e in events],
            "message": events[-1].message if events else "",
            "notes": started[0].device.notes if started else [],
            "examples_per_s": [e.epoch.examples_per_second for e in events if e.kind == "epoch"],
            "epoch_s": [e.epoch.epoch_seconds for e in events if e.kind == "epoch"],
            "model_saved": (tmp / "dp" / "model.keras").is_file(),
            "orphans": [p.name for p in mp.active_children()]}


def main() -> None:
    import tempfile
    from tests.tinydata import write_tiny_embedding_dataset
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset = str(write_tiny_embedding_dataset(tmp / "emb", n_train=16, n_dev=4))
        out = {p: gloo_vs_one_process(p, tmp) for p in ("fp32", "amp-fp16", "amp-bf16")}
        out["two_hosts"] = gloo_vs_one_process("fp32", tmp, per_node=1)
        out["eight_ranks"] = gloo_vs_one_process("fp32", tmp, world=8)
        out["trial"] = data_parallel_trial(dataset, tmp)
        out["dead_rank"] = data_parallel_trial(dataset, tmp, die=True)
    print("DP_CHECKS " + json.dumps(out))


if __name__ == "__main__":
    main()
