"""The trial engine: train one model at one precision and report live per-epoch events.

A custom loop over ``train_on_batch`` (same on the TensorFlow, JAX and torch backends)
rather than ``fit``: cancellation is checked before every batch, each epoch is timed
after a device synchronisation, and the dev split is scored once per epoch with the
probabilities the detection metric needs. Batches come from one feed object
(:mod:`model.train.feed`: memory-mapped host batches or device-resident arrays),
chosen once per run. The training thread never touches the UI: it
only calls ``emit``.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data.dataset import Dataset, load_dataset
from .device import peak_memory, reset_peak_memory, synchronize
from ..errors import ConfigError, LabError
from .events import EpochRecord, RunSummary, TrialEvent, summarise_epochs
from ..audio.features import FEATURE_KIND_LOG, feature_kind
from ..card import PRETRAINED_PATH, write_model_card
from .feed import (Cancelled, Feed, StepRunner, choose_train_path, make_feed,
                   make_step_runner, predict_batches, read_examples, resident_bytes)
from .kernels import gru_kernel_report, install_gru_probe, reset_gru_counts, set_gru_kernel
from .specaug import mask_batches
from .metrics import frr_at_fa_rate
from .precision import (PrecisionRecord, apply_precision, make_optimizer, policy_for,
                        precision_mode, record_model_dtypes)
from .tensorboard import ScalarLogger
from .trial_config import (TrialConfig, check_against_dataset, epoch_learning_rate,
                           init_model_path)

EmitFn = Callable[[TrialEvent], None]
_BCE_EPS = 1e-7  # Keras's clipping epsilon for binary cross-entropy


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def binary_crossentropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy (nats per step) with Keras's clipping."""
    p = np.clip(probs.astype(np.float64), _BCE_EPS, 1.0 - _BCE_EPS)
    y = labels.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def divergence_hint(kind_name: str, precision: str) -> str:
    """Why a run may have diverged, as a parenthesised remark ("" if nothing is known).

    Args:
        kind_name: the dataset's feature kind.
        precision: the run's precision mode.
    """
    kind = feature_kind(kind_name)
    if not kind.float16_safe and precision_mode(precision).policy == "mixed_float16":
        return f" ({kind.name} features exceed float16's maximum of 65504)"
    return ""


def probe_gru_kernel(model) -> str:
    """Which GRU kernel this model runs on this device ("cudnn", "scan", "loop", ...).

    One eager call of the first GRU layer on a 4-step input, counted by
    :mod:`model.train.kernels`: the kernel choice depends on device, dtype and layer settings,
    not on the input's length, and an eager layer call traces no graph. "none" for a
    model without a GRU.
    """
    import keras
    grus = [layer for layer in model.layers if type(layer).__name__ == "GRU"]
    if not grus:
        return "none"
    install_gru_probe()
    reset_gru_counts()
    width = int(grus[0].cell.kernel.shape[0])  # the GRU's input width (seed: conv filters)
    grus[0](keras.ops.zeros((1, 4, width)), training=False)
    report = gru_kernel_report()
    return report.label + (f" ({'; '.join(report.errors)})" if report.errors else "")


def build_trial_model(cfg: TrialConfig, record: PrecisionRecord, kind: str = FEATURE_KIND_LOG):
    """Build and compile the network for ``cfg``, filling the record's dtypes and loss scaling.

    Args:
        cfg: the trial; its ``network`` (spectrogram kinds) or ``head`` (speech embeddings)
            is built, whichever reads ``kind``.
        record: the run's precision record.
        kind: the dataset's feature kind.
    """
    import keras

    from .network import build_model
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(policy_for(cfg.precision), cfg.network_for(kind), kind=kind)
    if cfg.init != "scratch":
        load_pretrained_weights(model, init_model_path(cfg.init, kind))
    model.compile(optimizer=make_optimizer(cfg.precision, cfg.learning_rate, record),
                  loss="binary_crossentropy")
    record_model_dtypes(model, record)
    return model


def load_pretrained_weights(model, path: Path = PRETRAINED_PATH) -> None:
    """Copy the shipped pretrained weights into ``model`` (same architecture required)."""
    import keras
    if not path.is_file():
        raise ConfigError(f"no pretrained model shipped yet: {path} is missing; use init scratch")
    source = keras.saving.load_model(path, compile=False)
    try:
        model.set_weights(source.get_weights())
    except ValueError as err:
        raise ConfigError(f"pretrained model {path} does not match the network settings: "
                          f"{str(err).splitlines()[0]}") from None


def save_model_atomic(model, path: Path) -> None:
    """Save as .keras through a temporary file in the same folder, then rename."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def one_line(err: BaseException) -> str:
    """A one-line message for an exception (LabError text as is, else type: first line)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, LabError) else f"{type(err).__name__}: {text}".rstrip(": ")


class _Trial:
    """State of one running trial; :func:`run_trial` is the public entry."""

    def __init__(self, cfg: TrialConfig, run_id: str, run_dir: Path, emit: EmitFn,
                 cancel: threading.Event):
        self.cfg, self.run_id, self.run_dir = cfg, run_id, run_dir
        self.emit_fn, self.cancel = emit, cancel
        self.epochs: list[EpochRecord] = []
        self.feed: Feed | None = None  # set by prepare()

    def emit(self, kind: str, **fields) -> None:
        self.emit_fn(TrialEvent(kind=kind, run_id=self.run_id, precision=self.cfg.precision,
                                seed=self.cfg.seed, time_unix=time.time(), **fields))

    def summary(self) -> RunSummary:
        return summarise_epochs(self.epochs, self.cfg.dev_loss_target)

    def batches(self, rng: np.random.Generator):
        """This epoch's training batches from the run's feed (SpecAugment-masked if set)."""
        batches = self.feed.train_batches(self.cfg.batch_size, rng)
        return mask_batches(batches, self.cfg.spec_augment, rng)

    def train_epoch(self, runner: StepRunner, data: Dataset,
                    rng: np.random.Generator) -> tuple[float, int]:
        """One pass; returns (mean loss, examples) or raises Cancelled."""
        seen = 0
        runner.start_epoch()
        for xb, yb in self.batches(rng):
            if self.cancel.is_set():
                raise Cancelled
            runner.step(xb, yb)
            seen += xb.shape[0]
        loss = runner.epoch_loss()
        if not np.isfinite(loss):
            hint = divergence_hint(data.meta.feature_kind, self.cfg.precision)
            raise TrainingDiverged(f"training loss became {loss} in epoch {len(self.epochs) + 1}"
                                   f" at {self.cfg.precision}{hint}")
        return loss, seen

    def score_dev(self, model, data: Dataset) -> tuple[float, object]:
        probs = predict_batches(model, self.feed.dev_batches(self.cfg.batch_size), self.cancel)
        labels = read_examples(data.y_dev, np.arange(probs.shape[0]))[..., 0]
        timing = feature_kind(data.meta.feature_kind).timing  # spans in the kind's steps
        return (binary_crossentropy(probs, labels),
                frr_at_fa_rate(probs, labels, self.cfg.target_fa_per_hour,
                               refractory_steps=timing.refractory_steps,
                               early_steps=timing.early_tolerance_steps))

    def prepare(self, data: Dataset):
        """Precision, model, feed and step mode; returns (model, runner, record)."""
        record = apply_precision(self.cfg.precision)
        model = build_trial_model(self.cfg, record, data.meta.feature_kind)
        n_train = min(self.cfg.train_examples or data.n_train, data.n_train)
        n_dev = min(self.cfg.dev_examples or data.n_dev, data.n_dev)
        path = choose_train_path(record.backend, record.device_kind,
                                 resident_bytes(data, n_train, n_dev), self.cfg.train_path)
        self.feed = make_feed(path, data, n_train, n_dev)
        runner = make_step_runner(model, path)
        record.feed, record.step_mode = self.feed.mode, path.step
        set_gru_kernel(self.cfg.gru_kernel, self.cfg.batch_size)  # before the probe: it reports this
        record.gru_kernel = probe_gru_kernel(model)
        record.notes.append(f"train path: {path.feed}, {path.step} steps ({path.reason}); "
                            f"GRU kernel: {record.gru_kernel}")
        return model, runner, record

    def run(self, data: Dataset) -> RunSummary:
        try:
            return self._run(data)
        finally:
            if self.feed is not None:
                self.feed.release()

    def _run(self, data: Dataset) -> RunSummary:
        model, runner, record = self.prepare(data)
        logger = ScalarLogger.open(self.run_dir / "tb", self.cfg.tensorboard, record)
        self.emit("started", device=record)
        rng = np.random.default_rng(self.cfg.seed)
        reset_peak_memory()
        t_start = time.perf_counter()
        try:
            for epoch in range(1, self.cfg.epochs + 1):
                runner.set_learning_rate(epoch_learning_rate(self.cfg, epoch))
                t0 = time.perf_counter()
                train_loss, seen = self.train_epoch(runner, data, rng)
                synchronize(model)
                t1 = time.perf_counter()
                dev_loss, detection = self.score_dev(model, data)
                t2 = time.perf_counter()
                mem = peak_memory()
                rec = EpochRecord(epoch, train_loss, dev_loss, detection, t1 - t0,
                                  seen / max(t1 - t0, 1e-9), t2 - t1, t2 - t_start,
                                  mem.peak_bytes, mem.kind)
                self.epochs.append(rec)
                logger.write_epoch(rec)
                self.emit("epoch", epoch=rec)
        finally:
            logger.close()
        if self.cfg.save_model:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_model_atomic(model, self.run_dir / "model.keras")
            # detection and evaluation feed the model the features it was trained on
            write_model_card(self.run_dir / "model.keras", data.meta.feature_kind)
        summary = self.summary()
        self.emit("finished", summary=summary,
                  extra={"model_path": str(self.run_dir / "model.keras")}
                  if self.cfg.save_model else {})
        return summary


def run_trial(cfg: TrialConfig, run_id: str, run_dir: Path, emit: EmitFn,
              cancel: threading.Event | None = None, data: Dataset | None = None) -> str:
    """Train one model and report events; never raises for a failing run.

    Args:
        cfg: the trial (validated by the caller or here against the data).
        run_id: identifier carried by every event.
        run_dir: folder for model.keras, TensorBoard scalars and error.txt.
        emit: called with each TrialEvent, on this thread, in order.
        cancel: set it to stop; the loop stops before its next batch.
        data: the opened dataset (opened from cfg.dataset when None).

    Returns:
        The final event kind: "finished", "failed" or "cancelled".
    """
    trial = _Trial(cfg, run_id, run_dir, emit, cancel or threading.Event())
    try:
        data = data or load_dataset(cfg.dataset, check_values=False)
        check_against_dataset(cfg, data)
        trial.run(data)
        return "finished"
    except Cancelled:
        trial.emit("cancelled", summary=trial.summary() if trial.epochs else None,
                   message=f"cancelled during epoch {len(trial.epochs) + 1}")
        return "cancelled"
    except Exception as err:  # noqa: BLE001 - a failing run must not kill the worker
        try:  # the traceback for the log; on a full disk the one-line event matters more
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            pass
        trial.emit("failed", message=one_line(err),
                   summary=trial.summary() if trial.epochs else None)
        return "failed"
