"""Detection quality on a dev set: false-reject rate at a fixed false-accept rate per hour.

Accuracy is useless here (an all-zeros model scores >90%), so a trial is judged the way a
wake-word detector is: how many trigger words it misses while it false-fires at most
``target_fa_per_hour`` times per hour of audio.

Definitions (all per example, on the network's output steps: 1375 per 10 s clip for the
seed network, 116 for the head over speech embeddings; the step counts below are the seed's,
and a kind's own are in its ``StepTiming``: label span, hold-off and early tolerance):

* A *trigger* is a run of consecutive label steps equal to 1 (the 50 steps after a word).
* A *detection* starts where the probability rises to or above the threshold. After a
  detection the detector is refractory for ``refractory_steps`` steps counted from its
  start, as the seed's chime hold-off (75 steps since the last chime): an episode that
  starts within that time belongs to the same detection. (Until commit 1463dee, 2026-11-29,
  the hold-off ran from the *end* of the last episode; the probability stays high through
  the 50-step label window, so the second of two trigger words said back to back, ~0.67 s
  apart, was scored a miss even when the network flagged it with an episode of its own: 213
  of the shipped model's 473 misses on its 3,000-clip dev set.)
* A trigger is *found* if a detection starts inside its label window or at most
  ``EARLY_TOLERANCE_STEPS`` (0.3 s; ``early_steps``) before it, i.e. during the word's last syllables: a
  network trained on labels that begin at the word's end rises at that boundary, and at
  threshold 0.5 half of a good model's detections start one step early (measured on the
  shipped model). A detection outside every (widened) window is a *false accept*; a second
  detection inside an already found window is neither.
* FA/hour = false accepts / (examples x clip seconds / 3600); FRR = 1 - found / triggers.

The threshold is swept over a fixed grid and the lowest FRR whose FA/hour is within the
target is reported (a threshold above every probability gives FRR 1 at 0 FA/hour).
:func:`sweep_thresholds` keeps every threshold's counts (a DET curve, see
:mod:`model.detect.evaluate`); :func:`operating_point` picks from them. The detection rule lives
here once (:func:`episodes`, :func:`detection_groups`); :mod:`model.detect.detector` applies the same
functions to one trace.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..audio.features import CLIP_SECONDS

DEFAULT_TARGET_FA_PER_HOUR = 1.0
EARLY_TOLERANCE_STEPS = 41  # 0.3 s: a detection this early, still inside the word, counts
DEFAULT_REFRACTORY_STEPS = 75  # ~0.55 s at 7.27 ms/step, as the seed's chime hold-off
# up to 1 - 1e-6: some networks put false accepts at probabilities that round to 1 in float32
THRESHOLDS = np.concatenate([np.linspace(0.05, 0.95, 19),
                             [0.97, 0.98, 0.99, 0.995, 0.999, 0.9999, 0.99999, 0.999999]])


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


def episodes(probs: np.ndarray, threshold: float, min_steps: int = 1
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of steps with probability >= threshold, at least ``min_steps`` long.

    Args:
        probs: (examples, steps) probabilities.
        threshold: a step is on when its probability is >= threshold.
        min_steps: shortest run kept, in steps.

    Returns:
        (row, start, end) int arrays as :func:`mask_to_runs` (``end`` exclusive).
    """
    rows, starts, ends = mask_to_runs(np.asarray(probs) >= threshold)
    if min_steps > 1:
        keep = ends - starts >= min_steps
        rows, starts, ends = rows[keep], starts[keep], ends[keep]
    return rows, starts, ends


def detection_groups(rows: np.ndarray, starts: np.ndarray, refractory_steps: int) -> np.ndarray:
    """Which episodes open a new detection (the refractory rule).

    Args:
        rows, starts: episodes from :func:`episodes`, ordered by row then start.
        refractory_steps: an episode starting less than this many steps after the start of
            the detection before it, in the same row, belongs to that detection.

    Returns:
        bool array, True for the first episode of each detection.
    """
    first = np.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] < 2:
        return first
    first[1:] = (rows[1:] != rows[:-1]) | (starts[1:] - starts[:-1] >= refractory_steps)
    # an episode close to the previous one may still be far enough from the previous
    # *detection*; chains of close episodes are short, so walk them in order
    for i in np.flatnonzero(~first):
        j = i - 1
        while not first[j]:
            j -= 1
        first[i] = starts[i] - starts[j] >= refractory_steps
    return first


def detections_from_probs(probs: np.ndarray, threshold: float,
                          refractory_steps: int = DEFAULT_REFRACTORY_STEPS,
                          min_steps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Detection steps of a batch of probability tracks.

    Args:
        probs: (examples, steps) probabilities.
        threshold: detection threshold (probability >= threshold counts as above).
        refractory_steps: hold-off after a detection's start, in steps.
        min_steps: consecutive on-steps an episode needs (1 for the dev metric).

    Returns:
        (row, step) int arrays of detection starts, ordered by row then step.
    """
    rows, starts, _ = episodes(probs, threshold, min_steps)
    keep = detection_groups(rows, starts, refractory_steps)
    return rows[keep], starts[keep]


def match_detections(det_rows: np.ndarray, det_steps: np.ndarray, labels: np.ndarray,
                     early_steps: int = EARLY_TOLERANCE_STEPS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Match detections to label windows (runs of 1s, one per trigger word).

    Args:
        det_rows, det_steps: detection starts from :func:`detections_from_probs`.
        labels: (examples, steps) 0/1 labels.
        early_steps: a window also accepts detections this many steps before it (never
            reaching back into the previous window of the same example).

    Returns:
        (w_rows, w_starts, w_ends, first_step, inside): the windows (``w_ends`` exclusive),
        per window the earliest detection step inside it (-1 if none), and per detection
        whether it starts inside some window (False: a false accept).
    """
    width = labels.shape[1] + 1  # per-row key offset; window ends stay below the next row
    w_rows, w_starts, w_ends = mask_to_runs(np.asarray(labels) >= 0.5)
    lo_steps = np.maximum(w_starts - early_steps, 0)
    if w_rows.size > 1:  # windows come sorted by (row, start): keep them disjoint
        same = w_rows[1:] == w_rows[:-1]
        lo_steps[1:] = np.where(same, np.maximum(lo_steps[1:], w_ends[:-1]), lo_steps[1:])
    w_lo, w_hi = w_rows * width + lo_steps, w_rows * width + w_ends
    keys = np.asarray(det_rows) * width + np.asarray(det_steps)
    idx = np.searchsorted(w_lo, keys, side="right") - 1
    inside = (idx >= 0) & (keys < w_hi[np.clip(idx, 0, None)]) if w_lo.size else \
        np.zeros(keys.shape, dtype=bool)
    no_hit = labels.shape[1] + 1
    first_step = np.full(w_lo.shape, no_hit, dtype=np.int64)
    np.minimum.at(first_step, idx[inside], np.asarray(det_steps, dtype=np.int64)[inside])
    first_step[first_step == no_hit] = -1
    return w_rows, w_starts, w_ends, first_step, inside


def score_detections(det_rows: np.ndarray, det_steps: np.ndarray, labels: np.ndarray,
                     early_steps: int = EARLY_TOLERANCE_STEPS) -> tuple[int, int, int]:
    """Count matched detections (see :func:`match_detections`, also for ``early_steps``).

    Returns:
        (n_triggers, n_found, n_false_accepts).
    """
    _, w_starts, _, first_step, inside = match_detections(det_rows, det_steps, labels, early_steps)
    return int(w_starts.size), int((first_step >= 0).sum()), int((~inside).sum())


@dataclass
class ThresholdSweep:
    """Detection counts at each threshold of a grid, on one scored set."""

    thresholds: np.ndarray  # (k,) ascending probability thresholds
    n_found: np.ndarray  # (k,) triggers found at each threshold
    n_false_accepts: np.ndarray  # (k,) detections outside every window
    n_triggers: int  # trigger windows in the labels
    hours: float  # hours of audio scored

    @property
    def miss_rate(self) -> np.ndarray:
        """(k,) share of triggers missed, 0..1 (0 where there are no triggers)."""
        return 1.0 - self.n_found / self.n_triggers if self.n_triggers else \
            np.zeros(self.thresholds.shape)

    @property
    def fa_per_hour(self) -> np.ndarray:
        """(k,) false accepts per hour of audio."""
        return self.n_false_accepts / self.hours if self.hours > 0 else \
            np.zeros(self.thresholds.shape)


def sweep_thresholds(probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray = THRESHOLDS,
                     clip_seconds: float = CLIP_SECONDS,
                     refractory_steps: int = DEFAULT_REFRACTORY_STEPS,
                     early_steps: int = EARLY_TOLERANCE_STEPS) -> ThresholdSweep:
    """Score detections at every threshold of a grid.

    Args:
        probs: (examples, steps) or (examples, steps, 1) probabilities.
        labels: same shape, 0/1.
        thresholds: probability thresholds to try.
        clip_seconds: audio seconds per example.
        refractory_steps: see :func:`detections_from_probs` (a kind's: its
            ``timing.refractory_steps``).
        early_steps: see :func:`match_detections` (a kind's: ``timing.early_tolerance_steps``).

    Returns:
        ThresholdSweep with one count per threshold.
    """
    probs = np.asarray(probs, dtype=np.float32).reshape(probs.shape[0], -1)
    labels = np.asarray(labels).reshape(labels.shape[0], -1)
    found, fas, n_trig = [], [], 0
    for threshold in np.asarray(thresholds, dtype=np.float64):
        rows, steps = detections_from_probs(probs, float(threshold), refractory_steps)
        n_trig, n_found, n_fa = score_detections(rows, steps, labels, early_steps)
        found.append(n_found)
        fas.append(n_fa)
    return ThresholdSweep(np.asarray(thresholds, dtype=np.float64), np.asarray(found, np.int64),
                          np.asarray(fas, np.int64), n_trig,
                          probs.shape[0] * clip_seconds / 3600.0)


def operating_point(sweep: ThresholdSweep,
                    target_fa_per_hour: float = DEFAULT_TARGET_FA_PER_HOUR) -> DetectionMetrics:
    """The threshold with the lowest FRR whose FA/hour is within the budget.

    Args:
        sweep: counts from :func:`sweep_thresholds`.
        target_fa_per_hour: false accepts allowed per hour of audio.

    Returns:
        DetectionMetrics (ties: fewer false accepts, then the lower threshold); when no
        threshold meets the budget, threshold 1.0 with FRR 1 (nothing detected); FRR None
        when there are no triggers.
    """
    n_trig, hours = sweep.n_triggers, sweep.hours
    best = DetectionMetrics(None, 1.0, 0.0, target_fa_per_hour, n_trig, 0, 0, hours)
    best_key = (2.0, 0)
    for threshold, n_found, n_fa in zip(sweep.thresholds, sweep.n_found, sweep.n_false_accepts):
        fa_rate = int(n_fa) / hours if hours > 0 else 0.0
        if fa_rate > target_fa_per_hour:
            continue
        frr = 1.0 - int(n_found) / n_trig if n_trig else 0.0
        if (frr, int(n_fa)) < best_key:
            best_key = (frr, int(n_fa))
            best = DetectionMetrics(frr, float(threshold), fa_rate, target_fa_per_hour,
                                    n_trig, int(n_found), int(n_fa), hours)
    if n_trig == 0:
        best.frr = None
    elif best_key[0] > 1.0:  # no threshold met the budget: nothing detected is the fallback
        best.frr = 1.0
    return best


def frr_at_fa_rate(probs: np.ndarray, labels: np.ndarray,
                   target_fa_per_hour: float = DEFAULT_TARGET_FA_PER_HOUR,
                   clip_seconds: float = CLIP_SECONDS,
                   refractory_steps: int = DEFAULT_REFRACTORY_STEPS,
                   thresholds: np.ndarray = THRESHOLDS,
                   early_steps: int = EARLY_TOLERANCE_STEPS) -> DetectionMetrics:
    """False-reject rate at a false-accept budget, sweeping the threshold.

    Args:
        probs: (examples, steps) or (examples, steps, 1) probabilities.
        labels: same shape, 0/1.
        target_fa_per_hour: false accepts allowed per hour of audio.
        clip_seconds: audio seconds per example (10 s clips).
        refractory_steps: see :func:`detections_from_probs`.
        thresholds: the grid swept (default: the fixed :data:`THRESHOLDS`).
        early_steps: see :func:`match_detections`.

    Returns:
        DetectionMetrics at the threshold with the lowest FRR within the budget
        (ties: fewer false accepts).
    """
    sweep = sweep_thresholds(probs, labels, thresholds, clip_seconds, refractory_steps,
                             early_steps)
    return operating_point(sweep, target_fa_per_hour)
