"""Generated 10 s backgrounds, and random windows of user background recordings.

Pure numpy/scipy, float32 mono at 44.1 kHz, randomness only from the Generator passed
in. Steady sounds are built in the frequency domain and share one inverse FFT:

* coloured noise: unit-magnitude random-phase spectrum shaped so power falls as
  ``f**-exponent`` (white 0, pink 1, brown 2, blue -1), flat below 20 Hz so brown
  noise is not all inaudible rumble;
* mains hum: harmonics of 50 or 60 Hz, each a few adjacent bins with random complex
  weights, so amplitude and frequency wander slightly (drift) over the clip;
* tones: steady or slowly gliding sines (fridges, fans, monitors); a glide is a linear
  chirp built from its stationary-phase spectrum;
* room noise: very quiet low-passed pink-to-brown noise ("silence with room noise").

Babble (many quiet overlapping words) is overlaid in the time domain. Two kinds are real
recordings rather than generated (:mod:`model.data.ambience`; weight 0 by default): ambience
(rain forest, train, drone, machine hum) and keyboard (typing). Every kind except room gets a
quiet room-noise floor, as every real recording has one. Levels are RMS dBFS
(``20*log10(rms)``).

The kinds and their settings live in ``background_config.py``, the steady spectra in
``background_spectra.py``; every name is still importable from here.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ..audio.features import CLIP_SAMPLES, SAMPLE_RATE_HZ
from ..errors import AudioError, ConfigError
from .background_config import (AMBIENCE, BABBLE, BLUE, BROWN, HUM, KEYBOARD, KINDS, MIXABLE,
                                MIXTURE, NOISE_EXPONENTS, PINK, REAL_KINDS, ROOM, TONES, WHITE,
                                BackgroundConfig)
from .background_spectra import (fft_len, floor_magnitude, random_phase, room_magnitude,
                                 spectrum_to_audio, steady_spectrum, unit_rms_scale)


def babble(rng: np.random.Generator, n_samples: int, clips: Sequence[np.ndarray],
           n_words: int, gain_db_range: tuple[float, float] = (-12.0, 0.0)) -> np.ndarray:
    """Overlay ``n_words`` clips (drawn with replacement) at random positions and gains.

    Words may run over either edge of the clip. Returns float32 of ``n_samples``
    scaled to RMS 1 (0 dBFS; scale it down), or zeros if every clip is silent.
    """
    out = np.zeros(n_samples, np.float32)
    if not clips or n_words <= 0:
        return out
    for i in rng.integers(0, len(clips), size=n_words):  # a loop over words, not samples
        clip = np.asarray(clips[i], dtype=np.float32)
        start = int(rng.integers(-clip.size + 1, n_samples)) if clip.size else 0
        lo, hi = max(start, 0), min(start + clip.size, n_samples)
        if hi > lo:
            out[lo:hi] += np.float32(10 ** (rng.uniform(*gain_db_range) / 20)) * clip[lo - start:hi - start]
    rms = float(np.sqrt(np.dot(out, out) / n_samples))
    return out / np.float32(rms) if rms > 0 else out


def _choose_kinds(rng: np.random.Generator, cfg: BackgroundConfig, have_babble: bool) -> list[str]:
    weights = cfg.kind_weights()
    if not have_babble:
        weights[BABBLE] = 0.0
    names = [k for k in KINDS if weights[k] > 0]
    if not names:
        raise ConfigError("no background kind is enabled (babble needs word clips)")
    p = np.array([weights[k] for k in names])
    kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    if kind != MIXTURE:
        return [kind]
    parts = [k for k in MIXABLE if k != BABBLE or have_babble]
    count = int(rng.integers(cfg.mixture_parts_range[0], cfg.mixture_parts_range[1] + 1))
    return [parts[i] for i in rng.permutation(len(parts))[:max(count, 1)]]


def make_background(rng: np.random.Generator, n_samples: int = CLIP_SAMPLES,
                    cfg: BackgroundConfig | None = None,
                    babble_clips: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, str]:
    """Generate one background of a random kind and level.

    Args:
        rng: the only source of randomness.
        n_samples: length in samples at 44.1 kHz (10 s: 441000).
        cfg: kinds, weights and levels (default BackgroundConfig()).
        babble_clips: float32 word clips at 44.1 kHz for babble; without them babble
            is never chosen.

    Returns:
        (float32 audio of ``n_samples``, kind): kind is one of KINDS except
        "mixture", or the parts of a mixture joined by "+" (e.g. "pink+hum"; a real kind
        with a generated one under it: "ambience+pink").
        Not peak-limited (at the default levels peaks stay far below 1).

    Raises:
        ConfigError: n_samples < 1, or no kind enabled (babble without clips), or a real
            kind whose recordings are not fetched (the message names the fetch script).
    """
    if int(n_samples) < 1:
        raise ConfigError(f"a background needs at least one sample, got {n_samples}")
    cfg = cfg or BackgroundConfig()
    kinds = _choose_kinds(rng, cfg, bool(babble_clips))
    if kinds[0] in REAL_KINDS:
        return _real_background(rng, kinds[0], int(n_samples), cfg, babble_clips)
    n_fft = fft_len(max(int(n_samples), 2))
    phase = random_phase(rng, n_fft // 2 + 1)
    if kinds == [ROOM]:
        level = rng.uniform(*cfg.room_level_range_dbfs)
        mag = room_magnitude(n_fft, rng.uniform(0.0, 1.0), rng.uniform(*cfg.room_lowpass_hz_range))
        spec = mag * np.float32(10 ** (level / 20)) * phase
        return spectrum_to_audio(spec, n_fft, n_samples), ROOM
    spec = np.zeros(n_fft // 2 + 1, np.complex64)
    babble_gain, talk = 0.0, np.zeros(0, np.float32)
    for i, kind in enumerate(kinds):
        rel = 1.0 if i == 0 else 10 ** (rng.uniform(*cfg.mixture_rel_db_range) / 20)
        if kind == BABBLE:
            n_words = int(rng.integers(cfg.babble_words_range[0], cfg.babble_words_range[1] + 1))
            talk = babble(rng, n_samples, babble_clips or [], n_words, cfg.babble_gain_db_range)
            babble_gain = rel
        else:
            spec += np.float32(rel) * steady_spectrum(rng, kind, n_fft, phase, cfg)
    unit = unit_rms_scale(spec, n_fft)
    steady_rms = 1.0 / unit if unit > 0 else 0.0
    total_rms = np.sqrt(steady_rms ** 2 + babble_gain ** 2)
    scale = 10 ** (rng.uniform(*cfg.level_range_dbfs) / 20) / total_rms if total_rms > 0 else 0.0
    floor = 10 ** (rng.uniform(*cfg.floor_level_range_dbfs) / 20)
    spec *= np.float32(scale)
    spec += floor_magnitude(n_fft) * np.float32(floor) * phase
    audio = spectrum_to_audio(spec, n_fft, n_samples)
    if talk.size:
        audio += np.float32(scale * babble_gain) * talk
    return audio, "+".join(kinds)


def _real_background(rng: np.random.Generator, kind: str, n_samples: int, cfg: BackgroundConfig,
                     babble_clips: Sequence[np.ndarray] | None) -> tuple[np.ndarray, str]:
    """A recording (ambience or typing), maybe over a generated kind ``real_mix_prob`` of the
    time (``mixture_rel_db_range`` below it); the sum at a drawn level, over the noise floor."""
    from .ambience import ambience_background, keyboard_background  # lazy: loads recordings

    audio = (ambience_background if kind == AMBIENCE else keyboard_background)(rng, n_samples, cfg)
    under_cfg = dataclasses.replace(cfg, **{f"weight_{k}": 0.0 for k in REAL_KINDS})
    if sum(under_cfg.kind_weights().values()) > 0 and rng.random() < cfg.real_mix_prob:
        under, under_kind = make_background(rng, n_samples, under_cfg, babble_clips)
        rel = 10.0 ** (rng.uniform(*cfg.mixture_rel_db_range) / 20.0)
        audio = audio + np.float32(rel / max(float(np.sqrt(np.mean(under * under))), 1e-12)) * under
        kind = f"{kind}+{under_kind}"
    rms = max(float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))), 1e-12)
    audio = audio * np.float32(10.0 ** (rng.uniform(*cfg.level_range_dbfs) / 20.0) / rms)
    n_fft = fft_len(max(n_samples, 2))
    floor = np.float32(10.0 ** (rng.uniform(*cfg.floor_level_range_dbfs) / 20.0))
    spec = floor_magnitude(n_fft) * floor * random_phase(rng, n_fft // 2 + 1)
    return audio + spectrum_to_audio(spec, n_fft, n_samples), kind


def crop_background(rng: np.random.Generator, audio: np.ndarray,
                    n_samples: int = CLIP_SAMPLES) -> np.ndarray:
    """A random ``n_samples`` window of a background recording, looped if shorter.

    Args:
        rng: the only source of randomness.
        audio: float mono recording at 44.1 kHz (e.g. a raw_data backgrounds/ WAV).
        n_samples: wanted length (10 s: 441000).

    Returns:
        float32 of ``n_samples``. A shorter recording is repeated from a random
        offset with a 10 ms cross-fade at each seam, so loops do not click.

    Raises:
        AudioError: empty audio or NaN/inf samples.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"a background recording must be non-empty mono audio, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise AudioError("the background recording contains NaN or infinite samples")
    if x.size >= n_samples:
        start = int(rng.integers(0, x.size - n_samples + 1))
        return x[start:start + n_samples].copy()
    fade = min(int(0.01 * SAMPLE_RATE_HZ), x.size // 4)
    period = x.size - fade
    loop = x[:period].copy()  # its end flows into x[period:], blended into its start
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
        loop[:fade] = x[:fade] * ramp + x[period:] * (1.0 - ramp)
    start = int(rng.integers(0, period))
    return np.tile(loop, (start + n_samples) // period + 1)[start:start + n_samples].copy()


__all__ = ["WHITE", "PINK", "BROWN", "BLUE", "HUM", "TONES", "BABBLE", "ROOM", "MIXTURE",
           "AMBIENCE", "KEYBOARD", "REAL_KINDS", "KINDS", "NOISE_EXPONENTS", "BackgroundConfig",
           "babble", "make_background", "crop_background"]
