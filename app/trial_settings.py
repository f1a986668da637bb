"""Trial settings: the seed's presets and the form values -> ComparisonConfig (no Streamlit)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from model.train.distributed import ParallelConfig
from model.train.network import NetworkConfig
from model.train.precision import in_table_order
from model.train.specaug import PRESET as SPEC_PRESET
from model.train.specaug import SpecAugmentConfig
from model.train.trial_config import ComparisonConfig, TrialConfig
from model.card import PRETRAINED_PATH


@dataclass
class Preset:
    """One of the seed notebook's trials (each run with AMP on and off)."""

    label: str  # shown in the preset picker
    init: str  # "scratch" or "pretrained"
    batch_size: int  # examples per step
    epochs: int = 10  # passes over the training set


PRESETS = [Preset("Trial 1: scratch, batch 64, 10 epochs (AMP on and off)", "scratch", 64),
           Preset("Trial 2: scratch, batch 32, 10 epochs (AMP on and off)", "scratch", 32),
           Preset("Trial 3: pretrained, batch 64, 10 epochs (AMP on and off)", "pretrained", 64)]
CUSTOM = "Custom"


@dataclass
class FormValues:
    """What the settings widgets hold (plain values, so tests can build them)."""

    precisions: list[str]  # chosen precisions, in PRECISIONS order
    batch_size: int = 64  # examples per step
    epochs: int = 10  # passes
    learning_rate: float = 1e-3  # Adam step size
    init: str = "scratch"  # scratch or pretrained
    seed: int = 0  # first seed
    repeats: int = 1  # seeds
    name: str = ""  # label
    dataset: str = ""  # dataset folder
    train_examples: int = 0  # 0: all
    dev_examples: int = 0  # 0: all
    dev_loss_target: float = 0.05  # time-to-target threshold
    network: NetworkConfig = field(default_factory=NetworkConfig)  # architecture
    spec_augment: bool = False  # SpecAugment-style masking with model.train.specaug.PRESET
    lr_schedule: str = "constant"  # model.train.trial_config.LR_SCHEDULES
    gpus: int = 1  # GPUs to use, 1..found
    placement: str = "data-parallel"  # model.train.distributed.PLACEMENTS


def pretrained_available() -> tuple[bool, str]:
    """(True, "") if the shipped pretrained model exists, else (False, why not)."""
    if PRETRAINED_PATH.is_file():
        return True, ""
    return False, f"no pretrained model shipped yet ({PRETRAINED_PATH.name} is missing)"


def preset_values(preset: Preset, amp: str) -> dict[str, object]:
    """Widget values for a preset: FP32 and the device's AMP precision, its batch/epochs/init."""
    return {"precisions": ["fp32", amp], "batch_size": preset.batch_size,
            "epochs": preset.epochs, "init": preset.init, "learning_rate": 1e-3}


def form_to_comparison(values: FormValues) -> ComparisonConfig:
    """Build the comparison the Start button launches (validated by the runner).

    Args:
        values: the settings widgets' values.

    Returns:
        The comparison, its precisions in table order.

    Raises:
        ConfigError: an unknown precision name.
    """
    base = TrialConfig(batch_size=int(values.batch_size), epochs=int(values.epochs),
                       learning_rate=float(values.learning_rate), lr_schedule=values.lr_schedule,
                       init=values.init,
                       seed=int(values.seed), dataset=values.dataset,
                       train_examples=int(values.train_examples),
                       dev_examples=int(values.dev_examples),
                       dev_loss_target=float(values.dev_loss_target), network=values.network,
                       spec_augment=replace(SPEC_PRESET) if values.spec_augment else SpecAugmentConfig(),
                       parallel=ParallelConfig(gpus=int(values.gpus), placement=values.placement))
    return ComparisonConfig(base=base, precisions=in_table_order(values.precisions),
                            repeats=int(values.repeats), name=values.name.strip())
