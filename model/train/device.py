"""The training device, per Keras backend: name, synchronisation, peak memory.

Only the active backend (KERAS_BACKEND, default tensorflow) is ever imported.
On a CPU, peak memory is the process's peak resident set (VmHWM from /proc, reset at
the start of a run through /proc/self/clear_refs); on a GPU it is the backend's peak
device allocation where the backend exposes one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

_PROC_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


@dataclass
class MemoryReading:
    """A peak-memory figure and what it measures."""

    peak_bytes: int  # the figure (0 when unknown)
    kind: str  # "rss" (host process), "device" (accelerator) or "unknown"


def keras_backend() -> str:
    """The Keras backend name (KERAS_BACKEND, default tensorflow), without importing Keras."""
    return os.environ.get("KERAS_BACKEND", "tensorflow").strip().lower() or "tensorflow"


def device_info() -> tuple[str, str]:
    """(kind, name) of the device the active backend trains on: ("gpu", ...) or ("cpu", ...)."""
    backend = keras_backend()
    try:
        if backend == "torch":
            import torch
            if torch.cuda.is_available():
                return "gpu", torch.cuda.get_device_name(0)
        elif backend == "jax":
            import jax
            dev = jax.devices()[0]
            if dev.platform == "gpu":
                return "gpu", str(dev.device_kind)
        else:
            import tensorflow as tf
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return "gpu", str(details.get("device_name", gpus[0].name))
    except (ImportError, RuntimeError):
        pass
    return "cpu", cpu_name()


def cpu_name() -> str:
    """CPU model name and core count from /proc/cpuinfo (fallback: platform.processor)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        if names:
            return f"{names[0]} ({len(names)} cores)"
    except OSError:
        pass
    import platform
    return platform.processor() or "cpu"


def read_rss_bytes(field_name: str = "VmRSS") -> int:
    """A memory field of this process from /proc/self/status, in bytes (0 if unavailable).

    Args:
        field_name: "VmRSS" (current resident set) or "VmHWM" (peak since start/reset).
    """
    try:
        with open(_PROC_STATUS, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def reset_peak_memory() -> bool:
    """Start a new peak-memory window for the active device; True if the reset worked."""
    kind = device_info()[0]
    backend = keras_backend()
    try:
        if kind == "gpu" and backend == "torch":
            import torch
            torch.cuda.reset_peak_memory_stats()
            return True
        if kind == "gpu" and backend == "tensorflow":
            import tensorflow as tf
            tf.config.experimental.reset_memory_stats("GPU:0")
            return True
        if kind == "gpu":
            return False  # JAX exposes no reset; its peak covers the whole process
        with open(_CLEAR_REFS, "w", encoding="ascii") as fh:
            fh.write("5")  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except (OSError, ImportError, RuntimeError, ValueError):
        return False


def peak_memory() -> MemoryReading:
    """Peak memory since the last :func:`reset_peak_memory` (GPU: device memory; CPU: RSS)."""
    kind = device_info()[0]
    backend = keras_backend()
    try:
        if kind == "gpu" and backend == "torch":
            import torch
            return MemoryReading(int(torch.cuda.max_memory_allocated()), "device")
        if kind == "gpu" and backend == "tensorflow":
            import tensorflow as tf
            return MemoryReading(int(tf.config.experimental.get_memory_info("GPU:0")["peak"]),
                                 "device")
        if kind == "gpu":
            import jax
            stats = jax.devices()[0].memory_stats() or {}
            return MemoryReading(int(stats.get("peak_bytes_in_use", 0)), "device")
    except (ImportError, RuntimeError, KeyError, ValueError):
        return MemoryReading(0, "unknown")
    return MemoryReading(read_rss_bytes("VmHWM"), "rss")


def synchronize(model=None) -> None:
    """Wait until queued device work is done, so a clock read after it is honest.

    Reading one small weight back to the host orders after every pending update on
    any backend; torch additionally gets an explicit CUDA synchronisation.

    Args:
        model: the model being trained (optional); its last weight is read back.
    """
    if keras_backend() == "torch":
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.synchronize()
        except ImportError:
            pass
    if model is not None and model.weights:
        import keras
        keras.ops.convert_to_numpy(model.weights[-1].value)
