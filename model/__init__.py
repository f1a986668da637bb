"""ML core of the AMP trigger-word lab. No Streamlit import anywhere in this package.

The pipeline, one sub-package a stage (imports only go down this list; see docs/ARCHITECTURE.md):
``audio`` (files, features, effects) -> ``data`` (speech, mixing, datasets) -> ``train``
(network, precision, the trial engine) -> ``runs`` (store, jobs, sweeps) -> ``detect``
(streaming inference, evaluation) -> ``cli``. ``errors``, ``procs`` and ``card`` sit at the
root. Import from the sub-modules; this package itself stays light (no TensorFlow).
"""
from __future__ import annotations

from .audio.features import (CLIP_SAMPLES, N_FRAMES, N_FREQ, N_STEPS, SAMPLE_RATE_HZ,
                             STEP_SECONDS, audio_to_features)
from .errors import AudioError, ConfigError, DatasetError, LabError, SpeechError

__all__ = ["AudioError", "ConfigError", "DatasetError", "LabError", "SpeechError",
           "CLIP_SAMPLES", "N_FRAMES", "N_FREQ", "N_STEPS", "SAMPLE_RATE_HZ", "STEP_SECONDS",
           "audio_to_features"]
