"""Top GPU kernels of a few engine training steps (torch profiler), for one precision.

    KERAS_BACKEND=torch python bench/profile_step.py amp-bf16 64 [DATASET]
"""
from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> int:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bench_gpu import write_bench_dataset
    from model.data.dataset import load_dataset
    from model.train.trial import _Trial
    from model.train.trial_config import TrialConfig
    prec, batch = sys.argv[1], int(sys.argv[2])
    folder = Path(sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp())
    if not (folder / "meta.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_bench_dataset(folder, batch * 8, batch)
    data = load_dataset(folder, check_values=False)
    cfg = TrialConfig(precision=prec, batch_size=batch, train_examples=batch * 8, dev_examples=batch,
                      save_model=False, tensorboard=False, dataset=str(folder))
    with tempfile.TemporaryDirectory() as tmp:
        trial = _Trial(cfg, "prof", Path(tmp), lambda _e: None, threading.Event())
        model, runner, record = trial.prepare(data)
        batches = list(trial.batches(np.random.default_rng(0)))
        runner.start_epoch()
        for xb, yb in batches[:3]:
            runner.step(xb, yb)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for xb, yb in batches[3:7]:
                runner.step(xb, yb)
            torch.cuda.synchronize()
    print(record.notes)
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70))
    return 0


if __name__ == "__main__":
    sys.exit(main())
