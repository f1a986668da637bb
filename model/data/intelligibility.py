"""Does a recogniser trained on real voices hear the trigger word in a synthetic take?

pocketsphinx ships a US English acoustic model trained on real speech. In grammar mode it
must pick one word out of the trigger word and up to ``N_RIVALS`` similar words; a take
it does not hear as the trigger word is a weak training example (espeak's robotic takes
mostly fail, the natural voices mostly pass: ``bench/bench_intelligibility.py``).
``make-data --clear-triggers`` trains only on takes it hears; dev keeps every take, so
recipes stay comparable on the same kind of dev set.

The check is cached per word bank beside the bank file (``<bank>.heard-v1-<rivals>.npy``),
written atomically and rebuilt when unreadable. Checking costs ~25 ms a clip on one core.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import ConfigError
from .bank import WordBank
from .words import other_words_for

if TYPE_CHECKING:
    from .synth import SynthConfig

CHECK_VERSION = 1  # bump when the decoding below changes: old caches are ignored
N_RIVALS = 20  # similar words the trigger word competes with in the grammar
RATE_HZ = 16_000  # pocketsphinx's model rate
_PAD_S = 0.2  # silence around a take so the decoder sees its onset and end
INSTALL_HINT = "pip install pocketsphinx==5.1.1"


def _decoder():
    try:
        from pocketsphinx import Config, Decoder
    except ImportError:
        raise ConfigError(f"the intelligibility check needs pocketsphinx: {INSTALL_HINT}") from None
    return Decoder(Config(lm=None, logfn=os.devnull))


def rival_words(word: str, known: Callable[[str], bool], n: int = N_RIVALS) -> list[str]:
    """Words the trigger competes with: its near-misses first, then the most similar
    spellings among the common words; only words ``known`` to the dictionary.

    Args:
        word: the trigger word (lower case).
        known: tells whether the recogniser's dictionary has a word.
        n: how many rivals at most.

    Returns:
        Up to ``n`` distinct words, never the trigger itself.
    """
    common, near = other_words_for(word)
    by_spelling = sorted(common, key=lambda w: (-difflib.SequenceMatcher(None, word, w).ratio(), w))
    out: list[str] = []
    for w in [*near, *by_spelling]:
        if len(out) == n:
            break
        if w != word and w not in out and known(w):
            out.append(w)
    return out


class WordRecogniser:
    """pocketsphinx in grammar mode over ``word | rival | ...``."""

    def __init__(self, word: str, n_rivals: int = N_RIVALS):
        """Args:
            word: the trigger word.
            n_rivals: similar words it competes with.

        Raises:
            ConfigError: pocketsphinx missing, or the word not in its dictionary.
        """
        self.word = word.strip().lower()
        self._dec = _decoder()
        if not self._dec.lookup_word(self.word):
            raise ConfigError(f"pocketsphinx's dictionary has no pronunciation for {self.word!r}; "
                              "make the data without --clear-triggers")
        self.rivals = rival_words(self.word, lambda w: bool(self._dec.lookup_word(w)), n_rivals)
        grammar = "#JSGF V1.0;\ngrammar words;\npublic <w> = " + " | ".join([self.word, *self.rivals]) + " ;\n"
        self._dec.add_jsgf_string("words", grammar)
        self._dec.activate_search("words")

    def hear(self, clip: np.ndarray, rate_hz: int) -> str:
        """The grammar word the recogniser hears in one take ("" when it hears none).

        Args:
            clip: float mono audio, full scale 1.0.
            rate_hz: its sample rate, Hz.
        """
        import librosa

        audio = np.asarray(clip, np.float32)
        if rate_hz != RATE_HZ:
            audio = librosa.resample(audio, orig_sr=rate_hz, target_sr=RATE_HZ)
        pad = np.zeros(int(_PAD_S * RATE_HZ), np.int16)
        pcm = np.concatenate([pad, (np.clip(audio, -1, 1) * 32767).astype(np.int16), pad])
        self._dec.start_utt()
        self._dec.process_raw(pcm.tobytes(), full_utt=True)
        self._dec.end_utt()
        hyp = self._dec.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def hears_word(self, clip: np.ndarray, rate_hz: int) -> bool:
        """True when the take is heard as the trigger word (not a rival, not nothing)."""
        return self.hear(clip, rate_hz) == self.word

    def key(self) -> str:
        """8 hex digits naming the grammar (word and rivals) for cache files."""
        text = f"{CHECK_VERSION}|{self.word}|{','.join(self.rivals)}"
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def heard_mask(bank: WordBank, recogniser: WordRecogniser,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Per bank clip: True for trigger takes heard as the word, and for every other-word clip.

    Args:
        bank: the word bank.
        recogniser: a WordRecogniser for the bank's trigger word.
        progress: ``progress(done, total)`` over the trigger takes.

    Returns:
        bool array (len(bank),).
    """
    mask = np.ones(len(bank), bool)
    rows = bank.indices(True)
    for done, i in enumerate(rows, 1):
        pcm = bank.audio[bank.offsets[i]:bank.offsets[i + 1]].astype(np.float32) / 32767.0
        mask[i] = recogniser.hears_word(pcm, bank.rate_hz)
        if progress:
            progress(done, len(rows))
    return mask


def heard_path(bank_file: str | Path, recogniser_key: str) -> Path:
    """Cache file of a bank's check, beside the bank."""
    bank_file = Path(bank_file)
    return bank_file.with_name(f"{bank_file.stem}.heard-v{CHECK_VERSION}-{recogniser_key}.npy")


def _read_mask(path: Path, n: int) -> np.ndarray | None:
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return mask if mask.dtype == bool and mask.shape == (n,) else None


def attach_heard(bank: WordBank, bank_file: str | Path, word: str,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Set ``bank.heard`` from the cache beside ``bank_file``, checking (and caching) first
    where no readable cache exists.

    Returns:
        The mask (also stored on the bank).
    """
    rec = WordRecogniser(word)
    path = heard_path(bank_file, rec.key())
    mask = _read_mask(path, len(bank)) if path.is_file() else None
    if mask is None:
        mask = heard_mask(bank, rec, progress)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, mask)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    bank.heard = mask
    return mask


def heard_summary(bank: WordBank) -> dict[str, tuple[int, int]]:
    """Per engine (the family's prefix): (trigger takes heard, trigger takes) of a checked bank."""
    if bank.heard is None:
        return {}
    out: dict[str, tuple[int, int]] = {}
    for i in bank.indices(True):
        engine = bank.families[i].split(":")[0]
        heard, total = out.get(engine, (0, 0))
        out[engine] = (heard + int(bank.heard[i]), total + 1)
    return out


def check_train_takes(cfg: "SynthConfig", train_bank: Path | None,
                      progress: Callable[[str, int, int], None] | None = None) -> WordBank | None:
    """With ``cfg.clear_triggers``, check (or load the cached check of) the training bank so
    mixing workers read it from the cache.

    Args:
        cfg: the recipe.
        train_bank: the training split's bank file (None: recordings alone, nothing to check).
        progress: make-data's ``progress(stage, done, total)``; the stage is "intelligibility".

    Returns:
        The checked bank, or None when nothing was checked.
    """
    if not cfg.clear_triggers or train_bank is None:
        return None
    bank = WordBank.load(train_bank)
    report = (lambda d, t: progress("intelligibility", d, t)) if progress else None
    attach_heard(bank, train_bank, cfg.word, report)
    return bank
