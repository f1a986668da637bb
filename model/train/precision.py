"""Precision modes, chosen and applied in one place, per Keras backend.

Every per-mode fact (Keras policy, loss scaling, TF32, label, CPU caveats, default
pairing) lives in one row of :data:`PRECISION_MODES`; the rest of the lab (apply_precision,
make_optimizer, the app's device panel and Trials page) reads that table, so a new mode
is one new row. The four modes:

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

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .device import device_info, keras_backend
from ..errors import ConfigError


@dataclass(frozen=True)
class PrecisionMode:
    """One precision mode: everything the trainer and the app need to know about it."""

    name: str  # id in configs, the run store, the CLI and widget keys ("amp-fp16")
    label: str  # what the app shows ("AMP fp16")
    policy: str  # Keras dtype policy given to the layers ("mixed_float16")
    loss_scaling: bool  # wrap Adam in a dynamic LossScaleOptimizer (float16's narrow range)
    tf32: bool  # allow TF32 math for float32 ops; only ever switched on on a GPU
    default_on: tuple[str, ...] = ()  # device kinds ("gpu", "cpu") whose default pair has it
    cpu_selectable: bool = True  # False: on a CPU it would just be another mode, so not offered
    cpu_note: str = ""  # app caveat on a CPU (the disabled reason when not cpu_selectable)
    cpu_bf16_hw_clears_note: bool = False  # no cpu_note on CPUs with AVX512-BF16/AMX
    cpu_emulated: bool = False  # its arithmetic is emulated on a CPU: record flags "emulated"
    cpu_run_note: str = ""  # note stored with a run that trained on a CPU ("" if none)


PRECISION_MODES: tuple[PrecisionMode, ...] = (
    PrecisionMode("fp32", "FP32 (strict)", "float32", loss_scaling=False, tf32=False,
                  default_on=("gpu", "cpu")),
    PrecisionMode("tf32", "TF32", "float32", loss_scaling=False, tf32=True,
                  cpu_selectable=False,
                  cpu_note="TF32 needs an NVIDIA Ampere or newer GPU; on a CPU it is just FP32",
                  cpu_run_note="no TF32 on a CPU: ran as strict float32"),
    PrecisionMode("amp-fp16", "AMP fp16", "mixed_float16", loss_scaling=True, tf32=False,
                  default_on=("gpu",),
                  cpu_note="CPU: float16 is emulated and slow (no tensor cores); timings say "
                           "nothing about a GPU",
                  cpu_emulated=True,
                  cpu_run_note="float16 on a CPU is emulated and slow; timings say nothing "
                               "about a GPU"),
    PrecisionMode("amp-bf16", "AMP bf16", "mixed_bfloat16", loss_scaling=False, tf32=False,
                  default_on=("cpu",),
                  cpu_note="CPU without AVX512-BF16/AMX: bf16 runs but may not be faster",
                  cpu_bf16_hw_clears_note=True),
)
# Names in table order. A snapshot taken at import: code that must see a patched or
# extended table (tests add a fake mode) reads PRECISION_MODES or calls the functions below.
PRECISIONS: tuple[str, ...] = tuple(m.name for m in PRECISION_MODES)


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
    # GRU kernel that ran: cudnn, persistent (Triton, torch), scan (JAX), loop (step-by-step
    # fallback), unknown; then in brackets why a requested persistent kernel did not run
    gru_kernel: str = ""
    notes: list[str] = field(default_factory=list)  # anything a reader should know

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "PrecisionRecord":
        """Inverse of to_dict; unknown keys are ignored."""
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


def precision_mode(name: str) -> PrecisionMode:
    """The table row of a precision.

    Args:
        name: a precision name, e.g. "amp-bf16".

    Returns:
        Its PrecisionMode.

    Raises:
        ConfigError: the name is not in PRECISION_MODES.
    """
    for mode in PRECISION_MODES:
        if mode.name == name:
            return mode
    names = ", ".join(m.name for m in PRECISION_MODES)
    raise ConfigError(f"unknown precision {name!r}; choose from {names}")


def check_precision(name: str) -> str:
    """Return ``name`` if it is a known precision, else raise ConfigError."""
    return precision_mode(name).name


def policy_for(precision: str) -> str:
    """Keras dtype policy name for a precision ("float32", "mixed_float16", ...)."""
    return precision_mode(precision).policy


def in_table_order(names: Iterable[str]) -> list[str]:
    """The given precisions, each once, in PRECISION_MODES order.

    Args:
        names: precision names in any order (e.g. ticked checkboxes).

    Returns:
        The names sorted as the table lists them.

    Raises:
        ConfigError: a name is unknown (rather than dropping it silently).
    """
    wanted = {check_precision(n) for n in names}
    return [m.name for m in PRECISION_MODES if m.name in wanted]


def default_precisions(device_kind: str | None = None) -> list[str]:
    """The default comparison: the modes whose ``default_on`` has this device kind.

    Args:
        device_kind: "gpu" or "cpu"; None: the device this process trains on.

    Returns:
        Precision names in table order (fp32 vs amp-fp16 on a GPU, fp32 vs amp-bf16 on a CPU).
    """
    kind = device_kind or device_info()[0]
    return [m.name for m in PRECISION_MODES if kind in m.default_on]


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
    mode = precision_mode(precision)
    kind, name = device_info()
    on_gpu = kind == "gpu"
    tf32 = mode.tf32 and on_gpu  # TF32 is tensor-core math: a CPU has none to switch on
    set_tf32(tf32)
    rec = PrecisionRecord(precision=precision, backend=keras_backend(), device_kind=kind,
                          device_name=name, dtype_policy=mode.policy, tf32=tf32)
    if not on_gpu:
        rec.emulated = mode.cpu_emulated
        if mode.cpu_run_note:
            rec.notes.append(mode.cpu_run_note)
    return rec


def make_optimizer(precision: str, learning_rate: float, record: PrecisionRecord | None = None):
    """Adam, wrapped in a dynamic LossScaleOptimizer when the mode's ``loss_scaling`` says so.

    Keras only wraps automatically when the *model's* policy is mixed_float16; our
    models get their policy per layer, so the wrapping is explicit here.

    Args:
        precision: one of PRECISIONS.
        learning_rate: Adam step size.
        record: if given, its ``loss_scaling`` is set to what was done.

    Returns:
        The Keras optimizer.
    """
    import keras
    opt = keras.optimizers.Adam(learning_rate=learning_rate)
    scaled = precision_mode(precision).loss_scaling
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
