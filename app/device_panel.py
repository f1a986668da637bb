"""The device panel and which precisions this device can run (and why not)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from model.train import precision as prec

# Widget label per precision name (import-time snapshot of the table, for format_func).
LABELS = {m.name: m.label for m in prec.PRECISION_MODES}


@dataclass
class DeviceSummary:
    """What the panel shows."""

    kind: str  # "gpu" or "cpu"
    name: str  # device name
    backend: str  # Keras backend
    cpu_flags: list[str]  # bf16-relevant CPU features found (avx512_bf16, amx_bf16)


@dataclass
class PrecisionChoice:
    """One precision as the settings offer it."""

    name: str  # one of PRECISIONS
    label: str  # widget label, from the precision table
    enabled: bool  # selectable on this device
    note: str  # why disabled, or a caveat ("" if none)


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """bf16-relevant CPU features listed in /proc/cpuinfo (text given for tests)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
    words = set(cpuinfo.split())
    return [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in words]


def precision_choices(kind: str, cpu_flags: list[str]) -> list[PrecisionChoice]:
    """Each precision with whether this device can run it meaningfully, and why not.

    Args:
        kind: "gpu" or "cpu".
        cpu_flags: bf16-relevant CPU features (see :func:`cpu_bf16_flags`).

    Returns:
        One choice per row of the precision table, in table order.
    """
    # Read the table at call time (not an imported copy) so a patched table shows up.
    return [_choice(mode, kind, cpu_flags) for mode in prec.PRECISION_MODES]


def _choice(mode: prec.PrecisionMode, kind: str, cpu_flags: list[str]) -> PrecisionChoice:
    """One mode on this device: a GPU runs every mode as meant; a CPU gets the table's caveats."""
    if kind == "gpu":
        return PrecisionChoice(mode.name, mode.label, True, "")
    note = "" if mode.cpu_bf16_hw_clears_note and cpu_flags else mode.cpu_note
    return PrecisionChoice(mode.name, mode.label, mode.cpu_selectable, note)


@st.cache_resource(show_spinner="Looking at the device...")
def device_summary() -> DeviceSummary:
    """The training device (imports the Keras backend once per process)."""
    from model.train.device import device_info, keras_backend
    kind, name = device_info()
    return DeviceSummary(kind, name, keras_backend(), cpu_bf16_flags() if kind == "cpu" else [])


def gpu_memory_text() -> str:
    """Total GPU memory as text, from nvidia-smi if present ("" otherwise)."""
    import shutil
    import subprocess
    if not shutil.which("nvidia-smi"):
        return ""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip().splitlines()[0] if out.strip() else ""


def render_device_panel(dev: DeviceSummary) -> None:
    """GPU name and memory, or "CPU only" and what that means for AMP."""
    with st.container(border=True):
        if dev.kind == "gpu":
            mem = gpu_memory_text()
            st.markdown(f"**GPU:** {dev.name}" + (f" · {mem}" if mem else "")
                        + f" · Keras backend `{dev.backend}`")
            st.caption("AMP fp16 uses tensor cores with dynamic loss scaling; TF32 is a separate "
                       "precision from strict FP32.")
        else:
            flags = ", ".join(dev.cpu_flags) or "none"
            st.markdown(f"**CPU only:** {dev.name} · Keras backend `{dev.backend}`")
            st.caption("No tensor cores: AMP fp16 is emulated (slower than FP32) and TF32 does not "
                       "exist. AMP bf16 may still help on CPUs with AVX512-BF16 or AMX "
                       f"(found here: {flags}).")
