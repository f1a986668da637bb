"""The chime: a short bell tone of our own making, mixed over audio at each detection.

:func:`synthesize_chime` makes it from a few inharmonic partials with exponential decays
(a small bell); ``python -m model.detect.chime`` writes it to assets/chime.wav, which is committed.
Overlaying works on arrays (:func:`overlay_chime`), streams a whole file block by block
into a WAV (:func:`write_chimed_wav`), so an hour-long file never sits in memory, or encodes
audio already decoded (:func:`chimed_samples_wav_bytes`: the app's clip, decoded once).
Output is mono at the source's own sample rate. The times are the detector's
(:attr:`model.detect.detector.Detection.time_s`: each detection's step time on its model's
grid, :mod:`model.detect.timing`), so a head over speech embeddings chimes at the end of the
0.782 s window that heard the word, not at the window's start.
"""
from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from ..audio.files import AudioLimits
from ..errors import AudioError
from ..audio.features import SAMPLE_RATE_HZ, resample_audio
from .stream import iter_mono_blocks, open_source

CHIME_PATH = Path(__file__).resolve().parents[2] / "assets" / "chime.wav"
CHIME_SECONDS = 0.9  # tone length, seconds
BELL_HZ = 1046.5  # fundamental: C6
# (frequency ratio, relative amplitude, decay time constant in s) of a small bell's partials
BELL_PARTIALS = ((1.0, 1.0, 0.35), (2.0, 0.45, 0.22), (2.76, 0.3, 0.15), (4.07, 0.12, 0.09),
                 (5.40, 0.06, 0.06))
ATTACK_SECONDS = 0.004  # a soft onset instead of a click
FADE_SECONDS = 0.05  # taper to exact zero at the end
PEAK = 0.8  # the asset's peak level, full scale = 1


def synthesize_chime(sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A bell-like chime, float32 mono, peak :data:`PEAK`, :data:`CHIME_SECONDS` long.

    Args:
        sample_rate_hz: output sample rate, Hz.
    """
    t = np.arange(int(CHIME_SECONDS * sample_rate_hz)) / sample_rate_hz
    tone = np.zeros_like(t)
    for ratio, amp, decay in BELL_PARTIALS:
        if BELL_HZ * ratio < sample_rate_hz / 2:  # no aliasing at low rates
            tone += amp * np.exp(-t / decay) * np.sin(2 * np.pi * BELL_HZ * ratio * t)
    envelope = np.minimum(1.0, t / ATTACK_SECONDS)
    envelope *= np.clip((t[-1] - t) / FADE_SECONDS, 0.0, 1.0)
    tone *= envelope
    return (PEAK * tone / np.max(np.abs(tone))).astype(np.float32)


def load_chime(sample_rate_hz: int = SAMPLE_RATE_HZ, path: str | Path = CHIME_PATH) -> np.ndarray:
    """The committed chime at ``sample_rate_hz`` (synthesised if the asset is missing)."""
    try:
        chime, rate = sf.read(str(path), dtype="float32", always_2d=True)
        chime = chime.mean(axis=1)
    except (OSError, sf.LibsndfileError, RuntimeError):
        chime, rate = synthesize_chime(SAMPLE_RATE_HZ), SAMPLE_RATE_HZ
    return resample_audio(chime, int(rate), int(sample_rate_hz))


def mix_chimes(block: np.ndarray, block_start: int, starts: np.ndarray, chime: np.ndarray,
               gain: float) -> np.ndarray:
    """Add ``gain * chime`` at every start overlapping a block; returns a new clipped block.

    Args:
        block: mono samples of the block.
        block_start: index of the block's first sample in the whole signal.
        starts: chime start sample indices in the whole signal (same rate).
        chime: mono chime samples at that rate.
        gain: chime level, 0..1.
    """
    out = np.array(block, dtype=np.float32, copy=True)
    end = block_start + out.shape[0]
    for start in np.asarray(starts, dtype=np.int64):
        lo, hi = max(start, block_start), min(start + chime.shape[0], end)
        if lo < hi:
            out[lo - block_start:hi - block_start] += gain * chime[lo - start:hi - start]
    return np.clip(out, -1.0, 1.0)


def times_to_starts(times_s: Iterable[float], sample_rate_hz: int) -> np.ndarray:
    """Detection times (seconds) -> chime start sample indices at ``sample_rate_hz``."""
    return np.round(np.asarray(list(times_s), dtype=np.float64) * sample_rate_hz).astype(np.int64)


def overlay_chime(audio: np.ndarray, sample_rate_hz: int, times_s: Iterable[float],
                  gain: float = 0.5) -> np.ndarray:
    """Mono ``audio`` with a chime at each time (seconds); float32, same length and rate."""
    chime = load_chime(sample_rate_hz)
    return mix_chimes(np.asarray(audio, np.float32), 0, times_to_starts(times_s, sample_rate_hz),
                      chime, gain)


def write_chimed_wav(source: str | Path | bytes, times_s: Iterable[float],
                     dest: str | Path | BinaryIO, gain: float = 0.5,
                     limits: AudioLimits | None = None) -> int:
    """Stream ``source`` into a 16-bit mono WAV with chimes mixed in at ``times_s``.

    Args:
        source: the audio file (path or bytes) the detections came from.
        times_s: detection times, seconds.
        dest: a .wav path (written to a temporary file, then renamed) or a binary file object.
        gain: chime level, 0..1.
        limits: size/duration limits for reading ``source``.

    Returns:
        The sample rate written, Hz (the source's own).

    Raises:
        AudioError: the source cannot be read (nothing is left at ``dest``).
    """
    info = open_source(source, limits or AudioLimits())
    rate = info.sample_rate_hz
    chime, starts = load_chime(rate), times_to_starts(times_s, rate)
    if not isinstance(dest, (str, Path)):
        _stream_mix(source, info, dest, chime, starts, gain)
        return rate
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _stream_mix(source, info, handle, chime, starts, gain)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; this is a file for the user
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rate


def chimed_wav_bytes(source: str | Path | bytes, times_s: Iterable[float], gain: float = 0.5,
                     limits: AudioLimits | None = None) -> bytes:
    """WAV file contents of :func:`write_chimed_wav`, in memory (for the app's player)."""
    buf = io.BytesIO()
    write_chimed_wav(source, times_s, buf, gain, limits)
    return buf.getvalue()


def chimed_samples_wav_bytes(samples: np.ndarray, sample_rate_hz: int, times_s: Iterable[float],
                             gain: float = 0.5) -> bytes:
    """:func:`chimed_wav_bytes` of audio already decoded (the app decodes a clip once).

    Args:
        samples: float32 mono samples, as :func:`model.detect.stream.iter_mono_blocks` gives.
        sample_rate_hz: their sample rate, Hz (kept in the WAV).
        times_s: detection times, seconds.
        gain: chime level, 0..1.

    Returns:
        16-bit mono WAV bytes, equal to those of :func:`chimed_wav_bytes` on the file the
        samples came from (the mix and the encoding work sample by sample, so blocks do not
        matter).

    Raises:
        AudioError: no samples.
    """
    rate = int(sample_rate_hz)
    buf = io.BytesIO()
    _write_mixed([np.asarray(samples, np.float32)], rate, buf, load_chime(rate),
                 times_to_starts(times_s, rate), gain, "the clip")
    return buf.getvalue()


def _stream_mix(source, info, handle: BinaryIO, chime: np.ndarray, starts: np.ndarray,
                gain: float) -> None:
    """Decode, mix and encode block by block."""
    _write_mixed(iter_mono_blocks(source, info), info.sample_rate_hz, handle, chime, starts,
                 gain, info.name)


def _write_mixed(blocks: Iterable[np.ndarray], rate: int, handle: BinaryIO, chime: np.ndarray,
                 starts: np.ndarray, gain: float, name: str) -> None:
    """Mix the chime into consecutive mono blocks and encode them as one 16-bit WAV."""
    done = 0
    with sf.SoundFile(handle, "w", rate, 1, "PCM_16", format="WAV") as out:
        for block in blocks:
            out.write(mix_chimes(block, done, starts, chime, gain))
            done += block.shape[0]
    if done == 0:
        raise AudioError(f"{name} holds no audio samples")


def main() -> int:
    """Write the synthesised chime to assets/chime.wav (44.1 kHz, 16-bit)."""
    from ..audio.files import write_wav_atomic

    path = write_wav_atomic(CHIME_PATH, synthesize_chime(), SAMPLE_RATE_HZ)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
