"""One rank of a data-parallel trial: join the group, take this rank's shard, train.

Each rank holds only its shard of the training split (a contiguous 1/N of the examples
in use, the last few dropped so every rank has the same number of batches) in its feed
(device-resident on its own GPU, or memory-mapped on a CPU), draws its epoch order from
the run's seed as a one-process run does, and trains on ``batch_size / N`` examples a
step; the lean step (model/train/torch_step.py) averages the gradients. So a step sees a
global batch of ``batch_size`` examples, as one GPU would. Every rank scores the whole
dev split (the weights are the same on all ranks); rank 0 alone reports events, saves
the model and writes TensorBoard scalars.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..data.dataset import Dataset, load_dataset
from ..errors import ConfigError, LabError
from .distributed import RankInfo, init_rank, run_note, shutdown_rank
from .events import EpochRecord, TrialEvent, summarise_epochs
from .trial import one_line, run_trial
from .trial_config import TrialConfig, check_against_dataset

EmitFn = Callable[[TrialEvent], None]


def shard_trial(cfg: TrialConfig, data: Dataset, info: RankInfo) -> tuple[TrialConfig, Dataset]:
    """This rank's trial settings and training shard.

    Args:
        cfg: the run's settings (global batch size, examples in use).
        data: the whole opened dataset.
        info: this rank.

    Returns:
        (settings with the per-rank batch and files only on rank 0, dataset view whose
        training split is this rank's shard).

    Raises:
        ConfigError: the shard holds fewer examples than one per-rank batch.
    """
    n_train = min(cfg.train_examples or data.n_train, data.n_train)
    per_rank = n_train // info.world
    local_batch = cfg.batch_size // info.world
    if per_rank < local_batch:
        raise ConfigError(f"{n_train} training examples over {info.world} GPUs leave "
                          f"{per_rank} per GPU, fewer than one batch of {local_batch}")
    lo, hi = info.rank * per_rank, (info.rank + 1) * per_rank
    shard = replace(data, x_train=data.x_train[lo:hi], y_train=data.y_train[lo:hi])
    lead = info.rank == 0
    local = replace(cfg, batch_size=local_batch, train_examples=0,
                    save_model=cfg.save_model and lead, tensorboard=cfg.tensorboard and lead)
    return local, shard


def host_line(info: RankInfo, cfg: TrialConfig) -> str:
    """What a host without rank 0 records: "rank 2-3 of 4 on host 1; rank 0 (host 0) reports
    the figures"."""
    par = cfg.parallel
    first, last = par.first_rank, par.first_rank + par.local_ranks - 1
    ranks = f"rank {first}" if first == last else f"rank {first}-{last}"
    return f"{ranks} of {info.world} on host {par.node_rank}; rank 0 (host 0) reports the figures"


class RankEmitter:
    """What a rank reports: rank 0 its events with global figures, other ranks only an end.

    Rank 0's epochs count its own examples; the run trained ``world`` times as many, so
    examples/s (and the summary built from them) are scaled by ``world``. The device
    record gains the data-parallel note (ranks, backend, all-reduce dtype). On a host
    without rank 0 (several hosts), its local rank 0 reports the start and the end of the
    run there, with :func:`host_line` and no figures, so that host's run ends too.
    """

    def __init__(self, emit: EmitFn, info: RankInfo, cfg: TrialConfig):
        self.emit, self.info, self.cfg = emit, info, cfg
        self.epochs: list[EpochRecord] = []

    def __call__(self, ev: TrialEvent) -> None:
        if self.info.rank != 0:
            self._other_rank(ev)
            return
        if ev.kind == "started" and ev.device is not None:
            ev.device.notes.append(run_note(self.info, self.cfg.batch_size // self.info.world,
                                            self.cfg.parallel))
        if ev.kind == "epoch" and ev.epoch is not None:
            ev = replace(ev, epoch=replace(ev.epoch, examples_per_second=
                                           ev.epoch.examples_per_second * self.info.world))
            self.epochs.append(ev.epoch)
        if ev.summary is not None and self.epochs:
            ev = replace(ev, summary=summarise_epochs(self.epochs, self.cfg.dev_loss_target))
        self.emit(ev)

    def _other_rank(self, ev: TrialEvent) -> None:
        """Any rank's failure; on a host without rank 0, its local rank 0's start and end."""
        host_lead = self.info.local_rank == 0 and self.cfg.parallel.node_rank > 0
        if ev.kind in ("failed", "cancelled"):
            self.emit(replace(ev, message=f"rank {self.info.rank}: {ev.message}", summary=None))
        elif host_lead and ev.kind == "started" and ev.device is not None:
            ev.device.notes += [run_note(self.info, self.cfg.batch_size // self.info.world,
                                         self.cfg.parallel), host_line(self.info, self.cfg)]
            self.emit(ev)
        elif host_lead and ev.kind == "finished":
            self.emit(replace(ev, message=host_line(self.info, self.cfg), summary=None,
                              extra={}))


def settings_digest(cfg: TrialConfig) -> str:
    """A short hash of the settings every rank must share (not the dataset's path, which may
    differ between hosts, nor the host's own index)."""
    import hashlib
    import json
    raw = cfg.to_dict()
    raw.pop("dataset", None)
    raw["parallel"] = {k: v for k, v in raw["parallel"].items() if k != "node_rank"}
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_same_settings(cfg: TrialConfig, info: RankInfo) -> None:
    """Refuse a run whose hosts were started with different settings, before any step.

    Why: over several hosts each host is started by hand; a different batch size or seed
    would train a different split on each (or hang at a collective), so compare first.

    Raises:
        ConfigError: naming the first rank whose settings differ from rank 0's.
    """
    import torch.distributed as dist
    digests: list = [None] * info.world
    dist.all_gather_object(digests, settings_digest(cfg))
    odd = [r for r, d in enumerate(digests) if d != digests[0]]
    if odd:
        raise ConfigError(f"rank {odd[0]} of {info.world} was started with other settings than "
                          "rank 0; run the same command on every host (only --node-rank differs)")


def run_rank(cfg: TrialConfig, run_id: str, run_dir: Path, emit: EmitFn,
             cancel: threading.Event | None = None) -> str:
    """Train one rank of a data-parallel run (its environment names the rank, as torchrun's).

    Args:
        cfg: the run's settings, as stored (global batch size).
        run_id: identifier carried by every event.
        run_dir: the run's folder (rank 0 writes there).
        emit: receives rank 0's events, and any other rank's failure.
        cancel: set it to stop before the next batch.

    Returns:
        The final event kind: "finished", "failed" or "cancelled".
    """
    try:
        info = init_rank()
        if info is None:  # a one-process run: nothing to split
            return run_trial(cfg, run_id, run_dir, emit, cancel)
        check_same_settings(cfg, info)
        data = load_dataset(cfg.dataset, check_values=False)
        check_against_dataset(cfg, data)
        local, shard = shard_trial(cfg, data, info)
    except LabError as err:
        emit(TrialEvent("failed", run_id, cfg.precision, cfg.seed, time.time(),
                        message=one_line(err)))
        return "failed"
    try:
        return run_trial(local, run_id, run_dir, RankEmitter(emit, info, cfg), cancel, shard)
    finally:
        shutdown_rank()
