"""The device panel and which precisions this device can run (and why not)."""
from __future__ import annotations

from dataclasses import dataclass, field
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
    gpus: list[str] = field(default_factory=list)  # "name, memory" of each NVIDIA GPU listed

    @property
    def gpu_count(self) -> int:
        """GPUs the trainer can spread over (0 when it trains on the CPU)."""
        return max(len(self.gpus), 1) if self.kind == "gpu" else 0


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
    return DeviceSummary(kind, name, keras_backend(), cpu_bf16_flags() if kind == "cpu" else [],
                         nvidia_gpus())


def nvidia_gpus() -> list[str]:
    """"name, memory" of each GPU this process may use, from nvidia-smi ([] if none)."""
    import shutil
    import subprocess

    from model.train.distributed import visible_gpus
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,memory.total",
                              "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    allowed = set(visible_gpus())
    rows = [ln.split(",", 1) for ln in out.strip().splitlines() if "," in ln]
    return [rest.strip() for idx, rest in rows if idx.strip() in allowed]


def gpu_line(dev: DeviceSummary) -> str:
    """The panel's first line on a GPU: how many, which, and the backend."""
    names = list(dict.fromkeys(dev.gpus)) or [dev.name]
    count = f"{len(dev.gpus)} × " if len(dev.gpus) > 1 and len(names) == 1 else ""
    return (f"**GPU{'s' if len(dev.gpus) > 1 else ''}:** {count}{' + '.join(names)}"
            f" · Keras backend `{dev.backend}`")


def render_device_panel(dev: DeviceSummary) -> None:
    """GPU name and memory, or "CPU only" and what that means for AMP."""
    with st.container(border=True):
        if dev.kind == "gpu":
            st.markdown(gpu_line(dev))
            st.caption("AMP fp16 uses tensor cores with dynamic loss scaling; TF32 is a separate "
                       "precision from strict FP32."
                       + (" Several GPUs: train one run over all of them (data-parallel) or "
                          "several runs side by side, one per GPU." if len(dev.gpus) > 1 else ""))
        else:
            flags = ", ".join(dev.cpu_flags) or "none"
            st.markdown(f"**CPU only:** {dev.name} · Keras backend `{dev.backend}`")
            if dev.gpus:
                st.warning(f"NVIDIA GPU found ({dev.gpus[0]}), but Keras on {dev.backend} trains "
                           "on the CPU here: start the dashboard with `./run.sh --gpu`.")
            st.caption("No tensor cores: AMP fp16 is emulated (slower than FP32) and TF32 does not "
                       "exist. AMP bf16 may still help on CPUs with AVX512-BF16 or AMX "
                       f"(found here: {flags}).")


PLACEMENT_LABELS = {"data-parallel": "each run over all chosen GPUs (data-parallel)",
                    "per-run": "one run per GPU, side by side"}


def gpu_settings(dev: DeviceSummary, key: str) -> tuple[int, str]:
    """The "GPUs" and placement widgets (greyed out with fewer than 2 GPUs).

    Args:
        dev: the device summary.
        key: widget key prefix of the page ("t" Trials, "s" Sweeps).

    Returns:
        (GPUs, placement) as chosen.
    """
    found = dev.gpu_count
    c = st.columns([1, 3])
    why = None if found > 1 else ("one GPU found" if found == 1 else "CPU only: no GPU found")
    gpus = c[0].number_input("GPUs", 1, max(found, 1), 1, key=f"{key}_gpus",
                             disabled=found <= 1, help=why or f"1..{found} GPUs found")
    placement = c[1].selectbox(
        "placement", list(PLACEMENT_LABELS), format_func=PLACEMENT_LABELS.get,
        key=f"{key}_placement", disabled=found <= 1,
        help=why or "data-parallel splits each step's batch over the GPUs (same maths as one "
                    "GPU at that batch); per run trains several runs at once, never two on a GPU")
    return int(gpus), str(placement)
