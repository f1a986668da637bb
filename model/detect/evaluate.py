"""A model's detection quality on a dataset's dev split (voices training never heard).

:func:`evaluate_model` loads a model ("pretrained", a run ID or a .keras path, as
:mod:`model.detect.inference` resolves it), runs every dev clip through it in batches (the network
maps (batch, frames, values) features to (batch, steps, 1) probabilities: (5511, 101) to
1375 steps for spectrograms, (116, 96) to 116 for speech embeddings) and scores them with
:func:`model.detect.dev_scores.score_dev`, on the dataset's feature kind's step timing
(step times, hold-off, early tolerance; :mod:`model.detect.timing`): DET curve, FRR at 1 false accept per hour and its
threshold, latency from each detected word's end, false accepts per hour on clips without
the trigger word. The result is an :class:`EvalReport`, stored as ``report.json`` (and a
DET plot ``det.png``, drawn by :mod:`model.detect.det_plot`) in ``<model file>.eval/`` beside the
model by default: ``runs/<id>/model.eval/``, ``model/pretrained/activate.eval/``.

Compute only: no Streamlit, no plotting, and no TensorFlow, soundfile or librosa import
(Keras, on whatever backend KERAS_BACKEND names, is imported to load the model), so it runs
on a GPU machine with torch or JAX.
"""
from __future__ import annotations

import hashlib

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.dataset import DEFAULT_DATASET_DIR, Dataset, check_finite, load_dataset
from .dev_breakdown import ConditionRow, read_dev_conditions
from .dev_scores import (DetCurve, DevScores, LatencyStats, NegativeStats, read_dev_truth,
                         score_dev)
from .ensemble import model_members, predict_ensemble
from .partners import partner_notes
from .timing import kind_timing
from ..errors import DatasetError, LabError
from ..audio.features import FEATURE_KIND_LOG
from ..train.metrics import DEFAULT_TARGET_FA_PER_HOUR, DetectionMetrics

REPORT_FILE = "report.json"
PLOT_FILE = "det.png"
DEFAULT_BATCH = 16  # clips per predict call: 16 x 5511 x 101 float32 = 36 MB of input (log power)
ProgressFn = Callable[[int, int], None]  # (clips done, clips in all)


@dataclass
class EvalReport:
    """A model's quality on unseen voices, as stored in ``report.json``."""

    model: str  # the spec asked for: "pretrained", a run ID or a path
    model_path: str  # the .keras file evaluated
    model_mtime: float  # its modification time, s since the epoch (newer file: stale report)
    dataset: str  # dataset folder
    word: str  # trigger word (dataset meta)
    feature_kind: str  # feature kind (dataset meta)
    dev_voices: list[str]  # voice families only in the dev split (dataset meta)
    dataset_created_utc: str  # when the dataset was made (meta), "" if unknown
    scores: DevScores  # every figure (see model.detect.dev_scores)
    backend: str = ""  # Keras backend that ran the model
    seconds: float = 0.0  # wall time of the evaluation, s
    created_utc: str = ""  # when the report was made, ISO 8601
    notes: list[str] = field(default_factory=list)  # caveats worth showing
    model_sha256: str = ""  # content hash of the .keras file (survives copies and clones)
    members: dict[str, str] = field(default_factory=dict)  # member file name -> its SHA-256

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "EvalReport":
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        s = raw["scores"]
        scores = DevScores(**{**{k: s[k] for k in DevScores.__dataclass_fields__ if k in s},
                              "conditions": [ConditionRow(**c) for c in s.get("conditions", [])],
                              "det": DetCurve(**s["det"]),
                              "at_target": DetectionMetrics.from_dict(s["at_target"]),
                              "latency": LatencyStats(**s["latency"]),
                              "negatives": NegativeStats(**s["negatives"])})
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw and k != "scores"}
        return cls(scores=scores, **known)


def default_out_dir(model_path: str | Path) -> Path:
    """Where a model's report goes by default: ``<model file without .keras>.eval/`` beside
    it, like its model card (``runs/<id>/model.eval/``, ``model/pretrained/activate.eval/``)."""
    return Path(model_path).with_suffix(".eval")


def write_report(report: EvalReport, out_dir: str | Path) -> Path:
    """Write ``report.json`` into ``out_dir`` atomically (temp file, then rename).

    Returns:
        The path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    tmp = out / f".{REPORT_FILE}.{os.getpid()}-{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_report(out_dir: str | Path) -> EvalReport | None:
    """The report stored in ``out_dir``; None if there is none or it cannot be read."""
    try:
        raw = json.loads((Path(out_dir) / REPORT_FILE).read_text(encoding="utf-8"))
        return EvalReport.from_dict(raw)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def default_dataset(spec: str, store_path: str | Path | None = None,
                    fallback: str | Path = DEFAULT_DATASET_DIR) -> Path:
    """The dataset a model is evaluated on by default: a run's own training set (its
    dev split holds the voices it never heard), else ``fallback`` (XY_train)."""
    from .inference import PRETRAINED_SPEC

    text = str(spec).strip()
    if text == PRETRAINED_SPEC or "/" in text or Path(text).suffix or Path(text).is_file():
        return Path(fallback)
    try:
        from ..runs.store import DEFAULT_DB_PATH, RunStore

        db = Path(store_path) if store_path is not None else Path(DEFAULT_DB_PATH)
        if not db.is_file():
            return Path(fallback)
        store = RunStore(db)
        try:
            run = store.run(text)
        finally:
            store.close()
        return Path(run.config.dataset) if run is not None else Path(fallback)
    except Exception:  # noqa: BLE001 - the model lookup itself reports an unusable store
        return Path(fallback)


def open_dev_split(path: str | Path) -> Dataset:
    """Open a dataset and check its dev split (exists, finite values).

    Raises:
        DatasetError: missing folder or files, bad shapes, no dev split, NaN/inf.
    """
    data = load_dataset(path, check_values=False)  # scanning X.npy would read GBs for nothing
    if data.x_dev is None or data.y_dev is None:
        raise DatasetError(f"dataset {data.path} has no dev split (X_dev.npy, Y_dev.npy) "
                           "to evaluate on; make one with: python -m model make-data")
    check_finite(data.x_dev, "X_dev.npy")
    check_finite(data.y_dev, "Y_dev.npy")
    return data


def check_feature_kind(model_kind: str | None, data: Dataset, model_path: Path) -> list[str]:
    """Refuse a model trained on other features than the dataset's.

    Returns:
        Notes (the model has no card, so the match could not be checked).

    Raises:
        LabError: the model card names another feature kind.
    """
    if model_kind is None:
        return [f"{model_path.name} has no model card: assumed it was trained on "
                f"{data.meta.feature_kind} features, as the dataset holds"]
    if model_kind != data.meta.feature_kind:
        raise LabError(f"{model_path.name} was trained on {model_kind} features but dataset "
                       f"{data.path} holds {data.meta.feature_kind} features")
    return []


def predict_clips(keras_model: Any, x: np.ndarray, batch_size: int = DEFAULT_BATCH,
                  progress: ProgressFn | None = None) -> np.ndarray:
    """Probabilities of every clip, a batch at a time (bounded memory; float16 storage ok).

    Args:
        keras_model: maps (batch, frames, bins) to (batch, steps, 1).
        x: (clips, frames, bins) features, e.g. the memory-mapped X_dev.npy.
        batch_size: clips per predict call.
        progress: called with (done, total) after each batch.

    Returns:
        (clips, steps) float32 probabilities.
    """
    return predict_ensemble([(keras_model, FEATURE_KIND_LOG)], x, FEATURE_KIND_LOG, batch_size,
                            progress)  # one network, features fed as stored


def evaluate_model(spec: str, dataset: str | Path | None = None, threshold: float | None = None,
                   target_fa_per_hour: float = DEFAULT_TARGET_FA_PER_HOUR,
                   store_path: str | Path | None = None, batch_size: int = DEFAULT_BATCH,
                   progress: ProgressFn | None = None) -> EvalReport:
    """Evaluate a model on a dataset's dev split.

    Args:
        spec: "pretrained", a run ID or a .keras path.
        dataset: dataset folder; None: :func:`default_dataset`.
        threshold: threshold for latency and negatives; None: the one reaching the target.
        target_fa_per_hour: false-accept budget for the FRR, per hour.
        store_path: run store database for run IDs (default: the store's own).
        batch_size: clips per predict call.
        progress: ``progress(done, total)`` in clips.

    Returns:
        EvalReport (not written; see :func:`write_report`).

    Raises:
        LabError: unknown or unloadable model, dataset without a dev split, feature-kind
            mismatch, a model whose output does not match the labels, a bad threshold.
    """
    from .inference import load_keras_model, resolve_model_path
    from ..card import read_model_card

    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise LabError(f"threshold must be in (0, 1], got {threshold}")
    t0 = time.perf_counter()
    model_path = resolve_model_path(spec, store_path)
    data = open_dev_split(dataset if dataset is not None else default_dataset(spec, store_path))
    kind = read_model_card(model_path)
    notes = check_feature_kind(kind, data, model_path)
    members = model_members(model_path, kind or data.meta.feature_kind)
    models = [(load_keras_model(m.path), m.feature_kind) for m in members]
    probs = predict_ensemble(models, data.x_dev, data.meta.feature_kind, batch_size, progress)
    labels = np.asarray(data.y_dev, dtype=np.float32).reshape(data.y_dev.shape[0], -1)
    if probs.shape != labels.shape:
        raise LabError(f"{model_path.name} gives {probs.shape[1]} output steps per clip, the "
                       f"dev labels have {labels.shape[1]}")
    truth, truth_notes = read_dev_truth(data.path, labels)
    scores = score_dev(probs, labels, truth, threshold, target_fa_per_hour,
                       conditions=read_dev_conditions(data.path, probs.shape[0]),
                       timing=kind_timing(data.meta.feature_kind))
    return EvalReport(str(spec), str(model_path), model_path.stat().st_mtime, str(data.path),
                      data.meta.word, data.meta.feature_kind, list(data.meta.dev_voices),
                      data.meta.created_utc, scores, _backend(), time.perf_counter() - t0,
                      datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      notes + partner_notes(model_path) + truth_notes + _budget_notes(scores),
                      file_sha256(model_path),
                      {m.path.name: file_sha256(m.path) for m in members[1:]})


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (a model of a few MB: milliseconds)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _budget_notes(scores: DevScores) -> list[str]:
    """Caveats about the false-accept budget on a small dev set."""
    notes, hours = [], scores.hours
    if hours > 0 and 1.0 / hours > scores.at_target.target_fa_per_hour:
        notes.append(f"one false accept is {1.0 / hours:.2f} per hour on {hours:.3f} h of dev "
                     f"audio: the {scores.at_target.target_fa_per_hour:g}/h budget means none")
    if scores.at_target.n_triggers and scores.at_target.frr == 1.0 \
            and scores.at_target.n_found == 0:
        notes.append("no threshold detected any trigger word within the false-accept budget")
    return notes


def _backend() -> str:
    import keras

    return str(keras.backend.backend())
