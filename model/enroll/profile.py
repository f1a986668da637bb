"""A profile folder: one person's takes of one word, on disk so a refresh loses nothing.

Layout (``profiles/<word>-<name>/``)::

    profile.json     Profile as JSON (word, name, take reports, check limits)
    takes/NN.wav     the takes as recorded (16-bit, 44.1 kHz mono), numbered from 01
    dataset/         the personal dataset (standard layout, written by personal.py)
    my-model.keras   the fine-tuned detector, with my-model.json (its card) beside it
    enroll.json      what the last enrolment measured (before/after, threshold)

Every file is written to a temporary name and renamed.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..audio.features import SAMPLE_RATE_HZ
from ..audio.files import write_wav_atomic
from ..errors import ConfigError
from .takes import TakeCheckConfig, TakeReport, check_take, load_take

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PROFILES_DIR = ROOT / "profiles"
PROFILE_FILE = "profile.json"
MODEL_FILE = "my-model.keras"
RESULT_FILE = "enroll.json"
MIN_TAKES = 2  # fewer good takes cannot be split into training and a check
MAX_TAKES = 10  # more adds little and costs minutes of data making
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_WORD_RE = re.compile(r"^[a-z][a-z' -]{0,38}[a-z]$|^[a-z]$")


@dataclass
class Profile:
    """profile.json: whose takes of which word, and what checking them found."""

    word: str  # the trigger word, lower case
    name: str  # the speaker's label (folder-safe)
    created_utc: str = ""  # ISO time the profile was made
    takes: list[dict] = field(default_factory=list)  # TakeReport dicts + "file", in take order
    checks: dict = field(default_factory=lambda: asdict(TakeCheckConfig()))  # limits used

    def to_json(self) -> str:
        """Pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Profile":
        """Inverse of to_json (unknown keys ignored)."""
        raw = json.loads(text)
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


def check_word(word: str) -> str:
    """The trigger word, normalised; ConfigError (one line) when empty or not a word."""
    text = " ".join(str(word or "").strip().lower().split())
    if not text:
        raise ConfigError("the word is empty: say which word to enrol (e.g. --word activate)")
    if not _WORD_RE.match(text):
        raise ConfigError(f"{word!r} is not a word: use letters only (a short phrase at most)")
    return text


def check_name(name: str) -> str:
    """A folder-safe speaker name (default "me"); ConfigError when it has other characters."""
    text = str(name or "me").strip().lower().replace(" ", "-")
    if not _NAME_RE.match(text):
        raise ConfigError(f"name {name!r}: use up to 32 letters, digits, '-' or '_'")
    return text


def profile_dir(word: str, name: str, root: str | Path = DEFAULT_PROFILES_DIR) -> Path:
    """The folder of a word + name profile (not created)."""
    return Path(root) / f"{check_word(word).replace(' ', '_')}-{check_name(name)}"


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary name in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_profile(word: str, name: str, root: str | Path = DEFAULT_PROFILES_DIR,
                 create: bool = True) -> tuple[Path, Profile]:
    """Read (or start) a profile.

    Returns:
        (folder, profile); a new profile is written at once when ``create``.
    """
    folder = profile_dir(word, name, root)
    path = folder / PROFILE_FILE
    if path.is_file():
        return folder, Profile.from_json(path.read_text(encoding="utf-8"))
    from datetime import datetime, timezone
    prof = Profile(check_word(word), check_name(name),
                   datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if create:
        save_profile(folder, prof)
    return folder, prof


def save_profile(folder: Path, prof: Profile) -> None:
    """Write profile.json atomically."""
    write_text_atomic(Path(folder) / PROFILE_FILE, prof.to_json())


def take_files(folder: Path) -> list[Path]:
    """The take WAVs of a profile, in number order."""
    return sorted((Path(folder) / "takes").glob("[0-9][0-9].wav"))


def add_take(folder: Path, prof: Profile, source: str | Path | bytes, label: str = ""
             ) -> TakeReport:
    """Check a take and, if usable, store it as the next ``takes/NN.wav``.

    Args:
        folder: the profile folder.
        prof: its profile (updated and saved).
        source: path or bytes of the recording.
        label: how to call it in messages.

    Returns:
        The take's report (``ok`` False: nothing was stored; the message says why).
    """
    from .takes import TakeReport as _Report
    cfg = TakeCheckConfig(**{k: v for k, v in prof.checks.items()
                             if k in TakeCheckConfig.__dataclass_fields__})
    name = label or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "take")
    if len(take_files(folder)) >= MAX_TAKES:
        return _Report(name, False, f"{name}: already {MAX_TAKES} takes; delete one first",
                       0.0, (0.0, 0.0), -200.0)
    try:
        audio = load_take(source, name, cfg)
    except Exception as err:  # noqa: BLE001 - AudioError and decoder surprises: one line
        return _Report(name, False, str(err).splitlines()[0], 0.0, (0.0, 0.0), -200.0)
    report, trimmed = check_take(audio, name, cfg)
    if trimmed is None:
        return report
    used = {int(p.stem) for p in take_files(folder)}
    number = next(i for i in range(1, 100) if i not in used)
    dest = Path(folder) / "takes" / f"{number:02d}.wav"
    write_wav_atomic(dest, audio, SAMPLE_RATE_HZ)
    prof.takes = [t for t in prof.takes if t.get("file") != dest.name]
    prof.takes.append({**report.to_dict(), "file": dest.name})
    prof.takes.sort(key=lambda t: t["file"])
    save_profile(folder, prof)
    return report


def delete_take(folder: Path, prof: Profile, file_name: str) -> None:
    """Remove ``takes/<file_name>`` and its entry (no error if it is already gone)."""
    (Path(folder) / "takes" / Path(file_name).name).unlink(missing_ok=True)
    prof.takes = [t for t in prof.takes if t.get("file") != Path(file_name).name]
    save_profile(folder, prof)


def good_takes(folder: Path, prof: Profile) -> list[tuple[str, np.ndarray]]:
    """(file name, trimmed audio) of every stored take that passes its checks, in order.

    Raises:
        ConfigError: fewer than MIN_TAKES good takes (one line naming how many).
    """
    cfg = TakeCheckConfig(**{k: v for k, v in prof.checks.items()
                             if k in TakeCheckConfig.__dataclass_fields__})
    out = []
    for path in take_files(folder):
        report, trimmed = check_take(load_take(path, path.name, cfg), path.name, cfg)
        if trimmed is not None:
            out.append((path.name, trimmed))
    if len(out) < MIN_TAKES:
        raise ConfigError(f"{len(out)} good take{'s' if len(out) != 1 else ''} of "
                          f"{prof.word!r}; enrolment needs at least {MIN_TAKES}")
    return out[:MAX_TAKES]
