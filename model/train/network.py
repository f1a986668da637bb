"""The trigger-word network (deeplearning.ai "activate" model), built per precision.

Conv1D(196, 15, s=4) -> BN -> ReLU -> Dropout -> GRU(128) -> Dropout -> BN -> GRU(128)
-> Dropout -> BN -> Dropout -> Dense(1, sigmoid).

The dtype policy is passed to every layer instead of set process-wide
(``keras.mixed_precision.set_global_policy``), so an AMP model and an FP32 model can
live in one process. The output layer always computes in float32: a float16 sigmoid
saturates and its loss underflows. ``Dense(1)`` already applies per time step;
``TimeDistributed(Dense(1))`` cost 15x time and 12x memory on TF (Keras 3.15, TF 2.21, measured here).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from ..audio.feature_kinds import SEED_STEPS, StepGrid
from ..audio.features import N_FREQ


@dataclass
class NetworkConfig:
    """Architecture hyper-parameters (defaults reproduce the seed).

    The conv geometry's defaults come from :data:`model.audio.feature_kinds.SEED_STEPS`,
    the grid every dataset's labels are made on (5511 frames -> 1375 steps); another
    kernel or stride gives outputs that no longer match those labels.
    """

    conv_filters: int = 196  # Conv1D output channels
    conv_kernel: int = SEED_STEPS.kernel_frames  # Conv1D kernel, in input frames (15)
    conv_stride: int = SEED_STEPS.stride_frames  # Conv1D stride, in input frames (4)
    gru_units: int = 128  # units of each of the two GRUs
    dropout: float = 0.8  # drop rate of every Dropout layer (the seed's 0.8)

    @property
    def step_grid(self) -> StepGrid:
        """How this network maps input frames to output steps (its Conv1D kernel and stride)."""
        return StepGrid(self.conv_kernel, self.conv_stride)


def build_model(dtype_policy: str | keras.DTypePolicy = "float32",
                config: NetworkConfig | None = None, n_freq: int = N_FREQ) -> keras.Model:
    """Build the uncompiled network.

    Args:
        dtype_policy: Keras dtype policy for every layer but the output
            ("float32", "mixed_float16", "mixed_bfloat16", or a DTypePolicy).
        config: architecture; defaults to the seed's.
        n_freq: frequency bins per input frame.

    Returns:
        keras.Model mapping (batch, frames, n_freq) of any frame count >= the conv kernel
        to (batch, steps, 1) float32 probabilities, steps =
        ``config.step_grid.steps_for_frames(frames)`` (seed: (frames - 15) // 4 + 1).
    """
    cfg = config or NetworkConfig()
    policy = keras.dtype_policies.get(dtype_policy) if isinstance(dtype_policy, str) else dtype_policy
    inputs = keras.Input(shape=(None, n_freq), name="spectrogram")
    x = keras.layers.Conv1D(cfg.conv_filters, cfg.conv_kernel, strides=cfg.conv_stride,
                            dtype=policy, name="conv")(inputs)
    x = keras.layers.BatchNormalization(dtype=policy, name="conv_bn")(x)
    x = keras.layers.Activation("relu", dtype=policy, name="conv_relu")(x)
    x = keras.layers.Dropout(cfg.dropout, dtype=policy, name="conv_drop")(x)
    x = keras.layers.GRU(cfg.gru_units, return_sequences=True, dtype=policy, name="gru1")(x)
    x = keras.layers.Dropout(cfg.dropout, dtype=policy, name="gru1_drop")(x)
    x = keras.layers.BatchNormalization(dtype=policy, name="gru1_bn")(x)
    x = keras.layers.GRU(cfg.gru_units, return_sequences=True, dtype=policy, name="gru2")(x)
    x = keras.layers.Dropout(cfg.dropout, dtype=policy, name="gru2_drop")(x)
    x = keras.layers.BatchNormalization(dtype=policy, name="gru2_bn")(x)
    x = keras.layers.Dropout(cfg.dropout, dtype=policy, name="out_drop")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="out")(x)
    return keras.Model(inputs, outputs, name="trigger_word")
