"""Precision modes, chosen and applied in one place, per Keras backend.

Four precisions:

* ``fp32``: strict IEEE float32; TF32 matmuls/convolutions switched off.
* ``tf32``: float32 variables and activations, TF32 tensor-core math allowed (GPU only;
  on a CPU it runs as strict float32 and the record says so).
* ``amp-fp16``: Keras ``mixed_float16`` with dynamic loss scaling (LossScaleOptimizer).
  Allowed on a CPU but flagged ``emulated`` (float16 arithmetic is emulated and slow).
* ``amp-bf16``: Keras ``mixed_bfloat16``; no loss scaling (bfloat16 has float32's range).

In the AMP modes the float32 parts (output layer, loss) run with TF32 off, so an AMP
run differs from ``fp32`` only by its half-precision layers.

The TF32 switches are process-wide in every backend (TF: tensor_float_32_execution;
torch: ``backends.cuda.matmul.allow_tf32`` and ``backends.cudnn.allow_tf32``; JAX:
``jax_default_matmul_precision``), which is safe because one worker trains at a time.
Backends other than the active one are never imported.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .device import device_info, keras_backend
from ..errors import ConfigError

PRECISIONS = ("fp32", "tf32", "amp-fp16", "amp-bf16")
_POLICY = {"fp32": "float32", "tf32": "float32", "amp-fp16": "mixed_float16",
           "amp-bf16": "mixed_bfloat16"}


@dataclass
class PrecisionRecord:
    """What actually ran for one trial (stored with the run)."""

    precision: str  # requested mode, one of PRECISIONS
    backend: str  # Keras backend: tensorflow, jax or torch
    device_kind: str  # "gpu" or "cpu"
    device_name: str  # e.g. "NVIDIA H200" or the CPU model name
    dtype_policy: str  # Keras policy given to the layers
    compute_dtype: str = ""  # dtype the hidden layers compute in (read from the model)
    variable_dtype: str = ""  # dtype of the weights (read from the model)
    tf32: bool = False  # TF32 math enabled for float32 ops on this device
    loss_scaling: bool = False  # optimizer wrapped in a dynamic LossScaleOptimizer
    emulated: bool = False  # float16 arithmetic on a CPU (emulated, slow)
    feed: str = ""  # how batches reached the model: host-memmap or device-resident
    step_mode: str = ""  # sync (loss read every step) or async (read once per epoch)
    gru_kernel: str = ""  # GRU kernel that ran: cudnn, loop (step-by-step fallback), unknown
    notes: list[str] = field(default_factory=list)  # anything a reader should know

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "PrecisionRecord":
        """Inverse of to_dict; unknown keys are ignored."""
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


def check_precision(name: str) -> str:
    """Return ``name`` if it is a known precision, else raise ConfigError."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    return name


def policy_for(precision: str) -> str:
    """Keras dtype policy name for a precision ("float32", "mixed_float16", ...)."""
    return _POLICY[check_precision(precision)]


def default_precisions(device_kind: str | None = None) -> list[str]:
    """The default comparison: fp32 vs amp-fp16 on a GPU, fp32 vs amp-bf16 on a CPU."""
    kind = device_kind or device_info()[0]
    return ["fp32", "amp-fp16"] if kind == "gpu" else ["fp32", "amp-bf16"]


def set_tf32(enabled: bool) -> None:
    """Switch TF32 math on or off for the active backend (process-wide)."""
    backend = keras_backend()
    if backend == "torch":
        import torch
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
    elif backend == "jax":
        import jax
        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if enabled else "float32")
    else:
        import tensorflow as tf
        tf.config.experimental.enable_tensor_float_32_execution(enabled)


def apply_precision(precision: str) -> PrecisionRecord:
    """Apply a precision's process-wide switches and describe what will run.

    Call before building the model. The record's compute/variable dtypes are filled
    from the built model by :func:`record_model_dtypes`; loss scaling by :func:`make_optimizer`.

    Args:
        precision: one of PRECISIONS.

    Returns:
        PrecisionRecord with backend, device, TF32 state and the emulated flag.
    """
    policy = policy_for(precision)
    kind, name = device_info()
    want_tf32 = precision == "tf32"
    set_tf32(want_tf32 and kind == "gpu")
    rec = PrecisionRecord(precision=precision, backend=keras_backend(), device_kind=kind,
                          device_name=name, dtype_policy=policy, tf32=want_tf32 and kind == "gpu")
    if want_tf32 and kind != "gpu":
        rec.notes.append("no TF32 on a CPU: ran as strict float32")
    if precision == "amp-fp16" and kind != "gpu":
        rec.emulated = True
        rec.notes.append("float16 on a CPU is emulated and slow; timings say nothing about a GPU")
    return rec


def make_optimizer(precision: str, learning_rate: float, record: PrecisionRecord | None = None):
    """Adam, wrapped in a dynamic LossScaleOptimizer for amp-fp16.

    Keras only wraps automatically when the *model's* policy is mixed_float16; our
    models get their policy per layer, so the wrapping is explicit here.

    Args:
        precision: one of PRECISIONS.
        learning_rate: Adam step size.
        record: if given, its ``loss_scaling`` is set to what was done.
    """
    import keras
    opt = keras.optimizers.Adam(learning_rate=learning_rate)
    scaled = policy_for(precision) == "mixed_float16"
    if scaled:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    if record is not None:
        record.loss_scaling = scaled
    return opt


def record_model_dtypes(model, record: PrecisionRecord, layer: str = "gru1") -> None:
    """Fill the record's compute/variable dtypes from a hidden layer of the built model."""
    hidden = model.get_layer(layer)
    record.compute_dtype = str(hidden.compute_dtype)
    record.variable_dtype = str(hidden.variable_dtype)
