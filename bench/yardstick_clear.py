"""Which trigger words of the yardstick's clips a recogniser trained on real voices hears.

The held-out groups' recall counts every synthetic take, also those no listener would
take for the word (most espeak takes: bench/results/intelligibility_cpu.txt). Here each
trigger word is cut from the finished mix (its span plus 0.1 s each side, background,
room and channel included) and pocketsphinx's US English model, in grammar mode against
20 similar words (model/data/intelligibility.py), says whether it hears the word. The
yardstick then also reports recall over those "clear" words. Flags are cached beside the
clips.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from model.audio.feature_kinds import SAMPLE_RATE_HZ, StepTiming
from model.data.intelligibility import CHECK_VERSION, WordRecogniser
from yardstick_score import labels_on_grid

MARGIN_S = 0.1  # audio kept each side of a word's span, s


def heard_in_mix(pcm: np.ndarray, spans: Sequence[Sequence[Sequence[int]]], word: str,
                 cache: Path) -> list[list[bool]]:
    """Per clip, per trigger word (in ``spans`` order): heard as ``word`` in the mix.

    Args:
        pcm: int16 (clips, samples) at 44.1 kHz.
        spans: per clip, each trigger word's (start, end) samples.
        word: the trigger word.
        cache: JSON file for the flags (read when it matches, else written atomically).

    Returns:
        Nested lists of bools shaped like ``spans``.
    """
    rec = WordRecogniser(word)
    key = f"v{CHECK_VERSION}-{rec.key()}"
    if cache.is_file():
        try:
            saved = json.loads(cache.read_text())
            if saved.get("key") == key and [len(f) for f in saved["heard"]] == [len(s) for s in spans]:
                return saved["heard"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: check again
    margin = int(MARGIN_S * SAMPLE_RATE_HZ)
    heard = [[rec.hears_word(clip[max(0, a - margin):b + margin].astype(np.float32) / 32767.0,
                             SAMPLE_RATE_HZ) for a, b in clip_spans]
             for clip, clip_spans in zip(pcm, spans)]
    tmp = cache.with_name(f".{cache.name}.tmp")
    tmp.write_text(json.dumps({"key": key, "heard": heard}))
    tmp.replace(cache)
    return heard


def word_label_steps(spans: Sequence[Sequence[Sequence[int]]], n_steps: int,
                     timing: StepTiming) -> tuple[list[int], list[int], list[int]]:
    """(clip, first label step, index in the clip) of each trigger word that has a label on
    the grid (a word ending too late for its label is left out, as in the labels)."""
    rows, steps, index = [], [], []
    for row, clip_spans in enumerate(spans):
        for i, (_, end) in enumerate(clip_spans):
            ones = np.flatnonzero(labels_on_grid([end], n_steps, timing) >= 0.5)
            if ones.size:
                rows.append(row)
                steps.append(int(ones[0]))
                index.append(i)
    return rows, steps, index
