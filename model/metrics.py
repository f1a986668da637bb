"""Detection quality on a dev set: false-reject rate at a fixed false-accept rate per hour.

Accuracy is useless here (an all-zeros model scores >90%), so a trial is judged the way a
wake-word detector is: how many trigger words it misses while it false-fires at most
``target_fa_per_hour`` times per hour of audio.

Definitions (all per example, on the network's 1375 output steps per 10 s clip):

* A *trigger* is a run of consecutive label steps equal to 1 (the 50 steps after a word).
* A *detection* starts where the probability rises to or above the threshold. Episodes
  above the threshold separated by fewer than ``refractory_steps`` steps below it merge
  into one detection (the detector's refractory period: one chime per word).
* A trigger is *found* if a detection starts inside its label window; a detection that
  starts outside every window is a *false accept*; a second detection inside an already
  found window is neither.
* FA/hour = false accepts / (examples x clip seconds / 3600); FRR = 1 - found / triggers.

The threshold is swept over a fixed grid and the lowest FRR whose FA/hour is within the
target is reported (a threshold above every probability gives FRR 1 at 0 FA/hour).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .features import CLIP_SECONDS

DEFAULT_TARGET_FA_PER_HOUR = 1.0
DEFAULT_REFRACTORY_STEPS = 75  # ~0.55 s at 7.27 ms/step, as the seed's chime hold-off
THRESHOLDS = np.concatenate([np.linspace(0.05, 0.95, 19), [0.97, 0.98, 0.99, 0.995, 0.999]])


@dataclass
class DetectionMetrics:
    """Detection quality at one operating point (the best threshold within the FA budget)."""

    frr: float | None  # false-reject rate 0..1 (None: the dev set has no triggers)
    threshold: float  # probability threshold of this operating point
    fa_per_hour: float  # false accepts per hour of dev audio at that threshold
    target_fa_per_hour: float  # the budget the threshold was chosen for
    n_triggers: int  # trigger words in the dev labels
    n_found: int  # triggers found at that threshold
    n_false_accepts: int  # detections outside every label window
    dev_hours: float  # hours of dev audio scored

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "DetectionMetrics":
        """Inverse of to_dict."""
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


def mask_to_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True along the last axis of a 2-D boolean mask.

    Returns:
        (row, start, end) int arrays, one entry per run, ordered by row then start;
        ``end`` is exclusive.
    """
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # same order: the k-th fall closes the k-th rise
    return rows, starts, ends


def detections_from_probs(probs: np.ndarray, threshold: float,
                          refractory_steps: int = DEFAULT_REFRACTORY_STEPS
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Detection steps of a batch of probability tracks.

    Args:
        probs: (examples, steps) probabilities.
        threshold: detection threshold (probability >= threshold counts as above).
        refractory_steps: below-threshold gap, in steps, needed before a new detection.

    Returns:
        (row, step) int arrays of detection starts.
    """
    rows, starts, ends = mask_to_runs(probs >= threshold)
    keep = np.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] > 1:
        same_row = rows[1:] == rows[:-1]
        gap = starts[1:] - ends[:-1]
        keep[1:] = ~same_row | (gap >= refractory_steps)
    return rows[keep], starts[keep]


def score_detections(det_rows: np.ndarray, det_steps: np.ndarray, labels: np.ndarray
                     ) -> tuple[int, int, int]:
    """Match detections to label windows.

    Args:
        det_rows, det_steps: detection starts from :func:`detections_from_probs`.
        labels: (examples, steps) 0/1 labels.

    Returns:
        (n_triggers, n_found, n_false_accepts).
    """
    width = labels.shape[1] + 1  # per-row key offset; window ends stay below the next row
    w_rows, w_starts, w_ends = mask_to_runs(labels >= 0.5)
    w_lo, w_hi = w_rows * width + w_starts, w_rows * width + w_ends
    keys = det_rows * width + det_steps
    idx = np.searchsorted(w_lo, keys, side="right") - 1
    inside = (idx >= 0) & (keys < w_hi[np.clip(idx, 0, None)]) if w_lo.size else \
        np.zeros(keys.shape, dtype=bool)
    n_found = int(np.unique(idx[inside]).size)
    return int(w_lo.size), n_found, int((~inside).sum())


def frr_at_fa_rate(probs: np.ndarray, labels: np.ndarray,
                   target_fa_per_hour: float = DEFAULT_TARGET_FA_PER_HOUR,
                   clip_seconds: float = CLIP_SECONDS,
                   refractory_steps: int = DEFAULT_REFRACTORY_STEPS) -> DetectionMetrics:
    """False-reject rate at a false-accept budget, sweeping the threshold.

    Args:
        probs: (examples, steps) or (examples, steps, 1) probabilities.
        labels: same shape, 0/1.
        target_fa_per_hour: false accepts allowed per hour of audio.
        clip_seconds: audio seconds per example (10 s clips).
        refractory_steps: see :func:`detections_from_probs`.

    Returns:
        DetectionMetrics at the threshold with the lowest FRR within the budget
        (ties: fewer false accepts).
    """
    probs = np.asarray(probs, dtype=np.float32).reshape(probs.shape[0], -1)
    labels = np.asarray(labels).reshape(labels.shape[0], -1)
    hours = probs.shape[0] * clip_seconds / 3600.0
    best = DetectionMetrics(None, 1.0, 0.0, target_fa_per_hour, 0, 0, 0, hours)
    best_key = (2.0, 0)
    for threshold in THRESHOLDS:
        rows, steps = detections_from_probs(probs, float(threshold), refractory_steps)
        n_trig, n_found, n_fa = score_detections(rows, steps, labels)
        best.n_triggers = n_trig
        fa_rate = n_fa / hours if hours > 0 else 0.0
        if fa_rate > target_fa_per_hour:
            continue
        frr = 1.0 - n_found / n_trig if n_trig else 0.0
        if (frr, n_fa) < best_key:
            best_key = (frr, n_fa)
            best = DetectionMetrics(frr, float(threshold), fa_rate, target_fa_per_hour,
                                    n_trig, n_found, n_fa, hours)
    if best.n_triggers == 0:
        best.frr = None
    elif best_key[0] > 1.0:  # no threshold met the budget: nothing detected is the fallback
        best.frr = 1.0
    return best
