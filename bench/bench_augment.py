"""Milliseconds per call of every augmentation and background generator.

Run: .venv/bin/python bench/bench_augment.py [--runs 15]
Prints the median (and mean, min) over ``--runs`` timed calls after one warm-up call, on a
0.6 s word (26460 samples) or a 10 s mix (441000 samples). It does not assert timings.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import augment as A  # noqa: E402
from model.data import backgrounds as B  # noqa: E402
from model.audio.features import CLIP_SAMPLES, SAMPLE_RATE_HZ  # noqa: E402


def time_ms(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """(median, mean, min) wall-clock ms of ``fn`` over ``runs`` calls after a warm-up.

    For random chains (augment_word/augment_mix with default probabilities) the mean
    is the cost per example; the median may fall on a call that did nothing.
    """
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.mean(times)), float(np.min(times))


def fake_word(rng: np.random.Generator, seconds: float = 0.6) -> np.ndarray:
    """A voiced-speech stand-in: 120 Hz harmonics under a syllable envelope, plus noise."""
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    voiced = sum(np.sin(2 * np.pi * 120 * h * t) / h for h in range(1, 30))
    env = np.abs(np.sin(np.pi * 3 * t / seconds))
    return (0.2 * voiced * env + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def cases(rng: np.random.Generator) -> dict[str, Callable[[], object]]:
    word = fake_word(rng)
    mix = (0.1 * rng.standard_normal(CLIP_SAMPLES)).astype(np.float32)
    clips = [fake_word(rng, s) for s in (0.4, 0.5, 0.6, 0.7, 0.8)]
    on = dataclasses.replace(A.AugmentConfig(), **{
        f.name: 1.0 for f in dataclasses.fields(A.AugmentConfig) if f.name.endswith("_prob")})
    out: dict[str, Callable[[], object]] = {
        "word perturb_speed(1.1)": lambda: A.perturb_speed(word, 1.1),
        "word shift_pitch(+2 st)": lambda: A.shift_pitch(word, 2.0),
        "word add_reverb(rt60 0.5 s)": lambda: A.add_reverb(word, 0.5, 0.3, rng),
        "word band_limit(300-3400, o6)": lambda: A.band_limit(word, 300.0, 3400.0, 6),
        "word scale_to_dbfs": lambda: A.scale_to_dbfs(word, -20.0),
        "word augment_word (defaults)": lambda: A.augment_word(word, rng, A.AugmentConfig()),
        "word augment_word (all on)": lambda: A.augment_word(word, rng, on),
        "mix band_limit(300-3400, o6)": lambda: A.band_limit(mix, 300.0, 3400.0, 6),
        "mix band_limit(100-8000, o2)": lambda: A.band_limit(mix, 100.0, 8000.0, 2),
        "mix peak_eq": lambda: A.peak_eq(mix, 2000.0, 6.0, 1.5),
        "mix quantize_mulaw": lambda: A.quantize_mulaw(mix),
        "mix augment_mix (defaults)": lambda: A.augment_mix(mix, rng, A.AugmentConfig()),
        "mix augment_mix (all on)": lambda: A.augment_mix(mix, rng, on),
    }
    for kind in B.KINDS:
        cfg = B.BackgroundConfig(**{f"weight_{k}": float(k == kind) for k in B.KINDS})
        out[f"10 s make_background {kind}"] = (
            lambda cfg=cfg: B.make_background(rng, CLIP_SAMPLES, cfg, clips))
    out["10 s make_background (defaults)"] = (
        lambda: B.make_background(rng, CLIP_SAMPLES, B.BackgroundConfig(), clips))
    long_rec = (0.1 * rng.standard_normal(CLIP_SAMPLES * 3)).astype(np.float32)
    out["10 s crop_background (30 s rec)"] = lambda: B.crop_background(rng, long_rec, CLIP_SAMPLES)
    out["10 s crop_background (3 s rec)"] = (
        lambda: B.crop_background(rng, long_rec[:3 * SAMPLE_RATE_HZ], CLIP_SAMPLES))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed calls per case")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'case':40s} {'median ms':>10s} {'mean ms':>8s} {'min ms':>8s}   ({args.runs} runs each)")
    for name, fn in cases(rng).items():
        med, mean, low = time_ms(fn, args.runs)
        print(f"{name:40s} {med:10.2f} {mean:8.2f} {low:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
