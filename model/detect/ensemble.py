"""Ensembles: a model whose card names member models; its probability is their mean.

A model's JSON card (``activate.json`` beside ``activate.keras``, ``model.json`` beside a
run's ``model.keras``) may hold ``"members": ["other.keras", ...]``: files in the same
folder, each with its own card naming the features it was trained on. Detection,
evaluation and the Detect page then average the per-step probabilities of the model and
its members. Networks trained on different features (log power, PCEN) make different
mistakes: on the shipped detector's dev set their false accepts fell in different clips,
so the mean fires falsely about half as often at the same miss rate.

A dataset stores one feature kind. A member trained on another kind is fed a conversion
the feature registry declares (``FeatureKind.converts_from`` in
:data:`model.audio.features.FEATURE_REGISTRY`): PCEN from stored log power, whose power
frames come back up to float16 rounding. Other conversions are refused, and so are members
whose steps lie on another time grid (a spectrogram network's 7.27 ms steps and an embedding
head's 80 ms steps: :func:`model.detect.timing.shared_timing`), rather than resampled.

Fine-tuning (``--init pretrained``) starts from the model file itself, not its members.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import LabError
from ..audio.features import FEATURE_KIND_LOG, FEATURE_REGISTRY, convert_features, converter
from .timing import shared_timing

MEMBERS_KEY = "members"
MAX_MEMBERS = 4  # members besides the model itself; each one costs a network pass


@dataclass
class Member:
    """One network of an ensemble (the model itself is the first)."""

    path: Path  # its .keras file
    feature_kind: str  # features it was trained on (its card's, else log power)


def member_paths(model_path: str | Path) -> list[Path]:
    """The member files a model's card names (empty without a card or members).

    Raises:
        LabError: a member entry that is not a plain ``.keras`` file name in the model's
            folder, a missing member file, or more than :data:`MAX_MEMBERS`.
    """
    from ..card import listed_model_files

    return listed_model_files(model_path, MEMBERS_KEY, MAX_MEMBERS, "member")


def model_members(model_path: str | Path, kind: str | None) -> list[Member]:
    """The model (trained on ``kind``; None: log power) and the members its card names."""
    from ..card import read_model_card

    first = Member(Path(model_path), kind or FEATURE_KIND_LOG)
    return [first] + [Member(p, read_model_card(p) or FEATURE_KIND_LOG)
                      for p in member_paths(model_path)]


def check_convertible(from_kind: str, to_kind: str) -> None:
    """Raise LabError unless features of ``from_kind`` can feed a ``to_kind`` network
    (the same kind, or a conversion the registry declares)."""
    if converter(from_kind, to_kind) is None:
        known = ", ".join(f"{src} to {row.name}" for row in FEATURE_REGISTRY.values()
                          for src in row.converts_from) or "none"
        raise LabError(f"a member trained on {to_kind} features cannot be fed from "
                       f"{from_kind} features (conversions: {known})")


def predict_ensemble(models: list[tuple[Any, str]], x: np.ndarray, x_kind: str,
                     batch_size: int = 16,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Mean probability of every clip over the networks, a batch at a time.

    Args:
        models: (keras model, feature kind it was trained on) per network.
        x: (clips, frames, bins) features of ``x_kind`` (e.g. the memory-mapped X_dev.npy).
        x_kind: the stored feature kind.
        batch_size: clips per predict call.
        progress: called with (done, total) after each batch.

    Returns:
        (clips, steps) float32 probabilities.

    Raises:
        LabError: a member that cannot be fed ``x_kind`` features, or members on
            different time grids.
    """
    shared_timing([kind for _, kind in models])
    for _, kind in models:
        check_convertible(x_kind, kind)
    parts = []
    for start in range(0, x.shape[0], batch_size):
        batch = np.asarray(x[start:start + batch_size], dtype=np.float32)
        total = None
        for model, kind in models:
            out = np.asarray(model.predict_on_batch(convert_features(batch, x_kind, kind)),
                             dtype=np.float32)
            total = out if total is None else total + out
        parts.append((total / len(models)).reshape(batch.shape[0], -1))
        if progress is not None:
            progress(min(start + batch_size, x.shape[0]), x.shape[0])
    return np.concatenate(parts)
