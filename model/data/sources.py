"""What each split mixes from: voice families split train/dev, word banks, recordings.

Train and dev never share a voice family (an espeak accent+variant, a pitch shift of the
neural voice, a Kokoro blend), so dev scores say something about unseen speakers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from .bank import BankConfig, WordBank
from .rawdata import RawData
from .speech import ENGINES, voice_families
from .synth import Sources, SynthConfig
from .words import other_words_for

_FAMILY_SALT = 7919  # keeps the family split's draws apart from the examples'


@dataclass
class ClipPool:
    """A sequence of float32 44.1 kHz clips: some bank rows, then some recordings.

    Bank clips are decoded on access (int16 at the engine's rate -> float32 44.1 kHz),
    so a worker holds the compact bank, not a float copy of every clip.
    """

    bank: WordBank | None  # the split's bank (None: recordings only)
    rows: np.ndarray  # bank row of each bank clip
    recorded: Sequence[np.ndarray] = ()  # user recordings, float32 44.1 kHz

    def __len__(self) -> int:
        return len(self.rows) + len(self.recorded)

    def __getitem__(self, i: int) -> np.ndarray:
        i = int(i)
        if i < 0:
            i += len(self)
        if i < len(self.rows):
            return self.bank.clip(int(self.rows[i]))
        return self.recorded[i - len(self.rows)]

    def label(self, i: int) -> str:
        """Voice family of clip ``i`` ("recorded" for a user recording)."""
        i = int(i) + (len(self) if int(i) < 0 else 0)
        return self.bank.families[int(self.rows[i])] if i < len(self.rows) else "recorded"


def _engine_probabilities(neural_share: float, kokoro_share: float) -> dict[str, float]:
    """Probability that a bank clip is spoken by each engine (see speech.draw_voice)."""
    rest = 1.0 - kokoro_share
    return {"espeak": rest * (1.0 - neural_share), "piper": rest * neural_share, "kokoro": kokoro_share}


def check_dev_engines(dev_engines: Sequence[str], neural_share: float | None = None,
                      kokoro_share: float = 0.0) -> tuple[str, ...]:
    """Validate engines to hold out of training whole; returns them sorted, without repeats.

    Args:
        dev_engines: engine names (each one of ENGINES).
        neural_share: the recipe's piper share, when banks will be drawn: with an engine
            held out, the shares must draw both a held-out engine (for dev) and another
            one (for training).
        kokoro_share: the recipe's Kokoro share (Kokoro is drawn only when it is above 0).

    Raises:
        ConfigError (one line): an unknown engine, every drawn engine held out, or shares
            that leave one side without a voice.
    """
    held = tuple(sorted({str(e).strip() for e in dev_engines if str(e).strip()}))
    unknown = [e for e in held if e not in ENGINES]
    if unknown:
        raise ConfigError(f"unknown engine {unknown[0]!r} in dev engines; choose from {', '.join(ENGINES)}")
    drawn = {"espeak", "piper"} | ({"kokoro"} if kokoro_share > 0 else set())
    if held and drawn <= set(held):
        raise ConfigError(f"dev engines hold out every engine ({', '.join(held)}): "
                          "training would have no voice")
    if neural_share is None or not held:
        return held
    prob = _engine_probabilities(neural_share, kokoro_share)
    dev_p, train_p = sum(prob[e] for e in held), sum(p for e, p in prob.items() if e not in held)
    if dev_p > 0 and train_p > 0:
        return held
    if kokoro_share == 0 and "kokoro" not in held:
        # banks draw piper with probability neural_share: at 0 or 1 one engine is never drawn,
        # so either training asks only for held-out voices or dev never hears the held-out engine
        raise ConfigError(f"dev engines {', '.join(held)} need a neural share strictly between 0 and 1 "
                          f"(got {neural_share}): one side would have no voice of its engines")
    side = "dev" if dev_p == 0 else "training"
    raise ConfigError(f"dev engines {', '.join(held)} with neural share {neural_share} and kokoro "
                      f"share {kokoro_share}: {side} would draw no voice of its engines")


def split_families(seed: int, dev_share: float, dev_engines: Sequence[str] = (),
                   kokoro: bool = False) -> tuple[list[str], list[str]]:
    """Hold out ``dev_share`` of each engine's voice families for the dev split.

    Args:
        seed: the dataset seed.
        dev_share: share of each engine's families that goes to dev.
        dev_engines: engines held out whole: all their families go to dev, none to train
            (a model trained without them is then measured on voices of an unseen engine).
        kokoro: include Kokoro's families (a recipe with a Kokoro share above 0); they are
            also included when Kokoro is held out. Without them the split is the one made
            before Kokoro existed.

    Returns:
        (train families, dev families); each engine split (not held out) keeps at least one
        family on each side.

    Raises:
        ConfigError: an unknown engine, or every engine held out.
    """
    held = check_dev_engines(dev_engines, kokoro_share=1.0 if kokoro else 0.0)
    rng = np.random.default_rng([int(seed), _FAMILY_SALT])
    train, dev = [], []
    for engine in ENGINES:
        fams = voice_families(engine)
        # drawn even for a held-out engine, so the other engines' split stays the default one
        # (Kokoro comes last: its draw cannot move the others')
        order = rng.permutation(len(fams))
        if engine == "kokoro" and not (kokoro or engine in held):
            continue
        if engine in held:
            dev += sorted(fams)
            continue
        n_dev = min(len(fams) - 1, max(1, int(round(dev_share * len(fams)))))
        dev += sorted(fams[i] for i in order[:n_dev])
        train += sorted(fams[i] for i in order[n_dev:])
    return train, dev


def split_shares(neural_share: float, kokoro_share: float, engines: set[str]) -> tuple[float, float]:
    """(neural share, Kokoro share) for a bank whose families belong to ``engines`` only: each
    engine keeps its recipe probability, renormalised over those present. Shares are returned
    unchanged where nothing is missing, so default banks keep their bytes.
    """
    if not engines:
        return neural_share, 0.0
    if "kokoro" not in engines:
        kokoro_share = 0.0
    elif not engines & {"espeak", "piper"}:
        return neural_share, 1.0
    if engines >= {"espeak", "piper"}:
        return neural_share, kokoro_share
    one = "espeak" if "espeak" in engines else "piper"
    if kokoro_share > 0:
        prob = _engine_probabilities(neural_share, kokoro_share)
        total = prob[one] + prob["kokoro"]
        kokoro_share = prob["kokoro"] / total if total > 0 else 1.0
    return (0.0 if one == "espeak" else 1.0), kokoro_share


def weighted_vocabulary(word: str, near_share: float) -> tuple[tuple[str, ...], set[str]]:
    """Other-word list for the bank, near-misses repeated so they make up ~``near_share``.

    Returns:
        (vocabulary with repeats, the set of near-miss words).
    """
    common, near = other_words_for(word)
    if not near or near_share <= 0:
        return tuple(common), set()
    repeat = max(1, int(round(near_share * len(common) / ((1 - near_share) * len(near)))))
    return tuple(common) + tuple(near) * repeat, set(near)


def bank_config_for(cfg: SynthConfig, split: str, families: list[str], n_examples: int,
                    auto_clips: int) -> BankConfig:
    """The word bank of one split: its families only, sized to its example count.

    A split lacking an engine (one held out by dev engines) draws only the engines it has
    (:func:`split_shares`): the recipe's shares would otherwise ask for voices the split
    does not have. With every engine present (always, by default) the shares stay.
    """
    vocab, _ = weighted_vocabulary(cfg.word, cfg.near_miss_share)
    engines = {f.split(":", 1)[0] for f in families}
    neural_share, kokoro_share = split_shares(cfg.neural_share, cfg.kokoro_share, engines)
    return BankConfig(
        word=cfg.word, other_words=vocab,
        n_trigger_clips=cfg.bank_trigger_clips or auto_clips,
        n_other_clips=cfg.bank_other_clips or auto_clips,
        neural_share=neural_share, seed=int(cfg.seed) * 2 + (split == "dev"),
        families=tuple(families), kokoro_share=kokoro_share)


def _train_triggers(cfg: SynthConfig, bank: WordBank) -> np.ndarray:
    """The training split's trigger rows: all of them, or with clear_triggers the ones the
    recogniser heard (bank.heard, set by intelligibility.attach_heard)."""
    trig = bank.indices(True)
    if not cfg.clear_triggers or not len(trig):
        return trig
    if bank.heard is None:
        raise DatasetError("clear_triggers is set but the word bank's takes were not checked")
    kept = trig[bank.heard[trig]]
    if not len(kept):
        raise ConfigError(f"no trigger take of {cfg.word!r} was heard as the word by the "
                          "intelligibility check; make the data without --clear-triggers")
    return kept


def split_sources(cfg: SynthConfig, bank: WordBank | None, raw: RawData | None, split: str) -> Sources:
    """Clip pools of one split from its bank and (optionally) recordings."""
    recorded = getattr(raw, split) if raw is not None else None
    _, near_words = weighted_vocabulary(cfg.word, cfg.near_miss_share)
    empty = np.zeros(0, np.int64)
    if bank is not None:
        trig = _train_triggers(cfg, bank) if split == "train" else bank.indices(True)
        other = bank.indices(False)
        is_near = np.isin(np.asarray(bank.words, dtype=str)[other], sorted(near_words)) if len(other) else \
            np.zeros(0, bool)
        common_rows, near_rows = other[~is_near], other[is_near]
    else:
        trig = common_rows = near_rows = other = empty
    acts = recorded.activates if recorded else ()
    negs = recorded.negatives if recorded else ()
    return Sources(
        triggers=ClipPool(bank, trig, acts),
        others=ClipPool(bank, common_rows, negs),
        near_misses=ClipPool(bank, near_rows),
        babble=ClipPool(bank, other, negs),
        backgrounds=list(recorded.backgrounds) if recorded else [])
