"""A tiny, valid, learnable dataset in the model/data/dataset.py layout, for tests.

Each clip is low-level noise; a trigger is a bright stripe across frequency bins
40..60 lasting 60 frames, and the 50 output steps after the stripe ends are labelled 1
(as after a spoken word). A small network learns this within a few epochs.
On request it also writes ``examples.csv`` as make-data does (each trigger "ends" one step
before its label window, the synth convention) and adds dev clips without any trigger.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from model.data.dataset import DatasetMeta
from model.audio.features import (FEATURE_KIND_LOG, N_FRAMES, N_FREQ, N_STEPS, STEP_SECONDS,
                            steps_for_frames)

STRIPE_FRAMES = 60  # trigger length in input frames
STRIPE_BINS = slice(40, 60)  # frequency bins the trigger lights up
LABEL_STEPS = 50  # ones after each trigger


def make_split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) float16 arrays of ``n`` clips, each with 1 or 2 triggers."""
    x = rng.normal(0.0, 0.3, size=(n, N_FRAMES, N_FREQ)).astype(np.float16)
    y = np.zeros((n, N_STEPS, 1), dtype=np.float16)
    for i in range(n):
        for k in range(1 + i % 2):
            # one trigger per half of the clip, so windows never overlap
            half = N_FRAMES // 2
            start = int(rng.integers(k * half + 50, (k + 1) * half - STRIPE_FRAMES - 450))
            end = start + STRIPE_FRAMES
            x[i, start:end, STRIPE_BINS] += 3.0
            step = steps_for_frames(end)
            y[i, step:step + LABEL_STEPS, 0] = 1.0
    return x, y


def write_tiny_dataset(folder: str | Path, n_train: int = 12, n_dev: int = 4,
                       seed: int = 0, n_dev_negative: int = 0,
                       examples_csv: bool = False) -> Path:
    """Write X.npy, Y.npy, X_dev.npy, Y_dev.npy and meta.json into ``folder``.

    Args:
        folder: destination (created).
        n_train, n_dev: clips with 1 or 2 triggers each, per split.
        seed: random seed.
        n_dev_negative: further dev clips of noise only (appended after the others).
        examples_csv: also write examples.csv (see :func:`write_examples_csv`).

    Returns:
        The folder, as a Path.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x, y = make_split(n_train, rng)
    x_dev, y_dev = make_split(n_dev, rng)
    if n_dev_negative:  # its own generator: the clips above do not depend on it
        noise = np.random.default_rng([seed, 1]).normal(0.0, 0.3, (n_dev_negative, N_FRAMES, N_FREQ))
        x_dev = np.concatenate([x_dev, noise.astype(np.float16)])
        y_dev = np.concatenate([y_dev, np.zeros((n_dev_negative, N_STEPS, 1), np.float16)])
    for name, arr in (("X", x), ("Y", y), ("X_dev", x_dev), ("Y_dev", y_dev)):
        np.save(out / f"{name}.npy", arr, allow_pickle=False)
    meta = DatasetMeta(word="stripe", feature_kind=FEATURE_KIND_LOG, n_train=n_train,
                       n_dev=n_dev + n_dev_negative, seed=seed, generator_version="tests.tinydata")
    (out / "meta.json").write_text(meta.to_json())
    if examples_csv:
        write_examples_csv(out / "examples.csv", {"train": y, "dev": y_dev})
    return out


def write_examples_csv(path: str | Path, labels: dict[str, np.ndarray]) -> Path:
    """examples.csv in make-data's format, derived from label windows.

    Each window starting at step s stands for a trigger word ending at (s - 1) steps, as
    ``model.data.synth.labels_for_ends`` makes them; there are no other words.

    Args:
        path: the file to write.
        labels: split name -> (clips, 1375, 1) labels.

    Returns:
        The path.
    """
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["split", "index", "n_triggers", "trigger_end_s", "n_other",
                         "background", "snr_db"])
        for split, y in labels.items():
            for i, row in enumerate(np.asarray(y, dtype=np.float32).reshape(len(y), -1)):
                starts = np.flatnonzero(np.diff(np.concatenate([[0.0], row])) > 0.5)
                ends = " ".join(f"{(s - 1) * STEP_SECONDS:.3f}" for s in starts)
                writer.writerow([split, i, len(starts), ends, 0, "noise", "10.0"])
    return Path(path)
