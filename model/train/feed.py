"""How training batches reach the model and how steps run: the engine's fast path.

Feeds (one interface, :class:`Feed`; the trial holds one and never asks which):

* ``host-memmap`` (:class:`HostFeed`): batches gathered from the memory-mapped float16
  files and converted to float32 on the host, then copied to the device by Keras at every
  step (any backend; what a CPU run uses: there is no other memory to put the data in).
  The mapped pages are released after each read, so peak RSS grows with the batch size,
  not with the dataset size.
* ``device-resident`` (:class:`model.train.feed_device.DeviceFeed`): on a GPU with the
  torch backend, the float16 arrays are copied to device memory once per run; each batch
  is gathered and cast to float32 on the device.

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

import mmap
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from ..data.dataset import Dataset
from .feed_device import DeviceFeed

FEEDS = ("host-memmap", "device-resident")
STEPS = ("sync", "async", "lean")
PATH_MODES = ("auto", "portable")  # TrialConfig.train_path values
_DEVICE_SHARE = 0.5  # the data may take at most this share of free device memory


@dataclass
class TrainPath:
    """How one run's steps were fed and executed (stored with the run)."""

    feed: str  # one of FEEDS
    step: str  # one of STEPS
    reason: str  # why this path was chosen, in words
    gru_kernel: str = ""  # "cudnn", "scan" (JAX), "loop", "mixed", "none" or "unknown", after the first epoch

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


class Cancelled(Exception):
    """The run's cancel flag was seen (raised before the next batch)."""


class Feed(Protocol):
    """Where one run's batches come from; :func:`make_feed` picks the implementation."""

    mode: str  # one of FEEDS, recorded with the run

    def train_batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple]:
        """One epoch's shuffled float32 (x, y) batches, last partial batch dropped."""
        ...

    def dev_batches(self, batch_size: int) -> Iterator:
        """The dev inputs in order, float32, the last batch possibly partial."""
        ...

    def release(self) -> None:
        """Give back what the feed holds (device memory); safe to call once at the end."""
        ...


def release_mapped_pages(arr: np.ndarray) -> None:
    """Drop a memory-mapped array's resident pages from this process (page cache stays).

    Without this, every example ever read stays counted in the process's RSS.

    Args:
        arr: any array; only a ``np.memmap`` (or a view holding its ``_mmap``) is affected.
    """
    mapping = getattr(arr, "_mmap", None)
    if isinstance(mapping, mmap.mmap) and hasattr(mapping, "madvise"):
        try:
            mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


def read_examples(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (sorted) of a possibly memory-mapped array, as float32."""
    out = np.asarray(arr[idx], dtype=np.float32)
    release_mapped_pages(arr)
    return out


def iterate_batches(x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator,
                    n_examples: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Shuffled float32 training batches; the last partial batch is dropped.

    Dropping it keeps one batch shape, so graph backends trace once per run.

    Args:
        x, y: (m, ...) arrays, memory-mapped or not, any float dtype.
        batch_size: examples per batch.
        rng: shuffling generator.
        n_examples: use only the first N examples (0: all).

    Returns:
        Iterator of (x, y) float32 arrays with ``batch_size`` rows each.
    """
    n = min(n_examples or x.shape[0], x.shape[0])
    order = rng.permutation(n)
    for start in range(0, n - batch_size + 1, batch_size):
        idx = np.sort(order[start:start + batch_size])
        yield read_examples(x, idx), read_examples(y, idx)


def split_batches(x: np.ndarray, batch_size: int, n_examples: int = 0) -> Iterator[np.ndarray]:
    """The first ``n_examples`` rows of ``x`` (0: all) in order, float32, the last batch partial."""
    n = min(n_examples or x.shape[0], x.shape[0])
    return (read_examples(x, np.arange(s, min(s + batch_size, n))) for s in range(0, n, batch_size))


def predict_split(model, x: np.ndarray, batch_size: int, n_examples: int = 0,
                  cancel: threading.Event | None = None) -> np.ndarray:
    """(n, steps) float32 probabilities for the first ``n_examples`` rows of ``x`` (0: all).

    Raises:
        Cancelled: ``cancel`` was set (checked before every batch).
    """
    return predict_batches(model, split_batches(x, batch_size, n_examples), cancel)


def predict_batches(model, batches: Iterable, cancel: threading.Event | None = None
                    ) -> np.ndarray:
    """(n, steps) float32 probabilities for an iterable of input batches (host or device).

    Raises:
        Cancelled: ``cancel`` was set (checked before every batch).
    """
    parts = []
    for xb in batches:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        parts.append(np.asarray(model.predict_on_batch(xb), dtype=np.float32)[..., 0])
    return np.concatenate(parts, axis=0)


class HostFeed:
    """Batches read from the memory-mapped dataset on the host; the ``host-memmap`` feed."""

    mode = "host-memmap"

    def __init__(self, data: Dataset, n_train: int, n_dev: int):
        """Use the first ``n_train`` training and ``n_dev`` dev examples of ``data``."""
        self.data, self.n_train, self.n_dev = data, n_train, n_dev

    def train_batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple]:
        """Shuffled float32 (x, y) numpy batches (:func:`iterate_batches`)."""
        return iterate_batches(self.data.x_train, self.data.y_train, batch_size, rng,
                               self.n_train)

    def dev_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Dev inputs in order, float32 numpy (:func:`split_batches`)."""
        return split_batches(self.data.x_dev, batch_size, self.n_dev)

    def release(self) -> None:
        """Nothing to give back: the mapped pages are released after every read."""


def make_feed(path: TrainPath, data: Dataset, n_train: int, n_dev: int) -> Feed:
    """The feed ``path`` names, holding the first ``n_train``/``n_dev`` examples.

    Args:
        path: the run's path (:func:`choose_train_path`); only ``path.feed`` is read.
        data: the opened dataset.
        n_train: training examples in use (at most ``data.n_train``).
        n_dev: dev examples in use (at most ``data.n_dev``).

    Returns:
        A :class:`DeviceFeed` (arrays copied to the GPU now) or a :class:`HostFeed`.
    """
    if path.feed == "device-resident":
        return DeviceFeed(data, n_train, n_dev, release_mapped_pages)
    return HostFeed(data, n_train, n_dev)


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
