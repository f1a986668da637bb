"""Batch-size sweep settings: typed, validated, stored as JSON with the sweep.

Whether AMP pays depends on the batch size (a small GRU batch is latency-bound, so
half precision has nothing to speed up). A *sweep* answers "from which batch size on?"
by running one ordinary comparison (see model/train/trial_config.py) per batch size, with
the same precisions, seeds, epochs and data, through the same job queue and store.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..data.dataset import Dataset
from ..errors import ConfigError
from .precision import check_precision, default_precisions
from .trial_config import (MAX_EPOCHS, MAX_REPEATS, ComparisonConfig, TrialConfig,
                           validate_comparison)

DEFAULT_BATCH_SIZES = [32, 64, 128, 256]
MAX_BATCH_SIZES = 16  # a longer sweep is more likely a typo than a plan
DEFAULT_SWEEP_EPOCHS = 2  # epoch 1 is compile/warm-up; 2 gives one steady epoch per run


@dataclass
class SweepConfig:
    """The same comparison at several batch sizes."""

    base: TrialConfig = field(default_factory=TrialConfig)  # the rest of each run's settings
    batch_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_BATCH_SIZES))  # per step
    precisions: list[str] = field(default_factory=list)  # empty: the device's default pair
    epochs: int = DEFAULT_SWEEP_EPOCHS  # per run; steady speed needs >= 2 (epoch 1 compiles)
    train_examples: int = 0  # cap on training examples per epoch (0: all); keeps sweeps short
    repeats: int = 1  # seeds base.seed, base.seed + 1, ... at every batch size
    name: str = ""  # free label shown in the dashboard

    def to_json(self) -> str:
        """Pretty JSON (stored in the sweeps table)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SweepConfig":
        """Inverse of to_json; unknown keys are ignored."""
        raw = json.loads(text)
        default = cls()
        return cls(base=TrialConfig.from_dict(raw.get("base", {})),
                   batch_sizes=[int(b) for b in raw.get("batch_sizes", default.batch_sizes)],
                   precisions=list(raw.get("precisions", [])),
                   epochs=int(raw.get("epochs", default.epochs)),
                   train_examples=int(raw.get("train_examples", 0)),
                   repeats=int(raw.get("repeats", 1)), name=str(raw.get("name", "")))

    def resolved_precisions(self) -> list[str]:
        """The precisions that will run (the device's default pair if none were chosen)."""
        return list(self.precisions) or default_precisions()

    def comparison_for(self, batch_size: int) -> ComparisonConfig:
        """The comparison this sweep runs at one batch size."""
        base = replace(self.base, batch_size=batch_size, epochs=self.epochs,
                       train_examples=self.train_examples)
        label = f"{self.name or 'sweep'} · batch {batch_size}"
        return ComparisonConfig(base=base, precisions=self.resolved_precisions(),
                                repeats=self.repeats, name=label)

    def comparisons(self) -> list[tuple[int, ComparisonConfig]]:
        """(batch size, comparison) pairs in run order: smallest batch first, so the first
        points of the chart arrive soonest."""
        return [(b, self.comparison_for(b)) for b in sorted(self.batch_sizes)]


def parse_batch_sizes(text: str) -> list[int]:
    """``"32, 64,256"`` -> [32, 64, 256] (order kept; duplicates are left to validation).

    Raises:
        ConfigError: an item is not a whole number.
    """
    out = []
    for item in text.replace(";", ",").replace(" ", ",").split(","):
        if not item.strip():
            continue
        try:
            out.append(int(item))
        except ValueError:
            raise ConfigError(f"batch sizes must be whole numbers separated by commas, "
                              f"got {item.strip()!r}") from None
    return out


def _check_whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number between {low} and {high}, "
                          f"got {value!r}")


def check_sweep_fields(cfg: SweepConfig) -> None:
    """Checks that need neither data nor a device; one-line ConfigError messages."""
    sizes = cfg.batch_sizes
    if not isinstance(sizes, list) or not sizes:
        raise ConfigError("a sweep needs at least one batch size")
    bad = [b for b in sizes if isinstance(b, bool) or not isinstance(b, int) or b < 1]
    if bad:
        raise ConfigError(f"batch sizes must be whole numbers of at least 1, got {bad[0]!r}")
    dups = sorted({b for b in sizes if sizes.count(b) > 1})
    if dups:
        raise ConfigError(f"batch sizes repeat {', '.join(map(str, dups))}; list each once")
    if len(sizes) > MAX_BATCH_SIZES:
        raise ConfigError(f"a sweep takes at most {MAX_BATCH_SIZES} batch sizes, "
                          f"got {len(sizes)}")
    _check_whole("epochs", cfg.epochs, 1, MAX_EPOCHS)
    _check_whole("repeats (seeds)", cfg.repeats, 1, MAX_REPEATS)
    _check_whole("training examples", cfg.train_examples, 0, 10**9)
    if not isinstance(cfg.precisions, list):
        raise ConfigError("precisions must be a list of names")
    for name in cfg.precisions:
        check_precision(name)
    if cfg.precisions and len(set(cfg.precisions)) < 2:
        raise ConfigError("a sweep needs at least two precisions (a reference such as fp32 "
                          "and an AMP one) to measure a speedup")


def validate_sweep(cfg: SweepConfig, check_values: bool = False) -> Dataset:
    """Validate a whole sweep before anything is stored or queued.

    Args:
        cfg: the sweep.
        check_values: also scan the dataset for NaN/inf (once, not per batch size).

    Returns:
        The opened (memory-mapped) dataset.

    Raises:
        ConfigError, DatasetError: one-line messages.
    """
    check_sweep_fields(cfg)
    # every other setting is checked as a comparison at batch 1, so the check below can
    # name every batch size that does not fit at once
    data = validate_comparison(cfg.comparison_for(1), check_values)
    n_train = min(cfg.train_examples or data.n_train, data.n_train)
    too_big = [b for b in sorted(cfg.batch_sizes) if b > n_train]
    if too_big:
        many = len(too_big) > 1
        raise ConfigError(f"batch size{'s' if many else ''} {', '.join(map(str, too_big))} "
                          f"{'are' if many else 'is'} larger than the {n_train} training "
                          f"examples used; add data or drop {'them' if many else 'it'}")
    return data
