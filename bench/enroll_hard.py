"""Harder stand-in takes for the enrolment bench: a voice family plus effects on its takes.

A spec is ``FAMILY`` or ``FAMILY@EFFECT=VALUE[@EFFECT=VALUE...]``, e.g.
``piper:pitch-4@pitch=-3@tempo=1.3`` (``@``, not a comma: the bench's lists are comma lists). Effects apply to each whole take (word and its quiet
room floor) before it is written, in the order given:

    pitch=S   shift pitch and formants by S semitones, duration kept (a smaller/larger speaker)
    tempo=F   speak F times faster, pitch kept (WSOLA)
    speed=F   play F times faster: tempo, pitch and formants together
    band=LO-HI  band-limit to LO..HI Hz (a phone or a cheap microphone)

A plain family gives the same takes as model.enroll.standin.write_standin_takes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

EFFECTS = ("pitch", "tempo", "speed", "band")


def parse_spec(spec: str) -> tuple[str, list[tuple[str, str]]]:
    """(family, [(effect, value), ...]) of a spec; ValueError (one line) on a bad one."""
    family, *parts = spec.split("@")
    effects = []
    for part in parts:
        name, _, value = part.partition("=")
        if name not in EFFECTS or not value:
            raise ValueError(f"{spec}: effect {part!r} is not one of {', '.join(e + '=...' for e in EFFECTS)}")
        effects.append((name, value))
    return family, effects


def check_specs(specs: list[str]) -> None:
    """SystemExit with one line when a spec names no voice family or a bad effect."""
    from model.data.speech import voice_families
    known = set(voice_families())
    for spec in specs:
        try:
            family, effects = parse_spec(spec)
            for name, value in effects:
                if name == "band":
                    low, _, high = value.partition("-")
                    if not 0 < float(low) < float(high):
                        raise ValueError(f"{spec}: band=LO-HI needs 0 < LO < HI")
                elif float(value) <= 0 and name != "pitch":  # pitch=S may be negative
                    raise ValueError(f"{spec}: {name} must be a positive factor")
        except ValueError as err:
            text = str(err) if str(err).startswith(spec) else f"{spec}: bad effect value ({err})"
            raise SystemExit(text) from None
        if family not in known:
            raise SystemExit(f"{spec}: no voice family {family!r} (see model.data.speech.voice_families)")


def apply_effect(take: np.ndarray, name: str, value: str) -> np.ndarray:
    """One effect on one take (float32, 44.1 kHz)."""
    from model.audio.effects import band_limit, perturb_speed, shift_pitch, time_stretch
    if name == "pitch":
        return shift_pitch(take, float(value))
    if name == "tempo":
        return time_stretch(take, int(round(take.size / float(value))))
    if name == "speed":
        return perturb_speed(take, float(value))
    low, _, high = value.partition("-")
    return band_limit(take, float(low), float(high))


def hard_takes(word: str, n: int, spec: str, seed: int = 0) -> list[np.ndarray]:
    """``n`` stand-in takes of ``word`` for ``spec`` (float32, 44.1 kHz, peak within 1)."""
    from model.enroll.standin import standin_takes
    family, effects = parse_spec(spec)
    out = []
    for take in standin_takes(word, n, family, seed):
        for name, value in effects:
            take = apply_effect(take, name, value)
        out.append(np.clip(np.asarray(take, np.float32), -1, 1))
    return out


def write_takes(folder: str | Path, word: str, n: int, spec: str, seed: int = 0) -> list[Path]:
    """Write :func:`hard_takes` as ``take_NN.wav``; returns their paths."""
    from model.audio.features import SAMPLE_RATE_HZ
    from model.audio.files import write_wav_atomic
    return [write_wav_atomic(Path(folder) / f"take_{i + 1:02d}.wav", take, SAMPLE_RATE_HZ)
            for i, take in enumerate(hard_takes(word, n, spec, seed))]
