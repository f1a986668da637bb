"""Which stand-in voice families does the shipped detector miss? (bench_enroll --scan-families)

For each family, the same stand-in takes bench_enroll would enrol (``n_takes`` of them, seed
``n_takes``, checked and trimmed as a profile's takes are) are set into the first
``clips_per_take`` of the held-out clips bench_enroll judges on (same recipe, same seeds),
and the base model is scored on them at its card threshold: the "recall before" of an
enrolment, on fewer clips. Families can be "hard" specs (see enroll_hard.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.enroll_hard import write_takes

WORD = "activate"


@dataclass
class ScanRow:
    """One family's figures."""

    family: str
    found: int  # held-out-style words found at the card threshold
    words: int  # words in the scanned clips
    peak_median: float  # median over words of the base's highest probability near the word
    seconds: float  # wall-clock for the family (speech, mixing, embedding, scoring)

    @property
    def recall(self) -> float:
        """found / words (0 when there are no words)."""
        return self.found / self.words if self.words else 0.0


def dev_families(engines: tuple[str, ...] = ("espeak", "piper", "kokoro")) -> list[str]:
    """The voice families the shipped model's data held out of training (its dev split)."""
    from model.data.sources import split_families
    from model.data.synth import SynthConfig
    _, dev = split_families(0, SynthConfig(word=WORD).dev_family_share, kokoro=True)
    return [f for f in dev if f.split(":")[0] in engines]


def _peaks(probs: np.ndarray, labels: np.ndarray) -> list[float]:
    """Highest probability inside each labelled window (one per word), per clip row."""
    out = []
    for p, y in zip(probs, labels):
        on = np.flatnonzero(y > 0.5)
        if on.size == 0:
            continue
        runs = np.split(on, np.flatnonzero(np.diff(on) > 1) + 1)
        out += [float(p[max(0, r[0] - 8):r[-1] + 1].max()) for r in runs]  # 8 steps early slack
    return out


def scan_family(family: str, work: Path, n_takes: int = 2, clips_per_take: int = 8) -> ScanRow:
    """Score the base on ``clips_per_take`` held-out-style clips of each stand-in take.

    Args:
        family: a voice family or hard spec (enroll_hard.write_takes).
        work: scratch folder.
        n_takes: takes rendered (bench_enroll's seed for that many takes).
        clips_per_take: clips around each take (bench_enroll judges 72 a take for 2 takes).

    Returns:
        ScanRow.
    """
    from model.card import recommended_threshold
    from model.enroll.finetune import resolve_base
    from model.enroll.judge import figures_at, predict
    from model.enroll.personal import PersonalDataConfig, take_clips
    from model.enroll.takes import check_take, load_take

    t0 = time.perf_counter()
    files = write_takes(work / family.replace(":", "_").replace("/", "_"), WORD, n_takes, family,
                        seed=n_takes)
    takes = []
    for f in files:
        _, trimmed = check_take(load_take(f), f.name)
        if trimmed is not None:
            takes.append(trimmed)
    if not takes:
        return ScanRow(family, 0, 0, 0.0, time.perf_counter() - t0)
    cfg = PersonalDataConfig(clips_per_take=clips_per_take, train_ratio=0.0, synth_train=0)
    clips = take_clips(takes, WORD, cfg)
    base = resolve_base("auto").path
    probs = predict(base, clips.x)
    labels = clips.y[..., 0].astype(np.float32)
    fig = figures_at(probs, labels, len(labels), recommended_threshold(base) or 0.5)
    peaks = _peaks(probs, labels)
    return ScanRow(family, fig.found, fig.words, float(np.median(peaks)) if peaks else 0.0,
                   time.perf_counter() - t0)


def scan(families: list[str], work: Path, n_takes: int = 2, clips_per_take: int = 8) -> list[ScanRow]:
    """Scan every family, printing a row as each ends; returns the rows, lowest recall first."""
    print(f"family scan: {n_takes} takes a family (seed {n_takes}), {clips_per_take} held-out-style "
          f"clips a take, base at its card threshold")
    print(f"{'family':<48} {'found':>9} {'recall':>6} {'peak_med':>8} {'s':>5}")
    rows = []
    for fam in families:
        try:
            row = scan_family(fam, work, n_takes, clips_per_take)
        except (ValueError, RuntimeError) as err:  # a voice the engine cannot say
            print(f"{fam:<48} skipped: {str(err).splitlines()[0][:60]}", flush=True)
            continue
        rows.append(row)
        print(f"{fam:<48} {row.found:>4}/{row.words:<4} {row.recall:>6.2f} {row.peak_median:>8.3f} "
              f"{row.seconds:>5.1f}", flush=True)
    rows.sort(key=lambda r: (r.recall, r.peak_median))
    print("lowest: " + ", ".join(f"{r.family} {r.recall:.2f}" for r in rows[:5]))
    return rows
