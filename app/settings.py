"""Where the app keeps things, from environment variables (so tests and demos can point it
elsewhere without touching the code).

* ``LAB_STORE``: run store database (default ``runs/lab.sqlite``).
* ``LAB_DATASET``: dataset folder the Trials page trains on (default ``XY_train``).
* ``LAB_MODELS``: extra .keras models offered on the Detect page, separated by ``:``.
* ``LAB_CANDIDATES``: folder of candidate detectors offered there too (default bench/candidates).
* ``LAB_DEMO_DIR``: folder of demo clips for the Detect page (default ``assets/demo``;
  ``assets/samples`` is offered too when it exists).
* ``LAB_NETWORK``: default network size for new trials, ``FILTERS,GRU_UNITS[,DROPOUT]``
  (default: the seed's 196,128,0.8); tests use a small one to stay fast on a CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from model.errors import ConfigError
from model.train.network import NetworkConfig

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class AppSettings:
    """Paths and defaults the pages use (read fresh on every rerun)."""

    store_path: Path  # SQLite run store
    dataset_dir: Path  # dataset folder for new trials
    extra_models: list[Path] = field(default_factory=list)  # additional .keras files
    demo_dirs: list[Path] = field(default_factory=list)  # folders with demo WAV clips
    network: NetworkConfig = field(default_factory=NetworkConfig)  # default architecture
    candidate_models: list[Path] = field(default_factory=list)  # bench/candidates/*.keras


def parse_network(text: str) -> NetworkConfig:
    """``"16,16"`` or ``"16,16,0.1"`` -> NetworkConfig (raises ConfigError)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        net = NetworkConfig(conv_filters=int(parts[0]), gru_units=int(parts[1]))
        if len(parts) == 3:
            net.dropout = float(parts[2])
    except ValueError:
        raise ConfigError(f"LAB_NETWORK must look like FILTERS,GRU_UNITS[,DROPOUT], got {text!r}") \
            from None
    return net


def load_settings(env: dict[str, str] | None = None) -> AppSettings:
    """Settings from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    store = Path(env.get("LAB_STORE") or ROOT / "runs" / "lab.sqlite")
    dataset = Path(env.get("LAB_DATASET") or ROOT / "XY_train")
    models = [Path(p) for p in (env.get("LAB_MODELS") or "").split(os.pathsep) if p.strip()]
    demo = Path(env.get("LAB_DEMO_DIR") or ROOT / "assets" / "demo")
    network = parse_network(env["LAB_NETWORK"]) if env.get("LAB_NETWORK") else NetworkConfig()
    candidates = Path(env.get("LAB_CANDIDATES") or ROOT / "bench" / "candidates")
    return AppSettings(store, dataset, models, [demo, ROOT / "assets" / "samples"], network,
                       sorted(candidates.glob("*.keras")) if candidates.is_dir() else [])
