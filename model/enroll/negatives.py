"""Take-free training clips: the false accepts a personal model must learn to refuse.

A fine-tune on a few takes learns "this voice, this word" and, unchecked, fires on what sounds
like speech: on the personal dev split its false accepts fell almost all on babble (many quiet
overlapping words) and real ambience. These clips hold no trigger word, up to
``negative_max_others`` other words and near-misses of the training voices, over backgrounds
weighted towards babble, real ambience and typing. They do not depend on the takes, so they
are built once per word and seed and cached beside the synthetic dev set.

Your own voice saying something else is the other false accept: a fine-tune on two takes
also learns "this voice" and then fires on the same speaker's other words (on stand-in
voices, bench/enroll_protocol.py: 19 false accepts in 10 minutes of the enrolled voice's
other words). Nobody can make your voice say other words, but pieces of your takes are your
voice not saying the word: the take reversed, its head ("acti-"), its tail ("-vate") and the
two swapped. :func:`own_negative_clips` mixes those into take-free clips, tagged with their
take so a held-out take's pieces are never trained on either.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..audio.features import SAMPLE_RATE_HZ, feature_kind
from ..data.makedata import DEFAULT_CACHE_DIR, sources_with_pool
from ..data.synth import GENERATOR_VERSION, SynthConfig
from .personal import KIND, ClipSet, PersonalDataConfig, ProgressFn, _banks, _save_npz, \
    real_acoustics, render_clips, render_takes

_NEG_SALT = 7777  # keeps these clips' seeds apart from make-data's and the take clips'
_OWN_SALT = 424243  # and the own-voice negative clips' apart from all of those
_FADE_S = 0.01  # fade at a cut edge, s: a click would be a cue no real word has
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


def take_fragments(take: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Pieces of one take that are the same voice not saying the word.

    Args:
        take: a trimmed take, float32 at 44.1 kHz.
        rng: draws the cut points.

    Returns:
        [the take reversed, its head (30-55% of it), its tail (from 45-70% on), tail then head].
    """
    take = np.asarray(take, np.float32)
    n = take.size
    head = _faded(take[:max(1, int(n * rng.uniform(0.30, 0.55)))])
    tail = _faded(take[min(n - 1, int(n * rng.uniform(0.45, 0.70))):])
    return [take[::-1].copy(), head, tail, np.concatenate([tail, head])]


def splice_heads(take: np.ndarray, heads: list[np.ndarray], rng: np.random.Generator
                 ) -> list[np.ndarray]:
    """Sound-alikes ending in your voice: the start (30-45%) of each of ``heads`` (other
    words, e.g. "cultivate" by a synthetic voice) followed by the take from 35-50% on ("-tivate").

    Args:
        take: a trimmed take, float32 at 44.1 kHz.
        heads: clips of other words that do not begin like the trigger word.
        rng: draws the cut points.

    Returns:
        One spliced clip per head.
    """
    take = np.asarray(take, np.float32)
    out = []
    for head in heads:
        head = np.asarray(head, np.float32)
        start = _faded(head[:max(1, int(head.size * rng.uniform(0.30, 0.45)))])
        tail = _faded(take[int(take.size * rng.uniform(0.35, 0.50)):])
        out.append(np.concatenate([start, tail]))
    return out


def sound_alike_heads(bank, word: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Up to ``n`` bank clips of near-miss words that do not begin with the trigger's first
    letter (their heads cannot rebuild the word's own start)."""
    from ..data.words import other_words_for
    _, near = other_words_for(word)
    allowed = {w for w in near if w[:1] != word.strip().lower()[:1]}
    rows = [int(i) for i in bank.indices(False) if bank.words[int(i)] in allowed]
    if n <= 0 or not rows:
        return []
    pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    return [bank.clip(rows[int(k)]) for k in pick]


def _faded(piece: np.ndarray) -> np.ndarray:
    """``piece`` with short linear fades at both ends."""
    k = min(int(_FADE_S * SAMPLE_RATE_HZ), piece.size // 4)
    out = piece.astype(np.float32).copy()
    if k > 0:
        ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
        out[:k] *= ramp
        out[-k:] *= ramp[::-1]
    return out


def own_negative_clips(takes: list[np.ndarray], word: str, cfg: PersonalDataConfig,
                       cache_dir: Path = DEFAULT_CACHE_DIR, progress: ProgressFn | None = None,
                       cancel: threading.Event | None = None) -> ClipSet:
    """``cfg.own_negatives_per_take(len(takes))`` take-free clips of each take's pieces
    (training only).

    Args:
        takes: trimmed takes, float32 44.1 kHz.
        word: the trigger word (its bank gives the backgrounds' babble).
        cfg: sizes and recipe (the takes' per-word effects apply to the pieces too).
        cache_dir, progress, cancel: as :func:`synthetic_negatives`.

    Returns:
        ClipSet with ``take`` = the take each clip's pieces came from, all training-only.
    """
    steps = feature_kind(KIND).timing.clip_steps
    n = cfg.own_negatives_per_take(len(takes))
    if n <= 0 or not takes:
        return ClipSet(np.zeros((0, steps, 96), np.float16), np.zeros((0, steps, 1), np.float16),
                       np.zeros(0, np.int64), train_only=np.zeros(0, bool))
    banks, _, _ = _banks(word, cfg, Path(cache_dir), progress)
    base = sources_with_pool(cfg.synth_config(word), banks["train"], None, "train")
    recipe = replace(cfg.synth_config(word, takes=True), max_triggers=0,
                     max_others=cfg.own_negative_max_others)
    srcs = []
    for j, take in enumerate(takes):  # the pieces draw from their own generator, not the clips'
        rng = np.random.default_rng([cfg.seed, _OWN_SALT, j])
        pieces = take_fragments(take, rng)
        pieces += splice_heads(take, sound_alike_heads(banks["train"], word, cfg.own_splice_heads,
                                                       rng), rng)
        srcs.append(replace(base, triggers=[], others=pieces, near_misses=[]))
    out = render_takes(srcs, n, _OWN_SALT, cfg.seed, recipe,
                       lambda j: f"your voice, not the word ({j + 1})", progress, cancel)
    return replace(out, train_only=np.ones(len(out.take), bool))
