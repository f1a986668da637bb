"""The device-resident feed: the run's arrays live in device memory (torch backend).

On a GPU the float16 arrays are copied to device memory once per run; each batch is
gathered and cast to float32 on the device. Host-fed 142 MB batches halved GPU throughput
by themselves (measured on the H200). torch is imported only when this feed is used, so the module
costs nothing on other backends. In a data-parallel run each rank's feed holds only that rank's
shard of the training split, on that rank's GPU (model/train/dp_trial.py hands it a view).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..data.dataset import Dataset

_CHUNK = 256  # examples per host->device copy while loading

ReleaseFn = Callable[[np.ndarray], None]


def array_to_device(arr: np.ndarray, n: int, release: ReleaseFn | None = None,
                    device: str = "cuda") -> Any:
    """First ``n`` rows of a (memory-mapped) array as a torch tensor on a device, same dtype.

    Copied in chunks so host memory stays small.

    Args:
        arr: (m, ...) array, memory-mapped or not, m >= n.
        n: rows to copy.
        release: called with ``arr`` after each chunk, to drop its mapped pages.
        device: torch device name ("cuda"; "cpu" in tests).

    Returns:
        (n, ...) torch tensor of ``arr``'s dtype on ``device``.
    """
    import torch
    out = torch.empty((n,) + tuple(arr.shape[1:]), dtype=getattr(torch, arr.dtype.name),
                      device=device)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        # copied only when read-only (a memmap's view makes torch warn) or not contiguous
        out[start:stop].copy_(torch.from_numpy(np.require(arr[start:stop], requirements="CW")))
        if release is not None:
            release(arr)
    return out


def epoch_order(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """(n_batches, batch_size) example indices of one epoch: a permutation, each row sorted.

    The last partial batch is dropped (one batch shape per run). Uses ``rng`` exactly as
    the host feed does, so both feeds see the same batches.

    Args:
        n: training examples in use.
        batch_size: examples per batch.
        rng: the run's shuffling generator (one ``permutation`` draw).

    Returns:
        int64 index array, one sorted row per batch.
    """
    order = rng.permutation(n)
    n_batches = n // batch_size
    return np.sort(order[:n_batches * batch_size].reshape(n_batches, batch_size), axis=1)


class DeviceFeed:
    """Training and dev arrays resident in device memory; the ``device-resident`` feed."""

    mode = "device-resident"

    def __init__(self, data: Dataset, n_train: int, n_dev: int,
                 release: ReleaseFn | None = None, device: str = "cuda"):
        """Copy the first ``n_train`` training and ``n_dev`` dev examples to ``device``."""
        self.device = device
        self.x_train = array_to_device(data.x_train, n_train, release, device)
        self.y_train = array_to_device(data.y_train, n_train, release, device)
        self.x_dev = array_to_device(data.x_dev, n_dev, release, device)
        self.y_dev = array_to_device(data.y_dev, n_dev, release, device)

    def train_batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple]:
        """Shuffled float32 (x, y) batches on the device; one index upload per epoch.

        Args:
            batch_size: examples per batch; the last partial batch is dropped.
            rng: the run's shuffling generator, drawn once on the first batch.

        Returns:
            Iterator of (x, y) float32 torch tensors.
        """
        import torch
        order = torch.from_numpy(epoch_order(self.x_train.shape[0], batch_size, rng))
        for row in order.to(self.device):
            yield (self.x_train.index_select(0, row).float(),
                   self.y_train.index_select(0, row).float())

    def dev_batches(self, batch_size: int) -> Iterator:
        """Dev inputs in order, float32, on the device (the last batch may be partial)."""
        for start in range(0, self.x_dev.shape[0], batch_size):
            yield self.x_dev[start:start + batch_size].float()

    def release(self) -> None:
        """Free the device memory now rather than at garbage collection."""
        self.x_train = self.y_train = self.x_dev = self.y_dev = None
        import torch
        torch.cuda.empty_cache()
