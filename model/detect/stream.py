"""Streaming audio for detection: file -> mono blocks -> 44.1 kHz.

An hour of audio is never held whole: blocks are decoded, mixed to mono and resampled with
a streaming soxr resampler (bit-identical to one-shot :func:`soxr.resample`); the blocks
are then cut into step-aligned feature pieces by :mod:`model.detect.pieces`.
"""
from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio.files import AudioLimits, audio_info
from ..errors import AudioError
from ..audio.features import SAMPLE_RATE_HZ

BLOCK_SECONDS = 10.0  # decode granularity, seconds of source audio


@dataclass
class StreamInfo:
    """What the header says about a source, plus what reading it found."""

    name: str  # file path, or "the upload" for bytes
    sample_rate_hz: int  # the file's own sample rate, Hz
    channels: int  # channel count (mixed to mono when read)
    frames: int  # samples per channel announced by the header
    container: str = "WAV"  # libsndfile's major format name: WAV, FLAC, OGG, MP3...
    frames_read: int = 0  # samples per channel actually decoded so far
    peak: float = 0.0  # largest |sample| of the mono mix seen so far, full scale = 1
    max_seconds: float = float("inf")  # duration limit, enforced while decoding too

    @property
    def duration_s(self) -> float:
        """Duration of the decoded audio, seconds (announced duration before reading)."""
        return (self.frames_read or self.frames) / self.sample_rate_hz


def open_source(source: str | Path | bytes, limits: AudioLimits | None = None) -> StreamInfo:
    """Check a source's size, header and duration limits without decoding it.

    Raises:
        AudioError: missing, empty, too big, too long, not audio, unsupported codec,
            or a WAV whose data chunk is cut short.
    """
    limits = limits or AudioLimits()
    info = audio_info(source, limits)
    name = "the upload" if isinstance(source, (bytes, bytearray)) else str(source)
    if str(info.format).upper() == "WAV":
        _check_wav_complete(source, name)
    return StreamInfo(name, int(info.samplerate), int(info.channels), int(info.frames),
                      container=str(info.format).upper(), max_seconds=limits.max_seconds)


def iter_mono_blocks(source: str | Path | bytes, info: StreamInfo,
                     block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Decode ``source`` block by block as float32 mono at its own sample rate.

    Updates ``info.frames_read`` and ``info.peak`` as it goes.

    Raises:
        AudioError: corrupt data, fewer samples than the header announced, NaN/inf samples.
    """
    block = max(1024, int(block_seconds * info.sample_rate_hz))
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        with sf.SoundFile(handle) as f:
            for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise AudioError(f"{info.name} contains NaN or infinite samples")
                info.frames_read += mono.shape[0]
                if info.frames_read > info.max_seconds * info.sample_rate_hz:  # a lying header
                    raise AudioError(f"{info.name} lasts more than the {info.max_seconds:.0f} s "
                                     "limit")
                info.peak = max(info.peak, float(np.max(np.abs(mono), initial=0.0)))
                yield np.ascontiguousarray(mono, dtype=np.float32)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{info.name} is corrupt or truncated: {_first_line(err)}") from None
    # an MP3 header's frame count is an estimate; the others are exact
    if info.frames_read < info.frames and info.container != "MP3":
        raise AudioError(f"{info.name} is truncated: the header announces {info.frames} samples, "
                         f"only {info.frames_read} could be read")
    if info.frames_read == 0:
        raise AudioError(f"{info.name} holds no audio samples")


def resample_blocks(blocks: Iterable[np.ndarray], from_hz: int,
                    to_hz: int = SAMPLE_RATE_HZ) -> Iterator[np.ndarray]:
    """Resample a stream of mono blocks; output equals one-shot soxr.resample of the whole."""
    if from_hz == to_hz:
        yield from blocks
        return
    import soxr

    resampler = soxr.ResampleStream(from_hz, to_hz, 1, dtype="float32", quality="HQ")
    for block in blocks:
        yield resampler.resample_chunk(block, last=False)
    yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def _check_wav_complete(source: str | Path | bytes, name: str) -> None:
    """Raise if a RIFF WAV's data chunk announces more bytes than the file holds.

    libsndfile silently reads what is there; a cut-off download would look valid.
    """
    if isinstance(source, (bytes, bytearray)):
        head, total = bytes(source[:1 << 16]), len(source)
    else:
        total = Path(source).stat().st_size
        with open(source, "rb") as f:
            head = f.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return  # RF64/W64 or unusual layouts: leave them to libsndfile
    pos = 12
    while pos + 8 <= len(head):
        chunk_id, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk_id == b"data":
            if size not in (0, 0xFFFFFFFF) and pos + 8 + size > total:
                raise AudioError(f"{name} is truncated: its data chunk announces {size} bytes, "
                                 f"the file holds {total - pos - 8}")
            return
        pos += 8 + size + (size & 1)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
