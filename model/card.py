"""A model's card: the small JSON file beside a ``.keras`` file that says how to feed it.

Training writes ``{"feature_kind": ...}`` beside every saved model; the shipped model's card
also holds its recommended threshold, its member networks and its evaluation history. Every
stage that saves, loads or fine-tunes a model reads the card through these functions, so the
card sits below training, the run store and detection (see docs/ARCHITECTURE.md).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .audio.features import FEATURE_KINDS
from .errors import LabError

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
# the seed network on log power (its card names a PCEN member): the AMP trials' --init pretrained,
# and the shipped detector until a speech-embedding detector ships beside it
PRETRAINED_PATH = PRETRAINED_DIR / "activate.keras"
# the shipped detector since 2026-11-30: a small head over frozen speech embeddings, which hears
# real voices where the spectrogram pair did not (the real-voices issue)
DETECTOR_PATH = PRETRAINED_DIR / "activate-embedding.keras"


def shipped_detector_path() -> Path:
    """The model the spec "pretrained" detects with: the speech-embedding detector when it is
    shipped, else the spectrogram pair (PRETRAINED_PATH; it may be missing too)."""
    return DETECTOR_PATH if DETECTOR_PATH.is_file() else PRETRAINED_PATH


def model_card_path(model_path: str | Path) -> Path:
    """The JSON file beside a model that records its feature kind (``model.json``)."""
    return Path(model_path).with_suffix(".json")


def write_model_card(model_path: str | Path, feature_kind: str) -> Path:
    """Record which features a model was trained on, next to the .keras file (atomic).

    Args:
        model_path: the .keras file.
        feature_kind: one of ``model.audio.features.FEATURE_KINDS``.

    Returns:
        Path of the card written.
    """
    if feature_kind not in FEATURE_KINDS:
        raise LabError(f"unknown feature kind {feature_kind!r}; expected one of {FEATURE_KINDS}")
    card = model_card_path(model_path)
    tmp = card.with_name(f".{card.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"feature_kind": feature_kind}) + "\n", encoding="utf-8")
    os.replace(tmp, card)
    return card


def read_model_card(model_path: str | Path) -> str | None:
    """Feature kind recorded beside ``model_path``, or None if there is no readable card."""
    card = model_card_path(model_path)
    if not card.is_file():
        return None
    try:
        kind = json.loads(card.read_text(encoding="utf-8")).get("feature_kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if kind in FEATURE_KINDS else None


def recommended_threshold(model_path: str | Path) -> float | None:
    """Detection threshold the model's card recommends (``"threshold"``), or None.

    A card written by training holds only the feature kind; the shipped model's card also
    holds the threshold its evaluation chose (its probabilities crowd near 1).
    """
    try:
        value = json.loads(model_card_path(model_path).read_text(encoding="utf-8")).get("threshold")
    except (OSError, ValueError, AttributeError):
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    return float(value) if ok else None


def listed_model_files(model_path: str | Path, key: str, limit: int, role: str,
                       other: bool = False) -> list[Path]:
    """The ``.keras`` files a model's card lists under ``key`` (members, partners), checked:
    each a plain file name in the model's folder that exists, at most ``limit`` of them.

    Args:
        model_path: the model whose card is read (no readable card: an empty list).
        key: the card's list, e.g. "members".
        limit: most entries allowed.
        role: how an entry is named in errors ("member", "partner").
        other: the model itself may not be listed.

    Raises:
        LabError: a list that is not one, too long, a bad entry or a missing file.
    """
    try:
        card = json.loads(model_card_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = card.get(key, []) if isinstance(card, dict) else []
    model = Path(model_path).name
    if not isinstance(names, list) or len(names) > limit:
        raise LabError(f"{model}: '{key}' must list at most {limit} files")
    folder, out = Path(model_path).parent, []
    for entry in names:
        if not isinstance(entry, str) or Path(entry).name != entry or not entry.endswith(".keras") \
                or (other and entry == model):
            raise LabError(f"{model}: {role} {entry!r} must be {'another' if other else 'a'} .keras "
                           "file name in the same folder")
        if not (folder / entry).is_file():
            raise LabError(f"{model}: {role} file {entry} is missing")
        out.append(folder / entry)
    return out
