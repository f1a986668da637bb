"""Detect page helpers without Streamlit: model list, spectrogram image, chart tables, CSV."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.audio.feature_kinds import SEED_TIMING, StepTiming
from model.audio.features import FEATURE_KIND_LOG, audio_to_features
from model.card import PRETRAINED_PATH, read_model_card, shipped_detector_path
from model.detect.detector import Detection
from model.detect.ensemble import member_paths
from model.detect.partners import model_files, partner_paths
from model.detect.timing import kind_timing, step_times, timing_label
from model.errors import LabError
from model.runs.store import RunStore

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]
SPECTROGRAM_MAX_S = 120.0  # only the first two minutes are drawn
MAX_COLUMNS = 1200  # spectrogram image width, time bins
MAX_CURVE_POINTS = 3000  # probability points drawn (peaks kept)
# a perceptually ordered colour ramp (viridis anchors), dark = quiet
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                 dtype=np.float32)


@dataclass
class ModelChoice:
    """A model the Detect page offers."""

    label: str  # shown in the picker
    spec: str  # what Detector() takes: "pretrained", a .keras path or a run id
    path: Path  # the .keras file (its mtime keys the cache)


def list_models(store: RunStore, extra: list[Path], limit: int = 50,
                candidates: list[Path] | None = None,
                personal: list[tuple[str, Path]] | None = None) -> list[ModelChoice]:
    """Personal models first (your own voice), then the pretrained model (if shipped), extra
    .keras files, candidate detectors, then finished runs, newest first.

    Args:
        store: the run store.
        extra: .keras files named by LAB_MODELS.
        limit: comparisons to look at, newest first.
        candidates: candidate detectors (bench/candidates/*.keras), labelled with their kind.
        personal: ("my model (<profile>)", path) of enrolled profiles (Enrol page).
    """
    out = [ModelChoice(label, str(path), path) for label, path in personal or [] if path.is_file()]
    shipped = shipped_detector_path()
    if shipped.is_file():
        out.append(ModelChoice(_pretrained_label(shipped), "pretrained", shipped))
    if shipped != PRETRAINED_PATH and PRETRAINED_PATH.is_file():  # the pair shipped before it
        out.append(ModelChoice(f"spectrogram pair ({_networks(PRETRAINED_PATH)}, shipped until "
                               "2026-11-30)", str(PRETRAINED_PATH), PRETRAINED_PATH))
    out += [ModelChoice(f"file {p.name}", str(p), p) for p in extra if p.is_file()]
    out += [ModelChoice(f"candidate {p.stem} ({read_model_card(p) or 'log-power-v1'})", str(p), p)
            for p in candidates or [] if p.is_file()]
    for comp in store.comparisons(limit=limit):
        for run in store.runs(comp.id):
            path = store.model_path(run.id) if run.status == "finished" else None
            if path is None:
                continue
            dev = run.summary.final_dev_loss if run.summary else None
            loss = f", dev loss {dev:.3f}" if dev is not None else ""
            out.append(ModelChoice(f"run {run.id} ({run.precision}, seed {run.seed}{loss})",
                                   run.id, path))
    return out


def model_version(path: Path) -> float:
    """Newest modification time of a model file, its members and partners (keys the page's
    caches)."""
    try:
        paths = model_files(path)
    except LabError:  # a broken card is reported when the model is loaded
        paths = [path]
    return max(p.stat().st_mtime for p in paths)


def _networks(path: Path, with_partners: bool = True) -> str:
    """"speech-embedding-v1", "mean of 2 networks" for an ensemble, and ", max with
    activate.keras (mean of 2 networks)" after it for a model with partners."""
    try:
        members = member_paths(path)
        partners = partner_paths(path) if with_partners else []
    except LabError:  # a broken card is reported when the model is loaded
        members, partners = [], []
    own = f"mean of {1 + len(members)} networks" if members else (read_model_card(path)
                                                                   or "log-power-v1")
    joined = "".join(f", max with {p.name} ({_networks(p, False)})" for p in partners)
    return own + joined


def _pretrained_label(path: Path) -> str:
    """The shipped detector's label: its features, or how many networks it averages."""
    return f"pretrained (shipped, {_networks(path)})"


def list_demo_clips(folders: list[Path]) -> list[Path]:
    """Audio files in the demo folders, sorted by name."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.suffix.lower().lstrip(".") in AUDIO_TYPES)
    return found


def _ramp(values: np.ndarray) -> np.ndarray:
    """0..1 values -> uint8 RGB through the colour ramp."""
    pos = np.clip(values, 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_RAMP) - 2)
    frac = (pos - lo)[..., None]
    return (_RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac).astype(np.uint8)


def features_to_image(features: np.ndarray, max_columns: int = MAX_COLUMNS) -> np.ndarray:
    """(frames, bins) features -> (bins*2, columns, 3) uint8 image, low frequencies at the bottom.

    Frames are averaged into at most ``max_columns`` columns; values are scaled between
    the 2nd and 99.5th percentile so quiet and loud clips both show detail.
    """
    frames = features.shape[0]
    cols = max(1, min(frames, max_columns))
    edges = np.linspace(0, frames, cols + 1).astype(int)
    pooled = np.add.reduceat(features, edges[:-1], axis=0) / np.diff(edges)[:, None]
    lo, hi = np.percentile(pooled, [2.0, 99.5])
    scaled = (pooled - lo) / max(hi - lo, 1e-6)
    img = _ramp(scaled.T[::-1])  # (bins, cols, 3), high bins first
    return np.repeat(img, 2, axis=0)


def spectrogram_image(samples: np.ndarray, sample_rate_hz: int
                      ) -> tuple[np.ndarray, float] | None:
    """The spectrogram of a clip's first SPECTROGRAM_MAX_S, drawn from samples already decoded.

    Args:
        samples: float32 mono samples (the page's one decode of the clip).
        sample_rate_hz: their sample rate, Hz.

    Returns:
        (uint8 RGB image, seconds drawn), or None for a clip under 50 ms.
    """
    rate = int(sample_rate_hz)
    head = np.asarray(samples, np.float32)[:int(SPECTROGRAM_MAX_S * rate)]
    if head.shape[0] < rate * 0.05:
        return None
    return features_to_image(audio_to_features(head, rate, FEATURE_KIND_LOG)), head.shape[0] / rate


def model_timing(path: Path) -> tuple[str, StepTiming]:
    """The feature kind a model's card names (log power without a card) and its step timing.

    An ensemble's members share the timing (the detector refuses them otherwise), so the
    model file's own card decides.
    """
    kind = read_model_card(path) or FEATURE_KIND_LOG
    return kind, kind_timing(kind)


def timing_note(kind: str, timing: StepTiming) -> str:
    """One line on how a model reads audio: its features, step length and hold-off."""
    return (f"Features {kind}: one step every {timing_label(timing)}; a detection holds off "
            f"the next for {timing.refractory_steps} steps "
            f"({timing.refractory_steps * timing.step_seconds:.2f} s) by default.")


def curve_frame(probs: np.ndarray, max_points: int = MAX_CURVE_POINTS,
                timing: StepTiming = SEED_TIMING) -> pd.DataFrame:
    """time_s, probability; long traces are max-pooled so peaks stay visible.

    Args:
        probs: (steps,) probabilities.
        max_points: most rows returned.
        timing: the model's step timing (each step's time, s).
    """
    probs = np.asarray(probs, dtype=np.float32).reshape(-1)
    n = probs.shape[0]
    if n > max_points:
        edges = np.linspace(0, n, max_points + 1).astype(int)
        return pd.DataFrame({"time_s": step_times(edges[:-1], timing),
                             "probability": np.maximum.reduceat(probs, edges[:-1])})
    return pd.DataFrame({"time_s": step_times(np.arange(n), timing), "probability": probs})


def detections_frame(found: list[Detection]) -> pd.DataFrame:
    """One row per detection: time (s) and peak probability."""
    return pd.DataFrame({"time_s": [round(d.time_s, 3) for d in found],
                         "score": [round(d.score, 4) for d in found]})


def probabilities_csv(probs: np.ndarray, timing: StepTiming = SEED_TIMING) -> str:
    """CSV text: step, time_s (the step's time on the model's grid), probability."""
    probs = np.asarray(probs, dtype=np.float32).reshape(-1)
    times = step_times(np.arange(probs.shape[0]), timing).tolist()
    lines = ["step,time_s,probability"]
    lines += [f"{i},{t:.5f},{p:.5f}" for i, (t, p) in enumerate(zip(times, probs.tolist()))]
    return "\n".join(lines) + "\n"


__all__ = ["ModelChoice", "list_models", "list_demo_clips", "features_to_image",
           "spectrogram_image", "model_timing", "timing_note", "curve_frame",
           "detections_frame", "probabilities_csv"]
