"""A fake trainer whose speed depends on batch size and precision (known sweep answers)."""
from __future__ import annotations

import time

from model.train.events import EpochRecord, TrialEvent, summarise_epochs
from model.train.precision import PrecisionRecord

FIRST_EPOCH_EPS = 1.0  # epoch 1 (compile/warm-up) is slow: it must not count


def steady_eps(batch_size: int, precision: str) -> float:
    """Steady examples/s the fake reports: fp32 10*b; AMP gains 0.25x per doubling above 2."""
    fp32 = 10.0 * batch_size
    if precision == "fp32":
        return fp32
    return fp32 * (1.0 + 0.25 * (batch_size.bit_length() - 2))  # b=2: 1.0x, 4: 1.25x, 8: 1.5x


def dev_loss(batch_size: int, precision: str, epoch: int) -> float:
    """Dev loss after an epoch: AMP ends 0.01 worse than fp32."""
    return 1.0 / epoch + (0.01 if precision != "fp32" else 0.0)


class SpeedTrainer:
    """Stands in for run_trial: epochs at once, with the speeds above."""

    def __call__(self, cfg, run_id, run_dir, emit, cancel, data):
        now = time.time()
        emit(TrialEvent("started", run_id, cfg.precision, cfg.seed, now,
                        device=PrecisionRecord(cfg.precision, "tensorflow", "cpu", "Fake CPU",
                                               "float32", "float32", "float32")))
        recs = []
        for ep in range(1, cfg.epochs + 1):
            eps = FIRST_EPOCH_EPS if ep == 1 else steady_eps(cfg.batch_size, cfg.precision)
            recs.append(EpochRecord(ep, 1.0 / ep, dev_loss(cfg.batch_size, cfg.precision, ep),
                                    None, 12 / eps, eps, 0.1, ep * 1.0, 10**8, "rss"))
            emit(TrialEvent("epoch", run_id, cfg.precision, cfg.seed, time.time(),
                            epoch=recs[-1]))
        emit(TrialEvent("finished", run_id, cfg.precision, cfg.seed, time.time(),
                        summary=summarise_epochs(recs, cfg.dev_loss_target)))
        return "finished"
