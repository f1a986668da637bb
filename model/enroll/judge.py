"""Judging a personal model before it is saved: threshold, before/after, refusal.

Recall is measured on the held-out takes' clips (never trained on), false accepts per hour
on every dev clip outside its label windows (the synthetic dev voices' words, near-misses
and backgrounds, and the other words around the held-out takes). The threshold is the
middle of those that find the most held-out takes within the false-accept budget; a model
that no threshold keeps under the refusal limit fires on everything and is not saved.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio.features import CLIP_SECONDS, FEATURE_KIND_EMBEDDING, feature_kind
from ..detect.inference import load_keras_model
from ..errors import LabError
from ..train.metrics import THRESHOLDS, sweep_thresholds

GRID = np.unique(np.concatenate([np.linspace(0.05, 0.95, 19), np.linspace(0.96, 0.99, 4), THRESHOLDS]))


class RefusedModel(LabError):
    """The fine-tuned model fires too often on speech without the word; it was not saved."""


@dataclass
class JudgeConfig:
    """How the threshold is picked and when a model is refused; stored in the card."""

    target_fa_per_hour: float = 6.0  # budget: 1 false accept in 10 minutes (the goal)
    refuse_fa_per_hour: float = 30.0  # no threshold under this on dev: refuse to save
    # also count false accepts on each held-out take's own take-free clips (the pieces of
    # own_negatives_per_take and wider-recipe clips without the word): your voice, not the
    # word, never trained on by the fine-tune judged on it
    count_own_voice: bool = False


@dataclass
class Figures:
    """One model at one threshold."""

    threshold: float  # probability threshold used
    recall: float | None  # held-out takes found, 0..1 (None: no held-out takes)
    found: int  # held-out take words found
    words: int  # held-out take words in the dev clips
    fa_per_hour: float  # false accepts per hour over the whole dev split
    false_accepts: int  # their count
    hours: float  # dev audio scored, hours

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


@functools.lru_cache(maxsize=4)
def _model(path: str, mtime_ns: int):
    """A loaded model, kept while judging (the base is scored several times)."""
    return load_keras_model(path)


def predict(model_path: Path, x: np.ndarray) -> np.ndarray:
    """Per-step probabilities (n, steps) of a head model on embedded clips."""
    model = _model(str(model_path), Path(model_path).stat().st_mtime_ns)
    return np.asarray(model.predict(np.asarray(x, np.float32), batch_size=64, verbose=0))[..., 0]


def _sweeps(probs: np.ndarray, labels: np.ndarray, n_take_rows: int):
    """(sweep of the held-out take rows, sweep of all rows) over GRID."""
    timing = feature_kind(FEATURE_KIND_EMBEDDING).timing
    kw = dict(clip_seconds=CLIP_SECONDS, refractory_steps=timing.refractory_steps,
              early_steps=timing.early_tolerance_steps)
    takes = sweep_thresholds(probs[:n_take_rows], labels[:n_take_rows], GRID, **kw)
    every = sweep_thresholds(probs, labels, GRID, **kw)
    return takes, every


def figures_at(probs: np.ndarray, labels: np.ndarray, n_take_rows: int, threshold: float) -> Figures:
    """A model's figures at exactly one threshold (e.g. the base's card threshold)."""
    timing = feature_kind(FEATURE_KIND_EMBEDDING).timing
    kw = dict(clip_seconds=CLIP_SECONDS, refractory_steps=timing.refractory_steps,
              early_steps=timing.early_tolerance_steps)
    grid = np.asarray([float(threshold)])
    takes = sweep_thresholds(probs[:n_take_rows], labels[:n_take_rows], grid, **kw)
    every = sweep_thresholds(probs, labels, grid, **kw)
    words, found = int(takes.n_triggers), int(takes.n_found[0])
    return Figures(float(threshold), found / words if words else None, found, words,
                   float(every.fa_per_hour[0]), int(every.n_false_accepts[0]), float(every.hours))


def _figures(takes, every, i: int) -> Figures:
    words = int(takes.n_triggers)
    found = int(takes.n_found[i])
    return Figures(float(GRID[i]), found / words if words else None, found, words,
                   float(every.fa_per_hour[i]), int(every.n_false_accepts[i]), float(every.hours))


def pick_threshold(probs: np.ndarray, labels: np.ndarray, n_take_rows: int,
                   cfg: JudgeConfig) -> tuple[Figures, str]:
    """The threshold to save with the model, and a one-line note on how it was chosen.

    Args:
        probs: (n, steps) probabilities on the dev split (held-out take rows first).
        labels: (n, steps) labels.
        n_take_rows: how many leading rows hold held-out takes.
        cfg: budget and refusal limit.

    Returns:
        (figures at the threshold, note).

    Raises:
        RefusedModel: even the strictest threshold false-accepts more than the limit.
    """
    takes, every = _sweeps(probs, labels, n_take_rows)
    fa = every.fa_per_hour
    if fa.min() > cfg.refuse_fa_per_hour:
        raise RefusedModel(f"not saved: the fine-tuned model fires on speech without the word "
                           f"({fa.min():.0f} false accepts per hour on dev at best, limit "
                           f"{cfg.refuse_fa_per_hour:g}); record cleaner takes or use fewer epochs")
    ok = np.flatnonzero(fa <= cfg.target_fa_per_hour)
    if ok.size == 0:
        i = int(np.flatnonzero(fa == fa.min())[0])
        return _figures(takes, every, i), (f"no threshold met {cfg.target_fa_per_hour:g} false "
                                           f"accepts/h; took the fewest ({fa[i]:.1f}/h)")
    best = takes.n_found[ok].max()
    tied = ok[takes.n_found[ok] == best]
    i = int(tied[len(tied) // 2])  # the middle of the tie: margin on both sides
    return _figures(takes, every, i), (f"the middle of {len(tied)} thresholds that find the most "
                                       f"held-out takes within {cfg.target_fa_per_hour:g} false "
                                       "accepts/h")
