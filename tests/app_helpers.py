"""Helpers for the app tests: a store holding comparisons made of synthetic events (no TF)."""
from __future__ import annotations

import time
from pathlib import Path

from model.train.events import EpochRecord, TrialEvent, summarise_epochs
from model.train.precision import PrecisionRecord
from model.runs.store import RunStore
from model.train.trial_config import ComparisonConfig, TrialConfig

SPEED = {"fp32": 20.0, "amp-bf16": 25.0, "amp-fp16": 10.0, "tf32": 20.0}  # examples/s


def fake_comparison(store: RunStore, precisions=("fp32", "amp-bf16"), epochs: int = 3,
                    repeats: int = 1, name: str = "", finish: bool = True,
                    dataset: str = "XY_train") -> str:
    """Store a comparison whose runs report ``epochs`` epochs each; returns its id.

    With ``finish=False`` the last run stays "running" after its epochs.
    """
    cfg = ComparisonConfig(TrialConfig(epochs=epochs, batch_size=4, dataset=dataset),
                           list(precisions), repeats, name)
    cid, _ = store.create_comparison(cfg)
    store.set_comparison_status(cid, "running")
    runs = store.runs(cid)
    for i, run in enumerate(runs):
        t0 = time.time()
        dev = PrecisionRecord(run.precision, "tensorflow", "cpu", "Test CPU", "float32",
                              "bfloat16" if "bf16" in run.precision else "float32", "float32")
        store.add_event(cid, TrialEvent("started", run.id, run.precision, run.seed, t0, device=dev))
        recs = []
        for ep in range(1, epochs + 1):
            speed = SPEED[run.precision] * (1 + 0.05 * run.repeat)
            rec = EpochRecord(ep, 0.5 / ep, 0.6 / ep, None, 12 / speed, speed, 0.1,
                              ep * 12 / speed, 100_000_000 + ep, "rss")
            recs.append(rec)
            store.add_event(cid, TrialEvent("epoch", run.id, run.precision, run.seed, t0 + ep,
                                            epoch=rec))
        if finish or i < len(runs) - 1:
            store.add_event(cid, TrialEvent("finished", run.id, run.precision, run.seed,
                                            t0 + epochs + 1,
                                            summary=summarise_epochs(recs, 0.25)))
    if finish:
        store.set_comparison_status(cid, "finished")
    return cid


def save_always_on_model(folder: Path) -> Path:
    """Save a small untrained model whose output bias puts every step 'on' (probability
    0.9975: one deterministic detection at 0 s), with its card, as folder/always_on.keras."""
    import numpy as np

    from model.card import write_model_card
    from model.train.network import NetworkConfig, build_model
    net = build_model("float32", NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1))
    kernel, bias = net.layers[-1].get_weights()
    net.layers[-1].set_weights([np.zeros_like(kernel), np.full_like(bias, 6.0)])
    path = Path(folder) / "always_on.keras"
    net.save(path)
    write_model_card(path, "log-power-v1")
    return path
