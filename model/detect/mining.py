"""Hard-negative mining: render clips that hold no trigger word, score them with a model,
and append the ones it fires on most to a dataset's training split (labels all 0).

Why: on real recordings the speech-embedding head's false accepts fell on backgrounds
and on other words (the real-voices issue, 2026-11-30). Negatives a model already rejects
teach it little; the ones it scores high are the lesson. The pool reuses the dataset's own
recipe and seed, so its voices come from the same training families (checked: no voice
family of the dev split may reach training), with trigger words turned off and more
other words per clip. Mining never reads the dev split.
"""
from __future__ import annotations

import csv
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.dataset import META_FILE, Dataset, load_dataset
from ..data.synth import SynthConfig
from ..errors import ConfigError, LabError

ProgressFn = Callable[[str, int, int], None]
_COPY_ROWS = 256  # examples copied per step when writing the grown arrays (bounded memory)


@dataclass
class MiningConfig:
    """How negatives are mined (recorded in the grown dataset's meta.json)."""

    pool: int = 2000  # negative-only clips rendered and scored
    keep: int = 500  # at most this many of the highest-scoring pool clips are appended
    min_peak: float = 0.05  # pool clips whose peak probability stays below this are not kept
    max_others: int = 4  # other words per pool clip, uniform 0..max (the recipe's default is 2)
    batch_size: int = 64  # clips per predict call

    def validate(self) -> None:
        """Raise ConfigError (one line) for settings outside their ranges."""
        if self.pool < 1 or self.keep < 1:
            raise ConfigError(f"pool and keep must be at least 1 (got {self.pool}, {self.keep})")
        if not 0.0 <= self.min_peak < 1.0:
            raise ConfigError(f"min peak must be within 0..1 (got {self.min_peak})")
        if self.max_others < 1:
            raise ConfigError(f"max others must be at least 1 (got {self.max_others})")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1 (got {self.batch_size})")


@dataclass
class MiningReport:
    """What one mining pass did."""

    out: str  # the grown dataset folder
    model: str  # the model that scored the pool
    pool: int  # clips rendered and scored
    kept: int  # clips appended to the training split
    n_train: int  # training examples after mining
    pool_peak_median: float  # median peak probability over the pool
    pool_share_over_half: float  # share of pool clips whose peak exceeds 0.5 (false accepts at 0.5)
    kept_peak_min: float  # lowest peak among the kept clips (nan when none kept)
    render_seconds: float  # rendering and featurising the pool
    score_seconds: float  # scoring the pool


def dataset_recipe(data: Dataset) -> tuple[SynthConfig, tuple[str, ...]]:
    """The synthesis recipe and held-out engines recorded in a dataset's meta.json.

    Raises:
        LabError: the dataset was not synthesised by this project (no recipe to reuse).
    """
    from ..data.makedata import recipe_from_meta

    if not data.meta.generator_version or not data.meta.config:
        raise LabError(f"dataset {data.path} records no synthesis recipe (made elsewhere?): "
                       "mining renders negatives with the dataset's own recipe")
    return recipe_from_meta(data.meta)


def pool_recipe(recipe: SynthConfig, cfg: MiningConfig) -> SynthConfig:
    """The dataset's recipe with trigger words off: ``cfg.pool`` training clips, one dev
    clip (make-data needs one), more other words, a one-clip trigger bank (never mixed)."""
    return replace(recipe, n_train=cfg.pool, n_dev=1, max_triggers=0, max_others=cfg.max_others,
                   bank_trigger_clips=1, raw_mode="mix" if recipe.raw_data else recipe.raw_mode)


def select_hard(peaks: np.ndarray, keep: int, min_peak: float) -> np.ndarray:
    """Indices of the highest peaks, highest first: at most ``keep``, none below ``min_peak``.

    Ties keep the lower index first (a stable order: the same pool gives the same choice).
    """
    peaks = np.asarray(peaks, dtype=np.float64).ravel()
    order = np.argsort(-peaks, kind="stable")
    return order[peaks[order] >= min_peak][:keep]


def mine_negatives(dataset: str | Path, model_spec: str, cfg: MiningConfig | None = None,
                   out_dir: str | Path | None = None, workers: int | None = None,
                   progress: ProgressFn | None = None, cache_dir: str | Path | None = None,
                   cancel: threading.Event | None = None) -> MiningReport:
    """Grow a dataset's training split by the pool clips a model fires on most.

    Args:
        dataset: a dataset folder made by make-data (its recipe is reused).
        model_spec: "pretrained", a run ID or a .keras path; must read the dataset's features.
        cfg: pool size, how many to keep, the lowest peak kept.
        out_dir: where the grown dataset goes (None: replace ``dataset``, atomically).
        workers: mixing processes for the pool (None: make-data's default).
        progress: ``progress(stage, done, total)``.
        cache_dir: word-bank cache (None: make-data's).
        cancel: set to stop; nothing is written.

    Returns:
        MiningReport.

    Raises:
        LabError (one line): no recipe, a model on other features, a pool whose voices
            overlap the dev split, bad settings. The dataset is untouched on any error.
    """
    from ..data.makedata import DEFAULT_CACHE_DIR, make_dataset
    from ..audio.features import FEATURE_KINDS

    cfg = cfg or MiningConfig()
    cfg.validate()
    data = load_dataset(dataset, check_values=False)
    if data.meta.feature_kind not in FEATURE_KINDS:
        raise LabError(f"dataset {data.path} holds {data.meta.feature_kind} features")
    recipe, held = dataset_recipe(data)
    models = _load_scoring_models(model_spec, data)
    out = Path(out_dir).resolve() if out_dir else data.path.resolve()
    pool_dir = out.parent / f".{out.name}.pool-{os.getpid()}"
    t0 = time.perf_counter()
    try:
        report = make_dataset(pool_recipe(recipe, cfg), pool_dir, progress=progress, workers=workers,
                              cache_dir=cache_dir or DEFAULT_CACHE_DIR, cancel=cancel,
                              feature_kind=data.meta.feature_kind, dev_engines=held)
        _check_voices(report.meta.train_voices, data)
        t1 = time.perf_counter()
        pool = load_dataset(pool_dir, check_values=False)
        peaks = _score(models, pool, cfg.batch_size, progress)
        chosen = select_hard(peaks, cfg.keep, cfg.min_peak)
        t2 = time.perf_counter()
        note = {**asdict(cfg), "model": str(model_spec), "kept": int(chosen.size),
                "pool_peak_median": float(np.median(peaks))}
        n_train = append_training_rows(data, pool, chosen, out, note)
    finally:
        shutil.rmtree(pool_dir, ignore_errors=True)
    return MiningReport(str(out), str(model_spec), cfg.pool, int(chosen.size), n_train,
                        float(np.median(peaks)), float(np.mean(peaks > 0.5)),
                        float(peaks[chosen].min()) if chosen.size else float("nan"), t1 - t0, t2 - t1)


def _load_scoring_models(model_spec: str, data: Dataset) -> list[tuple[Any, str]]:
    from ..card import read_model_card
    from .ensemble import model_members
    from .evaluate import check_feature_kind
    from .inference import load_keras_model, resolve_model_path

    path = resolve_model_path(model_spec)
    kind = read_model_card(path)
    check_feature_kind(kind, data, path)
    return [(load_keras_model(m.path), m.feature_kind)
            for m in model_members(path, kind or data.meta.feature_kind)]


def _check_voices(pool_train_voices: list[str], data: Dataset) -> None:
    leak = sorted(set(pool_train_voices) & set(data.meta.dev_voices))
    if leak:
        raise LabError(f"the recipe now splits voices differently from when {data.path} was made "
                       f"({len(leak)} dev families, e.g. {leak[0]!r}, would reach training); "
                       "remake the dataset before mining")


def _score(models: list[tuple[Any, str]], pool: Dataset, batch_size: int,
           progress: ProgressFn | None) -> np.ndarray:
    """Peak probability of each pool training clip."""
    from .ensemble import predict_ensemble

    report = (lambda d, t: progress("scoring", d, t)) if progress else None
    probs = predict_ensemble(models, pool.x_train, pool.meta.feature_kind, batch_size, report)
    return probs.max(axis=1)


def append_training_rows(data: Dataset, pool: Dataset, rows: np.ndarray, out: Path,
                         note: dict[str, Any]) -> int:
    """Write ``data`` with ``pool``'s training rows ``rows`` appended to its training split
    (labels set to 0) into ``out``, through a temporary folder and renames.

    Returns:
        the training examples after appending.
    """
    tmp = out.parent / f".{out.name}.mined-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        n = data.n_train + int(rows.size)
        _write_rows(tmp / "X.npy", [data.x_train, pool.x_train[np.sort(rows)]], n)
        y_new = np.zeros((int(rows.size), *data.y_train.shape[1:]), dtype=data.y_train.dtype)
        _write_rows(tmp / "Y.npy", [data.y_train, y_new], n)
        for name in ("X_dev.npy", "Y_dev.npy", "README.md"):
            if (data.path / name).is_file():
                shutil.copy2(data.path / name, tmp / name)
        _write_csv(data, pool, rows, tmp / "examples.csv")
        meta = replace(data.meta, n_train=n,
                       config={**data.meta.config,
                               "mined": list(data.meta.config.get("mined", [])) + [note]})
        (tmp / META_FILE).write_text(meta.to_json())
        from ..data.makedata import swap_in
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return n


def _write_rows(path: Path, parts: list[np.ndarray], n: int) -> None:
    first = parts[0]
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=first.dtype, shape=(n, *first.shape[1:]))
    at = 0
    for part in parts:
        for start in range(0, part.shape[0], _COPY_ROWS):
            chunk = np.asarray(part[start:start + _COPY_ROWS])
            arr[at:at + chunk.shape[0]] = chunk
            at += chunk.shape[0]
    arr.flush()
    del arr


def _write_csv(data: Dataset, pool: Dataset, rows: np.ndarray, new: Path) -> None:
    """examples.csv: the dataset's rows, then the kept pool clips' rows renumbered after
    the training split, their background marked ``mined:``."""
    def read(path: Path) -> list[list[str]]:
        if not path.is_file():
            return []
        with open(path, newline="") as fh:
            return list(csv.reader(fh))

    old, pooled = read(data.path / "examples.csv"), read(pool.path / "examples.csv")
    header = (old or pooled or [[]])[0]
    train = {int(r[1]): r for r in pooled[1:] if r and r[0] == "train"}
    added = []
    for i, row in enumerate(np.sort(rows)):
        src = list(train.get(int(row), ["train", "", "0", "", "", "", "", ""]))
        src[0], src[1] = "train", str(data.n_train + i)
        if len(src) > 5:
            src[5] = f"mined:{src[5]}"
        added.append(src)
    with open(new, "w", newline="") as fh:
        csv.writer(fh).writerows(([header] if header else []) + old[1:] + added)

