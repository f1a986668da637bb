"""bench/yardstick.py's pure scoring: thresholds, spans, labels on a step grid, recall and
false accepts by the project's detection rule, probability levels (tested in
tests/test_yardstick.py; no model, no audio, no network).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from model.audio.feature_kinds import SEED_TIMING, StepTiming
from model.data.synth import labels_for_ends
from model.train.metrics import detections_from_probs, mask_to_runs, match_detections

LEVEL_THRESHOLDS = (0.5, 0.9, 0.99)
GOAL_FA_PER_HOUR = 6.0  # the real-voices goal: at most 1 false accept in 10 minutes


def report_thresholds(card_threshold: float | None) -> list[float]:
    """The card's threshold (when it has one) and the fixed levels, ascending, no repeats."""
    levels = set(LEVEL_THRESHOLDS) | ({float(card_threshold)} if card_threshold else set())
    return sorted(levels)


def timing_for(feature_kind: str, step_s: float) -> StepTiming:
    """The detection spans of a result (kind ``+``-joined for an ensemble; seconds per step):
    the registry row's timing when one of its kinds has that step length, else the seed's
    spans in seconds (0.36 s label, 0.55 s hold-off, 0.3 s early) on ``step_s``."""
    from model.audio.features import FEATURE_REGISTRY

    for name in feature_kind.split("+"):
        row = FEATURE_REGISTRY.get(name)
        if row is not None and abs(row.timing.step_seconds - step_s) <= 1e-3 * step_s:
            return row.timing
    seed = SEED_TIMING
    return StepTiming(step_s, max(1, round(10.0 / step_s)), 0.0,
                      *(max(1, round(n * seed.step_seconds / step_s)) for n in
                        (seed.label_steps, seed.refractory_steps, seed.early_tolerance_steps)))


def labels_on_grid(end_samples: Sequence[int], n_steps: int, timing: StepTiming) -> np.ndarray:
    """0/1 labels of one 10 s clip on a model's step grid (the make-data convention).

    Args:
        end_samples: each trigger word's end, samples at 44.1 kHz.
        n_steps: steps of the model's probabilities for the clip.
        timing: the grid's spans.

    Returns:
        float32 (n_steps,): ``timing.label_steps`` ones from each word's first label step.
    """
    grid = labels_for_ends(end_samples, timing=timing)  # make-data's own labels
    y = np.zeros(n_steps, np.float32)
    y[:min(n_steps, grid.size)] = grid[:n_steps]
    return y


def score_clips(probs: np.ndarray, labels: np.ndarray, thresholds: Sequence[float],
                timing: StepTiming, clip_seconds: float,
                clear: np.ndarray | None = None, min_steps: int = 1) -> list[dict[str, Any]]:
    """Recall and false accepts per hour of labelled clips at each threshold.

    Args:
        probs, labels: (clips, steps) probabilities and 0/1 labels; thresholds: probabilities.
        timing: hold-off and early tolerance, in the probabilities' steps.
        clip_seconds: audio seconds per clip.
        clear: optional bool per label window (:func:`clear_windows`): its word was heard
            as the trigger word by a real-speech recogniser; adds recall over those windows.
        min_steps: consecutive on-steps a detection needs (DetectConfig.min_steps).

    Returns:
        Per threshold: threshold, triggers, found, recall, false_accepts, fa_per_hour (and
        with ``clear``: clear_triggers, clear_found, clear_recall).
    """
    hours = probs.shape[0] * clip_seconds / 3600.0
    rows = []
    for thr in thresholds:
        det_rows, det_steps = detections_from_probs(probs, float(thr), timing.refractory_steps,
                                                    min_steps)
        _, w_starts, _, first, inside = match_detections(det_rows, det_steps, labels,
                                                         timing.early_tolerance_steps)
        found, n_fa = int((first >= 0).sum()), int((~inside).sum())
        row = {"threshold": float(thr), "triggers": int(w_starts.size), "found": found,
               "recall": found / w_starts.size if w_starts.size else None,
               "false_accepts": n_fa, "fa_per_hour": n_fa / hours if hours else 0.0}
        if clear is not None:
            n_clear, clear_found = int(clear.sum()), int((first[clear] >= 0).sum())
            row.update(clear_triggers=n_clear, clear_found=clear_found,
                       clear_recall=clear_found / n_clear if n_clear else None)
        rows.append(row)
    return rows


def clear_windows(labels: np.ndarray, word_rows: Sequence[int], word_steps: Sequence[int],
                  heard: Sequence[bool]) -> np.ndarray:
    """Which label windows hold a word a real-speech recogniser heard as the trigger word.

    Args:
        labels: (clips, steps) 0/1 labels, as given to :func:`score_clips`.
        word_rows, word_steps: each trigger word's clip and first label step.
        heard: per word, whether the recogniser heard it as the trigger word.

    Returns:
        bool per window, in :func:`match_detections`' window order (two words whose windows
        touch share one; it is clear when either was heard).
    """
    w_rows, w_starts, w_ends = mask_to_runs(np.asarray(labels) >= 0.5)
    out = np.zeros(w_rows.shape, bool)
    for row, step, ok in zip(word_rows, word_steps, heard):
        hit = np.flatnonzero((w_rows == row) & (w_starts <= step) & (step < w_ends))
        if hit.size and ok:
            out[hit[0]] = True
    return out


def count_false_accepts(traces: Sequence[np.ndarray], thresholds: Sequence[float],
                        refractory_steps: int, seconds: float, min_steps: int = 1
                        ) -> list[dict[str, Any]]:
    """Detections on speech without the trigger word (each one is a false accept).

    Args:
        traces: one probability trace per recording, any lengths; thresholds: probabilities.
        refractory_steps: hold-off after a detection's start, steps; seconds: all the audio, s.
        min_steps: consecutive on-steps a detection needs.

    Returns:
        Per threshold: threshold, false_accepts, fa_per_hour.
    """
    rows = []
    for thr in thresholds:
        n = sum(detections_from_probs(np.asarray(t, np.float32).reshape(1, -1), float(thr),
                                      refractory_steps, min_steps)[0].size for t in traces)
        rows.append({"threshold": float(thr), "false_accepts": int(n),
                     "fa_per_hour": n * 3600.0 / seconds if seconds > 0 else 0.0})
    return rows


def prob_levels(values: np.ndarray) -> dict[str, float]:
    """Median, 99th percentile and max of probabilities (any shape; empty: zeros)."""
    flat = np.asarray(values, np.float64).ravel()
    if flat.size == 0:
        return {"median": 0.0, "p99": 0.0, "max": 0.0, "steps": 0}
    return {"median": float(np.median(flat)), "p99": float(np.quantile(flat, 0.99)),
            "max": float(flat.max()), "steps": int(flat.size)}


# --- sources ---------------------------------------------------------------------------------


# --- operating points ------------------------------------------------------------------------
def threshold_grid() -> np.ndarray:
    """Thresholds searched for operating points: 0.01..0.99 by 0.01, then finer towards 1."""
    return np.unique(np.concatenate([np.round(np.arange(1, 100) / 100.0, 2),
                                     [0.995, 0.998, 0.999, 0.9995, 0.9999]]))


def best_recall_within(rows: Sequence[dict[str, Any]], max_false_accepts: int = 1) -> dict[str, Any] | None:
    """The row of :func:`score_clips` with the highest recall among those with at most
    ``max_false_accepts``; ties go to the higher threshold (the hidden test's column "best
    recall with at most 1 FA"). None when no row qualifies."""
    ok = [r for r in rows if r["false_accepts"] <= max_false_accepts and r["recall"] is not None]
    return max(ok, key=lambda r: (r["recall"], r["threshold"])) if ok else None


def calibrate(groups: Sequence[Sequence[dict[str, Any]]], real_rows: Sequence[dict[str, Any]] | None,
              max_fa_per_hour: float = GOAL_FA_PER_HOUR) -> dict[str, Any] | None:
    """One threshold for every group: the highest mean recall over the held-out groups with
    at most ``max_fa_per_hour`` false accepts per hour in each group and none on the real
    speech (37 s of it: one false accept would be 97/h).

    Args:
        groups: per held-out group, :func:`score_clips` rows over the same thresholds.
        real_rows: :func:`count_false_accepts` rows over those thresholds (None: not measured).
        max_fa_per_hour: the false-accept budget; default the real-voices goal's 1 in 10 min.

    Returns:
        threshold, mean_recall and per-group recall and false accepts; None when no threshold
        qualifies.
    """
    best = None
    for i, thr in enumerate(r["threshold"] for r in groups[0]):
        picked = [g[i] for g in groups]
        if any(r["fa_per_hour"] > max_fa_per_hour + 1e-9 for r in picked):
            continue
        if real_rows is not None and real_rows[i]["false_accepts"] > 0:
            continue
        mean = float(np.mean([r["recall"] or 0.0 for r in picked]))
        if best is None or (mean, thr) > (best["mean_recall"], best["threshold"]):
            best = {"threshold": float(thr), "mean_recall": mean, "max_fa_per_hour": max_fa_per_hour,
                    "recall": [r["recall"] for r in picked],
                    "clear_recall": [r.get("clear_recall") for r in picked],
                    "false_accepts": [r["false_accepts"] for r in picked]}
    return best
