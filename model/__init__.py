"""ML core of the AMP trigger-word lab. No Streamlit import anywhere in this package.

Stages: features -> speech -> synth -> dataset -> network -> trial -> store -> detect.
Heavy modules (TensorFlow/Keras) are imported lazily, so data tools start fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from .errors import AudioError, ConfigError, DatasetError, LabError, SpeechError
from .features import (CLIP_SAMPLES, N_FRAMES, N_FREQ, N_STEPS, SAMPLE_RATE_HZ, STEP_SECONDS,
                       audio_to_features)

# public name -> submodule; resolved on first access (PEP 562) to keep imports light
_LAZY = {
    "Dataset": "dataset", "DatasetMeta": "dataset", "load_dataset": "dataset",
    "NetworkConfig": "network", "build_model": "network",
    "Voice": "speech", "list_voices": "speech", "voice_families": "speech", "draw_voice": "speech",
    "synthesize": "speech", "check_word": "speech",
    "WordBank": "bank", "BankConfig": "bank", "build_bank": "bank", "build_or_load_bank": "bank",
    "AugmentConfig": "augment", "augment_word": "augment", "augment_mix": "augment",
    "BackgroundConfig": "backgrounds", "make_background": "backgrounds",
    "crop_background": "backgrounds",
    "DetectConfig": "detect", "Detector": "detect", "DetectResult": "detect",
    "Detection": "detect", "probabilities_to_detections": "detect",
    "overlay_chime": "chime", "write_chimed_wav": "chime", "chimed_wav_bytes": "chime",
    "synthesize_chime": "chime",
    "PRECISIONS": "precision", "PrecisionRecord": "precision", "apply_precision": "precision",
    "default_precisions": "precision",
    "TrialConfig": "trial_config", "ComparisonConfig": "trial_config",
    "validate_comparison": "trial_config",
    "TrialEvent": "events", "EpochRecord": "events", "RunSummary": "events",
    "PrecisionSummary": "events", "summarise_precisions": "events",
    "DetectionMetrics": "metrics", "frr_at_fa_rate": "metrics",
    "run_trial": "trial", "RunStore": "store", "export_json": "store_export",
    "export_csv": "store_export", "import_json": "store_export",
    "Runner": "jobs", "get_runner": "jobs", "ComparisonStatus": "jobs",
    "TrainPath": "feeding", "choose_train_path": "feeding",
    "EvalReport": "evaluate", "evaluate_model": "evaluate",
    "model_members": "ensemble", "predict_ensemble": "ensemble",
    "SweepConfig": "sweep_config", "sweep_result": "sweep",
    "SpecAugmentConfig": "specaug", "ConditionRow": "dev_breakdown",
    "breakdown_by_condition": "dev_breakdown",
}

__all__ = ["AudioError", "ConfigError", "DatasetError", "LabError", "SpeechError",
           "CLIP_SAMPLES", "N_FRAMES", "N_FREQ", "N_STEPS", "SAMPLE_RATE_HZ", "STEP_SECONDS",
           "audio_to_features", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
