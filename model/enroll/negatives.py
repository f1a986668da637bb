"""Take-free training clips: the false accepts a personal model must learn to refuse.

A fine-tune on a few takes learns "this voice, this word" and, unchecked, fires on what sounds
like speech: on the personal dev split its false accepts fell almost all on babble (many quiet
overlapping words) and real ambience. These clips hold no trigger word, up to
``negative_max_others`` other words and near-misses of the training voices, over backgrounds
weighted towards babble, real ambience and typing. They do not depend on the takes, so they
are built once per word and seed and cached beside the synthetic dev set.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..audio.features import feature_kind
from ..data.makedata import DEFAULT_CACHE_DIR, sources_with_pool
from ..data.synth import GENERATOR_VERSION, SynthConfig
from .personal import KIND, ClipSet, PersonalDataConfig, ProgressFn, _banks, _save_npz, \
    real_acoustics, render_clips

_NEG_SALT = 7777  # keeps these clips' seeds apart from make-data's and the take clips'
_POOL = 96  # generated backgrounds drawn from (make-data's 48 repeat babble too often here)


def negatives_recipe(word: str, cfg: PersonalDataConfig) -> SynthConfig:
    """The make-data recipe of the negative clips: no trigger, more other words, babble-heavy."""
    synth = cfg.synth_config(word)
    real = cfg.negative_real_weight if real_acoustics() else 0.0
    bg = replace(synth.background, weight_babble=cfg.negative_babble_weight,
                 weight_ambience=real, weight_keyboard=real)
    return replace(synth, max_triggers=0, max_others=cfg.negative_max_others, background=bg,
                   background_pool=_POOL)


def synthetic_negatives(word: str, cfg: PersonalDataConfig, cache_dir: Path = DEFAULT_CACHE_DIR,
                        progress: ProgressFn | None = None, cancel: threading.Event | None = None
                        ) -> ClipSet:
    """``cfg.negatives`` take-free clips of the training voices (cached per word, seed, size).

    Args:
        word: the trigger word (its near-misses come from its bank).
        cfg: sizes and recipe.
        cache_dir: word-bank cache; the clips are cached in its sibling ``enroll/``.
        progress, cancel: as :func:`~model.enroll.personal.render_clips`.

    Returns:
        ClipSet with take -1 everywhere (all-zero labels).
    """
    synth = negatives_recipe(word, cfg)
    if cfg.negatives <= 0:
        steps = feature_kind(KIND).timing.clip_steps
        return ClipSet(np.zeros((0, steps, 96), np.float16), np.zeros((0, steps, 1), np.float16),
                       np.zeros(0, np.int64))
    key = hashlib.sha256(json.dumps({"word": word, "seed": cfg.seed, "n": cfg.negatives,
                                     "bank": cfg.bank_clips, "gen": GENERATOR_VERSION, "v": 1,
                                     "synth": synth.to_dict()}, sort_keys=True).encode()
                         ).hexdigest()[:16]
    path = Path(cache_dir).parent / "enroll" / f"negatives-{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return ClipSet(z["x"], z["y"], np.full(len(z["x"]), -1))
    banks, _, _ = _banks(word, cfg, Path(cache_dir), progress)
    src = sources_with_pool(synth, banks["train"], None, "train")
    rngs = [np.random.default_rng([cfg.seed, _NEG_SALT, i]) for i in range(cfg.negatives)]
    x, y, _, _ = render_clips(rngs, [src] * len(rngs), synth, "synthetic negatives", progress, cancel)
    _save_npz(path, x=x, y=y)
    return ClipSet(x, y, np.full(len(x), -1))


def with_negatives(clips: ClipSet, negatives: ClipSet) -> ClipSet:
    """The training clips with the negative clips appended (as synthetic, take -1)."""
    return ClipSet(np.concatenate([clips.x, negatives.x]), np.concatenate([clips.y, negatives.y]),
                   np.concatenate([clips.take, negatives.take]), clips.audio,
                   np.concatenate([clips.only_for_training(), negatives.only_for_training()]))
