"""Bring-your-own recordings laid out like the seed's raw_data folder.

    raw_data/
      activates/    WAV files, each one spoken trigger word (trimmed or not)
      negatives/    WAV files, each one other word
      backgrounds/  WAV files, background sound of any length (10 s in the seed)

Recordings are resampled to 44.1 kHz mono. Files are split between train and dev by
a hash of their name (not by a random draw), so adding files never moves old ones.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio.files import read_audio
from ..errors import AudioError, DatasetError
from ..audio.features import CLIP_SECONDS, to_mono_44k

ROLES = ("activates", "negatives", "backgrounds")
_DEV_MODULUS = 5  # one file in five (by name hash) goes to dev, when a role has >= 5 files
_WAV_SUFFIXES = (".wav", ".wave")


@dataclass
class RawSplit:
    """Recordings of one split, float32 mono 44.1 kHz."""

    activates: list[np.ndarray] = field(default_factory=list)  # trigger words
    negatives: list[np.ndarray] = field(default_factory=list)  # other words
    backgrounds: list[np.ndarray] = field(default_factory=list)  # backgrounds


@dataclass
class RawData:
    """A loaded raw_data folder."""

    folder: Path  # where it came from
    train: RawSplit  # recordings for training
    dev: RawSplit  # recordings for the dev split
    files: dict[str, list[str]]  # role -> file names read, for meta.json
    dev_disjoint: bool  # False when a role had too few files to hold any out


def is_dev_file(name: str) -> bool:
    """Deterministic train/dev assignment of a recording by its file name."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % _DEV_MODULUS == 0


def _read_role(folder: Path, role: str, max_seconds: float | None) -> list[tuple[str, np.ndarray]]:
    """Read every WAV in folder/role; any other file or a bad WAV is a one-line error."""
    sub = folder / role
    if not sub.is_dir():
        raise DatasetError(f"raw data folder {folder} has no {role}/ folder")
    clips = []
    for path in sorted(p for p in sub.iterdir() if not p.name.startswith(".")):
        if path.is_dir():
            continue
        if path.suffix.lower() not in _WAV_SUFFIXES:
            raise DatasetError(f"{path} is not a WAV file (raw data must be .wav)")
        try:
            audio, sr = read_audio(path)
        except AudioError as err:
            raise DatasetError(str(err)) from None
        if max_seconds is not None and len(audio) / sr > max_seconds:
            raise DatasetError(f"{path} lasts {len(audio) / sr:.1f} s, longer than the "
                               f"{max_seconds:.0f} s clip")
        clips.append((path.name, to_mono_44k(audio, sr)))
    if not clips:
        raise DatasetError(f"{sub} holds no WAV files")
    return clips


def load_raw_data(folder: str | Path, roles: tuple[str, ...] = ROLES) -> RawData:
    """Load and validate a raw_data folder.

    Args:
        folder: path of the folder.
        roles: sub-folders that must exist and hold at least one WAV.

    Returns:
        RawData with recordings split into train and dev.

    Raises:
        DatasetError: missing folder or sub-folder, no WAVs, a non-WAV file, a corrupt
            WAV, or a word recording longer than the 10 s clip.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"raw data folder {root} does not exist")
    train, dev, files, disjoint = RawSplit(), RawSplit(), {}, True
    for role in roles:
        limit = None if role == "backgrounds" else CLIP_SECONDS
        clips = _read_role(root, role, limit)
        files[role] = [name for name, _ in clips]
        held = [c for n, c in clips if is_dev_file(n)] if len(clips) >= _DEV_MODULUS else []
        kept = [c for n, c in clips if not (len(clips) >= _DEV_MODULUS and is_dev_file(n))]
        if not held or not kept:
            held, kept, disjoint = [c for _, c in clips], [c for _, c in clips], False
        getattr(train, role).extend(kept)
        getattr(dev, role).extend(held)
    return RawData(root, train, dev, files, disjoint)
