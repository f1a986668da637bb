"""What each split mixes from: voice families split train/dev, word banks, recordings.

Train and dev never share a voice family (an espeak accent+variant, or a band of the
neural voice's pitch shifts), so dev scores say something about unseen speakers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

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


def split_families(seed: int, dev_share: float) -> tuple[list[str], list[str]]:
    """Hold out ``dev_share`` of each engine's voice families for the dev split.

    Returns:
        (train families, dev families); each engine keeps at least one family on each side.
    """
    rng = np.random.default_rng([int(seed), _FAMILY_SALT])
    train, dev = [], []
    for engine in ENGINES:
        fams = voice_families(engine)
        order = rng.permutation(len(fams))
        n_dev = min(len(fams) - 1, max(1, int(round(dev_share * len(fams)))))
        dev += sorted(fams[i] for i in order[:n_dev])
        train += sorted(fams[i] for i in order[n_dev:])
    return train, dev


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
    """The word bank of one split: its families only, sized to its example count."""
    vocab, _ = weighted_vocabulary(cfg.word, cfg.near_miss_share)
    return BankConfig(
        word=cfg.word, other_words=vocab,
        n_trigger_clips=cfg.bank_trigger_clips or auto_clips,
        n_other_clips=cfg.bank_other_clips or auto_clips,
        neural_share=cfg.neural_share, seed=int(cfg.seed) * 2 + (split == "dev"),
        families=tuple(families))


def split_sources(cfg: SynthConfig, bank: WordBank | None, raw: RawData | None, split: str) -> Sources:
    """Clip pools of one split from its bank and (optionally) recordings."""
    recorded = getattr(raw, split) if raw is not None else None
    _, near_words = weighted_vocabulary(cfg.word, cfg.near_miss_share)
    empty = np.zeros(0, np.int64)
    if bank is not None:
        trig = bank.indices(True)
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
