"""Dev-set detection figures from probabilities and ground truth (pure numpy).

Steps, hold-off and early tolerance are the dataset's feature kind's (a ``StepTiming``:
10 s / 1375 ~ 7.27 ms steps for spectrograms, 80 ms for speech embeddings, whose step i
ends at 0.782 + 0.08 i s; :mod:`model.detect.timing`). The detection rule and the matching
of detections to trigger words are :mod:`model.train.metrics`' own, so the numbers agree
with a trial's dev metric and with what the Detect page chimes on. :func:`score_dev` gives:

* a DET curve: per threshold of :data:`DET_THRESHOLDS`, the miss rate (trigger words not
  detected / trigger words) against false accepts per hour (detections that match no
  trigger word, per hour of audio);
* the false-reject rate at a false-accept budget (default 1 per hour) and its threshold,
  picked on that finer grid (so it can differ a little from a trial's coarse-grid figure);
* at the chosen threshold (that one, or one given): latency from the end of each detected
  trigger word (``trigger_end_s`` of ``examples.csv``) to the first step whose probability
  is at or above the threshold (that step's time), median and 95th percentile in ms;
* false accepts per hour on the clips holding no trigger word (noises and other words);
* with the clips' recording conditions, the miss rate and false accepts per SNR band and
  background kind at that threshold (:mod:`model.detect.dev_breakdown`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dev_breakdown import ConditionRow, DevConditions, breakdown_by_condition
from ..audio.feature_kinds import SEED_TIMING, StepTiming
from ..audio.features import CLIP_SECONDS
from ..train.metrics import (DEFAULT_TARGET_FA_PER_HOUR, THRESHOLDS, DetectionMetrics,
                             detections_from_probs, match_detections, operating_point,
                             sweep_thresholds)
from .timing import step_times

EXAMPLES_FILE = "examples.csv"
# fine enough for a smooth curve; 1 - 10^-k reaches the saturated end of a sigmoid
DET_THRESHOLDS = np.unique(np.round(np.concatenate([np.linspace(0.01, 0.99, 99), THRESHOLDS,
                                                    1.0 - np.logspace(-7, -2, 11)]), 8))
_MATCH_STEPS = 2.0  # a csv end this close (steps) to a label window's start is its word's end


@dataclass
class DetCurve:
    """Miss rate against false accepts per hour, one point per threshold."""

    thresholds: list[float]  # ascending probability thresholds
    miss_rate: list[float]  # share of trigger words not detected, 0..1
    fa_per_hour: list[float]  # false accepts per hour of dev audio


@dataclass
class LatencyStats:
    """Time from a detected trigger word's end to the first step at/above the threshold."""

    median_ms: float | None  # None when no trigger word was detected
    p95_ms: float | None  # 95th percentile (linear interpolation), ms
    n: int  # detected trigger words measured
    n_ends_from_csv: int  # of those, how many ends came from examples.csv (else from labels)


@dataclass
class NegativeStats:
    """False accepts on dev clips that hold no trigger word."""

    n_clips: int  # such clips
    hours: float  # hours of such audio scored
    n_false_accepts: int  # detections on them at the chosen threshold
    fa_per_hour: float | None  # None when there is no such clip


@dataclass
class DevScores:
    """Everything measured on the dev split (pure function of probabilities and truth)."""

    n_clips: int  # dev clips scored
    n_triggers: int  # trigger words (label windows) in them
    hours: float  # hours of dev audio
    det: DetCurve  # the DET curve
    at_target: DetectionMetrics  # FRR at the false-accept budget and its threshold
    threshold: float  # threshold used for latency, negatives and n_found
    threshold_given: bool  # True: given by the caller; False: at_target's
    n_found: int  # trigger words detected at ``threshold``
    latency: LatencyStats
    negatives: NegativeStats
    conditions: list[ConditionRow] = field(default_factory=list)  # per SNR band / background


@dataclass
class DevTruth:
    """Per dev clip, what ``examples.csv`` says (or what the labels imply without it)."""

    n_triggers: np.ndarray  # (clips,) trigger words per clip
    ends_s: list[list[float]]  # per clip, trigger word end times, s ([] without the csv)
    from_csv: bool  # True when examples.csv was read


def read_dev_truth(folder: str | Path, labels: np.ndarray) -> tuple[DevTruth, list[str]]:
    """Trigger counts and end times of the dev clips.

    Args:
        folder: the dataset folder (``examples.csv`` is read from it if present).
        labels: (clips, steps) dev labels, the fallback source of truth.

    Returns:
        (DevTruth, notes): without a usable csv, counts come from the label windows and
        ends are not known (latency then counts from each window's start, see
        :func:`window_end_times`); ``notes`` says why.
    """
    path = Path(folder) / EXAMPLES_FILE
    from_labels = DevTruth(_label_window_counts(labels), [[] for _ in range(labels.shape[0])],
                           False)
    if not path.is_file():
        return from_labels, [f"no {EXAMPLES_FILE}: trigger counts and ends taken from the labels"]
    try:
        truth = _parse_examples_csv(path, labels.shape[0])
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        return from_labels, [f"{EXAMPLES_FILE} not used ({first}); labels used instead"]
    return truth, []


def _label_window_counts(labels: np.ndarray) -> np.ndarray:
    rows, _, _, _, _ = match_detections(np.zeros(0, int), np.zeros(0, int), labels)
    return np.bincount(rows, minlength=labels.shape[0])


def _parse_examples_csv(path: Path, n_dev: int) -> DevTruth:
    """The dev rows of examples.csv (make-data's ``_write_csv`` format); ValueError if off."""
    counts, ends = np.full(n_dev, -1, np.int64), [[] for _ in range(n_dev)]
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["split"] != "dev":
                continue
            i = int(row["index"])
            if not 0 <= i < n_dev:
                raise ValueError(f"dev example {i} listed, the dev split holds {n_dev}")
            counts[i] = int(row["n_triggers"])
            ends[i] = [float(t) for t in (row["trigger_end_s"] or "").split()]
            if len(ends[i]) != counts[i]:
                raise ValueError(f"dev example {i}: {counts[i]} triggers but "
                                 f"{len(ends[i])} end times")
    if (counts < 0).any():
        raise ValueError(f"{int((counts < 0).sum())} of {n_dev} dev examples are not listed")
    return DevTruth(counts, [sorted(e) for e in ends], True)


def window_end_times(w_rows: np.ndarray, w_starts: np.ndarray, truth: DevTruth,
                     timing: StepTiming = SEED_TIMING) -> tuple[np.ndarray, np.ndarray]:
    """The end time of the trigger word behind each label window.

    Labels are 1 from the first step after the word's end (the kind's
    ``StepTiming.label_start_step``), so a csv end within ``_MATCH_STEPS`` steps of step
    ``start - 1``'s time is that word's; without one, the label convention gives step
    ``start - 1``'s time (:func:`model.detect.timing.step_times`).

    Args:
        w_rows, w_starts: label windows (clip index, first step), as
            :func:`model.train.metrics.match_detections` gives them.
        truth: per-clip end times.
        timing: the dataset's step timing.

    Returns:
        (end_s, from_csv): float seconds and bool per window.
    """
    end_s = step_times(w_starts - 1, timing)
    from_csv = np.zeros(w_starts.shape, dtype=bool)
    for k, (row, start) in enumerate(zip(w_rows, w_starts)):
        ends = np.asarray(truth.ends_s[row], dtype=np.float64)
        if ends.size:
            gap = np.abs((ends - timing.first_step_end_seconds) / timing.step_seconds
                         - (start - 1))
            best = int(np.argmin(gap))
            if gap[best] <= _MATCH_STEPS:
                end_s[k], from_csv[k] = ends[best], True
    return end_s, from_csv


def latency_stats(probs: np.ndarray, labels: np.ndarray, truth: DevTruth, threshold: float,
                  timing: StepTiming = SEED_TIMING) -> tuple[LatencyStats, int]:
    """Latency of the detected trigger words at ``threshold``.

    Args:
        probs, labels: (clips, steps) probabilities and 0/1 labels.
        truth: trigger end times (:func:`read_dev_truth`).
        threshold: detection threshold.
        timing: the dataset's step timing (step times, hold-off, early tolerance).

    Returns:
        (LatencyStats, trigger words detected).
    """
    rows, steps = detections_from_probs(probs, threshold, timing.refractory_steps)
    w_rows, w_starts, _, first_step, _ = match_detections(rows, steps, labels,
                                                          timing.early_tolerance_steps)
    hit = first_step >= 0
    end_s, from_csv = window_end_times(w_rows[hit], w_starts[hit], truth, timing)
    lat_ms = (step_times(first_step[hit], timing) - end_s) * 1000.0
    if lat_ms.size == 0:
        return LatencyStats(None, None, 0, 0), 0
    median, p95 = np.percentile(lat_ms, [50.0, 95.0])
    return LatencyStats(float(median), float(p95), int(lat_ms.size),
                        int(from_csv.sum())), int(hit.sum())


def negative_stats(probs: np.ndarray, truth: DevTruth, threshold: float,
                   clip_seconds: float = CLIP_SECONDS,
                   timing: StepTiming = SEED_TIMING) -> NegativeStats:
    """False accepts per hour on the clips with no trigger word (every detection is false)."""
    negative = np.flatnonzero(truth.n_triggers == 0)
    hours = negative.size * clip_seconds / 3600.0
    if negative.size == 0:
        return NegativeStats(0, 0.0, 0, None)
    rows, _ = detections_from_probs(probs[negative], threshold, timing.refractory_steps)
    return NegativeStats(int(negative.size), hours, int(rows.size), rows.size / hours)


def fewest_false_accepts(sweep) -> float:
    """The grid threshold with the fewest false accepts (the most words found among ties).

    Used for latency and the trigger-free clips when no threshold meets the budget: the
    budget's own placeholder (1.0, above every probability) would describe nothing.
    """
    fas = np.asarray(sweep.n_false_accepts)
    found = np.asarray(sweep.n_found)
    best = np.flatnonzero(fas == fas.min())
    return float(np.asarray(sweep.thresholds)[best[np.argmax(found[best])]])


def score_dev(probs: np.ndarray, labels: np.ndarray, truth: DevTruth,
              threshold: float | None = None,
              target_fa_per_hour: float = DEFAULT_TARGET_FA_PER_HOUR,
              thresholds: np.ndarray = DET_THRESHOLDS,
              clip_seconds: float = CLIP_SECONDS,
              conditions: DevConditions | None = None,
              timing: StepTiming = SEED_TIMING) -> DevScores:
    """All dev figures from probabilities and truth (pure; see the module docstring).

    Args:
        probs: (clips, steps) or (clips, steps, 1) probabilities.
        labels: same shape, 0/1.
        truth: per-clip trigger counts and ends (:func:`read_dev_truth`).
        threshold: threshold for latency and negatives; None: the one reaching the target.
        target_fa_per_hour: false-accept budget for the FRR, per hour.
        thresholds: DET grid, ascending.
        clip_seconds: audio seconds per clip.
        conditions: the clips' mixing conditions, from
            :func:`model.detect.dev_breakdown.read_dev_conditions`; None: no breakdown.
        timing: the dataset's feature kind's step timing (step length and times, hold-off,
            early tolerance); default: the seed network's 7.27 ms steps.

    Returns:
        DevScores.
    """
    probs = np.asarray(probs, dtype=np.float32).reshape(probs.shape[0], -1)
    labels = np.asarray(labels).reshape(labels.shape[0], -1)
    sweep = sweep_thresholds(probs, labels, thresholds, clip_seconds, timing.refractory_steps,
                             early_steps=timing.early_tolerance_steps)
    at_target = operating_point(sweep, target_fa_per_hour)
    chosen = float(threshold) if threshold is not None else (
        at_target.threshold if at_target.n_found else fewest_false_accepts(sweep))
    latency, n_found = latency_stats(probs, labels, truth, chosen, timing)
    det = DetCurve(sweep.thresholds.tolist(), np.asarray(sweep.miss_rate, float).tolist(),
                   np.asarray(sweep.fa_per_hour, float).tolist())
    rows = (breakdown_by_condition(probs, labels, conditions, chosen, clip_seconds, timing)
            if conditions is not None else [])
    return DevScores(int(probs.shape[0]), sweep.n_triggers, sweep.hours, det, at_target,
                     chosen, threshold is not None, n_found, latency,
                     negative_stats(probs, truth, chosen, clip_seconds, timing), rows)
