"""Tiny heads over speech embeddings (96 values every 80 ms) for the detection tests.

A head reads one embedding frame a step: LayerNorm -> Dense(8) -> GRU(8) -> Dense(1, sigmoid),
the layer kinds of the real head (model/train/network.py). Three flavours:

* random (the output scaled so probabilities spread over 0..1): follows the audio;
* always on: every step at sigmoid(6) = 0.9975;
* an oracle whose probability is a step-wise function of embedding value 0 alone
  (sigmoid(40 tanh(x0) - 20): ~0 for x0 = 0, ~1 for x0 = 1), so a hand-made dataset gives
  known detections (the GRU's update gate is shut, its recurrent weights are 0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

EMBED_KIND = "speech-embedding-v1"
UNITS = 8


def build_head(seed: int = 0, layer_norm: bool = True):
    """An untrained head: [LayerNorm ->] Dense(8) -> GRU(8) -> Dense(1, sigmoid)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, 96), name="embeddings")
    x = keras.layers.LayerNormalization(name="norm")(inputs) if layer_norm else inputs
    x = keras.layers.Dense(UNITS, activation="relu", name="dense")(x)
    x = keras.layers.GRU(UNITS, return_sequences=True, name="gru")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(x)
    return keras.Model(inputs, out, name="tiny_head")


def random_head(seed: int = 0, scale: float = 20.0):
    """A random head whose probabilities spread over 0..1 and follow the input."""
    model = build_head(seed)
    kernel, bias = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([kernel * scale, bias])
    return model


def always_on_head():
    """Every step at sigmoid(6) = 0.9975, whatever the input."""
    model = build_head(1)
    kernel, bias = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([np.zeros_like(kernel), np.full_like(bias, 6.0)])
    return model


def oracle_head():
    """Probability sigmoid(40 tanh(x0) - 20) of embedding value 0 at the same step."""
    model = build_head(2, layer_norm=False)
    dense_k, dense_b = model.get_layer("dense").get_weights()
    dense_k[:], dense_b[:] = 0.0, 0.0
    dense_k[0, 0] = 1.0  # unit 0 = relu(x0)
    model.get_layer("dense").set_weights([dense_k, dense_b])
    kernel, recurrent, bias = model.get_layer("gru").get_weights()  # gates [z, r, h]
    kernel[:], recurrent[:], bias[:] = 0.0, 0.0, 0.0
    kernel[0, 2 * UNITS] = 1.0  # candidate 0 = tanh(unit 0)
    bias[..., :UNITS] = -30.0  # update gate shut: h_t is the candidate, no memory
    model.get_layer("gru").set_weights([kernel, recurrent, bias])
    out_k, out_b = model.get_layer("out").get_weights()
    out_k[:] = 0.0
    out_k[0, 0] = 40.0 / np.tanh(1.0)
    model.get_layer("out").set_weights([out_k, np.full_like(out_b, -20.0)])
    return model


def save_head(model, folder: Path, name: str) -> Path:
    """Save ``model`` as folder/name with its card naming speech embeddings."""
    from model.card import write_model_card

    path = Path(folder) / name
    model.save(path)
    write_model_card(path, EMBED_KIND)
    return path
