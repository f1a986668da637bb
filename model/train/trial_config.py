"""Trial and comparison settings: typed, validated, stored as JSON with every run.

A *trial* trains one model at one precision; a *comparison* runs the same trial at two
or more precisions, optionally repeated over seeds, with the precision order reversed
on every other repeat so slow machine drift favours none of them.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..card import DETECTOR_PATH, PRETRAINED_PATH, read_model_card
from ..data.dataset import DEFAULT_DATASET_DIR, Dataset, load_dataset
from ..errors import ConfigError
from .device import keras_backend
from .distributed import ParallelConfig, check_parallel
from .feed import PATH_MODES
from .kernels import GRU_KERNELS
from .metrics import DEFAULT_TARGET_FA_PER_HOUR
from .network import NETWORK_SEED, HeadConfig, NetworkConfig, network_family
from .precision import PRECISIONS, check_precision, default_precisions
from .specaug import SpecAugmentConfig, check_spec_augment

INITS = ("scratch", "pretrained")
LR_SCHEDULES = ("constant", "cosine")
MAX_EPOCHS = 1000
MAX_REPEATS = 100


@dataclass
class TrialConfig:
    """One training run."""

    precision: str = "fp32"  # one of precision.PRECISIONS
    batch_size: int = 64  # examples per step; <= training examples used
    epochs: int = 10  # passes over the training set, 1..1000
    learning_rate: float = 1e-3  # Adam step size (the first epoch's, under a schedule)
    lr_schedule: str = "constant"  # "constant", or "cosine": per-epoch cosine decay towards 0
    # "scratch" (random weights), "pretrained" (PRETRAINED_PATH) or a .keras file of the same
    # architecture (enrolment fine-tunes a chosen base model this way)
    init: str = "scratch"
    seed: int = 0  # weights, dropout and shuffling seed
    dataset: str = str(DEFAULT_DATASET_DIR)  # folder in the model/data/dataset.py layout
    train_examples: int = 0  # use only the first N training examples (0: all)
    dev_examples: int = 0  # score only the first N dev examples each epoch (0: all)
    dev_loss_target: float = 0.05  # "converged" once dev loss <= this (time-to-target)
    target_fa_per_hour: float = DEFAULT_TARGET_FA_PER_HOUR  # FA budget of the FRR metric
    save_model: bool = True  # save the trained model as runs/<run_id>/model.keras
    tensorboard: bool = True  # write TensorBoard scalars under runs/<run_id>/tb
    network: NetworkConfig = field(default_factory=NetworkConfig)  # seed network (spectrogram kinds)
    train_path: str = "auto"  # "auto": fastest correct feed/step path; "portable": host feed, sync steps
    # torch GRU kernel: "cudnn", "persistent" (the Triton kernel, model/train/gru_persistent.py)
    # or "auto" (persistent only where measured faster); cuDNN runs wherever the other cannot
    gru_kernel: str = "auto"
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # training masks (off)
    # the head trained instead of ``network`` when the dataset holds speech embeddings
    head: HeadConfig = field(default_factory=HeadConfig)
    # several GPUs: data-parallel ranks per run, or one run per GPU (model/train/distributed.py)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

    def network_for(self, kind: str) -> NetworkConfig | HeadConfig:
        """The architecture this trial trains on ``kind`` features (network or head)."""
        return self.network if network_family(kind) == NETWORK_SEED else self.head

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrialConfig":
        """Inverse of to_dict; unknown keys are ignored."""
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("network"), dict):
            net = known["network"]
            known["network"] = NetworkConfig(**{k: v for k, v in net.items()
                                                if k in NetworkConfig.__dataclass_fields__})
        if isinstance(known.get("head"), dict):
            known["head"] = HeadConfig(**{k: v for k, v in known["head"].items()
                                          if k in HeadConfig.__dataclass_fields__})
        if isinstance(known.get("parallel"), dict):
            known["parallel"] = ParallelConfig.from_dict(known["parallel"])
        if isinstance(known.get("spec_augment"), dict):
            aug = known["spec_augment"]
            known["spec_augment"] = SpecAugmentConfig(
                **{k: v for k, v in aug.items() if k in SpecAugmentConfig.__dataclass_fields__})
        return cls(**known)


@dataclass
class ComparisonConfig:
    """The same trial at several precisions, repeated over seeds."""

    base: TrialConfig = field(default_factory=TrialConfig)  # precision and seed are overridden
    precisions: list[str] = field(default_factory=list)  # empty: the device's default pair
    repeats: int = 1  # seeds base.seed, base.seed + 1, ...
    name: str = ""  # free label shown in the dashboard

    def to_json(self) -> str:
        """Pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ComparisonConfig":
        """Inverse of to_json."""
        raw = json.loads(text)
        return cls(base=TrialConfig.from_dict(raw.get("base", {})),
                   precisions=list(raw.get("precisions", [])),
                   repeats=int(raw.get("repeats", 1)), name=str(raw.get("name", "")))

    def trials(self) -> list[tuple[int, TrialConfig]]:
        """(repeat, trial) pairs in run order; the precision order flips every other repeat."""
        precisions = self.precisions or default_precisions()
        out = []
        for rep in range(self.repeats):
            order = precisions if rep % 2 == 0 else list(reversed(precisions))
            for prec in order:
                out.append((rep, replace(self.base, precision=prec, seed=self.base.seed + rep)))
        return out


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be {bound}, got {value}")


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def validate_trial_config(cfg: TrialConfig) -> None:
    """Check every field that needs no data; raise ConfigError with a one-line message."""
    check_precision(cfg.precision)
    _check_int("batch size", cfg.batch_size, 1)
    _check_int("epochs", cfg.epochs, 1, MAX_EPOCHS)
    _check_int("seed", cfg.seed, 0)
    _check_int("training examples", cfg.train_examples, 0)
    _check_int("dev examples", cfg.dev_examples, 0)
    _check_positive("learning rate", cfg.learning_rate)
    if cfg.learning_rate > 1.0:
        raise ConfigError(f"learning rate must be at most 1, got {cfg.learning_rate}")
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"unknown learning-rate schedule {cfg.lr_schedule!r}; "
                          f"choose {' or '.join(LR_SCHEDULES)}")
    _check_positive("dev-loss target", cfg.dev_loss_target)
    _check_positive("false accepts per hour", cfg.target_fa_per_hour)
    _check_int("Conv1D filters", cfg.network.conv_filters, 1, 4096)
    _check_int("GRU units", cfg.network.gru_units, 1, 4096)
    _check_dropout("dropout", cfg.network.dropout)
    _check_head(cfg.head)
    check_spec_augment(cfg.spec_augment)
    check_parallel(cfg.parallel, cfg.batch_size, keras_backend())
    if cfg.train_path not in PATH_MODES:
        raise ConfigError(f"unknown train path {cfg.train_path!r}; choose auto or portable")
    if cfg.gru_kernel not in GRU_KERNELS:
        raise ConfigError(f"unknown GRU kernel {cfg.gru_kernel!r}; choose {', '.join(GRU_KERNELS)}")
    if cfg.init not in INITS and not str(cfg.init).endswith(".keras"):
        raise ConfigError(f"unknown init {cfg.init!r}; choose scratch, pretrained or a .keras file")
    if cfg.init not in INITS and not Path(cfg.init).is_file():
        raise ConfigError(f"init model {cfg.init}: no such file")


def _check_dropout(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be in [0, 1), got {value!r}")


def _check_head(head: HeadConfig) -> None:
    """The head's settings (checked whatever the dataset: they are stored with every run)."""
    _check_int("head Dense units", head.dense_units, 1, 4096)
    _check_int("head GRU units", head.gru_units, 1, 4096)
    _check_dropout("head dropout", head.dropout)
    if not isinstance(head.layer_norm, bool):
        raise ConfigError(f"head layer norm must be true or false, got {head.layer_norm!r}")


def epoch_learning_rate(cfg: TrialConfig, epoch: int) -> float:
    """Adam's step size during ``epoch`` (1-based) under the trial's schedule.

    "cosine" follows lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2: the full rate in
    epoch 1, half of it midway, close to 0 in the last epoch. Stepping once per epoch
    keeps the rate a host-side number the lean step reads without any device sync.
    """
    if cfg.lr_schedule == "cosine":
        return cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / cfg.epochs))
    return cfg.learning_rate


def check_pretrained_network(network: NetworkConfig | HeadConfig, path: Path | None = None) -> None:
    """The shipped model must exist and have the trial's architecture (from its card).

    Raises:
        ConfigError: missing model, or settings that differ from its recorded network.
    """
    path = path or PRETRAINED_PATH
    if not path.is_file():
        raise ConfigError(f"no pretrained model shipped yet: {path} is missing; use init scratch")
    try:
        shipped = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["network"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no card to compare with: loading the weights will tell
    mine = asdict(network)
    diff = [f"{k} {mine.get(k)} (pretrained: {v})" for k, v in shipped.items()
            if k != "family" and mine.get(k) != v]  # "family" names the network, not a setting
    if diff:
        raise ConfigError("init pretrained needs the pretrained model's network; different: "
                          + ", ".join(diff))


def init_model_path(init: str, kind: str | None = None) -> Path | None:
    """The .keras file a trial starts from: None for scratch, else ``init`` itself (a path), or
    for "pretrained" the shipped model that reads ``kind``: the speech-embedding detector for
    embedding datasets, the spectrogram pair's log member otherwise."""
    if init == "scratch":
        return None
    if init != "pretrained":
        return Path(init)
    return DETECTOR_PATH if kind is not None and network_family(kind) != NETWORK_SEED else PRETRAINED_PATH


def check_against_dataset(cfg: TrialConfig, data: Dataset) -> None:
    """Settings that depend on the data: batch size, example limits, a dev split, SpecAugment
    on the kind's frames, the pretrained model's kind and network."""
    if cfg.init == "pretrained":  # "pretrained" names the shipped model that reads the data's kind
        check_pretrained_network(cfg.network_for(data.meta.feature_kind),
                                 init_model_path(cfg.init, data.meta.feature_kind))
    n_train = min(cfg.train_examples or data.n_train, data.n_train)
    if cfg.batch_size > n_train:
        raise ConfigError(f"batch size {cfg.batch_size} is larger than the {n_train} "
                          f"training examples in {data.path}")
    if data.n_dev == 0:
        raise ConfigError(f"dataset {data.path} has no dev split (X_dev.npy, Y_dev.npy); "
                          "a trial needs one to measure dev loss")
    _check_spec_augment_for(cfg.spec_augment, data)
    if cfg.init != "scratch":
        kind = read_model_card(init_model_path(cfg.init, data.meta.feature_kind))
        if kind is not None and kind != data.meta.feature_kind:
            raise ConfigError(f"init {cfg.init}: that model reads {kind} features, "
                              f"dataset {data.path} holds {data.meta.feature_kind}; "
                              "use init scratch")


def _check_spec_augment_for(aug: SpecAugmentConfig, data: Dataset) -> None:
    """SpecAugment masks spectrogram frames and bins: widths within the dataset's frames,
    and no masks at all on speech embeddings (their values are not frequency bands)."""
    kind = data.meta.feature_kind
    if aug.active and network_family(kind) != NETWORK_SEED:
        raise ConfigError(f"SpecAugment masks spectrogram bins; dataset {data.path} holds "
                          f"{kind} features: turn SpecAugment off")
    check_spec_augment(aug, int(data.x_train.shape[1]), int(data.x_train.shape[2]))


def validate_comparison(cfg: ComparisonConfig, check_values: bool = False) -> Dataset:
    """Validate a comparison and open its dataset, before anything is stored or trained.

    Args:
        cfg: the comparison.
        check_values: also scan the whole dataset for NaN/inf (reads it once).

    Returns:
        The opened (memory-mapped) dataset.

    Raises:
        ConfigError, DatasetError: one-line messages.
    """
    if not isinstance(cfg.precisions, list):
        raise ConfigError("precisions must be a list of names")
    for name in cfg.precisions:
        check_precision(name)
    if len(set(cfg.precisions)) != len(cfg.precisions):
        raise ConfigError(f"precisions list repeats a name: {', '.join(cfg.precisions)}")
    _check_int("repeats (seeds)", cfg.repeats, 1, MAX_REPEATS)
    validate_trial_config(replace(cfg.base, precision=(cfg.precisions or PRECISIONS)[0]))
    data = load_dataset(cfg.base.dataset, check_values=check_values)
    check_against_dataset(cfg.base, data)
    return data
