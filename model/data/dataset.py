"""The training-set contract shared by data synthesis, the trial engine and the app.

Layout of a dataset folder (default ``XY_train/``)::

    X.npy      (m, frames, values)  features; float16 for our data (see features.py)
    Y.npy      (m, steps, 1)        labels 0/1; float16 for our data
    X_dev.npy  (d, frames, values)  dev split whose voices training never heard
    Y_dev.npy  (d, steps, 1)
    meta.json  DatasetMeta as JSON

The shapes are the feature kind's (meta.json's ``feature_kind``, a row of the registry):
(5511, 101) frames and 1375 steps for the spectrogram kinds, (116, 96) and 116 steps for
``speech-embedding-v1`` (:func:`expected_shapes`).

Readers must accept float16 or float32 storage (the seed's data is float32/float64
and has no meta.json, which means the ``seed-linear`` feature kind). The seed kept its
dev split in a sibling folder ``XY_dev/`` (X_dev.npy, Y_dev.npy); that is read too.
Arrays are opened memory-mapped with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..audio.features import (CLIP_SAMPLES, FEATURE_KIND_LOG, FEATURE_KIND_SEED, FEATURE_KINDS,
                              feature_kind)

DEFAULT_DATASET_DIR = Path(__file__).resolve().parents[2] / "XY_train"
META_FILE = "meta.json"
_CHECK_CHUNK = 64  # examples per chunk when scanning for NaN/inf: bounded memory


@dataclass
class DatasetMeta:
    """What a dataset holds and how it was made (meta.json)."""

    word: str = "activate"  # the trigger word
    feature_kind: str = FEATURE_KIND_LOG  # see features.FEATURE_KINDS
    n_train: int = 0  # examples in X.npy
    n_dev: int = 0  # examples in X_dev.npy
    seed: int | None = None  # generator seed (None: unknown, e.g. seed data)
    generator_version: str = ""  # version of model.data.synth that made it ("" if external)
    storage_dtype: str = "float16"  # dtype of X.npy / Y.npy on disk
    train_voices: list[str] = field(default_factory=list)  # voice ids heard in training
    dev_voices: list[str] = field(default_factory=list)  # voice ids only in the dev split
    config: dict[str, Any] = field(default_factory=dict)  # the synthesis config, as recorded
    created_utc: str = ""  # ISO time the dataset was written

    def to_json(self) -> str:
        """Serialise to pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DatasetMeta":
        """Parse meta.json text; unknown keys are ignored (newer generators)."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise DatasetError("meta.json must hold a JSON object")
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Dataset:
    """A loaded dataset: memory-mapped arrays plus metadata."""

    path: Path  # the folder
    x_train: np.ndarray  # (m, frames, values), memory-mapped (log power: (m, 5511, 101))
    y_train: np.ndarray  # (m, steps, 1), memory-mapped (log power: (m, 1375, 1))
    x_dev: np.ndarray | None  # (d, frames, values) or None when no dev split exists
    y_dev: np.ndarray | None  # (d, steps, 1) or None
    meta: DatasetMeta

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_dev(self) -> int:
        return 0 if self.x_dev is None else int(self.x_dev.shape[0])


def _open_npy(path: Path) -> np.ndarray:
    """Open one .npy memory-mapped, refusing pickles, with a one-line error."""
    if not path.is_file():
        raise DatasetError(f"missing file {path}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise DatasetError(f"{path} holds pickled objects; refusing to load it") from None
        raise DatasetError(f"{path} is not a valid .npy array: {err}") from None
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err}") from None


def expected_shapes(kind: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Per-example shapes of X and Y for a feature kind, from the registry.

    Args:
        kind: a name of FEATURE_KINDS.

    Returns:
        ((frames, values), (steps, 1)) of one 10 s clip: ((5511, 101), (1375, 1)) for the
        spectrogram kinds, ((116, 96), (116, 1)) for speech embeddings.
    """
    row = feature_kind(kind)
    return (row.frames.frames_for_audio(CLIP_SAMPLES), row.n_values), (row.timing.clip_steps, 1)


def _check_pair(x: np.ndarray, y: np.ndarray, name: str, kind: str = FEATURE_KIND_LOG) -> None:
    """Shapes (those of ``kind``), dtypes and counts of one X/Y pair."""
    for arr, what in ((x, "X"), (y, "Y")):
        if not np.issubdtype(arr.dtype, np.floating):
            raise DatasetError(f"{name} {what} has dtype {arr.dtype}; expected float16/32/64")
    (frames, values), (steps, _) = expected_shapes(kind)
    if x.ndim != 3 or x.shape[1:] != (frames, values):
        raise DatasetError(f"{name} X has shape {x.shape}; expected (m, {frames}, {values}) "
                           f"for {kind} features")
    if y.ndim != 3 or y.shape[1:] != (steps, 1):
        raise DatasetError(f"{name} Y has shape {y.shape}; expected (m, {steps}, 1) "
                           f"for {kind} features")
    if x.shape[0] != y.shape[0]:
        raise DatasetError(f"{name} X has {x.shape[0]} examples but Y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise DatasetError(f"{name} split is empty")


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise DatasetError if ``arr`` holds NaN or inf; reads in bounded chunks."""
    for start in range(0, arr.shape[0], _CHECK_CHUNK):
        if not np.isfinite(arr[start:start + _CHECK_CHUNK]).all():
            raise DatasetError(f"{name} contains NaN or infinite values "
                               f"(in examples {start}..{start + _CHECK_CHUNK - 1})")


def load_dataset(path: str | Path = DEFAULT_DATASET_DIR, check_values: bool = True) -> Dataset:
    """Open and validate a dataset folder.

    Args:
        path: the folder holding X.npy, Y.npy (and optionally the dev split, meta.json).
        check_values: scan every value for NaN/inf (reads the whole set once, in chunks).

    Returns:
        Dataset with memory-mapped arrays.

    Raises:
        DatasetError: missing folder or files, wrong shapes or dtypes, differing counts,
            pickled arrays, NaN/inf values, malformed meta.json.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder} does not exist; "
                           "make one with: python -m model make-data")
    meta = _read_meta(folder)
    x, y = _open_npy(folder / "X.npy"), _open_npy(folder / "Y.npy")
    _check_pair(x, y, "training", meta.feature_kind)
    x_dev = y_dev = None
    dev_dir = folder if (folder / "X_dev.npy").exists() else folder.parent / "XY_dev"
    if (dev_dir / "X_dev.npy").exists():
        x_dev, y_dev = _open_npy(dev_dir / "X_dev.npy"), _open_npy(dev_dir / "Y_dev.npy")
        _check_pair(x_dev, y_dev, "dev", meta.feature_kind)
    if check_values:
        for arr, name in ((x, "X.npy"), (y, "Y.npy"), (x_dev, "X_dev.npy"), (y_dev, "Y_dev.npy")):
            if arr is not None:
                check_finite(arr, name)
    meta.n_train, meta.n_dev = int(x.shape[0]), 0 if x_dev is None else int(x_dev.shape[0])
    return Dataset(folder, x, y, x_dev, y_dev, meta)


def _read_meta(folder: Path) -> DatasetMeta:
    """meta.json if present, else the seed's conventions (linear features)."""
    meta_path = folder / META_FILE
    if not meta_path.exists():
        return DatasetMeta(feature_kind=FEATURE_KIND_SEED, generator_version="",
                           storage_dtype="unknown")
    try:
        meta = DatasetMeta.from_json(meta_path.read_text())
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{meta_path} is malformed: {err}") from None
    if meta.feature_kind not in FEATURE_KINDS:
        raise DatasetError(f"{meta_path} names unknown feature kind {meta.feature_kind!r}")
    return meta
