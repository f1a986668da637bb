"""The networks, built per precision and chosen by the feature kind they read.

Two families, one per step grid of the feature registry (:func:`network_family`):

* ``seed``, for the spectrogram kinds (log power, PCEN, seed-linear: 101 bins every
  1.81 ms), the deeplearning.ai "activate" model: Conv1D(196, 15, s=4) -> BN -> ReLU ->
  Dropout -> GRU(128) -> Dropout -> BN -> GRU(128) -> Dropout -> BN -> Dropout ->
  Dense(1, sigmoid). Its Conv1D turns 5511 frames into the labels' 1375 steps.
* ``head``, for speech embeddings (96 values every 80 ms from openWakeWord's frozen
  front-end, one frame a step): LayerNorm -> Dense(64, ReLU) -> Dropout -> GRU(64) ->
  Dropout -> Dense(1, sigmoid). The front-end already hears the words, so a small head
  suffices (a probe of this shape found 91% of real trigger words); LayerNorm brings the
  embeddings (about -60..60, no fixed scale) to unit range per step, which a stream can
  apply step by step. Every layer acts per step or is a forward GRU, so detection runs it
  in pieces.

The dtype policy is passed to every layer instead of set process-wide
(``keras.mixed_precision.set_global_policy``), so an AMP model and an FP32 model can
live in one process. The output layer always computes in float32: a float16 sigmoid
saturates and its loss underflows. ``Dense(1)`` already applies per time step;
``TimeDistributed(Dense(1))`` cost 15x time and 12x memory on TF (Keras 3.15, TF 2.21, measured here).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from ..audio.feature_kinds import EMBEDDING_STEPS, FEATURE_KIND_LOG, SEED_STEPS, StepGrid
from ..audio.features import N_FREQ, feature_kind

NETWORK_SEED = "seed"  # the Conv1D + 2 GRU network on spectrogram frames
NETWORK_HEAD = "head"  # the small head on speech-embedding frames
# which network reads a kind, by the kind's step grid (the registry row's ``steps``)
_FAMILY_BY_STEPS: dict[StepGrid, str] = {SEED_STEPS: NETWORK_SEED, EMBEDDING_STEPS: NETWORK_HEAD}


@dataclass
class NetworkConfig:
    """Architecture hyper-parameters of the seed network (defaults reproduce the seed).

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


@dataclass(frozen=True)
class HeadConfig:
    """Architecture hyper-parameters of the head over speech embeddings (one frame a step)."""

    dense_units: int = 64  # units of the per-step Dense (ReLU) that reads each normalised embedding
    gru_units: int = 64  # units of the GRU over the steps
    dropout: float = 0.2  # drop rate after the Dense and after the GRU
    layer_norm: bool = True  # normalise each step's embedding (LayerNorm) before the Dense

    @property
    def step_grid(self) -> StepGrid:
        """One output step per input frame (the head has no convolution)."""
        return EMBEDDING_STEPS


def network_family(kind: str) -> str:
    """Which network reads ``kind`` features: NETWORK_SEED or NETWORK_HEAD.

    Raises:
        ValueError: an unknown kind, or one whose step grid no network here reads.
    """
    row = feature_kind(kind)
    family = _FAMILY_BY_STEPS.get(row.steps)
    if family is None:
        raise ValueError(f"no network reads {kind} features (step grid {row.steps})")
    return family


def build_model(dtype_policy: str | keras.DTypePolicy = "float32",
                config: NetworkConfig | HeadConfig | None = None, n_freq: int | None = None,
                kind: str = FEATURE_KIND_LOG) -> keras.Model:
    """Build the uncompiled network that reads ``kind`` features.

    Args:
        dtype_policy: Keras dtype policy for every layer but the output
            ("float32", "mixed_float16", "mixed_bfloat16", or a DTypePolicy).
        config: the family's architecture (NetworkConfig for the seed network, HeadConfig
            for the head); None: that family's defaults.
        n_freq: values per input frame; None: the kind's (101 bins, 96 embedding values).
        kind: the feature kind; its step grid picks the family (:func:`network_family`).

    Returns:
        keras.Model mapping (batch, frames, n_freq) to (batch, steps, 1) float32
        probabilities, steps = ``config.step_grid.steps_for_frames(frames)`` (seed:
        (frames - 15) // 4 + 1; head: one per frame).

    Raises:
        ValueError: a kind no network reads, or a config of the other family.
    """
    family = network_family(kind)
    want = NetworkConfig if family == NETWORK_SEED else HeadConfig
    if config is not None and not isinstance(config, want):
        raise ValueError(f"{kind} features are read by the {family} network, which takes a "
                         f"{want.__name__}, not a {type(config).__name__}")
    policy = keras.dtype_policies.get(dtype_policy) if isinstance(dtype_policy, str) else dtype_policy
    width = n_freq if n_freq is not None else feature_kind(kind).n_values
    if family == NETWORK_HEAD:
        return _build_head(policy, config or HeadConfig(), width)
    return _build_seed(policy, config or NetworkConfig(), width)


def _build_seed(policy: keras.DTypePolicy, cfg: NetworkConfig, n_freq: int = N_FREQ) -> keras.Model:
    """The seed network on (batch, frames, n_freq) spectrogram frames."""
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


def _build_head(policy: keras.DTypePolicy, cfg: HeadConfig, n_values: int) -> keras.Model:
    """The head on (batch, steps, n_values) embedding frames; its GRU is named ``gru1`` as
    the seed's first one, where the engine reads the compute dtype and GRU kernel."""
    inputs = keras.Input(shape=(None, n_values), name="embedding")
    x = inputs
    if cfg.layer_norm:
        x = keras.layers.LayerNormalization(dtype=policy, name="embed_norm")(x)
    x = keras.layers.Dense(cfg.dense_units, activation="relu", dtype=policy, name="dense")(x)
    x = keras.layers.Dropout(cfg.dropout, dtype=policy, name="dense_drop")(x)
    x = keras.layers.GRU(cfg.gru_units, return_sequences=True, dtype=policy, name="gru1")(x)
    x = keras.layers.Dropout(cfg.dropout, dtype=policy, name="gru1_drop")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="out")(x)
    return keras.Model(inputs, outputs, name="trigger_word_head")
