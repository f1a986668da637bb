"""A word bank: text-to-speech clips synthesised once per dataset, then drawn by the mixer.

Synthesis is the slow, GPL, onnxruntime part of making data; mixing is numpy only. The
bank is a single ``.npz`` (no pickles): int16 clips concatenated at the engines' native
22.05 kHz (nothing above 11 kHz exists in them, and half the rate halves the file the GPU
machine must carry), with per-clip word, voice, family and trigger flag.
:meth:`WordBank.clip` returns 44.1 kHz float32.

Same :class:`BankConfig` -> same bytes, whatever the number of worker threads: each clip's
word, voice and noise seed are drawn up front from the config's seed, and every clip is a
pure function of them. :func:`build_or_load_bank` caches banks by a hash of the config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetError
from .speech import NATIVE_RATE_HZ, Voice, draw_voice, native_to_44k, normalize_word, speak_native

BANK_VERSION = 1  # bump when clip synthesis or the file layout changes: old caches are ignored
_ARRAYS = ("audio", "offsets", "words", "voices", "families", "is_trigger")


@dataclass
class BankConfig:
    """What goes into a word bank; hashed (with BANK_VERSION) to name its cache file."""

    word: str = "activate"  # the trigger word
    other_words: tuple[str, ...] = ()  # non-trigger vocabulary, drawn uniformly
    n_trigger_clips: int = 500  # clips of the trigger word
    n_other_clips: int = 500  # clips of other words
    neural_share: float = 0.5  # probability that a clip uses the neural (piper) voice
    seed: int = 0  # seeds every draw (words, voices, noise)
    families: tuple[str, ...] | None = None  # voice families to draw from; None = all
    kokoro_share: float = 0.0  # probability that a clip uses the Kokoro voice (neural_share splits the rest)

    def to_json(self) -> str:
        """The config as JSON (tuples become lists; families sorted: their order changes nothing).
        A zero kokoro_share is left out, so banks made before Kokoro keep their cache key."""
        d = dataclasses.asdict(self)
        d["other_words"] = list(self.other_words)
        d["families"] = None if self.families is None else sorted(self.families)
        if not self.kokoro_share:
            del d["kokoro_share"]
        return json.dumps(d, sort_keys=True)

    def key(self) -> str:
        """16 hex digits naming this config's bank in a cache."""
        text = json.dumps({"version": BANK_VERSION, "config": json.loads(self.to_json())}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(eq=False)  # arrays inside: compare fields explicitly
class WordBank:
    """Speech clips, one row per clip; clip ``i`` is ``audio[offsets[i]:offsets[i+1]]``."""

    audio: np.ndarray  # int16, every clip concatenated, at rate_hz
    offsets: np.ndarray  # int64 (n+1,): clip boundaries in audio
    words: list[str]  # word spoken in each clip
    voices: list[str]  # Voice.name of each clip
    families: list[str]  # Voice.family of each clip
    is_trigger: np.ndarray  # bool (n,): clip says the trigger word
    rate_hz: int = NATIVE_RATE_HZ  # storage rate; clip() returns 44.1 kHz
    config_json: str = ""  # BankConfig that built the bank, as JSON
    # per clip: a recogniser trained on real voices heard the trigger word (trigger takes) or
    # True (other words); None until intelligibility.attach_heard checks it. Not saved in the npz.
    heard: np.ndarray | None = field(default=None, repr=False)
    _family_array: np.ndarray | None = field(default=None, init=False, repr=False)  # cache for indices()

    def __len__(self) -> int:
        return len(self.words)

    def clip(self, i: int) -> np.ndarray:
        """Clip ``i`` as float32 mono at 44.1 kHz, peak PEAK_LEVEL."""
        pcm = self.audio[self.offsets[i]:self.offsets[i + 1]]
        return native_to_44k(pcm.astype(np.float32) / 32767.0)

    def indices(self, trigger: bool, families: set[str] | None = None) -> np.ndarray:
        """Sorted int64 indices of trigger (or other-word) clips, optionally of some families only."""
        mask = self.is_trigger == bool(trigger)
        if families is not None:
            if self._family_array is None:
                self._family_array = np.asarray(self.families, dtype=str)
            mask &= np.isin(self._family_array, sorted(families))
        return np.flatnonzero(mask).astype(np.int64)

    def save(self, path: str | Path) -> None:
        """Write the bank atomically as an uncompressed ``.npz`` (no pickled objects)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "audio": self.audio.astype(np.int16, copy=False),
            "offsets": self.offsets.astype(np.int64, copy=False),
            "words": np.asarray(self.words, dtype=str), "voices": np.asarray(self.voices, dtype=str),
            "families": np.asarray(self.families, dtype=str),
            "is_trigger": self.is_trigger.astype(bool, copy=False),
            "rate_hz": np.asarray(self.rate_hz, dtype=np.int64),
            "config_json": np.asarray(self.config_json, dtype=str),
            "version": np.asarray(BANK_VERSION, dtype=np.int64),
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def load(path: str | Path) -> WordBank:
        """Read a bank written by :meth:`save`.

        Raises:
            DatasetError: missing, unreadable, from another BANK_VERSION, or inconsistent.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["version"]) != BANK_VERSION:
                    raise DatasetError(f"{path}: word bank version {int(z['version'])}, expected {BANK_VERSION}")
                bank = WordBank(audio=z["audio"], offsets=z["offsets"], words=z["words"].tolist(),
                                voices=z["voices"].tolist(), families=z["families"].tolist(),
                                is_trigger=z["is_trigger"], rate_hz=int(z["rate_hz"]),
                                config_json=str(z["config_json"]))
        except DatasetError:
            raise
        # a damaged .npz raises BadZipFile (truncated file, CRC error), not an OSError
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise DatasetError(f"{path}: not a readable word bank ({type(err).__name__}: {err})") from None
        _validate(bank, path)
        return bank


def _validate(bank: WordBank, path: str | Path) -> None:
    n = len(bank.words)
    off = bank.offsets
    ok = (bank.audio.dtype == np.int16 and bank.audio.ndim == 1 and off.shape == (n + 1,)
          and len(bank.voices) == n and len(bank.families) == n and bank.is_trigger.shape == (n,)
          and (n == 0 or (off[0] == 0 and off[-1] == bank.audio.size and np.all(np.diff(off) > 0))))
    if not ok:
        raise DatasetError(f"{path}: inconsistent word bank (clip count, offsets or audio size)")


def plan_clips(config: BankConfig) -> list[tuple[str, Voice, int, bool]]:
    """Every clip's (word, Voice, noise seed, is_trigger), drawn from ``config.seed``: trigger
    clips first, then other words."""
    if config.n_trigger_clips < 0 or config.n_other_clips < 0:
        raise ConfigError("clip counts must be >= 0")
    if config.n_other_clips > 0 and not config.other_words:
        raise ConfigError("n_other_clips > 0 needs a non-empty other_words list")
    trigger = normalize_word(config.word)
    others = [normalize_word(w) for w in config.other_words]
    rng = np.random.default_rng(config.seed)
    plan = []
    for i in range(config.n_trigger_clips + config.n_other_clips):
        is_trigger = i < config.n_trigger_clips
        word = trigger if is_trigger else others[int(rng.integers(len(others)))]
        voice = draw_voice(rng, config.families, config.neural_share, config.kokoro_share)
        plan.append((word, voice, int(rng.integers(2 ** 31)), is_trigger))
    return plan


def build_bank(config: BankConfig, progress: Callable[[int, int], None] | None = None,
               workers: int = 2) -> WordBank:
    """Synthesise every clip of ``config``.

    Args:
        config: words, counts, neural and Kokoro shares, seed and families.
        progress: called as ``progress(done, total)`` from the calling thread.
        workers: threads; espeak calls take turns (one library state), neural calls (piper,
            Kokoro) run side by side in one onnxruntime session each. The result does not
            depend on it.

    Returns:
        the bank (deterministic for a config).

    Raises:
        ConfigError: bad counts, share or families; SpeechError: a word cannot be spoken.
    """
    plan = plan_clips(config)
    clips: list[np.ndarray | None] = [None] * len(plan)

    def one(i: int) -> np.ndarray:
        word, voice, seed, _ = plan[i]
        pcm = np.round(speak_native(word, voice, seed) * 32767.0)
        return pcm.astype(np.int16)

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        futures = {pool.submit(one, i): i for i in range(len(plan))}
        try:
            for done, fut in enumerate(as_completed(futures), start=1):
                clips[futures[fut]] = fut.result()
                if progress is not None:
                    progress(done, len(plan))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    lengths = np.asarray([c.size for c in clips], dtype=np.int64)
    return WordBank(
        audio=np.concatenate(clips) if clips else np.zeros(0, np.int16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        words=[p[0] for p in plan], voices=[p[1].name for p in plan],
        families=[p[1].family for p in plan], is_trigger=np.asarray([p[3] for p in plan], dtype=bool),
        config_json=config.to_json())


def bank_path(config: BankConfig, cache_dir: str | Path) -> Path:
    """Where :func:`build_or_load_bank` keeps ``config``'s bank."""
    return Path(cache_dir) / f"bank-{config.key()}.npz"


def build_or_load_bank(config: BankConfig, cache_dir: str | Path,
                       progress: Callable[[int, int], None] | None = None, workers: int = 2) -> WordBank:
    """Load ``config``'s bank from ``cache_dir`` if it is there, readable and built from
    ``config``; else (missing, damaged, foreign) build it and save it over the old file."""
    path = bank_path(config, cache_dir)
    if path.is_file():
        try:
            bank = WordBank.load(path)
            if bank.config_json == config.to_json():
                return bank
        except DatasetError:
            pass  # a damaged or foreign file: rebuild over it
    bank = build_bank(config, progress=progress, workers=workers)
    bank.save(path)
    return bank
