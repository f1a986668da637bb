"""Stand-in takes: recordings of the word by one synthetic voice family, for tests and the bench.

A real person's takes vary a little (pace, texture) around one voice; so do these: every take
is the same family (one pitch band of the piper voice, or one espeak accent + variant) with its
own speaking rate and noise draw, set in a short recording with a quiet room-noise floor
before and after, as a browser recording would be.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio.features import SAMPLE_RATE_HZ
from ..audio.files import write_wav_atomic
from ..data.speech import list_voices, synthesize

DEFAULT_FAMILY = "piper:pitch-4"  # a dev family of the candidates' cards: never trained on


def standin_takes(word: str, n: int, family: str = DEFAULT_FAMILY, seed: int = 0,
                  level_dbfs: float = -26.0) -> list[np.ndarray]:
    """``n`` takes of ``word`` by voices of one family, each 0.4-0.7 s of room noise either side.

    Args:
        word: what is said.
        n: number of takes.
        family: a voice family (``model.data.speech.voice_families()``).
        seed: draws voices, noise and silences.
        level_dbfs: RMS level of the spoken word, dBFS.

    Returns:
        float32 takes at 44.1 kHz.
    """
    voices = [v for v in list_voices() if v.family == family]
    if not voices:
        raise ValueError(f"no voice family {family!r}")
    rng = np.random.default_rng([seed, 31337])
    out = []
    for i in range(n):
        voice = voices[int(rng.integers(len(voices)))]
        word_audio = synthesize(word, voice, seed=seed * 1000 + i)
        rms = float(np.sqrt(np.mean(np.square(word_audio)))) + 1e-9
        word_audio = word_audio * (10 ** (level_dbfs / 20) / rms)
        lead, tail = (int(rng.uniform(0.4, 0.7) * SAMPLE_RATE_HZ) for _ in range(2))
        take = np.concatenate([np.zeros(lead), word_audio, np.zeros(tail)]).astype(np.float32)
        take += rng.normal(0, 10 ** (-65 / 20), take.size).astype(np.float32)  # room floor
        out.append(np.clip(take, -1, 1))
    return out


def write_standin_takes(folder: str | Path, word: str, n: int, family: str = DEFAULT_FAMILY,
                        seed: int = 0) -> list[Path]:
    """Write :func:`standin_takes` as ``take_NN.wav`` files; returns their paths."""
    return [write_wav_atomic(Path(folder) / f"take_{i + 1:02d}.wav", take, SAMPLE_RATE_HZ)
            for i, take in enumerate(standin_takes(word, n, family, seed))]
