"""Backgrounds from real recordings: ambience (rain forest, train, drone, machine hum) and typing.

The generated backgrounds (:mod:`model.data.backgrounds`) are noise, hum, tones and synthetic
babble; a detector trained on them alone false-accepts on real rooms. These two kinds use the
recordings that ``bash scripts/fetch_acoustics.sh`` fetches (:mod:`model.data.acoustics`):

* ambience: a random window of a real recording played at a random rate (tempo and pitch move
  together, by resampling, as a tape would) through a random peaking EQ and, sometimes, a
  random band, so 4 recordings give many distinct rooms;
* keyboard: someone typing on one of 16 real keyboards: bursts of key presses (and their
  releases, where the profile has them) at 2-8 keys per second with pauses between, each key
  at its own gain, over silence (the caller adds the room's noise floor).

Both return unit RMS (0 dBFS): :func:`model.data.backgrounds.make_background` sets the level
and adds the noise floor. ``cfg`` is a BackgroundConfig (not imported: backgrounds imports this
module). Float32 mono at 44.1 kHz; randomness only from the Generator passed in.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..audio.effects import band_limit, peak_eq
from ..audio.features import SAMPLE_RATE_HZ, resample_audio
from .acoustics import ambience_recordings, keyboard_profiles

_LOOP_FADE = int(0.05 * SAMPLE_RATE_HZ)  # 50 ms cross-fade that closes an ambience loop


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return (x / np.float32(rms)).astype(np.float32) if rms > 0 else x.astype(np.float32)


def _window(rng: np.random.Generator, audio: np.ndarray, n: int) -> np.ndarray:
    """A random ``n``-sample window of ``audio``, tiled first if the recording is shorter."""
    if audio.size < n:
        audio = np.tile(audio, n // audio.size + 1)
    start = int(rng.integers(0, audio.size - n + 1))
    return audio[start:start + n]


def ambience_background(rng: np.random.Generator, n_samples: int, cfg: Any) -> np.ndarray:
    """A random stretch of a real ambience recording, re-pitched and re-coloured.

    Args:
        rng: the only source of randomness.
        n_samples: length at 44.1 kHz.
        cfg: the ``ambience_*`` ranges of a BackgroundConfig.

    Returns:
        float32 of ``n_samples`` at RMS 1 (0 dBFS); it loops seamlessly (its end flows into
        its start through a 50 ms cross-fade).
    """
    recordings = ambience_recordings(tuple(cfg.ambience_names))
    recording = recordings[int(rng.integers(len(recordings)))]
    rate = float(rng.uniform(*cfg.ambience_rate_range))
    fade = min(_LOOP_FADE, n_samples)
    # play `rate` times faster: read rate * n samples and squeeze them into n (+ a fade's worth)
    need = int(np.ceil((n_samples + fade) * rate)) + 64
    x = resample_audio(_window(rng, recording, need), int(round(SAMPLE_RATE_HZ * rate)), SAMPLE_RATE_HZ)
    x = np.resize(x, n_samples + fade) if x.size < n_samples + fade else x[:n_samples + fade]
    x = peak_eq(x, float(np.exp(rng.uniform(*np.log(cfg.ambience_eq_hz_range)))),
                float(rng.uniform(*cfg.ambience_eq_gain_db_range)), float(rng.uniform(0.5, 2.0)))
    if rng.random() < cfg.ambience_band_prob:  # a far or muffled source: only part of the band
        x = band_limit(x, float(rng.uniform(30.0, 300.0)), float(rng.uniform(2500.0, 16000.0)), 2)
    # make the clip loop seamlessly: the mixer's background pool plays each background from a
    # random point, wrapping round, and a jump at the seam would be a click no room makes. The
    # part past the end is faded into the start, which also hides the filters' start-up.
    x = np.asarray(x, dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
    x[:fade] = x[:fade] * ramp + x[n_samples:n_samples + fade] * (1.0 - ramp)
    return _unit_rms(np.nan_to_num(x[:n_samples]))


def _key_times(rng: np.random.Generator, seconds: float, cfg: Any) -> np.ndarray:
    """Key-press times (s) in [0, seconds): bursts of typing with pauses between them."""
    times: list[float] = []
    t = -float(rng.uniform(0.0, cfg.keyboard_burst_s_range[1]))  # the clip may open mid-burst
    while t < seconds:
        rate = float(rng.uniform(*cfg.keyboard_rate_hz_range))
        burst_end = t + float(rng.uniform(*cfg.keyboard_burst_s_range))
        while t < burst_end:
            times.append(t)
            t += float(rng.gamma(4.0, 0.25 / rate))  # mean 1/rate; rarely two keys at once
        t += float(rng.uniform(*cfg.keyboard_pause_s_range))
    arr = np.array(times)
    arr = arr[(arr >= 0.0) & (arr < seconds)]
    # a clip that fell in a pause still has someone typing: one key somewhere
    return arr if arr.size else np.array([float(rng.uniform(0.0, seconds))])


def keyboard_background(rng: np.random.Generator, n_samples: int, cfg: Any) -> np.ndarray:
    """Typing on one real keyboard: key presses (and releases) scattered in bursts.

    Args:
        rng: the only source of randomness.
        n_samples: length at 44.1 kHz.
        cfg: the ``keyboard_*`` ranges of a BackgroundConfig.

    Returns:
        float32 of ``n_samples`` at RMS 1, silent between keys (add a floor); keys ringing
        past the end continue at the start, so it loops seamlessly.
    """
    profiles = keyboard_profiles(tuple(cfg.keyboard_names))
    presses, releases = profiles[int(rng.integers(len(profiles)))]
    longest = max(c.size for c in presses + releases)
    out = np.zeros(n_samples + longest + int(0.16 * SAMPLE_RATE_HZ), np.float32)
    for t in _key_times(rng, n_samples / SAMPLE_RATE_HZ, cfg):  # a loop over keys, not samples
        gain = np.float32(10.0 ** (rng.uniform(*cfg.keyboard_gain_db_range) / 20.0))
        start = int(t * SAMPLE_RATE_HZ)
        sounds = [(start, presses[int(rng.integers(len(presses)))])]
        if releases:  # the key comes back up 40-160 ms later
            hold = int(rng.uniform(0.04, 0.16) * SAMPLE_RATE_HZ)
            sounds.append((start + hold, releases[int(rng.integers(len(releases)))]))
        for at, clip in sounds:
            out[at:at + clip.size] += gain * clip
    # keys that ring past the end come round at the start: the clip loops seamlessly, as the
    # mixer's background pool plays it from a random point
    head = out[n_samples:n_samples * 2]
    out[:head.size] += head
    return _unit_rms(out[:n_samples])

