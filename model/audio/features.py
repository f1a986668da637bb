"""Audio -> spectrogram features, the one function every stage uses.

A clip is 10 s of 44.1 kHz mono audio. Features are a power spectrogram with a
200-sample Hann window and a hop of 80 samples, no centering:
1 + (441000 - 200) // 80 = 5511 frames x 101 frequency bins.

Three feature kinds exist:

* ``log-power-v1`` (ours): ``(10*log10(power + 1e-10) - LOG_OFFSET_DB) / LOG_SCALE_DB``.
  A fixed affine map (no per-clip statistics) so that features of a long file
  computed in pieces equal those of the whole file, and values stay within a few
  units of zero, far inside float16 range.
* ``pcen-v1``: per-channel energy normalisation (Wang et al. 2017) of the same power
  frames: each bin divided by its own slow (0.4 s) running mean, then root-compressed.
  Gain and a fixed channel colour (microphone, phone band) mostly cancel, which log
  power keeps. The running mean is a recursive filter, so a stream carries its state
  between pieces (:func:`power_to_pcen`).
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

SAMPLE_RATE_HZ = 44100
CLIP_SECONDS = 10.0
CLIP_SAMPLES = 441000
WINDOW_SAMPLES = 200
HOP_SAMPLES = 80
N_FREQ = WINDOW_SAMPLES // 2 + 1  # 101
N_FRAMES = 1 + (CLIP_SAMPLES - WINDOW_SAMPLES) // HOP_SAMPLES  # 5511
N_STEPS = 1375  # network output steps per 10 s clip (Conv1D kernel 15, stride 4)
STEP_SECONDS = CLIP_SECONDS / N_STEPS  # ~7.27 ms per output step

FEATURE_KIND_LOG = "log-power-v1"
FEATURE_KIND_SEED = "seed-linear"
FEATURE_KIND_PCEN = "pcen-v1"
FEATURE_KINDS = (FEATURE_KIND_LOG, FEATURE_KIND_SEED, FEATURE_KIND_PCEN)
# what make-data writes (seed-linear overflows float16)
SYNTH_FEATURE_KINDS = (FEATURE_KIND_LOG, FEATURE_KIND_PCEN)

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
    if n_samples < WINDOW_SAMPLES:
        return 0
    return 1 + (n_samples - WINDOW_SAMPLES) // HOP_SAMPLES


def steps_for_frames(n_frames: int) -> int:
    """Number of network output steps for ``n_frames`` input frames (Conv1D k=15, s=4)."""
    if n_frames < 15:
        return 0
    return (n_frames - 15) // 4 + 1


def sample_to_step(sample: int | np.ndarray, clip_samples: int = CLIP_SAMPLES) -> int | np.ndarray:
    """Map a sample index of a 10 s clip to the output step containing it (seed convention)."""
    return (np.asarray(sample) * N_STEPS // clip_samples).astype(int) if isinstance(
        sample, np.ndarray) else int(sample * N_STEPS // clip_samples)


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


def power_to_features(power: np.ndarray, kind: str = FEATURE_KIND_LOG) -> np.ndarray:
    """Map a linear power spectrogram (frames, 101) to features of ``kind`` (float32)."""
    if kind == FEATURE_KIND_LOG:
        db = np.log10(power + np.float32(LOG_FLOOR), dtype=np.float32) * np.float32(10.0)
        return (db - np.float32(LOG_OFFSET_DB)) * np.float32(1.0 / LOG_SCALE_DB)
    if kind == FEATURE_KIND_PCEN:
        return power_to_pcen(power)[0]
    raise ValueError(f"unknown feature kind {kind!r}; expected one of {FEATURE_KINDS}")


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


def audio_to_power(audio_44k: np.ndarray) -> np.ndarray:
    """Linear power frames (frames, 101), float32, of 44.1 kHz mono float32 audio."""
    return _frame_power(audio_44k, _HANN_PERIODIC)


def audio_to_features(audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
                      kind: str = FEATURE_KIND_LOG) -> np.ndarray:
    """Turn audio of any length, rate and channel count into network features.

    Args:
        audio: samples (see :func:`to_mono_44k` for accepted shapes and dtypes).
        sample_rate_hz: sample rate of ``audio`` in Hz; resampled to 44.1 kHz.
        kind: ``"log-power-v1"`` (default) or ``"seed-linear"``.

    Returns:
        float32 array (frames, 101); 10 s at any rate gives (5511, 101).

    Raises:
        AudioError: unusable audio, or shorter than one 200-sample window at 44.1 kHz.
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; expected one of {FEATURE_KINDS}")
    mono = to_mono_44k(audio, sample_rate_hz)
    if mono.shape[0] < WINDOW_SAMPLES:
        raise AudioError(f"the audio is too short: {mono.shape[0]} samples at 44.1 kHz, "
                         f"need at least {WINDOW_SAMPLES}")
    if kind == FEATURE_KIND_SEED:
        return _seed_specgram(mono)
    return power_to_features(_frame_power(mono, _HANN_PERIODIC), kind)


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
