"""Shared by the detection tests (tests/test_detect.py, test_detect_rule.py,
test_detect_inputs.py): the seed network with random weights made input-sensitive, its
detector, band-limited test audio and that audio's reference probabilities.

A test module uses the fixtures by importing them; being module-scoped, each module builds
its own network once.
"""
import numpy as np
import pytest
import soxr

from model.detect.detector import DetectConfig, Detector

SPEECH_BINS = 37  # bins 0..36 = 0..8 kHz: the test network listens where speech lives


@pytest.fixture(scope="module")
def keras_model():
    """The seed network with random weights, made input-sensitive: its output is scaled so
    probabilities spread over 0..1, and it ignores bins above 8 kHz, where lossy codecs
    discard inaudible content that a random (untrained) network would amplify."""
    import keras

    from model.train.network import build_model

    keras.utils.set_random_seed(0)
    model = build_model()
    w, b = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([w * 10.0, b])
    k, kb = model.get_layer("conv").get_weights()
    k[:, SPEECH_BINS:, :] = 0.0
    model.get_layer("conv").set_weights([k, kb])
    return model


@pytest.fixture(scope="module")
def detector(keras_model):
    return Detector.from_keras(keras_model, DetectConfig(), label="test")


def _speechlike_16k(seconds=6.0, seed=1):
    """Band-limited (< 7.5 kHz) test audio at 16 kHz: noise floor, gated noise, a sweep."""
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    t = np.arange(n) / 16000
    x = (0.01 * rng.normal(size=n) + 0.1 * rng.normal(size=n) * (np.sin(2 * np.pi * 0.7 * t) > 0)
         + 0.2 * np.sin(2 * np.pi * (300 + 200 * t) * t) * ((t > 2) & (t < 4)))
    x = soxr.resample(soxr.resample(x.astype(np.float32), 16000, 15000, "VHQ"), 15000, 16000, "VHQ")
    return x[:n].astype(np.float32)


def _at(rate, x16):
    return x16 if rate == 16000 else soxr.resample(x16, 16000, rate, "VHQ").astype(np.float32)


@pytest.fixture(scope="module")
def reference(detector):
    x = _at(44100, _speechlike_16k())
    probs = detector.detect_samples(x, 44100).probabilities
    assert probs.std() > 0.05  # the network does react to this audio
    return x, probs
