"""Detect page: a clip (upload, recording or demo) -> probabilities, detections, chimed audio.

Times, the CSV and the hold-off follow the model's step grid (its feature kind's timing:
7.27 ms steps for spectrogram networks, 80 ms for a head over speech embeddings)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from model.audio.feature_kinds import StepTiming
from model.detect.chime import chimed_samples_wav_bytes
from model.detect.edges import RECORDING_PADS
from model.detect.detector import (DecodedClip, DetectConfig, Detector, decode_clip,
                                  probabilities_to_detections)
from model.card import recommended_threshold

from .common import guarded, settings, store
from .detect_data import (AUDIO_TYPES, ModelChoice, curve_frame, detections_frame,
                          list_demo_clips, list_models, model_timing, model_version,
                          probabilities_csv, spectrogram_image, timing_note)
from .enroll_data import my_models, profiles_root
from .enroll_view import my_model_section
from .quality_view import quality_expander

SOURCES = ("Upload a file", "Record", "Demo clip")


@dataclass
class Clip:
    """The audio the user picked."""

    name: str  # file name for messages and downloads
    data: bytes  # the file's bytes
    key: str = field(init=False)  # digest of the bytes: keys the caches without rehashing them

    def __post_init__(self) -> None:
        self.key = hashlib.blake2b(self.data, digest_size=16).hexdigest()


@dataclass
class Scan:
    """What the network said about a clip (cached per clip and model)."""

    probabilities: np.ndarray  # float32 per output step
    duration_s: float  # decoded duration
    timing: StepTiming  # the model's step grid: step length, step 0's time, default hold-off


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def load_detector(spec: str, mtime: float, store_path: str) -> Detector:
    """A loaded, XLA-ready detector; ``mtime`` keys the cache to the file's version."""
    del mtime
    # recordings often stop right after the word: score its edges like its middle
    return Detector(spec, DetectConfig(**RECORDING_PADS), store_path=store_path)


# A decoded hour is ~0.7 GB, so few are kept; shared (read-only) rather than copied per rerun.
@st.cache_resource(max_entries=2, show_spinner="Decoding the clip...")
def decoded_clip(key: str, _data: bytes) -> DecodedClip:
    """The clip decoded once, for the detector, the spectrogram and the chime alike.

    Args:
        key: digest of ``_data`` (the cache key; the bytes themselves are not hashed).
        _data: the file's bytes.

    Raises:
        AudioError: unreadable, truncated, NaN/inf or over the detector's limits.
    """
    return decode_clip(_data, DetectConfig().limits)  # the limits load_detector's config has


@st.cache_data(max_entries=16, show_spinner="Running the detector...")
def scan_clip(spec: str, mtime: float, store_path: str, key: str, _clip: DecodedClip) -> Scan:
    """Per-step probabilities of a clip (threshold-independent, so the slider is instant);
    ``key`` is the clip's digest, which stands for ``_clip`` in the cache key."""
    detector = load_detector(spec, mtime, store_path)
    result = detector.detect_clip(_clip)
    # step 0's time in the clip's own seconds (the lead-in's steps are dropped)
    timing = replace(detector.timing, first_step_end_seconds=result.step0_s)
    return Scan(result.probabilities, result.duration_s, timing)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_spectrogram(key: str, _clip: DecodedClip) -> tuple[np.ndarray, float] | None:
    """Spectrogram image of the clip's first two minutes; ``key`` is the clip's digest."""
    return spectrogram_image(_clip.samples, _clip.sample_rate_hz)


def _pick_clip() -> Clip | None:
    source = st.radio("Clip", SOURCES, horizontal=True, key="d_source")
    if source == SOURCES[0]:
        up = st.file_uploader("WAV, FLAC, OGG or MP3", type=AUDIO_TYPES, key="d_upload")
        return Clip(up.name, up.getvalue()) if up is not None else None
    if source == SOURCES[1]:
        rec = st.audio_input("Say the trigger word", key="d_record")
        return Clip("recording.wav", rec.getvalue()) if rec is not None else None
    demos = list_demo_clips(settings().demo_dirs)
    if not demos:
        st.info("No demo clips: put WAV files in assets/demo (or run `python -m model samples`).")
        return None
    path = st.selectbox("Demo clip", demos, format_func=lambda p: p.name, key="d_demo")
    return Clip(path.name, path.read_bytes())


def _pick_model() -> ModelChoice | None:
    app = settings()
    choices = list_models(store(), app.extra_models, candidates=app.candidate_models,
                          personal=my_models(profiles_root()))
    if not choices:
        st.info("No model yet: no pretrained model is shipped and no run has finished. "
                "Train one on the Trials page.")
        return None
    labels = [c.label for c in choices]
    label = st.selectbox("Model", labels, key="d_model")
    choice = choices[labels.index(label)]
    st.caption(timing_note(*model_timing(choice.path)))
    return choice


def probability_chart(curve: pd.DataFrame, found: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """Probability per step, the threshold as a rule, and each detection as a red point."""
    line = alt.Chart(curve).mark_line().encode(
        x=alt.X("time_s:Q", title="time (s)"),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="trigger-word probability"))
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(
        color="orange", strokeDash=[6, 3]).encode(y="threshold:Q")
    points = alt.Chart(found).mark_point(color="red", size=120, filled=True).encode(
        x="time_s:Q", y="score:Q", tooltip=["time_s", "score"])
    return (line + rule + points).properties(height=260)


def _rule_controls(choice: ModelChoice, timing: StepTiming) -> tuple[float, int, int]:
    """The detection rule's settings: threshold, minimum steps on, hold-off in steps.

    Args:
        choice: the selected model (its card recommends a threshold and names its kind).
        timing: the model's step timing (step length, default hold-off).
    """
    c = st.columns(3)
    card = recommended_threshold(choice.path)
    threshold = c[0].slider("threshold", 0.01, 0.999, card or 0.5, 0.001, key="d_threshold",
                            format="%.3f", help=f"the model card recommends {card:g}" if card
                            else "no recommendation in the model card")
    step_ms = f"{timing.step_seconds * 1000:.3g} ms"
    min_steps = c[1].number_input("minimum steps on", 1, 200, 1, key="d_min_steps",
                                  help=f"consecutive steps ({step_ms} each) at or above the "
                                       "threshold")
    # one key per kind: a model on another grid starts from its own default hold-off
    refractory = c[2].number_input("refractory steps", 0, 2000, timing.refractory_steps,
                                   key=f"d_refractory_{model_timing(choice.path)[0]}",
                                   help=f"after a detection, steps ({step_ms}) before the next")
    return float(threshold), int(min_steps), int(refractory)


def _show_result(clip: Clip, choice: ModelChoice) -> None:
    app = settings()
    audio = decoded_clip(clip.key, clip.data)  # the only decode; bad input raises here
    scan = scan_clip(choice.spec, model_version(choice.path), str(app.store_path), clip.key, audio)
    timing = scan.timing
    threshold, min_steps, refractory = _rule_controls(choice, timing)
    found = probabilities_to_detections(scan.probabilities, threshold, min_steps, refractory,
                                        timing)
    st.metric("detections", len(found), help=f"{scan.duration_s:.1f} s of audio")
    spec = cached_spectrogram(clip.key, audio)
    if spec is not None:
        img, seconds = spec
        st.image(img, caption=f"Spectrogram (log power, first {seconds:.1f} s; low frequencies "
                              "at the bottom)", width="stretch")
    st.altair_chart(probability_chart(curve_frame(scan.probabilities, timing=timing),
                                      detections_frame(found), threshold), width="stretch")
    times = [d.time_s for d in found]
    samples = audio.samples
    if any(t >= scan.duration_s for t in times):  # a word that ended the recording: its chime
        quiet = np.zeros(int(RECORDING_PADS["end_pad_seconds"] * audio.sample_rate_hz))
        samples = np.concatenate([samples, quiet.astype(samples.dtype)])  # rings after it
    chimed = chimed_samples_wav_bytes(samples, audio.sample_rate_hz, times)
    a, b = st.columns(2)
    a.caption("Original")
    a.audio(clip.data)
    b.caption(f"With a chime at each of the {len(found)} detections")
    b.audio(chimed, format="audio/wav")
    stem = clip.name.rsplit(".", 1)[0]
    d1, d2 = st.columns(2)
    d1.download_button("Download chimed WAV", chimed, f"{stem}_chimed.wav", "audio/wav",
                       key="d_dl_wav")
    d2.download_button("Download probabilities CSV",
                       probabilities_csv(scan.probabilities, timing),
                       f"{stem}_probabilities.csv", "text/csv", key="d_dl_csv")
    if found:
        st.dataframe(detections_frame(found), hide_index=True)


@guarded
def detect_page() -> None:
    """Render the Detect page."""
    st.title("Detect the trigger word in a clip")
    choice = _pick_model()
    if choice is not None:
        app = settings()
        quality_expander(choice.spec, choice.path, app.dataset_dir, app.store_path)
        if choice.label.startswith("my model ("):
            with st.expander("my model: before and after enrolment"):
                my_model_section(choice.path.parent)
    clip = _pick_clip()
    if choice is None or clip is None:
        return
    _show_result(clip, choice)
