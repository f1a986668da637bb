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


EMBED_PATTERN_DIMS = slice(10, 30)  # embedding values a tiny "trigger word" raises
EMBED_WORD_STEPS = 6  # steps the tiny word lasts


def make_embedding_split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) float16 arrays of ``n`` speech-embedding-like clips, 1 or 2 triggers each.

    X is (n, 116, 96) noise of the embeddings' scale (~10); a trigger raises values 10..29
    by 20 for 6 steps, and the kind's ``label_steps`` steps right after it are labelled 1
    (as make-data labels the steps whose windows end after a word).
    """
    from model.audio.features import EMBEDDING_TIMING, EMBED_DIM

    steps, span = EMBEDDING_TIMING.clip_steps, EMBEDDING_TIMING.label_steps
    x = rng.normal(0.0, 10.0, size=(n, steps, EMBED_DIM)).astype(np.float16)
    y = np.zeros((n, steps, 1), dtype=np.float16)
    for i in range(n):
        for k in range(1 + i % 2):
            half = steps // 2  # one trigger per half: windows never overlap
            start = int(rng.integers(k * half + 2, (k + 1) * half - EMBED_WORD_STEPS - span))
            end = start + EMBED_WORD_STEPS
            x[i, start:end, EMBED_PATTERN_DIMS] += 20.0
            y[i, end:end + span, 0] = 1.0
    return x, y


def write_tiny_embedding_dataset(folder: str | Path, n_train: int = 16, n_dev: int = 6,
                                 seed: int = 0) -> Path:
    """Write a tiny ``speech-embedding-v1`` dataset (see :func:`make_embedding_split`).

    Returns:
        The folder, as a Path.
    """
    from model.audio.features import FEATURE_KIND_EMBEDDING

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for suffix, n in (("", n_train), ("_dev", n_dev)):
        x, y = make_embedding_split(n, rng)
        np.save(out / f"X{suffix}.npy", x, allow_pickle=False)
        np.save(out / f"Y{suffix}.npy", y, allow_pickle=False)
    meta = DatasetMeta(word="pattern", feature_kind=FEATURE_KIND_EMBEDDING, n_train=n_train,
                       n_dev=n_dev, seed=seed, generator_version="tests.tinydata")
    (out / "meta.json").write_text(meta.to_json())
    return out
