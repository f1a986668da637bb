"""TensorBoard scalars for a run, so runs open in TensorBoard too.

TensorFlow backend: ``tf.summary.write`` (works without the tensorboard package).
torch backend: ``torch.utils.tensorboard`` when the ``tensorboard`` package is installed.
Otherwise (e.g. JAX without TensorFlow) the scalars are skipped and a note is added to
the run's precision record.
"""
from __future__ import annotations

from pathlib import Path

from .device import keras_backend
from .events import EpochRecord
from .precision import PrecisionRecord


class ScalarLogger:
    """Writes one set of scalars per epoch; a no-op when no writer is available."""

    def __init__(self, write=None, close=None):
        self._write, self._close = write, close

    @classmethod
    def open(cls, folder: Path, enabled: bool, record: PrecisionRecord) -> "ScalarLogger":
        """A logger writing under ``folder``; notes in ``record`` why it is off, if it is."""
        if not enabled:
            return cls()
        backend = keras_backend()
        try:
            if backend == "tensorflow":
                return cls._tf_logger(folder)
            if backend == "torch":
                from torch.utils.tensorboard import SummaryWriter
                writer = SummaryWriter(log_dir=str(folder))
                return cls(lambda tag, v, step: writer.add_scalar(tag, v, step), writer.close)
        except ImportError as err:
            record.notes.append(f"TensorBoard scalars skipped: {err}")
            return cls()
        record.notes.append(f"TensorBoard scalars skipped: no writer on the {backend} backend "
                            "without TensorFlow")
        return cls()

    @classmethod
    def _tf_logger(cls, folder: Path) -> "ScalarLogger":
        # tf.summary.scalar needs the tensorboard package (not in tensorflow-cpu); the
        # low-level tf.summary.write with scalar-plugin metadata writes the same records.
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2
        meta = summary_pb2.SummaryMetadata(data_class=summary_pb2.DATA_CLASS_SCALAR)
        meta.plugin_data.plugin_name = "scalars"
        blob = meta.SerializeToString()
        writer = tf.summary.create_file_writer(str(folder))

        def write(tag: str, value: float, step: int) -> None:
            with writer.as_default():
                tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=blob)
        return cls(write, writer.close)

    def write_epoch(self, rec: EpochRecord) -> None:
        """Scalars of one epoch, at step = epoch number."""
        if self._write is None:
            return
        scalars = {"loss/train": rec.train_loss, "loss/dev": rec.dev_loss,
                   "time/epoch_seconds": rec.epoch_seconds,
                   "time/examples_per_second": rec.examples_per_second,
                   "time/wall_seconds": rec.wall_seconds,
                   "memory/peak_bytes": float(rec.peak_memory_bytes)}
        if rec.detection is not None and rec.detection.frr is not None:
            scalars["detection/frr_at_fa_budget"] = rec.detection.frr
        for tag, value in scalars.items():
            self._write(tag, float(value), rec.epoch)

    def close(self) -> None:
        """Flush and close the writer."""
        if self._close is not None:
            self._close()
