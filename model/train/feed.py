"""How training batches reach the model and how steps run: the engine's fast path.

Feeds:

* ``host-memmap``: batches gathered from the memory-mapped float16 files and converted to
  float32 on the host, then copied to the device by Keras at every step (any backend;
  what a CPU run uses: there is no other memory to put the data in).
* ``device-resident``: on a GPU with the torch backend, the float16 arrays are copied to
  device memory once per run; each batch is gathered and cast to float32 on the device.
  Host-fed 142 MB batches halved GPU throughput by themselves (DESIGN.md).

Step modes:

* ``sync``: ``train_on_batch``, which returns the loss to the host after every step, so
  the host waits for the device before it can queue the next step.
* ``async`` (torch backend): Keras's own ``train_function``, same ``train_step`` maths;
  the epoch's mean loss (Keras's loss tracker) is read once at the end. Keras itself
  still waits for the GPU several times a step (see model/train/torch_step.py).
* ``lean`` (torch backend, the default there): model/train/torch_step.py, the same maths with
  no host-device synchronisation inside a step; ``async`` is the fallback when the
  compiled optimizer is not one it knows.

Both feeds give the same examples in the same order: the per-epoch permutation comes
from the same numpy generator, and each batch's indices are sorted in both.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..data.dataset import Dataset

FEEDS = ("host-memmap", "device-resident")
STEPS = ("sync", "async", "lean")
PATH_MODES = ("auto", "portable")  # TrialConfig.train_path values
_DEVICE_SHARE = 0.5  # the data may take at most this share of free device memory
_CHUNK = 256  # examples per host->device copy while loading


@dataclass
class TrainPath:
    """How one run's steps were fed and executed (stored with the run)."""

    feed: str  # one of FEEDS
    step: str  # one of STEPS
    reason: str  # why this path was chosen, in words
    gru_kernel: str = ""  # "cudnn", "loop", "mixed", "none" or "unknown", after the first epoch

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def _nbytes(arr: np.ndarray, n: int) -> int:
    return int(n * int(np.prod(arr.shape[1:])) * arr.dtype.itemsize)


def resident_bytes(data: Dataset, n_train: int, n_dev: int) -> int:
    """Device bytes the first n_train training and n_dev dev examples take, stored as on disk."""
    return (_nbytes(data.x_train, n_train) + _nbytes(data.y_train, n_train)
            + _nbytes(data.x_dev, n_dev) + _nbytes(data.y_dev, n_dev))


def choose_train_path(backend: str, device_kind: str, need_bytes: int, mode: str = "auto",
                      free_device_bytes: int | None = None) -> TrainPath:
    """The fastest correct path for this backend and device.

    Args:
        backend: Keras backend name.
        device_kind: "gpu" or "cpu".
        need_bytes: bytes the resident arrays would take (:func:`resident_bytes`).
        mode: "auto" (fastest) or "portable" (host feed, sync steps: the reference path).
        free_device_bytes: free device memory; asked from torch when None.

    Returns:
        TrainPath with the reason in words.
    """
    if mode == "portable":
        return TrainPath("host-memmap", "sync", "portable path requested")
    if backend != "torch":
        return TrainPath("host-memmap", "sync", f"{backend} backend: train_on_batch per step")
    if device_kind != "gpu":
        return TrainPath("host-memmap", "lean", "CPU: the data is already in host memory")
    free = free_device_bytes if free_device_bytes is not None else _free_device_bytes()
    if need_bytes <= _DEVICE_SHARE * free:
        return TrainPath("device-resident", "lean",
                         f"data {need_bytes / 2**30:.2f} GiB fits in {free / 2**30:.1f} GiB free")
    return TrainPath("host-memmap", "lean", f"data {need_bytes / 2**30:.2f} GiB exceeds "
                     f"{_DEVICE_SHARE:.0%} of {free / 2**30:.1f} GiB free device memory")


def _free_device_bytes() -> int:
    import torch
    free, _total = torch.cuda.mem_get_info()
    return int(free)


def array_to_device(arr: np.ndarray, n: int, release=None):
    """First ``n`` rows of a (memory-mapped) array as a torch tensor on the GPU, same dtype.

    Copied in chunks so host memory stays small; ``release(arr)`` drops mapped pages.
    """
    import torch
    out = torch.empty((n,) + tuple(arr.shape[1:]), dtype=getattr(torch, arr.dtype.name),
                      device="cuda")
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        out[start:stop].copy_(torch.from_numpy(np.ascontiguousarray(arr[start:stop])))
        if release is not None:
            release(arr)
    return out


def epoch_order(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """(n_batches, batch_size) example indices of one epoch: a permutation, each row sorted.

    The last partial batch is dropped (one batch shape per run). Uses ``rng`` exactly as
    the host feed does, so both feeds see the same batches.
    """
    order = rng.permutation(n)
    n_batches = n // batch_size
    return np.sort(order[:n_batches * batch_size].reshape(n_batches, batch_size), axis=1)


class DeviceData:
    """Training and dev arrays resident in GPU memory (torch backend)."""

    def __init__(self, data: Dataset, n_train: int, n_dev: int, release=None):
        self.x_train = array_to_device(data.x_train, n_train, release)
        self.y_train = array_to_device(data.y_train, n_train, release)
        self.x_dev = array_to_device(data.x_dev, n_dev, release)
        self.y_dev = array_to_device(data.y_dev, n_dev, release)

    def train_batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple]:
        """Shuffled float32 (x, y) batches on the device; one index upload per epoch."""
        import torch
        order = torch.from_numpy(epoch_order(self.x_train.shape[0], batch_size, rng)).to("cuda")
        for row in order:
            yield (self.x_train.index_select(0, row).float(),
                   self.y_train.index_select(0, row).float())

    def dev_batches(self, batch_size: int) -> Iterator:
        """Dev inputs in order, float32, on the device."""
        for start in range(0, self.x_dev.shape[0], batch_size):
            yield self.x_dev[start:start + batch_size].float()

    def close(self) -> None:
        """Free the device memory now rather than at garbage collection."""
        self.x_train = self.y_train = self.x_dev = self.y_dev = None
        import torch
        torch.cuda.empty_cache()


class StepRunner:
    """Runs training steps in one mode and gives each epoch's mean loss."""

    def __init__(self, model, step: str):
        """Raises AttributeError (lean mode) when the compiled optimizer is not plain Adam."""
        self.model, self.step_mode = model, step
        self._losses: list[float] = []
        self._first = True
        self._lean = None
        if step == "lean":
            from .torch_step import TorchLeanStep
            self._lean = TorchLeanStep(model)

    def start_epoch(self) -> None:
        """Forget the previous epoch's losses."""
        self._losses, self._first = [], True
        if self._lean is not None:
            self._lean.start_epoch()

    def set_learning_rate(self, lr: float) -> None:
        """Adam's step size from the next step on (a loss-scale wrapper passes it through)."""
        opt = self.model.optimizer
        getattr(opt, "inner_optimizer", opt).learning_rate = float(lr)  # saved with the model
        if self._lean is not None:
            self._lean.lr = float(lr)  # the lean step's host copy (read without a device sync)

    def step(self, xb, yb) -> None:
        """One optimizer step on a batch."""
        if self._lean is not None:
            self._lean.step(xb, yb)
        elif self.step_mode == "sync" or self._first:
            # train_on_batch builds the model on first use and resets the loss tracker,
            # so the async steps that follow accumulate this epoch's mean in it.
            out = self.model.train_on_batch(xb, yb)
            self._losses.append(float(np.asarray(out).reshape(-1)[0]))
            self._first = False
        else:
            self.model.train_function([(xb, yb, None)])

    def epoch_loss(self) -> float:
        """Mean training loss of this epoch's steps (one host read in async and lean modes)."""
        if self._lean is not None:
            return self._lean.epoch_loss()
        if self.step_mode == "sync" or len(self._losses) == 0:
            return float(np.mean(self._losses)) if self._losses else float("nan")
        result = self.model.get_metrics_result()["loss"]
        return float(np.asarray(result.detach().cpu() if hasattr(result, "detach") else result))


def make_step_runner(model, path: TrainPath) -> StepRunner:
    """The path's step runner; a lean path falls back to async (and says why in the path)."""
    try:
        runner = StepRunner(model, path.step)
    except AttributeError as err:
        path.step = "async"
        path.reason += f"; lean step unavailable ({err}), Keras train_function instead"
        return StepRunner(model, "async")
    fused = runner._lean.fused_bn if runner._lean is not None else []
    if fused:
        path.reason += f"; fused batch norm in {len(fused)} layers"
    return runner
