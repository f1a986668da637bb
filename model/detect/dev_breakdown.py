"""Where a model misses and false-accepts: dev figures per recording condition (pure numpy).

make-data's ``examples.csv`` says, per dev clip, the background kind and the speech-to-
background ratio (SNR, dB) it was mixed at, and the voice family of each trigger word. At
one threshold, each trigger word's miss and each false accept is counted in its clip's SNR
band and background kind, so a report can say "14% of words under 5 dB are missed against
5% above" instead of one average; misses are also counted per voice engine, accent and
family of the word (false accepts have no trigger word, so no voice).
Detection and matching are :mod:`model.train.metrics`' own, as for every other dev figure,
with the dataset's feature kind's hold-off and early tolerance (its ``StepTiming``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.feature_kinds import SEED_TIMING, StepTiming
from ..train.metrics import detections_from_probs, match_detections

# SNR band edges, dB: the recipe mixes at roughly 0-30 dB (examples.csv has the exact value)
SNR_EDGES_DB = (5.0, 10.0, 20.0)


@dataclass
class ConditionRow:
    """Detection figures of the dev clips sharing one condition, at one threshold."""

    group: str  # "SNR", "background", "voice engine", "accent" or "voice family"
    value: str  # the band ("5-10 dB"), background kind ("babble+pink"), or voice name
    n_clips: int  # dev clips in this condition
    n_words: int  # trigger words in them
    miss_rate: float | None  # share of those words not detected (None: no word)
    n_false_accepts: int  # detections matching no trigger word, in these clips
    fa_per_hour: float  # false accepts per hour of these clips' audio


@dataclass
class DevConditions:
    """Per dev clip, how it was mixed (from examples.csv)."""

    snr_db: np.ndarray  # (clips,) mixing SNR, dB
    background: list[str]  # background kind of each clip
    trigger_ends_s: list[list[float]]  # per clip, trigger word ends, s (csv order)
    trigger_families: list[list[str]] | None = None  # per clip, each word's family (None: unknown)


def read_dev_conditions(folder: str | Path, n_dev: int) -> DevConditions | None:
    """Per dev clip, the SNR (dB), background kind and trigger voice families from ``examples.csv``.

    Returns:
        DevConditions, or None when the file or its ``snr_db``/``background`` columns are
        missing or do not cover every dev clip. Families are None for datasets written
        before make-data recorded them (no ``trigger_families`` column).
    """
    path = Path(folder) / "examples.csv"
    snr, kind = np.full(n_dev, np.nan), [""] * n_dev
    ends: list[list[float]] = [[] for _ in range(n_dev)]
    fams: list[list[str]] | None = [[] for _ in range(n_dev)]
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("split") != "dev":
                    continue
                i = int(row["index"])
                if not 0 <= i < n_dev:
                    continue
                snr[i], kind[i] = float(row["snr_db"]), row["background"] or "none"
                ends[i] = [float(t) for t in (row.get("trigger_end_s") or "").split()]
                col = row.get("trigger_families")
                if col is None or fams is None:
                    fams = None
                else:
                    fams[i] = col.split(";") if col else []
                    if len(fams[i]) != len(ends[i]):
                        fams = None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if np.isnan(snr).any():
        return None
    return DevConditions(snr, kind, ends, fams)


def window_families(w_rows: np.ndarray, w_starts: np.ndarray, cond: DevConditions,
                    timing: StepTiming = SEED_TIMING) -> list[str]:
    """The voice family behind each label window: the clip's trigger whose end is nearest
    the window's start (labels begin one step after the word's end); "" if unknown.

    Args:
        w_rows, w_starts: label windows (clip index, first step).
        cond: the clips' conditions (trigger ends and families).
        timing: the dataset's step timing (where step ``start - 1`` lies in time).
    """
    out = []
    for row, start in zip(w_rows, w_starts):
        ends = np.asarray(cond.trigger_ends_s[row], dtype=np.float64)
        fams = cond.trigger_families[row] if cond.trigger_families is not None else []
        if ends.size == 0 or len(fams) != ends.size:
            out.append("")
            continue
        steps = (ends - timing.first_step_end_seconds) / timing.step_seconds
        out.append(fams[int(np.argmin(np.abs(steps - (start - 1))))])
    return out


def voice_groups(family: str) -> dict[str, str]:
    """Group labels of a family name such as "espeak:en-029+Annie" or "piper:pitch+1"."""
    engine = family.split(":", 1)[0] if family else "unknown"
    accent = family.split("+", 1)[0] if engine == "espeak" else engine
    return {"voice engine": engine, "accent": accent, "voice family": family or "unknown"}


def snr_band(snr_db: float, edges: tuple[float, ...] = SNR_EDGES_DB) -> str:
    """The band label of one SNR value, e.g. "< 5 dB", "5-10 dB", ">= 20 dB"."""
    if snr_db < edges[0]:
        return f"< {edges[0]:g} dB"
    for lo, hi in zip(edges, edges[1:]):
        if snr_db < hi:
            return f"{lo:g}-{hi:g} dB"
    return f">= {edges[-1]:g} dB"


def _rows(group: str, keys: np.ndarray, missed: np.ndarray, word_keys: np.ndarray,
          fa_keys: np.ndarray | None, clip_seconds: float) -> list[ConditionRow]:
    """One row per distinct key; clip counts and FA only where keys are per clip."""
    out = []
    for value in dict.fromkeys(keys.tolist()):
        words = word_keys == value
        if fa_keys is not None:
            clips = keys == value
            n_clips, n_fa = int(clips.sum()), int((fa_keys == value).sum())
            fa_h = float(n_fa / (n_clips * clip_seconds / 3600.0))
        else:  # per-word groups: a clip may hold several voices
            n_clips, n_fa, fa_h = 0, 0, 0.0
        out.append(ConditionRow(group, str(value), n_clips, int(words.sum()),
                                float(missed[words].mean()) if words.any() else None, n_fa, fa_h))
    return out


def breakdown_by_condition(probs: np.ndarray, labels: np.ndarray, cond: DevConditions,
                           threshold: float, clip_seconds: float = 10.0,
                           timing: StepTiming = SEED_TIMING) -> list[ConditionRow]:
    """Miss rate and false accepts per SNR band and background kind; misses per voice.

    Args:
        probs, labels: (clips, steps) probabilities and 0/1 labels.
        cond: the clips' mixing conditions (:func:`read_dev_conditions`).
        threshold: detection threshold.
        clip_seconds: audio seconds per clip.
        timing: the dataset's step timing (hold-off, early tolerance, step times).

    Returns:
        SNR rows (ascending bands), background rows (worst miss rate first), then, when
        the families are known, rows per voice engine, accent and family (worst first;
        their clip and false-accept counts are 0: a clip can hold several voices).
    """
    rows, steps = detections_from_probs(probs, threshold, timing.refractory_steps)
    w_rows, w_starts, _, first_step, inside = match_detections(rows, steps, labels,
                                                               timing.early_tolerance_steps)
    missed = first_step < 0
    fa_rows = rows[~inside]
    snr_keys = np.asarray([snr_band(v) for v in cond.snr_db])
    snr = _rows("SNR", snr_keys, missed, snr_keys[w_rows], snr_keys[fa_rows], clip_seconds)
    order = {snr_band(e - 0.5): i for i, e in enumerate(SNR_EDGES_DB)}
    snr.sort(key=lambda r: order.get(r.value, len(order)))
    bg_keys = np.asarray(cond.background)
    out = snr + _worst_first(_rows("background", bg_keys, missed, bg_keys[w_rows],
                                   bg_keys[fa_rows], clip_seconds))
    if cond.trigger_families is not None and w_rows.size:
        groups = [voice_groups(f) for f in window_families(w_rows, w_starts, cond, timing)]
        for group in ("voice engine", "accent", "voice family"):
            keys = np.asarray([g[group] for g in groups])
            out += _worst_first(_rows(group, keys, missed, keys, None, clip_seconds))
    return out


def _worst_first(rows: list[ConditionRow]) -> list[ConditionRow]:
    return sorted(rows, key=lambda r: (-(r.miss_rate or 0.0), r.value))
