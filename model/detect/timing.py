"""Where a model's output steps sit in time: its feature kind's :class:`StepTiming`.

Detection, evaluation and the Detect page read step lengths, hold-offs and early
tolerances from here rather than from global constants, because kinds differ: a
spectrogram network steps every 10 s / 1375 ~ 7.27 ms, a head over speech embeddings
every 80 ms. Step times follow each kind's label convention:

* spectrogram kinds spread a clip's steps evenly over it: step i is at ``i * step_s``;
* an embedding step hears a 0.782 s window: step i is at the end of that window,
  ``0.782 + 0.08 i`` s, the moment the detector could know (and where a chime sounds).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..audio.feature_kinds import SEED_TIMING, StepTiming
from ..audio.features import FEATURE_KIND_LOG, feature_kind
from ..errors import LabError


def kind_timing(kind: str | None) -> StepTiming:
    """The step timing of a feature kind (None: log power, the default of a cardless model).

    Raises:
        LabError: an unknown kind.
    """
    try:
        return feature_kind(kind or FEATURE_KIND_LOG).timing
    except ValueError as err:
        raise LabError(str(err)) from None


def shared_timing(kinds: Sequence[str]) -> StepTiming:
    """The one timing of an ensemble's member kinds.

    Members on different time grids (spectrogram steps and embedding steps) are refused
    rather than resampled: their probabilities mean different spans of audio, and a mean
    of a 7.27 ms trace and an 80 ms trace would smear the sharper one.

    Raises:
        LabError: no kinds, or kinds whose steps differ in length or position.
    """
    timings = [kind_timing(kind) for kind in kinds]
    if not timings:
        raise LabError("a model needs at least one feature kind")
    for kind, timing in zip(kinds, timings):
        if (timing.step_seconds, timing.first_step_end_seconds) != \
                (timings[0].step_seconds, timings[0].first_step_end_seconds):
            raise LabError(f"an ensemble's members must share one time grid: {kinds[0]} steps "
                           f"every {timing_label(timings[0])}, {kind} every {timing_label(timing)}")
    return timings[0]


def timing_label(timing: StepTiming) -> str:
    """A step length for people: "7.27 ms", "80 ms"."""
    return f"{timing.step_seconds * 1000:.3g} ms"


def step_times(steps: np.ndarray | Sequence[int], timing: StepTiming = SEED_TIMING) -> np.ndarray:
    """Seconds from the start of the audio of output steps (see the module docstring).

    Args:
        steps: step indices (any int array or sequence).
        timing: the model's step timing.

    Returns:
        float64 seconds, the shape of ``steps``.
    """
    return timing.first_step_end_seconds + np.asarray(steps, np.float64) * timing.step_seconds


def step_time(step: int, timing: StepTiming = SEED_TIMING) -> float:
    """Seconds from the start of the audio of one output step."""
    return float(timing.first_step_end_seconds + int(step) * timing.step_seconds)
