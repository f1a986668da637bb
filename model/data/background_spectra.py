"""Steady generated backgrounds, built in the frequency domain to share one inverse FFT.

Coloured noise (power ~ ``f**-exponent``, flat below 20 Hz), mains hum, sine tones (steady
or gliding), quiet room noise and the noise floor under every other kind; all as rfft
spectra scaled to unit RMS, randomness only from the Generator passed in (see
model/data/backgrounds.py, which mixes and levels them).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft

from ..audio.features import SAMPLE_RATE_HZ
from ..errors import ConfigError
from .background_config import HUM, KINDS, NOISE_EXPONENTS, TONES, BackgroundConfig

_SHAPING_FLOOR_HZ = 20.0  # noise shaping is flat below this


@functools.lru_cache(maxsize=8)
def fft_len(n_samples: int) -> int:
    """A fast rfft length of at least ``n_samples``."""
    return int(scipy.fft.next_fast_len(n_samples, real=True))


@functools.lru_cache(maxsize=8)
def _bin_freqs_hz(n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE_HZ).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _noise_magnitude(n_fft: int, exponent: float) -> np.ndarray:
    """Unit-RMS magnitude of a power-law noise spectrum (DC and Nyquist zero)."""
    mag = np.maximum(_bin_freqs_hz(n_fft), _SHAPING_FLOOR_HZ) ** np.float32(-exponent / 2.0)
    mag[0] = mag[-1] = 0.0
    return (mag * np.float32(unit_rms_scale(mag, n_fft))).astype(np.float32)


def unit_rms_scale(spec: np.ndarray, n_fft: int) -> float:
    """Factor giving an rfft spectrum (real magnitude or complex) the time-domain RMS 1
    (Parseval, DC/Nyquist ignored); 0 for an all-zero spectrum."""
    energy = 2.0 * float(np.vdot(spec, spec).real)
    return n_fft / np.sqrt(energy) if energy > 0 else 0.0


def random_phase(rng: np.random.Generator, n_bins: int) -> np.ndarray:
    """``n_bins`` unit complex64 values of uniform random phase."""
    angle = rng.random(n_bins, dtype=np.float32) * np.float32(2.0 * np.pi)
    out = np.empty(n_bins, np.complex64)
    out.real, out.imag = np.cos(angle), np.sin(angle)
    return out


def room_magnitude(n_fft: int, brown_share: float, lowpass_hz: float) -> np.ndarray:
    """Pink-to-brown noise with a 2nd-order low-pass at ``lowpass_hz``, unit RMS."""
    mix = np.float32(brown_share)
    mag = (1 - mix) * _noise_magnitude(n_fft, 1.0) + mix * _noise_magnitude(n_fft, 2.0)
    ratio = _bin_freqs_hz(n_fft) * np.float32(1.0 / lowpass_hz)
    ratio *= ratio
    mag = mag / np.sqrt(1.0 + ratio * ratio)
    return mag * np.float32(unit_rms_scale(mag, n_fft))


@functools.lru_cache(maxsize=4)
def floor_magnitude(n_fft: int) -> np.ndarray:
    """The noise floor under every other kind: fixed shape (cached), random level."""
    return room_magnitude(n_fft, 0.5, 2000.0)


def _hum_spectrum(rng: np.random.Generator, n_fft: int, cfg: BackgroundConfig) -> np.ndarray:
    """Mains hum: harmonics of 50/60 Hz, decaying, each spread over a few random bins."""
    spec = np.zeros(n_fft // 2 + 1, np.complex64)
    mains = float(rng.choice(cfg.hum_mains_hz)) + rng.uniform(-0.05, 0.05)
    bins_per_hz = n_fft / SAMPLE_RATE_HZ
    harmonics = int(rng.integers(cfg.hum_harmonics_range[0], cfg.hum_harmonics_range[1] + 1))
    for h in range(1, harmonics + 1):  # a loop over harmonics, not samples
        centre = int(round(h * mains * bins_per_hz))
        spread = int(np.ceil(h * cfg.hum_drift_hz * bins_per_hz))
        if centre + spread >= spec.size - 1:
            break
        amp = rng.uniform(0.2, 1.0) * h ** -rng.uniform(0.5, 1.5) * (1.5 if h % 2 else 1.0)
        taper = np.exp(-0.5 * (np.arange(-spread, spread + 1) / max(spread, 1)) ** 2)
        weights = np.array([1.0, 1j]) @ rng.standard_normal((2, taper.size))
        spec[centre - spread:centre + spread + 1] += amp * taper * weights
    return spec * np.float32(unit_rms_scale(spec, n_fft))


def _tones_spectrum(rng: np.random.Generator, n_fft: int, cfg: BackgroundConfig) -> np.ndarray:
    """A few sines; a glide from f0 to f1 over the clip is a chirp with quadratic phase."""
    spec = np.zeros(n_fft // 2 + 1, np.complex64)
    bins_per_hz = n_fft / SAMPLE_RATE_HZ
    lo, hi = np.log(cfg.tones_hz_range[0]), np.log(cfg.tones_hz_range[1])
    for _ in range(int(rng.integers(cfg.tones_count_range[0], cfg.tones_count_range[1] + 1))):
        k0 = np.exp(rng.uniform(lo, hi)) * bins_per_hz
        glide = rng.uniform(-cfg.tones_glide_max, cfg.tones_glide_max) if rng.random() < 0.5 else 0.0
        k1 = k0 * (1.0 + glide)
        amp = rng.uniform(0.3, 1.0)
        if max(k0, k1) >= spec.size - 1:
            continue
        if abs(k1 - k0) < 2.0:
            spec[int(round(k0))] += amp * np.exp(2j * np.pi * rng.random())
            continue
        ks = np.arange(int(np.ceil(min(k0, k1))), int(np.floor(max(k0, k1))) + 1)
        # stationary phase: bin k sounds at time (k-k0)/(k1-k0) of the FFT length
        phase = -np.pi * (ks - k0) ** 2 / (k1 - k0) + 2 * np.pi * rng.random()
        spec[ks] += amp / np.sqrt(ks.size) * np.exp(1j * phase)
    return spec * np.float32(unit_rms_scale(spec, n_fft))


def steady_spectrum(rng: np.random.Generator, kind: str, n_fft: int, phase: np.ndarray,
                    cfg: BackgroundConfig) -> np.ndarray:
    """The unit-RMS spectrum of one steady kind (a noise colour, hum or tones)."""
    if kind in NOISE_EXPONENTS:
        return _noise_magnitude(n_fft, NOISE_EXPONENTS[kind]) * phase
    if kind == HUM:
        return _hum_spectrum(rng, n_fft, cfg)
    if kind == TONES:
        return _tones_spectrum(rng, n_fft, cfg)
    raise ConfigError(f"unknown background kind {kind!r}; expected one of {KINDS}")


def spectrum_to_audio(spec: np.ndarray, n_fft: int, n_samples: int) -> np.ndarray:
    """float32 audio of ``n_samples`` from an rfft spectrum of length ``n_fft``."""
    return scipy.fft.irfft(spec, n_fft)[:n_samples].astype(np.float32, copy=False)
