"""Audio effects the augmentation draws from: levels, speed and pitch, filters, rooms, air,
convolution with room impulse responses.

Pure numpy/scipy (soxr for resampling), float32 mono at 44.1 kHz; effects that need
randomness take a numpy Generator, so a seed gives the same bytes every time. Levels are
RMS dBFS: ``20*log10(rms)`` (a full-scale sine is -3 dBFS). Nothing here clips: outputs
whose peak would exceed 1 are scaled down (:func:`limit_peak`). Which effects apply, and
how strongly, is :mod:`model.data.augment`'s business.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfilt

from .features import SAMPLE_RATE_HZ, resample_audio

_NYQUIST_HZ = SAMPLE_RATE_HZ / 2.0
_WSOLA_FRAME = 1024  # 23 ms analysis frame, hop of half a frame
_WSOLA_TOL = 256  # +-5.8 ms search: half the period of a 86 Hz voice
_WSOLA_DEC = 4  # coarse search on every 4th sample, then refined at full rate
_AIR_SOS = butter(8, 11500.0, "highpass", fs=SAMPLE_RATE_HZ, output="sos")  # above the banks' band
_AIR_WINDOW = 220  # 5 ms envelope window, samples


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level of ``audio`` in dBFS (``20*log10(rms)``); -inf for silence."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0.0 else float("-inf")


def gain_db(audio: np.ndarray, db: float) -> np.ndarray:
    """Multiply ``audio`` by ``db`` decibels of gain (no clipping, no peak limit); float32."""
    return (np.asarray(audio, dtype=np.float32) * np.float32(10.0 ** (db / 20.0))).astype(np.float32)


def limit_peak(audio: np.ndarray, max_peak: float = 1.0) -> np.ndarray:
    """Scale ``audio`` down (never up) so its absolute peak is at most ``max_peak``; float32."""
    a = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    return a * np.float32(max_peak / peak) if peak > max_peak else a


def scale_to_dbfs(audio: np.ndarray, target_dbfs: float, max_peak: float = 1.0) -> np.ndarray:
    """Scale ``audio`` to an RMS level of ``target_dbfs`` dBFS.

    Args:
        audio: float samples.
        target_dbfs: wanted RMS level, dBFS (``20*log10(rms)``).
        max_peak: the gain is lowered if the peak would exceed this (the level then
            ends up below the target rather than clipping).

    Returns:
        float32 audio; silence is returned unchanged.
    """
    level = rms_dbfs(audio)
    if not np.isfinite(level):
        return np.asarray(audio, dtype=np.float32).copy()
    return limit_peak(gain_db(audio, target_dbfs - level), max_peak)


def perturb_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``audio`` ``factor`` times faster: tempo, pitch and formants all scale by it.

    The samples are taken as recorded at ``44100*factor`` Hz and resampled (soxr) to
    44.1 kHz, so the length becomes ``len(audio)/factor`` (factor 1.1: 10% shorter).
    """
    if factor <= 0:
        raise ConfigError(f"speed factor must be positive, got {factor}")
    from_hz = int(round(SAMPLE_RATE_HZ * factor))
    return resample_audio(np.asarray(audio, dtype=np.float32), from_hz, SAMPLE_RATE_HZ)


def time_stretch(audio: np.ndarray, n_out: int) -> np.ndarray:
    """Change duration to ``n_out`` samples keeping pitch (WSOLA).

    Waveform-similarity overlap-add: 23 ms Hann frames at a 11.6 ms output hop; each
    frame is taken from near its nominal input position, shifted by up to +-5.8 ms to
    best continue the previous frame (cross-correlation, coarse on every 4th sample then
    refined), so voiced periods join without phase cancellation. The loop runs over
    frames (~86 per second), never over samples.
    """
    x = np.asarray(audio, dtype=np.float32)
    if n_out <= 0:
        return np.zeros(0, np.float32)
    if x.size == 0:
        return np.zeros(n_out, np.float32)
    frame, hop, tol, dec = _WSOLA_FRAME, _WSOLA_FRAME // 2, _WSOLA_TOL, _WSOLA_DEC
    rate = x.size / n_out
    n_frames = n_out // hop + 2
    pad = frame + tol
    right = pad + max(0, int(np.ceil(n_frames * hop * rate)) - x.size) + 2 * frame
    xp = np.pad(x, (pad, right))
    xd = np.ascontiguousarray(xp[::dec])
    xd_cum = np.concatenate(([0.0], np.cumsum(np.square(xd, dtype=np.float64))))
    window = np.hanning(frame + 1)[:-1].astype(np.float32)  # periodic: sums to 1 at 50% overlap
    out = np.zeros(n_frames * hop + frame, np.float32)
    pos = pad - hop
    for k in range(n_frames):
        nominal = int(round(k * hop * rate)) - hop + pad
        if k > 0:
            pos = _best_continuation(xp, xd, xd_cum, pos + hop, nominal, frame, tol, dec)
        out[k * hop:k * hop + frame] += window * xp[pos:pos + frame]
    return out[hop:hop + n_out]


def _best_continuation(xp: np.ndarray, xd: np.ndarray, xd_cum: np.ndarray, natural: int,
                       nominal: int, frame: int, tol: int, dec: int) -> int:
    """Start in [nominal-tol, nominal+tol] whose frame best matches xp[natural:natural+frame].

    Coarse: correlation on the decimated signal ``xd`` divided by each window's norm
    (from the running energy ``xd_cum``) so louder stretches are not preferred; fine:
    plain correlation within +-dec samples at the full rate.
    """
    if not np.any(xp[natural:natural + frame]):
        return nominal  # silence continues anything: stay on the nominal grid
    lo, width = (nominal - tol) // dec, frame // dec
    corr = np.correlate(xd[lo:lo + width + 2 * tol // dec], xd[natural // dec:natural // dec + width], "valid")
    energy = xd_cum[lo + width:lo + width + corr.size] - xd_cum[lo:lo + corr.size]
    start = lo * dec + int(np.argmax(corr / np.sqrt(energy + 1e-12))) * dec - dec
    fine = np.correlate(xp[start:start + frame + 2 * dec], xp[natural:natural + frame], "valid")
    return start + int(np.argmax(fine))


def shift_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch and formants by ``semitones`` keeping the duration.

    Resampling (:func:`perturb_speed` by ``2**(semitones/12)``) moves pitch and
    formants together, like a different-sized speaker; :func:`time_stretch` (WSOLA) then
    restores the original length exactly.
    """
    x = np.asarray(audio, dtype=np.float32)
    if semitones == 0 or x.size == 0:
        return x.copy()
    return time_stretch(perturb_speed(x, 2.0 ** (semitones / 12.0)), x.size)


def band_limit(audio: np.ndarray, low_hz: float, high_hz: float, order: int = 6) -> np.ndarray:
    """Butterworth band-pass (causal ``sosfilt``), same length; float32.

    Args:
        audio: float samples at 44.1 kHz.
        low_hz: low cut-off, Hz; <= 0 means no high-pass.
        high_hz: high cut-off, Hz; >= 22050 means no low-pass.
        order: filter order per edge (6: ~36 dB per octave, a phone line; 2: a cheap mic).
    """
    x = np.asarray(audio, dtype=np.float32)
    has_low, has_high = low_hz > 0, high_hz < _NYQUIST_HZ * 0.999
    if not (has_low or has_high):
        return x.copy()
    sos = _butter_sos(round(low_hz, 1) if has_low else 0.0,
                      round(high_hz, 1) if has_high else 0.0, int(order))
    return sosfilt(sos.copy(), x).astype(np.float32)  # copy: the cached design stays intact


@functools.lru_cache(maxsize=256)
def _butter_sos(low_hz: float, high_hz: float, order: int) -> np.ndarray:
    """Butterworth sections (designing one costs ~1 ms; the phone band repeats). 0 = no edge."""
    if low_hz and high_hz:
        sos = butter(order, [low_hz, high_hz], "bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    else:
        edge, kind = (low_hz, "highpass") if low_hz else (high_hz, "lowpass")
        sos = butter(order, edge, kind, fs=SAMPLE_RATE_HZ, output="sos")
    return sos.astype(np.float32)


def peak_eq(audio: np.ndarray, center_hz: float, boost_db: float, q: float) -> np.ndarray:
    """One peaking-EQ biquad (RBJ cookbook): a microphone or enclosure resonance; float32."""
    a_lin = 10.0 ** (boost_db / 40.0)
    w0 = 2.0 * np.pi * center_hz / SAMPLE_RATE_HZ
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1 + alpha * a_lin, -2 * np.cos(w0), 1 - alpha * a_lin])
    a = np.array([1 + alpha / a_lin, -2 * np.cos(w0), 1 - alpha / a_lin])
    sos = np.concatenate([b / a[0], a / a[0]])[None, :].astype(np.float32)
    return sosfilt(sos, np.asarray(audio, dtype=np.float32)).astype(np.float32)


def quantize_mulaw(audio: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """Mu-law compand, quantise to ``bits`` bits and expand (G.711 telephone coding noise).

    Input beyond [-1, 1] is clipped first (a codec saturates); float32 out.
    """
    x = np.asarray(audio, dtype=np.float32)
    steps = 2 ** (bits - 1)
    scale = np.float32(steps / np.log1p(mu))
    code = np.rint(np.log1p(np.float32(mu) * np.minimum(np.abs(x), 1.0)) * scale).astype(np.intp)
    levels = (np.expm1(np.arange(steps + 1) / steps * np.log1p(mu)) / mu).astype(np.float32)
    return np.copysign(levels[code], x)


def add_air(audio: np.ndarray, rel_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add noise above 11.5 kHz that follows the word's 5 ms RMS envelope.

    The word banks hold 22.05 kHz speech, so their words stop at 11 kHz; real 44.1 kHz
    recordings carry fricative and breath energy above that.

    Args:
        audio: float mono word at 44.1 kHz.
        rel_db: level of the added band below the word's envelope, dB (e.g. -25).
        rng: source of the noise.

    Returns:
        float32 audio of the same length, peak <= 1.
    """
    x = np.asarray(audio, dtype=np.float64)
    noise = sosfilt(_AIR_SOS, rng.standard_normal(x.size))
    envelope = np.sqrt(np.convolve(x * x, np.full(_AIR_WINDOW, 1.0 / _AIR_WINDOW), mode="same"))
    air = noise / max(float(np.sqrt(np.mean(noise * noise))), 1e-12) * envelope
    return limit_peak((x + air * 10.0 ** (rel_db / 20.0)).astype(np.float32))


def room_impulse_response(rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Synthetic room reverberation (no direct path), unit energy, float32.

    A 2-15 ms pre-delay, 3-7 early reflections of random sign, then exponentially
    decaying Gaussian noise reaching -60 dB at ``rt60_s`` (its length), gently
    low-passed (walls absorb treble).
    """
    n = max(int(rt60_s * SAMPLE_RATE_HZ), 64)
    t = np.arange(n, dtype=np.float32) / np.float32(SAMPLE_RATE_HZ)
    envelope = np.exp(np.float32(-np.log(1000.0) / rt60_s) * t)
    tail = rng.standard_normal(n, dtype=np.float32) * envelope
    pre = int(rng.uniform(0.002, 0.015) * SAMPLE_RATE_HZ)
    tail[:pre] = 0.0
    tail[pre:pre + 220] *= np.linspace(0.0, 1.0, min(220, max(n - pre, 0)), dtype=np.float32)
    taps = rng.integers(max(pre // 2, 1), pre + int(0.02 * SAMPLE_RATE_HZ), size=rng.integers(3, 8))
    taps = taps[taps < n]
    tail[taps] += rng.choice([-1.0, 1.0], taps.size) * rng.uniform(3.0, 8.0, taps.size) * envelope[taps]
    pole = np.exp(-2.0 * np.pi * rng.uniform(3000.0, 9000.0) / SAMPLE_RATE_HZ)
    tail = lfilter([1.0 - pole], [1.0, -pole], tail)  # one-pole low-pass, cheap
    return (tail / np.sqrt(np.sum(np.square(tail, dtype=np.float64)))).astype(np.float32)


def add_reverb(audio: np.ndarray, rt60_s: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Mix ``audio`` with itself convolved by a synthetic room (:func:`room_impulse_response`).

    Args:
        audio: dry float samples.
        rt60_s: reverberation time, seconds (the impulse response's length).
        wet: reverberant share in [0, 1]: ``(1-wet)*dry + wet*reverberant``.
        rng: randomness for the impulse response.

    Returns:
        float32 of length ``len(audio) + int(rt60_s*44100) - 1``: the input plus the
        decaying tail. The dry sound still ends at ``len(audio)``.
    """
    x = np.asarray(audio, dtype=np.float32)
    ir = room_impulse_response(rt60_s, rng)
    out = fftconvolve(x, ir).astype(np.float32) * np.float32(wet)
    out[:x.size] += np.float32(1.0 - wet) * x
    return out


RIR_LEAD = 44  # samples (1 ms) an aligned impulse response keeps before its direct sound


def align_rir(rir: np.ndarray, tail_db: float = -50.0) -> np.ndarray:
    """Make a room impulse response ready to convolve words with: direct sound at a fixed place.

    The direct sound is the first sample reaching half of the largest magnitude (measured
    responses start with silence or noise, simulated ones with a propagation delay). The
    response is cut to start :data:`RIR_LEAD` samples before it, so a convolved word's dry
    end moves by exactly that lead, and cut where its remaining energy (Schroeder backward
    integral) falls ``tail_db`` below the total, with a 5 ms fade-out.

    Args:
        rir: float mono impulse response at 44.1 kHz.
        tail_db: energy level, dB below the total, where the tail is cut.

    Returns:
        float32 response of unit energy; its direct sound is at index ``RIR_LEAD``.
    """
    h = np.asarray(rir, dtype=np.float64)
    mag = np.abs(h)
    if h.ndim != 1 or h.size == 0 or not np.all(np.isfinite(h)) or mag.max() <= 0:
        raise ValueError("an impulse response must be finite, mono and not silent")
    onset = int(np.argmax(mag >= 0.5 * mag.max()))
    h = h[max(onset - RIR_LEAD, 0):]
    if onset < RIR_LEAD:  # too little before the direct sound: pad so the lead is exact
        h = np.concatenate([np.zeros(RIR_LEAD - onset), h])
    remaining = np.cumsum(h[::-1] ** 2)[::-1]
    keep = max(int(np.count_nonzero(remaining > remaining[0] * 10.0 ** (tail_db / 10.0))), RIR_LEAD + 1)
    h = h[:keep]
    fade = min(220, h.size - RIR_LEAD - 1)
    h[h.size - fade:] *= np.linspace(1.0, 0.0, fade)
    return (h / np.sqrt(np.sum(h * h))).astype(np.float32)


def convolve_rir(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """A dry word as heard in a room: ``audio`` convolved with an aligned response.

    Args:
        audio: dry float samples.
        rir: response from :func:`align_rir` (unit energy, direct sound at ``RIR_LEAD``).

    Returns:
        float32 of length ``len(audio) + len(rir) - 1``; the dry sound now ends at
        ``len(audio) + RIR_LEAD`` (1 ms later), the rest is the room's tail.
    """
    return fftconvolve(np.asarray(audio, dtype=np.float32), np.asarray(rir, dtype=np.float32)).astype(
        np.float32, copy=False)
