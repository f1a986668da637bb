"""A check shared by the TensorFlow tests and tests/torch_checks.py: the learning rate that
StepRunner.set_learning_rate sets is the one the next optimizer step uses."""
from __future__ import annotations

import numpy as np


def weight_moves_under_lr(mode: str, dataset: str, rates=(0.01, 0.0, 0.01)) -> list[float]:
    """Largest trainable-weight change of one step at each learning rate in turn.

    Args:
        mode: StepRunner step mode ("sync", "async" or, on torch, "lean").
        dataset: tiny dataset folder; its first 4 training examples make the batch.

    Returns:
        One float per rate: a rate of 0 must leave every trainable weight unchanged.
    """
    import keras

    from model.data.dataset import load_dataset
    from model.train.feed import StepRunner
    from model.train.network import NetworkConfig
    from model.train.precision import apply_precision
    from model.train.trial import build_trial_model
    from model.train.trial_config import TrialConfig

    cfg = TrialConfig(network=NetworkConfig(conv_filters=8, gru_units=4, dropout=0.0),
                      learning_rate=rates[0])
    model = build_trial_model(cfg, apply_precision("fp32"))
    data = load_dataset(dataset, check_values=False)
    x = np.asarray(data.x_train[:4], np.float32)
    y = np.asarray(data.y_train[:4], np.float32)
    runner = StepRunner(model, mode)
    runner.start_epoch()
    moves = []
    for lr in rates:
        runner.set_learning_rate(lr)
        before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
        runner.step(x, y)
        after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
        moves.append(max(float(np.abs(a - b).max()) for a, b in zip(after, before)))
    return moves
