"""The detection rule: one probability trace -> detections (pure, no model, no audio).

A step is *on* when its probability is >= threshold; a run of at least ``min_steps``
consecutive on-steps is an episode; an episode that starts fewer than ``refractory_steps``
steps after the start of the current detection belongs to it (so a detector chimes at most
once per ``refractory_steps`` steps, counted from the chime like the seed's 75-step
hold-off; by default the kind's own, ~0.55 s either way). A detection's time is its first
on-step's time (:func:`model.detect.timing.step_time`); its score is the peak probability
over its episodes. The rule itself is :func:`model.train.metrics.episodes` and
:func:`model.train.metrics.detection_groups`, shared with the dev metric
(:func:`model.train.metrics.detections_from_probs`), so a threshold chosen on the dev set
carries over. :class:`model.detect.detector.Detector` applies it to every clip it scans.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.feature_kinds import SEED_TIMING, StepTiming
from ..train.metrics import detection_groups, episodes
from .timing import step_times


@dataclass
class Detection:
    """One detected trigger word."""

    step: int  # first on-step (index into the probabilities)
    end_step: int  # one past the last on-step of the merged episodes
    time_s: float  # the step's time (model.detect.timing.step_time), s from the audio's start
    score: float  # peak probability over the detection


def trace_to_episodes(probs: np.ndarray, threshold: float, min_steps: int = 1
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive steps with probability >= threshold, at least ``min_steps`` long.

    Returns:
        (starts, ends) int arrays, ``ends`` exclusive, in time order.
    """
    _, starts, ends = episodes(np.asarray(probs).reshape(1, -1), threshold, min_steps)
    return starts, ends


def probabilities_to_detections(probs: np.ndarray, threshold: float = 0.5, min_steps: int = 1,
                                refractory_steps: int | None = None,
                                timing: StepTiming = SEED_TIMING) -> list[Detection]:
    """Apply the detection rule (module docstring) to one probability trace.

    Args:
        probs: (steps,) or (steps, 1) probabilities.
        threshold: on when probability >= threshold.
        min_steps: consecutive on-steps an episode needs.
        refractory_steps: hold-off after a detection's start, in steps; None: the timing's.
        timing: the model's step timing (step length and step 0's time, hold-off default).

    Returns:
        Detections in time order.
    """
    trace = np.asarray(probs, dtype=np.float32).reshape(-1)
    starts, ends = trace_to_episodes(trace, threshold, min_steps)
    if starts.size == 0:
        return []
    hold = timing.refractory_steps if refractory_steps is None else refractory_steps
    new_group = detection_groups(np.zeros_like(starts), starts, hold)
    firsts = np.flatnonzero(new_group)
    lasts = np.append(firsts[1:], starts.size) - 1
    episode_peaks = np.array([trace[s:e].max() for s, e in zip(starts, ends)], np.float32)
    group_peaks = np.maximum.reduceat(episode_peaks, firsts)
    times = step_times(starts[firsts], timing)
    return [Detection(int(starts[f]), int(ends[last]), float(t), float(peak))
            for f, last, t, peak in zip(firsts, lasts, times, group_peaks)]
