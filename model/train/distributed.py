"""Several GPUs through torch.distributed: settings, rendezvous, gradient all-reduce, sync BN.

A *data-parallel* run trains one model on N processes, one per GPU, started the way
``torchrun`` starts them (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT`` in each process's environment, ``env://`` rendezvous), over NCCL on GPUs
and gloo on a CPU. The global batch is split evenly across ranks; after each backward the
ranks all-reduce their gradients (sum / N), and batch norm normalises with the global
batch's mean and variance (its statistics are all-reduced too), so one step is the same
maths as one GPU at the same global batch, up to the order of floating-point sums.

Over several hosts (``nnodes``) every host runs the same command with its own
``node_rank`` and rank 0's address and port, torchrun's ``--nnodes``, ``--node-rank``,
``--master-addr`` and ``--master-port``; each host starts its ``gpus`` ranks, and rank 0
(on host 0) reports. Tested only by simulation: two processes on one CPU machine.

*Per-run* placement trains the runs of a comparison concurrently, one per GPU
(model/runs/placement.py); each run is an ordinary one-GPU run there.

Nothing here imports torch at module level: the settings are read on any backend.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError

PLACEMENTS = ("data-parallel", "per-run")
ALLREDUCE_DTYPES = ("float32",)  # gradients travel in the weights' dtype (float32 under AMP too)
_GROUP: "RankInfo | None" = None  # this process's rank once init_rank() ran


@dataclass
class ParallelConfig:
    """How a comparison uses several GPUs, on one host or several (stored with every run).

    Over several hosts each host runs the same command with its own ``node_rank``, as
    ``torchrun --nnodes --node-rank --master-addr --master-port`` would: host ``k`` starts
    ranks ``k * gpus .. k * gpus + gpus - 1`` of ``gpus * nnodes``.
    """

    gpus: int = 1  # GPUs (ranks) on this host: ranks of each run (data-parallel) or runs at once (per-run)
    placement: str = "data-parallel"  # "data-parallel" or "per-run" (one run per GPU, one host only)
    allreduce_dtype: str = "float32"  # dtype of the gradients on the wire, one of ALLREDUCE_DTYPES
    nnodes: int = 1  # hosts taking part in each run (data-parallel only)
    node_rank: int = 0  # this host's index, 0..nnodes-1; host 0 holds rank 0, which reports
    master_addr: str = "127.0.0.1"  # rank 0's host, reachable from every host
    master_port: int = 0  # rendezvous port on master_addr; 0: a free local port (one host only)

    @property
    def ranks(self) -> int:
        """Processes one run trains on, over all hosts (1 unless data-parallel)."""
        return self.gpus * self.nnodes if self.placement == "data-parallel" else 1

    @property
    def local_ranks(self) -> int:
        """Processes of one run started on this host."""
        return self.gpus if self.placement == "data-parallel" else 1

    @property
    def first_rank(self) -> int:
        """Global rank of this host's local rank 0."""
        return self.node_rank * self.local_ranks

    @property
    def concurrent_runs(self) -> int:
        """Runs of a comparison trained at once (1 unless per-run over several GPUs)."""
        return self.gpus if self.placement == "per-run" else 1

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ParallelConfig":
        """Inverse of to_dict; unknown keys are ignored, missing ones (older runs) default."""
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


@dataclass
class RankInfo:
    """One process of a data-parallel run."""

    rank: int  # 0..world-1; rank 0 alone reports events and writes files
    world: int  # processes in the run (GPUs)
    local_rank: int  # index on this host
    backend: str  # "nccl" (GPUs) or "gloo" (CPU)


def visible_gpus() -> list[str]:
    """Ids of the NVIDIA GPUs this process may use, without importing a framework.

    ``CUDA_VISIBLE_DEVICES`` when set (an empty value: none), else one id per line of
    ``nvidia-smi -L``; [] on a machine without NVIDIA's tools.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def check_parallel(cfg: ParallelConfig, batch_size: int, backend: str,
                   gpus_found: list[str] | None = None) -> None:
    """Settings a multi-GPU comparison needs, each failure one line.

    Args:
        cfg: the comparison's parallel settings.
        batch_size: the global batch (data-parallel splits it over ranks).
        backend: the Keras backend name.
        gpus_found: visible GPU ids (default :func:`visible_gpus`; tests pass a list).

    Raises:
        ConfigError: bad GPU count, placement, host settings or batch split.
    """
    gpus = cfg.gpus
    if not _whole(gpus, 1):
        raise ConfigError(f"--gpus must be a whole number of at least 1, got {gpus!r}")
    if cfg.placement not in PLACEMENTS:
        raise ConfigError(f"unknown placement {cfg.placement!r}; choose {' or '.join(PLACEMENTS)}")
    if cfg.allreduce_dtype not in ALLREDUCE_DTYPES:
        raise ConfigError(f"all-reduce dtype {cfg.allreduce_dtype!r}: only float32 is supported")
    check_hosts(cfg, backend)
    if gpus > 1:
        _check_gpus_found(cfg, backend, visible_gpus() if gpus_found is None else gpus_found)
    if cfg.ranks > 1 and batch_size % cfg.ranks:
        where = f"{gpus} GPUs" if cfg.nnodes == 1 else f"{cfg.ranks} ranks ({cfg.nnodes} hosts)"
        raise ConfigError(f"batch size {batch_size} does not split evenly over {where}; "
                          f"use a multiple of {cfg.ranks}")


def _whole(value: Any, low: int) -> bool:
    """True for an int (not a bool) of at least ``low``."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= low


def check_hosts(cfg: ParallelConfig, backend: str) -> None:
    """The several-hosts settings, each failure one line (nothing to check on one host).

    Raises:
        ConfigError: bad host count, host index, port or placement.
    """
    if not _whole(cfg.nnodes, 1):
        raise ConfigError(f"--nnodes must be a whole number of at least 1, got {cfg.nnodes!r}")
    if not _whole(cfg.node_rank, 0) or cfg.node_rank >= cfg.nnodes:
        raise ConfigError(f"--node-rank {cfg.node_rank!r} is outside 0..{cfg.nnodes - 1} "
                          f"(--nnodes {cfg.nnodes})")
    if not _whole(cfg.master_port, 0) or cfg.master_port > 65535:
        raise ConfigError(f"--master-port must be 1..65535 (0: a free local port), "
                          f"got {cfg.master_port!r}")
    if cfg.nnodes == 1:
        return
    if cfg.placement == "per-run":
        raise ConfigError(f"--nnodes {cfg.nnodes}: per-run placement keeps each run on one "
                          "host; use --placement data-parallel or --nnodes 1")
    if cfg.master_port == 0:
        raise ConfigError(f"--nnodes {cfg.nnodes} needs --master-port: the port rank 0's "
                          "host listens on, the same on every host")
    if not isinstance(cfg.master_addr, str) or not cfg.master_addr.strip():
        raise ConfigError("--master-addr must name rank 0's host (an address every host reaches)")
    if backend != "torch":
        raise ConfigError(f"training over several hosts needs KERAS_BACKEND=torch (now {backend})")


def _check_gpus_found(cfg: ParallelConfig, backend: str, found: list[str]) -> None:
    """--gpus above 1 against the GPUs this host has (and the backend data-parallel needs)."""
    gpus = cfg.gpus
    if not found:
        raise ConfigError(f"--gpus {gpus}: no NVIDIA GPU found on this machine (CPU only); "
                          "use --gpus 1")
    if gpus > len(found):
        raise ConfigError(f"--gpus {gpus}: this host has {len(found)} GPU"
                          f"{'s' if len(found) != 1 else ''}; use --gpus 1..{len(found)}")
    if cfg.placement == "data-parallel" and backend != "torch":
        raise ConfigError(f"data-parallel training needs KERAS_BACKEND=torch (now {backend}); "
                          "use --placement per-run or --gpus 1")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the rendezvous port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rank_env(rank: int, world: int, port: int, visible: str | None = None,
             addr: str = "127.0.0.1", nproc_per_node: int | None = None) -> dict[str, str]:
    """The environment torchrun would give rank ``rank`` (env:// rendezvous).

    Args:
        rank: global rank.
        world: ranks in all.
        port: rendezvous port on ``addr`` (rank 0's host).
        visible: the run's GPU ids, comma-separated, the same for every rank of a host
            (None: leave CUDA_VISIBLE_DEVICES alone); each rank trains on the
            ``LOCAL_RANK``-th of them, as under torchrun.
        addr: rank 0's host; another host's address for a run over several hosts.
        nproc_per_node: ranks per host (default: all on one host).

    Returns:
        Variables to set before torch is imported.
    """
    per_node = nproc_per_node or world
    env = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank % per_node),
           "LOCAL_WORLD_SIZE": str(per_node), "GROUP_RANK": str(rank // per_node),
           "MASTER_ADDR": addr, "MASTER_PORT": str(port),
           # NVLink multicast stays off: the lent machines ask for it, and the
           # gradients here are a few MB, far from where it would pay
           "NCCL_NVLS_ENABLE": os.environ.get("NCCL_NVLS_ENABLE", "0")}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return env


def env_rank() -> tuple[int, int, int]:
    """(rank, world, local_rank) from the torchrun-style environment; (0, 1, 0) if unset."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    return rank, world, int(os.environ.get("LOCAL_RANK", str(rank)) or 0)


def init_rank(timeout_s: float = 120.0) -> RankInfo | None:
    """Join the run's process group (env://) if this process is one of several ranks.

    Returns:
        This process's RankInfo, or None for a one-process run.

    Raises:
        ConfigError: the group did not start (NCCL or gloo), as one line naming the rank.
    """
    global _GROUP
    rank, world, local = env_rank()
    if world <= 1:
        return None
    import datetime

    import torch
    import torch.distributed as dist
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    try:
        bind = {}
        if backend == "nccl":
            # every rank sees all the run's GPUs and binds the LOCAL_RANK-th, as torchrun's
            # ranks do. Seen on the H200 x2 (2026-11-30) with each rank seeing only its own
            # GPU: unbound, NCCL guessed "GPU = global rank" and the communicators never met;
            # bound, NCCL refused to start ("invalid usage")
            index = local % torch.cuda.device_count()
            torch.cuda.set_device(index)
            bind = {"device_id": torch.device("cuda", index)}
        dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s), **bind)
        dist.barrier(**({"device_ids": [bind["device_id"].index]} if bind else {}))
    except Exception as err:  # noqa: BLE001 - any start failure is one line for the user
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{backend.upper()} did not start on rank {rank} of {world}: "
                          f"{text[:200]}") from None
    _GROUP = RankInfo(rank, world, local, backend)
    return _GROUP


def current() -> RankInfo | None:
    """This process's rank in a data-parallel run (None outside one)."""
    return _GROUP


def shutdown_rank() -> None:
    """Leave the process group (end of a rank's run)."""
    global _GROUP
    if _GROUP is None:
        return
    import torch.distributed as dist
    if dist.is_initialized():
        dist.destroy_process_group()
    _GROUP = None


def broadcast_tensors(tensors: list) -> None:
    """Give every rank rank 0's values of ``tensors`` (weights at the start of a run)."""
    import torch.distributed as dist
    for t in tensors:
        dist.broadcast(t.data, src=0)


def allreduce_mean(tensors: list) -> None:
    """Replace each tensor by its mean over ranks, through one flat float32 buffer.

    One collective per step instead of one per weight: the seed network's ~1 M
    gradients are a 4 MB message.
    """
    import torch
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
    flat = _flatten_dense_tensors([t.float() for t in tensors])
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    with torch.no_grad():
        for t, r in zip(tensors, _unflatten_dense_tensors(flat, tensors)):
            t.copy_(r.to(t.dtype))


def allreduce_sum_scalar(value):
    """A device scalar summed over ranks (the epoch's loss sum); unchanged outside a run."""
    if _GROUP is None:
        return value
    import torch.distributed as dist
    out = value.clone()
    dist.all_reduce(out)
    return out


def run_note(info: RankInfo, per_rank_batch: int, cfg: ParallelConfig) -> str:
    """The line a data-parallel run records with its device notes."""
    hosts = f" on {cfg.nnodes} hosts ({cfg.gpus} per host)" if cfg.nnodes > 1 else ""
    return (f"data-parallel over {info.world} ranks ({info.backend}){hosts}, "
            f"{per_rank_batch} examples per rank (global batch {per_rank_batch * info.world}), "
            f"gradients all-reduced in {cfg.allreduce_dtype}, batch-norm statistics of the "
            "global batch; rank 0 reports")
