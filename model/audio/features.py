"""Audio -> spectrogram features, the one module every stage uses, and the kinds' registry.

A clip is 10 s of 44.1 kHz mono audio. Features are a power spectrogram with a
200-sample Hann window and a hop of 80 samples, no centering:
1 + (441000 - 200) // 80 = 5511 frames x 101 frequency bins.

Three feature kinds exist, each a row of :data:`FEATURE_REGISTRY` (what a row holds:
:class:`model.audio.feature_kinds.FeatureKind`):

* ``log-power-v1`` (ours): ``(10*log10(power + 1e-10) - LOG_OFFSET_DB) / LOG_SCALE_DB``.
  A fixed affine map (no per-clip statistics) so that features of a long file
  computed in pieces equal those of the whole file, and values stay within a few
  units of zero, far inside float16 range.
* ``pcen-v1``: per-channel energy normalisation (Wang et al. 2017) of the same power
  frames: each bin divided by its own slow (0.4 s) running mean, then root-compressed.
  Gain and a fixed channel colour (microphone, phone band) mostly cancel, which log
  power keeps. The running mean is a recursive filter, so a stream carries its state
  between pieces (:func:`power_to_pcen`, :class:`PcenStream`). It can be computed from
  stored log power (:func:`log_power_to_pcen`), which is how ensembles feed PCEN members.
* ``seed-linear``: what the deeplearning.ai seed used (matplotlib ``specgram`` with
  NFFT=200, Fs=8000, noverlap=120 on raw int16-scaled samples): linear PSD values
  far above the float16 maximum of 65504. Kept so seed data and models still work.
"""
from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import get_window

from ..errors import AudioError
# the grids and names live below the transforms; re-exported here, where callers look
from .embedding import EMBED_DIM, EmbeddingStream, audio_to_embeddings, audio_to_embeddings_batch
from .feature_kinds import (CLIP_SAMPLES, CLIP_SECONDS, EMBEDDING_FRAMES, EMBEDDING_STEPS,
                            EMBEDDING_TIMING, FEATURE_KIND_EMBEDDING, FEATURE_KIND_LOG,
                            FEATURE_KIND_PCEN, FEATURE_KIND_SEED, HOP_SAMPLES, LOG_POWER_FRAMES,
                            N_FRAMES, N_FREQ, N_STEPS, SAMPLE_RATE_HZ, SEED_STEPS, SEED_TIMING,
                            STEP_SECONDS, WINDOW_SAMPLES, FeatureKind, StepTiming, Transform)

LOG_FLOOR = 1e-10  # power floor before log: -100 dB, well below 16-bit quantisation noise
LOG_OFFSET_DB = -40.0  # dB mapped to 0
LOG_SCALE_DB = 30.0  # dB per feature unit

PCEN_TIME_S = 0.4  # running-mean time constant, s
PCEN_ALPHA = 0.98  # gain normalisation strength (1: full)
PCEN_DELTA = 2.0  # bias before root compression
PCEN_ROOT = 0.5  # root compression exponent
PCEN_EPS = 1e-6  # keeps digital silence finite
PCEN_POWER_GAIN = 2.0 ** 31  # power scale (librosa's convention for float audio)
PCEN_OFFSET = 0.3  # PCEN output mapped to 0: about its mean over synthetic clips (0.31)
PCEN_SCALE = 0.5  # PCEN output per feature unit: about its standard deviation (0.52-0.54)
# smoothing coefficient of the running mean at 44100 / 80 = 551.25 frames per second
_PCEN_S = 1.0 - float(np.exp(-HOP_SAMPLES / (PCEN_TIME_S * SAMPLE_RATE_HZ)))

_HANN_PERIODIC = get_window("hann", WINDOW_SAMPLES, fftbins=True)
_HANN_SYMMETRIC = np.hanning(WINDOW_SAMPLES)  # matplotlib's window_hanning
_SEED_FS_HZ = 8000.0  # the seed passed Fs=8000 to specgram; it only scales the PSD


def frames_for_samples(n_samples: int) -> int:
    """Number of feature frames for ``n_samples`` samples at 44.1 kHz (0 if too short)."""
    return LOG_POWER_FRAMES.frames_for_samples(n_samples)


def steps_for_frames(n_frames: int) -> int:
    """Number of seed-network output steps for ``n_frames`` input frames (0 if too few)."""
    return SEED_STEPS.steps_for_frames(n_frames)


def to_mono_44k(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Convert audio to float32 mono at 44.1 kHz.

    Args:
        audio: samples, shape (n,) or (n, channels) or (channels, n) with channels <= 8;
            float in [-1, 1] or integer PCM.
        sample_rate_hz: the audio's sample rate in Hz.

    Returns:
        float32 array of shape (m,) at 44.1 kHz.

    Raises:
        AudioError: empty audio, NaN/inf samples or a non-positive sample rate.
    """
    a = np.asarray(audio)
    if sample_rate_hz is None or int(sample_rate_hz) <= 0:
        raise AudioError(f"invalid sample rate: {sample_rate_hz!r} Hz")
    if a.size == 0:
        raise AudioError("the audio is empty (zero samples)")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    a = a.astype(np.float32, copy=False)
    if a.ndim == 2:
        # channels are the short axis; average them (soundfile gives (n, ch), librosa (ch, n))
        a = a.mean(axis=1 if a.shape[1] <= a.shape[0] else 0)
    elif a.ndim != 1:
        raise AudioError(f"audio must be 1-D or 2-D, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise AudioError("the audio contains NaN or infinite samples")
    if int(sample_rate_hz) != SAMPLE_RATE_HZ:
        a = resample_audio(a, int(sample_rate_hz), SAMPLE_RATE_HZ)
    return np.ascontiguousarray(a)


def resample_audio(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample float mono audio with soxr (high quality); librosa's wrapper of the
    same library costs seconds of lazy imports per process, this costs milliseconds."""
    import soxr

    if from_hz == to_hz:
        return np.asarray(audio, dtype=np.float32)
    return soxr.resample(np.asarray(audio, dtype=np.float32), from_hz, to_hz, "HQ").astype(
        np.float32, copy=False)


def _frame_power(audio: np.ndarray, window: np.ndarray) -> np.ndarray:
    """|rfft(window * frame)|^2 for every hop-spaced frame, shape (frames, 101), in the
    precision of ``audio`` (float32 for our features, float64 for the seed's)."""
    frames = sliding_window_view(audio, WINDOW_SAMPLES)[::HOP_SAMPLES]
    # scipy's FFT keeps float32 input in single precision: ~2.5x faster than numpy's
    spec = scipy.fft.rfft(frames * window.astype(audio.dtype), axis=1)
    return spec.real ** 2 + spec.imag ** 2


def audio_to_power(audio_44k: np.ndarray) -> np.ndarray:
    """Linear power frames (frames, 101), float32, of 44.1 kHz mono float32 audio."""
    return _frame_power(audio_44k, _HANN_PERIODIC)


def power_to_log(power: np.ndarray) -> np.ndarray:
    """``log-power-v1`` features (float32, same shape) of linear power frames."""
    db = np.log10(power + np.float32(LOG_FLOOR), dtype=np.float32) * np.float32(10.0)
    return (db - np.float32(LOG_OFFSET_DB)) * np.float32(1.0 / LOG_SCALE_DB)


def log_to_power(x: np.ndarray) -> np.ndarray:
    """Linear power frames (float32, same shape) back from ``log-power-v1`` features.

    Exact up to float rounding, and up to float16 rounding for stored features; power
    below the 1e-10 floor comes back as 0.
    """
    x = np.asarray(x, dtype=np.float32)
    db = x * np.float32(LOG_SCALE_DB) + np.float32(LOG_OFFSET_DB)
    return np.maximum(np.power(np.float32(10.0), db / np.float32(10.0)) - np.float32(LOG_FLOOR),
                      np.float32(0.0))


def power_to_pcen(power: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel energy normalisation of power frames, resumable across pieces.

    Args:
        power: linear power spectrogram (frames, 101) of full-scale-1 audio.
        state: the running-mean filter state returned for the previous frames of the
            same stream; None starts it as if the first frame had always been there.

    Returns:
        (features float32 (frames, 101), state for the next frames). Feeding a stream's
        frames in any split gives exactly the features of feeding them at once.
    """
    from scipy.signal import lfilter

    energy = power.astype(np.float64) * PCEN_POWER_GAIN
    if state is None:
        state = (1.0 - _PCEN_S) * energy[:1]  # steady state at the first frame
    smooth, state = lfilter([_PCEN_S], [1.0, _PCEN_S - 1.0], energy, axis=0, zi=state)
    gain = np.exp(-PCEN_ALPHA * np.log(PCEN_EPS + smooth))  # (eps + M) ** -alpha
    out = (energy * gain + PCEN_DELTA) ** PCEN_ROOT - PCEN_DELTA ** PCEN_ROOT
    return ((out - PCEN_OFFSET) * (1.0 / PCEN_SCALE)).astype(np.float32), state


class PcenStream:
    """PCEN's running state across the power frames of one stream, fed in order.

    Calling it with consecutive runs of frames, split anywhere, returns exactly the
    features :func:`power_to_pcen` gives for all the frames at once.
    """

    def __init__(self) -> None:
        self.state: np.ndarray | None = None  # filter state after the last frame; None: none yet

    def __call__(self, power: np.ndarray) -> np.ndarray:
        """PCEN features (float32 (frames, 101)) of the stream's next power frames."""
        out, self.state = power_to_pcen(power, self.state)
        return out


def log_power_to_pcen(x: np.ndarray) -> np.ndarray:
    """PCEN features of clips stored as log-power features.

    Args:
        x: (clips, frames, bins) or (frames, bins) ``log-power-v1`` features (any float dtype).

    Returns:
        float32 ``pcen-v1`` features of the same shape, each clip's filter started as
        :func:`power_to_pcen` starts it (as make-data does per clip).
    """
    power = log_to_power(x)
    if power.ndim == 2:
        return power_to_pcen(power)[0]
    return np.stack([power_to_pcen(clip)[0] for clip in power])


def _seed_specgram(mono: np.ndarray) -> np.ndarray:
    """matplotlib.mlab.specgram(x*32767, NFFT=200, Fs=8000, noverlap=120) transposed.

    Reproduces the seed's PSD scaling: one-sided, divided by Fs * sum(window**2),
    detrend none, mean not removed, on int16-scaled samples.
    """
    pcm = mono.astype(np.float64) * 32767.0
    power = _frame_power(pcm, _HANN_SYMMETRIC)
    power /= _SEED_FS_HZ * float((_HANN_SYMMETRIC ** 2).sum())
    power[:, 1:-1] *= 2.0
    return power.astype(np.float32)


def _pcen(power: np.ndarray) -> np.ndarray:
    return power_to_pcen(power)[0]


def _seed_network_kind(name: str, **rest) -> FeatureKind:
    """A row for a kind on log power's frame grid, read by the seed network."""
    return FeatureKind(name=name, frames=LOG_POWER_FRAMES, steps=SEED_STEPS, n_values=N_FREQ,
                       **rest)


# the registry: a new kind is a new row (and, if it needs one, a network reading its grid)
FEATURE_REGISTRY: dict[str, FeatureKind] = {row.name: row for row in (
    _seed_network_kind(FEATURE_KIND_LOG, synthesisable=True, float16_safe=True,
                       transform=lambda mono: power_to_log(audio_to_power(mono)),
                       from_power=power_to_log),
    # seed-linear overflows float16, so make-data does not write it
    _seed_network_kind(FEATURE_KIND_SEED, synthesisable=False, float16_safe=False,
                       transform=_seed_specgram),
    _seed_network_kind(FEATURE_KIND_PCEN, synthesisable=True, float16_safe=True,
                       transform=lambda mono: _pcen(audio_to_power(mono)), from_power=_pcen,
                       new_stream=PcenStream, converts_from={FEATURE_KIND_LOG: log_power_to_pcen}),
    # openWakeWord's frozen front-end trained on real speech, read by a small head
    FeatureKind(name=FEATURE_KIND_EMBEDDING, frames=EMBEDDING_FRAMES, steps=EMBEDDING_STEPS,
                n_values=EMBED_DIM, synthesisable=True, float16_safe=True,
                transform=audio_to_embeddings, timing=EMBEDDING_TIMING,
                new_audio_stream=EmbeddingStream, batch_transform=audio_to_embeddings_batch),
)}
FEATURE_KINDS = tuple(FEATURE_REGISTRY)  # every kind a dataset or model card may name
SYNTH_FEATURE_KINDS = tuple(k for k, row in FEATURE_REGISTRY.items() if row.synthesisable)


def feature_kind(name: str) -> FeatureKind:
    """The registry row of a feature kind.

    Raises:
        ValueError: an unknown name.
    """
    row = FEATURE_REGISTRY.get(name)
    if row is None:
        raise ValueError(f"unknown feature kind {name!r}; expected one of {FEATURE_KINDS}")
    return row


def converter(from_kind: str, to_kind: str) -> Transform | None:
    """How stored ``from_kind`` features of one clip become ``to_kind`` features.

    Returns:
        A function of (frames, values) features; None when no conversion is declared
        (or ``to_kind`` is unknown). A kind converts to itself (as float32).
    """
    if from_kind == to_kind:
        return lambda x: np.asarray(x, dtype=np.float32)
    row = FEATURE_REGISTRY.get(to_kind)
    return row.converts_from.get(from_kind) if row is not None else None


def convert_features(x: np.ndarray, from_kind: str, to_kind: str) -> np.ndarray:
    """``to_kind`` features (float32) of stored ``from_kind`` features.

    Args:
        x: (frames, values) of one clip or (clips, frames, values); any float dtype.
        from_kind: the stored kind.
        to_kind: the kind wanted; each clip's running state starts afresh.

    Raises:
        ValueError: no conversion from ``from_kind`` to ``to_kind`` is declared.
    """
    convert = converter(from_kind, to_kind)
    if convert is None:
        raise ValueError(f"{to_kind} features cannot be computed from {from_kind} features")
    if from_kind == to_kind or np.ndim(x) == 2:
        return convert(x)
    return np.stack([convert(clip) for clip in x])


def power_to_features(power: np.ndarray, kind: str = FEATURE_KIND_LOG) -> np.ndarray:
    """Map a linear power spectrogram (frames, 101) to features of ``kind`` (float32).

    Raises:
        ValueError: an unknown kind, or one not computed from these power frames.
    """
    row = feature_kind(kind)
    if row.from_power is None:
        raise ValueError(f"{kind} features are not computed from log power's power frames")
    return row.from_power(power)


def audio_to_features(audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
                      kind: str = FEATURE_KIND_LOG) -> np.ndarray:
    """Turn audio of any length, rate and channel count into network features.

    Args:
        audio: samples (see :func:`to_mono_44k` for accepted shapes and dtypes).
        sample_rate_hz: sample rate of ``audio`` in Hz; resampled to 44.1 kHz.
        kind: a name of :data:`FEATURE_KINDS` (default ``"log-power-v1"``).

    Returns:
        float32 array (frames, values); 10 s at any rate gives (5511, 101).

    Raises:
        AudioError: unusable audio, or shorter than one analysis window at 44.1 kHz.
        ValueError: an unknown kind.
    """
    row = feature_kind(kind)
    mono = to_mono_44k(audio, sample_rate_hz)
    if row.frames.frames_for_audio(mono.shape[0]) < 1:
        need_s = row.frames.window_samples / row.frames.sample_rate_hz
        raise AudioError(f"the audio is too short: {mono.shape[0]} samples at 44.1 kHz, "
                         f"need at least {need_s:.3f} s for {kind} features")
    return row.transform(mono)
