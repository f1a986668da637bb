"""The personal dataset: your takes mixed the make-data way, in the standard dataset layout.

Each take becomes a number of 10 s clips (more per take when there are few takes): the take
(and only that take) as the trigger, augmented per word (speed, pitch within +-1 semitone, the project's reverb and
whatever per-word effects :class:`~model.data.augment.AugmentConfig` adds by default) and
per mix (microphone colour, gain), among other words and near-misses of synthetic voices,
over generated backgrounds. Synthetic-only clips of the base model's own mix (synthetic
takes of the word, negatives, near-misses) keep the fine-tune from forgetting them. The
synthetic dev set (dev voices only, for false accepts per hour) does not depend on the
takes, so it is cached per word and seed; so are the take-free negative clips (negatives.py).
Training labels are smoothed (``label_smoothing``); the dev split keeps 0/1 labels for scoring.

Clips are tagged by take, so the same embedded clips serve any hold-out: a take held out
goes to the dev split and is never trained on. With 2-3 takes (leave-one-out, where each
fine-tune learns from one or two takes) each take also gets training-only clips of a
wider recipe (``train_*`` settings: more speed and pitch variation, more rooms and microphone
colour, lower SNR over babble and real ambience): they are trained on with the take and never
judged, so the held-out clips -- the yardstick -- keep the plain recipe and their bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio.features import FEATURE_KIND_EMBEDDING, feature_kind
from ..data.bank import bank_path, build_or_load_bank
from ..data.dataset import META_FILE, DatasetMeta
from ..data.makedata import DEFAULT_CACHE_DIR, Cancelled, example_rng, sources_with_pool
from ..data.sources import bank_config_for, split_families
from ..data.synth import GENERATOR_VERSION, Sources, SynthConfig, render_example
from .personal_config import PersonalDataConfig, real_acoustics  # noqa: F401 (re-exported)

KIND = FEATURE_KIND_EMBEDDING  # personal datasets are speech embeddings: a head fine-tunes in seconds
_CHUNK = 16  # clips embedded per ONNX call batch (as make-data)
_TAKE_SALT = 104729  # keeps the take clips' seeds apart from make-data's example seeds
_TRAIN_SALT = 130363  # and the training-only take clips' apart from those
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ClipSet:
    """Embedded clips of one origin: features, labels, and which take each clip holds."""

    x: np.ndarray  # float16 (n, 116, 96) speech embeddings
    y: np.ndarray  # float16 (n, 116, 1) labels
    take: np.ndarray  # int (n,): index of the take in the clip, -1 for synthetic-only clips
    audio: list[np.ndarray] = field(default_factory=list)  # a few clips' audio, for the app
    train_only: np.ndarray | None = None  # bool (n,): training-only take clips (None: none)

    def only_for_training(self) -> np.ndarray:
        """bool (n,): clips never judged (the wider recipe's take clips)."""
        if self.train_only is None:
            return np.zeros(len(self.take), bool)
        return np.asarray(self.train_only, bool)

    def judged(self, held: Sequence[int]) -> np.ndarray:
        """bool (n,): the clips that judge held-out takes ``held`` (their plain-recipe clips)."""
        return np.isin(self.take, np.asarray(list(held), np.int64)) & ~self.only_for_training()

    def trained(self, held: Sequence[int]) -> np.ndarray:
        """bool (n,): the clips a fine-tune holding out ``held`` trains on (nothing of theirs)."""
        return ~np.isin(self.take, np.asarray(list(held), np.int64))


def _banks(word: str, cfg: PersonalDataConfig, cache_dir: Path, progress: ProgressFn | None):
    """The train and dev word banks (built once, then cached) and their families."""
    synth = cfg.synth_config(word)
    train_fams, dev_fams = split_families(synth.seed, synth.dev_family_share)
    banks = {}
    for split, fams, n in (("train", train_fams, cfg.bank_clips), ("dev", dev_fams, cfg.dev_bank_clips)):
        bcfg = bank_config_for(synth, split, fams, n, n)
        if not bank_path(bcfg, cache_dir).is_file() and cfg.fresh_bank_clips < n:
            # no make-data bank of this size for the word (a new word): a smaller one will do
            bcfg = bank_config_for(synth, split, fams, cfg.fresh_bank_clips, cfg.fresh_bank_clips)
        report = (lambda d, t, s=split: progress(f"voices ({s})", d, t)) if progress else None
        banks[split] = build_or_load_bank(bcfg, cache_dir, progress=report)
    return banks, train_fams, dev_fams


def _embed(clips: list[np.ndarray]) -> np.ndarray:
    """float16 speech embeddings of 10 s clips, (n, 116, 96)."""
    return np.stack([e.astype(np.float16) for e in feature_kind(KIND).batch_transform(clips)])


def render_clips(rngs: Sequence[np.random.Generator], sources: Sequence[Sources], synth: SynthConfig,
                 stage: str, progress: ProgressFn | None, cancel: threading.Event | None,
                 keep_audio: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[int]]:
    """Mix, label and embed clips, a chunk at a time.

    Args:
        rngs: one generator per clip.
        sources: what each clip mixes from.
        synth: the recipe.
        stage: progress label.
        progress: ``progress(stage, done, total)``.
        cancel: set it to stop (raises Cancelled).
        keep_audio: audio of this many clips is kept (for the app's curves).

    Returns:
        (x float16 (n,116,96), y float16 (n,116,1), kept audio, trigger count per clip).
    """
    timing = feature_kind(KIND).timing
    xs, ys, kept, counts = [], [], [], []
    for start in range(0, len(rngs), _CHUNK):
        if cancel is not None and cancel.is_set():
            raise Cancelled("enrolment was cancelled; nothing was written")
        exs = [render_example(rngs[i], sources[i], synth, timing)
               for i in range(start, min(start + _CHUNK, len(rngs)))]
        xs.append(_embed([e.audio for e in exs]))
        ys += [e.labels.astype(np.float16)[:, None] for e in exs]
        counts += [len(e.trigger_spans) for e in exs]
        kept += [e.audio for e in exs][: max(0, keep_audio - len(kept))]
        if progress:
            progress(stage, min(start + _CHUNK, len(rngs)), len(rngs))
    x = np.concatenate(xs) if xs else np.zeros((0, timing.clip_steps, 96), np.float16)
    return x, np.stack(ys) if ys else np.zeros((0, timing.clip_steps, 1), np.float16), kept, counts


def take_clips(takes: Sequence[np.ndarray], word: str, cfg: PersonalDataConfig,
               cache_dir: Path = DEFAULT_CACHE_DIR, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> ClipSet:
    """``cfg.per_take`` clips around each take, ``cfg.train_per_take`` training-only clips of
    each in the wider recipe, plus ``synth_train`` synthetic-only clips.

    Args:
        takes: trimmed takes, float32 44.1 kHz.
        word: the trigger word (its synthetic bank is built if not cached).
        cfg: recipe and sizes.
        cache_dir: word-bank cache.
        progress, cancel: as :func:`render_clips`.

    Returns:
        ClipSet with ``take`` = the take's index, or -1 for the synthetic clips; the plain
        clips of every take come first (take order), then the training-only ones
        (``train_only``), then the synthetic ones; ``audio`` holds one clip of each take.
    """
    synth = cfg.synth_config(word)
    banks, _, _ = _banks(word, cfg, Path(cache_dir), progress)
    base = sources_with_pool(synth, banks["train"], None, "train")
    mine = [replace(base, triggers=[np.asarray(take, np.float32)]) for take in takes]
    n_takes = len(takes)
    # take clips use their own recipe; the synthetic ones keep make-data's
    plain = render_takes(mine, cfg.per_take(n_takes), _TAKE_SALT, cfg.seed,
                         cfg.synth_config(word, takes=True),
                         lambda j: f"take {j + 1} of {n_takes}", progress, cancel, keep_audio=1)
    wide = render_takes(mine, max(0, cfg.train_per_take(n_takes)), _TRAIN_SALT, cfg.seed,
                        cfg.train_config(word), lambda j: f"take {j + 1} of {n_takes} (training)",
                        progress, cancel)
    rngs = [example_rng(cfg.seed, "train", i) for i in range(cfg.synth_train)]
    x, y, _, _ = render_clips(rngs, [base] * len(rngs), synth, "synthetic voices", progress, cancel)
    only = np.concatenate([np.zeros(len(plain.take), bool), np.ones(len(wide.take), bool),
                           np.zeros(len(rngs), bool)])
    return ClipSet(np.concatenate([plain.x, wide.x, x]), np.concatenate([plain.y, wide.y, y]),
                   np.concatenate([plain.take, wide.take, np.full(len(rngs), -1, np.int64)]),
                   plain.audio, only)


def render_takes(sources: Sequence[Sources], n: int, salt: int, seed: int, recipe: SynthConfig,
                 stage: Callable[[int], str], progress: ProgressFn | None,
                 cancel: threading.Event | None, keep_audio: int = 0) -> ClipSet:
    """``n`` clips mixed from each take's sources, clip ``i`` of take ``j`` seeded by
    ``[seed, salt, j, i]``, so a clip's bytes do not depend on what else is rendered.

    Args:
        sources: per take, what its clips mix from.
        n: clips per take (0: none).
        salt: the clip family's seed salt (take clips, training-only clips, own-voice pieces).
        seed: the recipe's master seed.
        recipe: how the clips are mixed.
        stage: the progress label of take ``j``.
        progress, cancel: as :func:`render_clips`.
        keep_audio: audio of this many clips of each take is kept.

    Returns:
        ClipSet in take order, ``take`` = each clip's take index.
    """
    steps = feature_kind(KIND).timing.clip_steps
    xs, ys = [np.zeros((0, steps, 96), np.float16)], [np.zeros((0, steps, 1), np.float16)]
    tags: list[int] = []
    kept: list[np.ndarray] = []
    for j, src in enumerate(sources if n > 0 else []):
        rngs = [np.random.default_rng([seed, salt, j, i]) for i in range(n)]
        x, y, audio, _ = render_clips(rngs, [src] * n, recipe, stage(j), progress, cancel,
                                      keep_audio=keep_audio)
        xs.append(x)
        ys.append(y)
        kept += audio
        tags += [j] * n
    return ClipSet(np.concatenate(xs), np.concatenate(ys), np.asarray(tags, np.int64), kept)


def synthetic_dev(word: str, cfg: PersonalDataConfig, cache_dir: Path = DEFAULT_CACHE_DIR,
                  progress: ProgressFn | None = None, cancel: threading.Event | None = None
                  ) -> tuple[ClipSet, int, np.ndarray]:
    """The synthetic dev clips (dev voices only), cached per word, seed and size.

    Returns:
        (ClipSet with take -1 everywhere, the index of a clip without any trigger word (the
        app's take-free clip), that clip's audio).
    """
    synth = cfg.synth_config(word)
    key = hashlib.sha256(json.dumps({"word": word, "seed": cfg.seed, "n": cfg.synth_dev,
                                     "bank": cfg.dev_bank_clips, "gen": GENERATOR_VERSION, "v": 2,
                                     "synth": synth.to_dict()}, sort_keys=True).encode()
                         ).hexdigest()[:16]
    path = Path(cache_dir).parent / "enroll" / f"syndev-{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return ClipSet(z["x"], z["y"], np.full(len(z["x"]), -1)), int(z["quiet_index"]), z["quiet"]
    banks, _, _ = _banks(word, cfg, Path(cache_dir), progress)
    src = sources_with_pool(synth, banks["dev"], None, "dev")
    rngs = [example_rng(cfg.seed, "dev", i) for i in range(cfg.synth_dev)]
    x, y, _, counts = render_clips(rngs, [src] * len(rngs), synth, "synthetic dev", progress, cancel)
    quiet = next((i for i, c in enumerate(counts) if c == 0), 0)
    # rendered again rather than kept: each clip is a pure function of its seed (14 ms)
    audio = render_example(example_rng(cfg.seed, "dev", quiet), src, synth,
                           feature_kind(KIND).timing).audio
    _save_npz(path, x=x, y=y, quiet=audio, quiet_index=np.asarray(quiet))
    return ClipSet(x, y, np.full(len(x), -1)), quiet, audio


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz through a temporary name, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_split(out_dir: Path, clips: ClipSet, dev: ClipSet, held: Sequence[int], word: str,
                cfg: PersonalDataConfig, note: dict) -> DatasetMeta:
    """Write a dataset folder: clips of takes not in ``held`` (and synthetic ones) to train,
    the plain clips of the held takes then the synthetic dev clips to dev (their
    training-only clips go nowhere); atomic (temp folder, rename).

    Args:
        out_dir: destination folder (replaced whole).
        clips: take and synthetic training clips.
        dev: synthetic dev clips.
        held: indices of takes held out (never trained on).
        word: the trigger word.
        cfg: the recipe, recorded in meta.json.
        note: extra facts for meta.json's config (take files, hold-out scheme).

    Returns:
        The meta written; its config's ``dev_take_clips`` says how many dev rows come first.
    """
    held_mask, train_mask = clips.judged(held), clips.trained(held)
    eps = float(cfg.label_smoothing)
    y_train = clips.y[train_mask].astype(np.float32) * (1.0 - eps) + eps / 2  # dev keeps 0/1
    x_dev = np.concatenate([clips.x[held_mask], dev.x])
    y_dev = np.concatenate([clips.y[held_mask], dev.y])
    meta = DatasetMeta(word=word, feature_kind=KIND, n_train=int(train_mask.sum()),
                       n_dev=int(len(x_dev)), seed=cfg.seed, generator_version=GENERATOR_VERSION,
                       config={"enroll": asdict(cfg), "held_takes": sorted(int(h) for h in held),
                               "dev_take_clips": int(held_mask.sum()), **note},
                       created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    out_dir = Path(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name, arr in (("X", clips.x[train_mask]), ("Y", y_train),
                          ("X_dev", x_dev), ("Y_dev", y_dev)):
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr, np.float16))
        (tmp / META_FILE).write_text(meta.to_json(), encoding="utf-8")
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta
