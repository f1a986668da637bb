"""Where a model misses and false-accepts: dev figures per recording condition (pure numpy).

make-data's ``examples.csv`` says, per dev clip, the background kind and the speech-to-
background ratio (SNR, dB) it was mixed at. At one threshold, each trigger word's miss
and each false accept is counted in its clip's SNR band and background kind, so a report
can say "14% of words under 5 dB are missed against 5% above" instead of one average.
Detection and matching are :mod:`model.metrics`' own, as for every other dev figure.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import detections_from_probs, match_detections

# SNR band edges, dB: the recipe mixes at roughly 0-30 dB (examples.csv has the exact value)
SNR_EDGES_DB = (5.0, 10.0, 20.0)


@dataclass
class ConditionRow:
    """Detection figures of the dev clips sharing one condition, at one threshold."""

    group: str  # "SNR" or "background"
    value: str  # the band ("5-10 dB") or the background kind ("babble+pink")
    n_clips: int  # dev clips in this condition
    n_words: int  # trigger words in them
    miss_rate: float | None  # share of those words not detected (None: no word)
    n_false_accepts: int  # detections matching no trigger word, in these clips
    fa_per_hour: float  # false accepts per hour of these clips' audio


def read_dev_conditions(folder: str | Path, n_dev: int) -> tuple[np.ndarray, list[str]] | None:
    """Per dev clip, the SNR (dB) and background kind from ``examples.csv``.

    Returns:
        (snr_db (n_dev,) float array, background kinds), or None when the file or its
        ``snr_db``/``background`` columns are missing or do not cover every dev clip.
    """
    path = Path(folder) / "examples.csv"
    snr, kind = np.full(n_dev, np.nan), [""] * n_dev
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("split") != "dev":
                    continue
                i = int(row["index"])
                if 0 <= i < n_dev:
                    snr[i], kind[i] = float(row["snr_db"]), row["background"] or "none"
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if np.isnan(snr).any():
        return None
    return snr, kind


def snr_band(snr_db: float, edges: tuple[float, ...] = SNR_EDGES_DB) -> str:
    """The band label of one SNR value, e.g. "< 5 dB", "5-10 dB", ">= 20 dB"."""
    if snr_db < edges[0]:
        return f"< {edges[0]:g} dB"
    for lo, hi in zip(edges, edges[1:]):
        if snr_db < hi:
            return f"{lo:g}-{hi:g} dB"
    return f">= {edges[-1]:g} dB"


def breakdown_by_condition(probs: np.ndarray, labels: np.ndarray, snr_db: np.ndarray,
                           background: list[str], threshold: float,
                           clip_seconds: float = 10.0) -> list[ConditionRow]:
    """Miss rate and false accepts per SNR band and per background kind.

    Args:
        probs, labels: (clips, steps) probabilities and 0/1 labels.
        snr_db: (clips,) mixing SNR of each clip, dB.
        background: per clip, its background kind.
        threshold: detection threshold.
        clip_seconds: audio seconds per clip.

    Returns:
        SNR rows (ascending bands), then background rows (worst miss rate first).
    """
    rows, steps = detections_from_probs(probs, threshold)
    w_rows, _, _, first_step, inside = match_detections(rows, steps, labels)
    missed = first_step < 0
    fa_rows = rows[~inside]
    out = []
    for group, keys in (("SNR", [snr_band(s) for s in snr_db]), ("background", list(background))):
        keys = np.asarray(keys)
        group_rows = []
        for value in dict.fromkeys(keys.tolist()):
            clips = keys == value
            words = clips[w_rows]
            n_fa = int(clips[fa_rows].sum())
            group_rows.append(ConditionRow(
                group, str(value), int(clips.sum()), int(words.sum()),
                float(missed[words].mean()) if words.any() else None, n_fa,
                float(n_fa / (clips.sum() * clip_seconds / 3600.0))))
        if group == "SNR":
            order = {snr_band(e - 0.5): i for i, e in enumerate(SNR_EDGES_DB)}
            group_rows.sort(key=lambda r: order.get(r.value, len(order)))
        else:
            group_rows.sort(key=lambda r: (-(r.miss_rate or 0.0), r.value))
        out += group_rows
    return out
