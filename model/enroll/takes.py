"""Checking and trimming one take: a recording of the trigger word said once.

Every check has a one-line message; a take that fails one is not used. Trimming finds the
spoken span by frame energy (10 ms frames against the take's own noise floor) and keeps a
small margin, so the mixer places the word itself, not seconds of room noise around it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio.features import SAMPLE_RATE_HZ, resample_audio
from ..audio.files import AudioLimits, read_audio
from ..errors import AudioError

TAKE_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # files a takes folder is read from
_FRAME_S = 0.01  # energy frame for finding speech, seconds
_EPS = 1e-10


@dataclass
class TakeCheckConfig:
    """Limits a take must meet; stored in profile.json with the takes."""

    max_file_s: float = 10.0  # longest file accepted, seconds (a take is one word)
    max_speech_s: float = 3.0  # longest spoken span, seconds (more: several words or noise)
    min_speech_s: float = 0.2  # shortest spoken span, seconds ("activate" lasts ~0.6 s)
    min_peak_dbfs: float = -40.0  # quieter speech peaks than this are "too quiet", dBFS
    silent_peak: float = 1e-4  # a file whose peak is below this holds nothing (digital silence)
    clip_level: float = 0.999  # |sample| at or above this counts as clipped (full scale)
    max_clipped_share: float = 0.001  # more clipped samples than this share: "clipped"
    min_snr_db: float = 12.0  # speech must stand this far above the take's noise floor, dB
    speech_below_peak_db: float = 30.0  # frames within this of the loudest frame count as speech
    lead_margin_s: float = 0.10  # audio kept before the spoken span, seconds
    tail_margin_s: float = 0.03  # kept after it: small, labels start where the take ends


@dataclass
class TakeReport:
    """What checking one take found."""

    name: str  # file name or label shown to the user
    ok: bool  # usable for enrolment
    message: str  # one line: why not, or a short summary when ok
    duration_s: float  # whole file, seconds
    span_s: tuple[float, float]  # spoken span found (start, end) in the file, seconds
    peak_dbfs: float  # loudest sample of the take, dBFS

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def load_take(source: str | Path | bytes, name: str = "",
              cfg: TakeCheckConfig | None = None) -> np.ndarray:
    """Decode a take to float32 mono at 44.1 kHz.

    Args:
        source: a path or the file's bytes (an upload or a browser recording).
        name: how to call it in messages (default: the path).
        cfg: limits (the file-length limit applies here, before decoding).

    Returns:
        float32 samples at 44.1 kHz.

    Raises:
        AudioError: not audio, corrupt, or longer than ``cfg.max_file_s`` (one line).
    """
    cfg = cfg or TakeCheckConfig()
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "the take")
    try:
        audio, rate = read_audio(source, AudioLimits(max_bytes=50 * 1024 * 1024,
                                                     max_seconds=cfg.max_file_s))
    except AudioError as err:
        text = str(err)
        if "over the" in text and " s limit" in text:
            text = f"too long: a take is one word, at most {cfg.max_file_s:.0f} s of audio"
        elif "not a readable audio file" in text:
            text = "not audio (WAV, FLAC, OGG or MP3 expected)"
        else:
            text = text.split(": ", 1)[-1] if text.startswith(str(source)) else text
        raise AudioError(f"{label}: {text}") from None
    if rate != SAMPLE_RATE_HZ:
        audio = resample_audio(audio, rate, SAMPLE_RATE_HZ)
    return np.asarray(audio, dtype=np.float32)


def frame_db(audio: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """RMS level of consecutive 10 ms frames, dBFS (a trailing partial frame is dropped)."""
    hop = max(1, int(round(_FRAME_S * rate_hz)))
    n = max(1, audio.size // hop)
    frames = np.resize(audio, n * hop).reshape(n, hop) if audio.size >= hop else audio[None, :]
    return 10.0 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + _EPS)


def speech_span(audio: np.ndarray, cfg: TakeCheckConfig,
                rate_hz: int = SAMPLE_RATE_HZ) -> tuple[int, int, float]:
    """The spoken span of a take by frame energy.

    Speech frames are those within ``speech_below_peak_db`` of the loudest frame; the span
    runs from the first to the last of them (pauses inside a word stay in).

    Returns:
        (start sample, end sample, speech-to-floor ratio in dB); the floor is the 10th
        percentile of frame levels, the speech level the 95th.
    """
    db = frame_db(audio, rate_hz)
    hop = max(1, int(round(_FRAME_S * rate_hz)))
    floor, loud = float(np.percentile(db, 10)), float(np.percentile(db, 95))
    on = np.flatnonzero(db >= max(db.max() - cfg.speech_below_peak_db, floor + cfg.min_snr_db / 2))
    if on.size == 0:
        return 0, 0, loud - floor
    return int(on[0] * hop), int(min(audio.size, (on[-1] + 1) * hop)), loud - floor


def check_take(audio: np.ndarray, name: str, cfg: TakeCheckConfig | None = None
               ) -> tuple[TakeReport, np.ndarray | None]:
    """Check one decoded take and trim it to its spoken span.

    Args:
        audio: float32 mono at 44.1 kHz (from :func:`load_take`).
        name: how to call it in the message.
        cfg: limits.

    Returns:
        (report, trimmed audio or None when the take is not usable).
    """
    cfg = cfg or TakeCheckConfig()
    dur = audio.size / SAMPLE_RATE_HZ
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    peak_db = 20.0 * np.log10(peak + _EPS)

    def bad(msg: str, span: tuple[float, float] = (0.0, 0.0)):
        return TakeReport(name, False, f"{name}: {msg}", dur, span, peak_db), None

    if dur > cfg.max_file_s:
        return bad(f"too long: a take is one word, at most {cfg.max_file_s:.0f} s of audio")
    if peak < cfg.silent_peak:
        return bad("silence: nothing was recorded (check the microphone)")
    clipped = float(np.mean(np.abs(audio) >= cfg.clip_level))
    if clipped > cfg.max_clipped_share:
        return bad(f"clipped: {clipped:.1%} of the samples hit full scale; speak softer or "
                   "move back from the microphone")
    start, end, snr = speech_span(audio, cfg)
    span = (start / SAMPLE_RATE_HZ, end / SAMPLE_RATE_HZ)
    if snr < cfg.min_snr_db or end <= start:
        return bad(f"no speech found: the loudest part is only {snr:.0f} dB above the noise")
    speech_peak_db = 20.0 * np.log10(float(np.max(np.abs(audio[start:end]))) + _EPS)
    if speech_peak_db < cfg.min_peak_dbfs:
        return bad(f"too quiet: the word peaks at {speech_peak_db:.0f} dBFS (needs "
                   f"{cfg.min_peak_dbfs:.0f}); speak up or move closer", span)
    length = span[1] - span[0]
    if length < cfg.min_speech_s:
        return bad(f"too short: {length:.2f} s of speech (at least {cfg.min_speech_s} s)", span)
    if length > cfg.max_speech_s:
        return bad(f"too long: {length:.1f} s of speech (one word, at most "
                   f"{cfg.max_speech_s:.0f} s)", span)
    lo = max(0, start - int(cfg.lead_margin_s * SAMPLE_RATE_HZ))
    hi = min(audio.size, end + int(cfg.tail_margin_s * SAMPLE_RATE_HZ))
    report = TakeReport(name, True, f"{name}: ok, {length:.2f} s of speech at "
                        f"{span[0]:.2f}-{span[1]:.2f} s", dur, span, peak_db)
    return report, np.ascontiguousarray(audio[lo:hi], dtype=np.float32)


def read_and_check(source: str | Path | bytes, name: str = "",
                   cfg: TakeCheckConfig | None = None) -> tuple[TakeReport, np.ndarray | None]:
    """:func:`load_take` then :func:`check_take`; a file that cannot be read is a failed report.

    Returns:
        (report, trimmed audio or None).
    """
    cfg = cfg or TakeCheckConfig()
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "the take")
    try:
        audio = load_take(source, label, cfg)
    except AudioError as err:
        return TakeReport(label, False, str(err), 0.0, (0.0, 0.0), -200.0), None
    return check_take(audio, label, cfg)
