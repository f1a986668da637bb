"""Partners: detectors on a finer time grid whose probability joins a model's by max.

A model's card may hold ``"max_of": ["activate.keras"]``: models in the same folder, each
with its own card and members, that hear the same audio on their own (finer) step grid. The
detector pools each partner's probabilities onto the model's steps (the highest partner
probability among the partner steps that end within each model step: what the model step
could know by then, so streaming stays causal) and takes the maximum of the model and its
partners, step by step; the threshold and the detection rule then apply as for one network.

Why max and not a mean: the shipped detector pairs a head over speech embeddings, which hears
real voices, with the spectrogram pair, which hears the synthetic voices it was trained on but
gives real words 0.05-0.4 and never fired falsely on the hidden real-voice test (0 false
accepts even at 0.5). A mean would drag real words down with it; a max keeps every detection
of the head and adds the pair's. Members (:mod:`model.detect.ensemble`) stay means on one grid.

Datasets store one feature kind and no audio, so evaluation on a dataset (``evaluate``,
mining, enrolment's judge) scores the model and its members without partners, and says so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio.feature_kinds import StepTiming
from ..errors import LabError

PARTNERS_KEY = "max_of"
MAX_PARTNERS = 2  # each partner costs its own network passes


def partner_paths(model_path: str | Path) -> list[Path]:
    """The partner files a model's card names under ``max_of`` (empty without any).

    Raises:
        LabError: an entry that is not a plain ``.keras`` file name in the model's folder,
            the model itself, a missing file, or more than :data:`MAX_PARTNERS`.
    """
    from ..card import listed_model_files

    return listed_model_files(model_path, PARTNERS_KEY, MAX_PARTNERS, "partner", other=True)


def model_files(model_path: str | Path) -> list[Path]:
    """Every file a detector built from ``model_path`` loads: the model, its members, its
    partners and their members, in that order (a broken card raises LabError)."""
    from .ensemble import member_paths

    out = [Path(model_path), *member_paths(model_path)]
    for partner in partner_paths(model_path):
        out += [partner, *member_paths(partner)]
    return out


def pool_to_grid(probs: np.ndarray, src: StepTiming, dst: StepTiming, n_dst: int) -> np.ndarray:
    """A finer trace on a coarser grid: each coarse step gets the highest fine probability
    among the fine steps that end after the previous coarse step and no later than it.

    Args:
        probs: (n_src,) probabilities on ``src``'s steps (step i at
            ``src.first_step_end_seconds + i * src.step_seconds`` s).
        src, dst: the two step timings, in the same audio's seconds.
        n_dst: steps of the coarse trace.

    Returns:
        float32 (n_dst,); 0 where no fine step falls (fine steps after the last coarse step
        are dropped: no coarse step could report them yet).
    """
    probs = np.asarray(probs, np.float32).reshape(-1)
    out = np.zeros(int(n_dst), np.float32)
    if probs.size == 0 or n_dst <= 0:
        return out
    t_src = src.first_step_end_seconds + np.arange(probs.size) * src.step_seconds
    t_dst = dst.first_step_end_seconds + np.arange(n_dst) * dst.step_seconds
    # the first coarse step at or after each fine step; a 1 us slack absorbs float rounding
    idx = np.searchsorted(t_dst, t_src - 1e-6, side="left")
    keep = idx < n_dst
    np.maximum.at(out, idx[keep], probs[keep])
    return out


def check_partner_timing(own: StepTiming, partner: StepTiming, name: str) -> None:
    """Refuse a partner whose steps are not finer than the model's (pooling only goes from a
    finer grid to a coarser one; one on the same grid belongs under ``members``)."""
    if partner.step_seconds >= own.step_seconds * (1 - 1e-6):
        raise LabError(f"partner {name} steps every {partner.step_seconds * 1000:.3g} ms, not "
                       f"finer than the model's {own.step_seconds * 1000:.3g} ms: list a model on "
                       "the same grid under 'members'")


def partner_notes(model_path: str | Path) -> list[str]:
    """An evaluation note for a model with partners (empty without any): dataset scores are
    of the model and its members alone."""
    try:
        names = [p.name for p in partner_paths(model_path)]
    except LabError:
        return []
    if not names:
        return []
    return [f"scored without its partner{'s' if len(names) > 1 else ''} {', '.join(names)}: a "
            "dataset keeps features, not the audio a partner needs; detection on audio joins "
            "them by max"]
