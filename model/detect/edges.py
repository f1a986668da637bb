"""Quiet audio around a recorded clip, so a word at either edge is scored like one inside.

A network scores a trigger word from the audio that follows it: the training labels are
on for about 0.5 s after each word's end, and a speech-embedding step hears the 0.78 s
before it. A live microphone keeps listening after the word, but a recording made in the
browser usually stops right after it, and often starts just before it. Measured
2026-11-30 with the shipped head on a synthetic "activate" with no lead-in or tail
(2 voices): the word that ended an espeak clip peaked at 0.75, under the card's 0.93, and
0.99 with 0.5 s of quiet after it; a 0.63 s piper take was refused as too short, peaked
at 0.35 with the tail alone and at 0.998 with 0.3 s of quiet before it too.

So the Detect page and ``python -m model detect`` put ``lead_pad_seconds`` of quiet before
a clip and ``end_pad_seconds`` after it (:data:`RECORDING_PADS`). The quiet is a fixed,
seeded noise floor at -75 dBFS (the level of the training mixes' quietest floors), not
digital zeros, which no training clip holds. Times stay the file's own: the steps that
end inside the lead-in are dropped and step 0's time is shifted by the lead-in; the trace
may run up to ``end_pad_seconds`` past the file's end. The library's default is no
padding, so a file's probabilities equal whole-clip processing (tests/test_detect.py).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Iterable, Iterator

import numpy as np

from ..audio.feature_kinds import StepTiming
from ..audio.features import SAMPLE_RATE_HZ

RECORDING_PADS = {"lead_pad_seconds": 0.3, "end_pad_seconds": 0.5}  # seconds of quiet
QUIET_DBFS = -75.0  # level of the added quiet (RMS, dBFS)
MAX_PAD_SECONDS = 2.0  # the most a setting may add on either side


def quiet_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Seeded white noise at :data:`QUIET_DBFS`, float32 mono at 44.1 kHz.

    Args:
        seconds: length, s (0 gives an empty array).
        seed: noise seed (the same seed gives the same samples).
    """
    n = int(round(max(0.0, seconds) * SAMPLE_RATE_HZ))
    rms = 10.0 ** (QUIET_DBFS / 20.0)
    return np.random.default_rng(seed).normal(0.0, rms, n).astype(np.float32)


def padded_blocks(blocks: Iterable[np.ndarray], lead_s: float, end_s: float
                  ) -> Iterator[np.ndarray]:
    """44.1 kHz mono blocks with quiet before the first and after the last.

    Args:
        blocks: the clip's float32 blocks at 44.1 kHz.
        lead_s: quiet before, s.
        end_s: quiet after, s.
    """
    if lead_s > 0:
        yield quiet_audio(lead_s, seed=1)
    yield from blocks
    if end_s > 0:
        yield quiet_audio(end_s, seed=2)


def lead_in_steps(timing: StepTiming, lead_s: float) -> int:
    """Output steps whose time falls inside the lead-in (before the file's 0 s)."""
    if lead_s <= 0:
        return 0
    return max(0, math.ceil((lead_s - timing.first_step_end_seconds) / timing.step_seconds
                            - 1e-9))


def file_timing(timing: StepTiming, lead_s: float) -> StepTiming:
    """The step timing in the file's own seconds once the lead-in steps are dropped.

    Args:
        timing: the model's step timing (of the padded audio).
        lead_s: quiet put before the file, s.

    Returns:
        ``timing`` with step 0 at its time in the file (>= 0 s).
    """
    if lead_s <= 0:
        return timing
    dropped = lead_in_steps(timing, lead_s)
    return replace(timing, first_step_end_seconds=timing.first_step_end_seconds - lead_s
                   + dropped * timing.step_seconds)
