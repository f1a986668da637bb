"""Which GRU kernel actually ran: a fused one (cuDNN), JAX's scan, or Keras's fallback loop.

Keras picks the kernel silently, and the answer differs per backend:

* torch: ``gru`` catches any cuDNN error and falls back to a Python loop over the 1375
  time steps; both return, so the probe counts the two private kernels it chooses from.
* TensorFlow: ``gru`` returns only from the fused cuDNN kernel (a GPU and cuDNN-compatible
  settings); otherwise it raises ``NotImplementedError`` and the layer runs its generic loop.
* JAX: ``gru`` is a ``lax.scan`` over the time steps (one matmul for all the input
  projections first), not cuDNN: JAX has no fused GRU. It returns for the usual
  settings (raising ``NotImplementedError`` only for masks, unrolling or
  ``reset_after=False``, which send the layer to its generic loop), so a return is
  labelled "scan", on a GPU too.

On torch the engine can also run its own persistent GRU (model/train/gru_persistent.py, in
Triton) in place of cuDNN: ``gru_kernel`` "cudnn", "persistent" or "auto"
(:func:`set_gru_kernel`, :func:`choose_kernel`). Any call the persistent kernel cannot
serve (device, dtype, units) or that fails in it runs cuDNN instead, and the reason is
kept with the counts, so a run never fails because of the choice.

A run that trains 10x slower than it should looks the same from outside, so the engine
counts kernel calls and records the answer with the run.

The probe wraps ``keras.src.backend.gru`` (and, on torch, its private ``_cudnn_gru`` and
``_fallback_gru``) once per process; the wrappers only count and call through, so the
maths is unchanged. If a Keras version moves those names, the probe reports "unknown".
"""
from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass

_LOCK = threading.Lock()
_COUNTS = {"fused": 0, "loop": 0, "flat": 0, "scan": 0, "persistent": 0}
GRU_KERNELS = ("cudnn", "persistent", "auto")  # what a run may ask for (TrialConfig.gru_kernel)
# what this process runs on torch: the requested kernel and the run's batch per step (auto
# decides by the run's batch, not each call's, so the probe's 1-example call says the same)
_CHOICE = {"mode": "cudnn", "batch": 0}
# (compute dtype, or "tf32") -> smallest batch at which the persistent kernel measured faster
# than cuDNN in the whole engine on the H200 (bench/results/bench_gpu_h200_kernels.json,
# 2026-12-01): bfloat16 2.45x at batch 32, 1.67x at 64, 1.60x at 256, 1.70x at 1024 (cuDNN has no
# persistent bf16 GRU); float16 1.16x at 1024 but 0.30-0.60x from 32 to 256; tf32 1.81x at 1024
# but 0.23-0.77x below; float32 0.96x at 1024 and 0.09-0.40x below (its recurrent weights
# spill), so auto keeps cuDNN there.
AUTO_PERSISTENT_FROM_BATCH: dict[str, int] = {"bfloat16": 32, "float16": 1024, "tf32": 1024}
_INSTALLED: list[bool] = []  # non-empty once installed (or found impossible)
_OK: list[bool] = []
_INSTALL_ERROR: list[str] = []  # why the probe could not be installed
_ERRORS: list[str] = []  # why fused kernel calls failed (since the last reset)


@dataclass
class GruKernelReport:
    """GRU calls seen since the last reset (traced calls on graph backends)."""

    fused: int  # calls that ran a fused kernel (cuDNN on a GPU)
    loop: int  # calls that ran the step-by-step fallback loop
    probe_ok: bool  # False when this Keras version could not be instrumented
    # first lines of the errors that sent calls to the loop, and why calls did not run the
    # persistent kernel where it was asked for ("persistent refused, cudnn ran: ...")
    errors: tuple[str, ...] = ()
    flat: int = 0  # fused calls (torch) whose weights went to cuDNN as one packed buffer
    scan: int = 0  # calls that ran JAX's lax.scan GRU (no cuDNN on JAX)
    persistent: int = 0  # fused calls (torch) that ran the persistent Triton kernel

    @property
    def label(self) -> str:
        """"cudnn" (or "cudnn (flat weights)"), "persistent", "scan", "loop", "mixed", "none"
        or "unknown".

        "none": no GRU call seen; "mixed": calls of more than one kind.
        """
        if not self.probe_ok:
            return "unknown"
        if sum(1 for n in (self.fused, self.scan, self.loop) if n) > 1:
            return "mixed"
        if self.fused and self.persistent:
            return "persistent" if self.persistent == self.fused else "mixed"
        if self.fused:
            return "cudnn (flat weights)" if self.flat == self.fused else "cudnn"
        if self.scan:
            return "scan"
        return "loop" if self.loop else "none"


def _note_error(err: BaseException) -> None:
    _note_text(f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}")


def _note_text(text: str) -> None:
    text = text[:300]
    with _LOCK:
        if text not in _ERRORS and len(_ERRORS) < 5:
            _ERRORS.append(text)


def _count(kind: str) -> None:
    with _LOCK:
        _COUNTS[kind] += 1


def returned_kind(backend: str) -> str:
    """What a return from ``backend.gru`` ran on a graph backend: "fused" or "scan".

    Args:
        backend: Keras backend name ("tensorflow" or "jax").

    Returns:
        "scan" on JAX (its ``gru`` is a ``lax.scan``), "fused" (cuDNN) otherwise.
    """
    return "scan" if backend == "jax" else "fused"


def _wrap_layer_entry(backend_mod, returned: str = "fused") -> None:
    """Count backend.gru outcomes (TensorFlow, JAX): a return counts as ``returned``
    (see :func:`returned_kind`), NotImplementedError sends the layer to its generic loop."""
    inner = backend_mod.gru

    def gru(*args, **kwargs):
        try:
            out = inner(*args, **kwargs)
        except NotImplementedError:
            _count("loop")
            raise
        _count(returned)
        return out

    gru._lab_probe = True  # type: ignore[attr-defined]
    backend_mod.gru = gru


def _wrap_torch(rnn_mod) -> None:
    """On torch, ``gru`` returns in both cases: count its two private kernels instead.

    The cuDNN call also gets its weights packed as one buffer (model/train/torch_gru.py), which
    removes a forced host-device synchronisation per call; if that fails, Keras's own
    cuDNN call runs, and if that fails too, Keras's loop (each failure is kept)."""
    from .torch_gru import cudnn_gru_flat
    cudnn, fallback = rnn_mod._cudnn_gru, rnn_mod._fallback_gru

    def _cudnn_gru(*args, **kwargs):
        out = _try_persistent(args, kwargs)
        if out is not None:
            _count("persistent")
            _count("fused")
            return out
        try:
            out = cudnn_gru_flat(*args, **kwargs)
            _count("flat")
        except Exception as err:
            _note_error(err)
            try:
                out = cudnn(*args, **kwargs)
            except Exception as err2:  # Keras swallows it and runs the loop: keep the reason
                _note_error(err2)
                raise
        _count("fused")
        return out

    def _fallback_gru(*args, **kwargs):
        _count("loop")
        return fallback(*args, **kwargs)

    rnn_mod._cudnn_gru, rnn_mod._fallback_gru = _cudnn_gru, _fallback_gru


def set_gru_kernel(mode: str, batch: int = 0) -> None:
    """Which GRU kernel this process's torch GRU calls run from now on.

    Args:
        mode: "cudnn", "persistent" or "auto" (see :func:`choose_kernel`).
        batch: the run's examples per step (per rank), which "auto" decides by.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in GRU_KERNELS:
        raise ValueError(f"unknown GRU kernel {mode!r}; choose {', '.join(GRU_KERNELS)}")
    with _LOCK:
        _CHOICE.update(mode=mode, batch=int(batch))


def choose_kernel(mode: str, precision_key: str, batch: int) -> tuple[bool, str]:
    """Whether to try the persistent kernel, and why not when not.

    Args:
        mode: "cudnn", "persistent" or "auto".
        precision_key: the compute dtype's name ("float32", "float16", "bfloat16") or
            "tf32" for float32 with TF32 on.
        batch: the run's examples per step.

    Returns:
        (True, "") to try it; (False, reason) for cuDNN, reason "" when cuDNN was asked for.
    """
    if mode == "persistent":
        return True, ""
    if mode != "auto":
        return False, ""
    start = AUTO_PERSISTENT_FROM_BATCH.get(precision_key)
    if start is None or batch < start:
        return False, (f"auto chose cudnn: persistent kernel not measured faster for "
                       f"{precision_key} at batch {batch}")
    return True, ""


def _precision_key(dtype) -> str:
    import torch
    if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return str(dtype).replace("torch.", "")


def _try_persistent(args, kwargs):
    """Run the persistent kernel when chosen and able; None sends the call to cuDNN.

    Every reason for not running it (auto's choice, a refusal, an error) is kept."""
    with _LOCK:
        mode, batch = _CHOICE["mode"], _CHOICE["batch"]
    if mode == "cudnn":
        return None
    try:
        inputs, recurrent_kernel, bias = args[0], args[3], args[4]
        wanted, why = choose_kernel(mode, _precision_key(inputs.dtype),
                                    batch or int(inputs.shape[0]))
        if not wanted:
            _note_text(why)
            return None
        from .gru_persistent_op import persistent_gru, persistent_refusal, self_check
        refusal = (persistent_refusal(inputs, recurrent_kernel, bias)
                   or self_check(inputs, recurrent_kernel))
        if refusal:
            _note_text(f"persistent refused, cudnn ran: {refusal}")
            return None
        return persistent_gru(*args, **kwargs)
    except Exception as err:  # a compile or launch failure: cuDNN runs, the reason is kept
        _note_text(f"persistent failed, cudnn ran: {type(err).__name__}: "
                   f"{(str(err).strip().splitlines() or [''])[0]}")
        return None


def install_gru_probe() -> bool:
    """Instrument the active backend's GRU once per process; returns whether it worked."""
    with _LOCK:
        if _INSTALLED:
            return _OK[0]
        _INSTALLED.append(True)
    ok = True
    try:
        import keras
        from keras.src import backend as backend_mod
        name = keras.backend.backend()
        if name == "torch":
            # import_module, not "from ... import rnn": the package's ``rnn`` attribute is
            # the rnn() function, which shadows the submodule
            _wrap_torch(importlib.import_module("keras.src.backend.torch.rnn"))
        else:
            _wrap_layer_entry(backend_mod, returned_kind(name))
    except (ImportError, AttributeError) as err:
        _INSTALL_ERROR.append(f"probe not installed: {type(err).__name__}: {err}"[:300])
        ok = False
    _OK.append(ok)
    return ok


def reset_gru_counts() -> None:
    """Start counting afresh (at the start of a run)."""
    with _LOCK:
        _COUNTS.update(fused=0, loop=0, flat=0, scan=0, persistent=0)
        _ERRORS.clear()


def gru_kernel_report() -> GruKernelReport:
    """Counts since the last reset."""
    with _LOCK:
        return GruKernelReport(_COUNTS["fused"], _COUNTS["loop"], bool(_OK and _OK[0]),
                               tuple(_INSTALL_ERROR + _ERRORS), _COUNTS["flat"], _COUNTS["scan"],
                               _COUNTS["persistent"])
