"""Reading and writing audio files safely.

libsndfile (through soundfile) reads WAV, FLAC, OGG/Vorbis/Opus and MP3 without any
system package. Every failure becomes an :class:`AudioError` with one line naming the
file and the problem. Writes go to a temporary file in the same folder, then an
atomic rename, so a crash never leaves a half-written file.
"""
from __future__ import annotations

import io
import re
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioError

DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # 200 MB
DEFAULT_MAX_SECONDS = 3600.0  # 1 hour


@dataclass
class AudioLimits:
    """Limits applied before any audio is decoded into memory."""

    max_bytes: int = DEFAULT_MAX_BYTES  # file size limit, bytes
    max_seconds: float = DEFAULT_MAX_SECONDS  # duration limit, seconds


def _source_size(source: str | Path | bytes) -> tuple[str, int]:
    if isinstance(source, (bytes, bytearray)):
        return "the upload", len(source)
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    return str(path), path.stat().st_size


def audio_info(source: str | Path | bytes, limits: AudioLimits | None = None):
    """Check a file's size and header without decoding it.

    Returns:
        soundfile info (samplerate, channels, frames, duration, format).

    Raises:
        AudioError: missing, empty, too big, not audio, unsupported codec, too long.
    """
    import soundfile as sf  # lazy: mixing never needs libsndfile
    lim = limits or AudioLimits()
    name, size = _source_size(source)
    if size == 0:
        raise AudioError(f"{name} is empty (0 bytes)")
    if size > lim.max_bytes:
        raise AudioError(f"{name} is {size / 2**20:.0f} MB, over the {lim.max_bytes / 2**20:.0f} MB "
                         "limit")  # MB of 2**20 bytes, as the dashboard's upload cap counts them
    try:
        info = sf.info(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{name} is not a readable audio file "
                         f"(WAV, FLAC, OGG or MP3): {_short(err)}") from None
    if info.samplerate <= 0 or info.frames <= 0:
        raise AudioError(f"{name} holds no audio samples")
    if info.frames / info.samplerate > lim.max_seconds:
        raise AudioError(f"{name} lasts {info.frames / info.samplerate:.0f} s, over the "
                         f"{lim.max_seconds:.0f} s limit")
    return info


def read_audio(source: str | Path | bytes, limits: AudioLimits | None = None,
               max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole file to float32 mono.

    Args:
        source: a path, or the file's bytes (an upload).
        limits: size and duration limits (defaults: 200 MB, 1 hour).
        max_seconds: optional tighter duration limit for this call, seconds.

    Returns:
        (samples float32 shape (n,) in [-1, 1], sample rate in Hz).

    Raises:
        AudioError: see :func:`audio_info`; also truncated/corrupt data and NaN/inf samples.
    """
    import soundfile as sf  # lazy: mixing never needs libsndfile
    lim = limits or AudioLimits()
    if max_seconds is not None:
        lim = AudioLimits(lim.max_bytes, min(lim.max_seconds, max_seconds))
    info = audio_info(source, lim)
    name = "the upload" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        data, sr = sf.read(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source),
                           dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{name} is corrupt or truncated: {_short(err)}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{name} holds no audio samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{name} contains NaN or infinite samples")
    del info
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)


def write_wav_atomic(path: str | Path, audio: np.ndarray, sample_rate_hz: int) -> Path:
    """Write 16-bit PCM WAV via a temporary file and rename (never half-written).

    Args:
        path: destination .wav path; its folder is created if missing.
        audio: float samples in [-1, 1] (clipped), shape (n,) or (n, channels).
        sample_rate_hz: sample rate in Hz.

    Returns:
        The destination path.
    """
    import soundfile as sf  # lazy: mixing never needs libsndfile
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        sf.write(tmp, float_to_pcm16(audio), int(sample_rate_hz), subtype="PCM_16", format="WAV")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a user's WAV should be readable like any other
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def float_to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float [-1, 1] -> int16 by rounding x * 32767 (clipped). Done here, not by libsndfile,
    whose own conversion rounds some values one step differently from model.data.synth."""
    return np.round(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)


def _short(err: Exception) -> str:
    """First line of an exception message, without libsndfile's noise."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    # libsndfile prefixes "Error opening <object repr>: "; the user already knows which file
    text = re.sub(r"^Error opening .*?: (?=\S)", "", text)
    return text[:200]
