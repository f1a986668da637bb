"""Helpers for the app tests and the reliability bench: a store holding comparisons made of
synthetic events (no TF), an always-on model, the pages' AppTest scripts, the app's
environment on a scratch folder, and a fake trainer."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


# -- the dashboard's pages through AppTest ------------------------------------------------------
# AppTest.from_function runs a function's own source as the page script, so each imports
# what it needs inside.
def trials_script():
    from app.trials_page import trials_page
    trials_page()


def history_script():
    from app.history_page import history_page
    history_page()


def detect_script():
    from app.detect_page import detect_page
    detect_page()


def dataset_script():
    from app.dataset_page import dataset_page
    dataset_page()


def app_env(base: Path, dataset: Path, store: Path) -> dict[str, str]:
    """The environment of a fresh app on a scratch folder (what tests/conftest.py's ``lab``
    sets, with no extra model files): the store, a tiny dataset, a small network, and no
    demo clips, candidates or enrolled voices.

    Args:
        base: scratch folder; demo clips, candidates and profiles are looked for under it.
        dataset: the dataset folder (LAB_DATASET).
        store: the SQLite run store (LAB_STORE).
    """
    return {"LAB_STORE": str(store), "LAB_DATASET": str(dataset),
            "LAB_NETWORK": "8,8,0.1", "LAB_DEMO_DIR": str(Path(base) / "demo"),
            "LAB_CANDIDATES": str(Path(base) / "no-candidates"),
            "LAB_PROFILES": str(Path(base) / "profiles"), "LAB_MODELS": ""}


@contextmanager
def environment(env: dict[str, str], close_store: bool = True) -> Iterator[None]:
    """Set ``env`` in os.environ for a page run outside pytest's monkeypatch; afterwards put
    every variable back and shut the process-wide runner down, so that the next page opens
    its own store.

    Args:
        env: variables to set.
        close_store: also close the shut-down runner's store connection.
    """
    from model.runs import jobs
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if jobs._RUNNER is not None:
            jobs._RUNNER.shutdown(timeout=10)
            if close_store:
                jobs._RUNNER.store.close()
            jobs._RUNNER = None


# -- training replaced by a fake ----------------------------------------------------------------
class FakeTrainer:
    """Stands in for run_trial: reports its epochs at once, optionally waiting for a gate."""

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate

    def __call__(self, cfg, run_id, run_dir, emit, cancel, data):
        now = time.time()
        emit(TrialEvent("started", run_id, cfg.precision, cfg.seed, now,
                        device=PrecisionRecord(cfg.precision, "tensorflow", "cpu", "Fake CPU",
                                               "float32", "float32", "float32")))
        if self.gate is not None:
            self.gate.wait(30)
        recs = []
        for ep in range(1, cfg.epochs + 1):
            if cancel.is_set():
                emit(TrialEvent("cancelled", run_id, cfg.precision, cfg.seed, time.time()))
                return "cancelled"
            recs.append(EpochRecord(ep, 1.0 / ep, 1.1 / ep, None, 0.5, 24.0, 0.1, ep * 0.6,
                                    10**8, "rss"))
            emit(TrialEvent("epoch", run_id, cfg.precision, cfg.seed, time.time(), epoch=recs[-1]))
        emit(TrialEvent("finished", run_id, cfg.precision, cfg.seed, time.time(),
                        summary=summarise_epochs(recs, cfg.dev_loss_target)))
        return "finished"


def use_fake_trainer(monkeypatch, fake) -> None:
    """Train with ``fake`` in the worker thread, whether the Runner isolates runs or not."""
    import model.runs.jobs as jobs_mod
    monkeypatch.setattr(jobs_mod, "run_trial", fake)
    monkeypatch.setattr(jobs_mod, "run_trial_isolated",
                        lambda cfg, run_id, run_dir, emit, cancel: fake(cfg, run_id, run_dir, emit,
                                                                       cancel, None))
