"""Augmentation that makes synthetic speech sound more like real recordings.

Pure numpy/scipy (soxr for resampling), float32 mono at 44.1 kHz, randomness only
from the numpy Generator passed in, so a seed gives the same bytes every time.

Two stages:

* :func:`augment_word` — per spoken word: speed (tempo and pitch together), pitch
  (duration kept), energy above 11.5 kHz ("air", off by default), a room (a measured or
  simulated impulse response, off by default; else the synthetic reverberation), and a
  random RMS level.
* :func:`augment_mix` — per 10 s mix, the recording channel: band limiting like a
  phone (optionally 8-bit mu-law like G.711) or a cheap microphone, a microphone
  resonance (peaking EQ), and an overall gain. Length is kept, so labels stay valid.

The effects themselves (and the level helpers) live in :mod:`model.audio.effects`; this module
decides which apply and how strongly. Levels are RMS dBFS; nothing clips.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio.effects import (RIR_LEAD, add_air, add_reverb, band_limit, convolve_rir, gain_db,
                             limit_peak, peak_eq, perturb_speed, quantize_mulaw, scale_to_dbfs,
                             shift_pitch)
from ..errors import ConfigError
from .acoustics import MEASURED_RIRS, ROOM_RIRS, pick_rir


@dataclass
class AugmentConfig:
    """Probabilities and ranges of every augmentation; recorded in meta.json."""

    # --- per word (augment_word) ---
    speed_prob: float = 0.5  # chance a word's tempo and pitch change together
    speed_range: tuple[float, float] = (0.88, 1.12)  # speed factor; > 1 is faster and higher
    pitch_prob: float = 0.4  # chance a word's pitch and formants move, duration kept
    pitch_semitones: tuple[float, float] = (-3.0, 3.0)  # pitch shift, semitones
    reverb_prob: float = 0.35  # chance a word is spoken in a synthetic room
    rt60_range_s: tuple[float, float] = (0.15, 0.8)  # reverberation time (-60 dB), seconds
    wet_range: tuple[float, float] = (0.1, 0.45)  # reverberant share; 0.5 = equal to direct
    word_level_prob: float = 0.0  # chance a word gets a random RMS level (0: synth sets levels)
    word_level_dbfs: tuple[float, float] = (-30.0, -12.0)  # word RMS level, dBFS
    air_prob: float = 0.0  # chance a word gets speech-like energy above 11.5 kHz (the banks' TTS has none)
    air_db_range: tuple[float, float] = (-35.0, -15.0)  # that energy, dB below the word's envelope
    # a real room instead of the synthetic reverb (off by default: old recipes keep their bytes)
    rir_prob: float = 0.0  # chance a word is convolved with a room impulse response (then no reverb)
    rir_measured_share: float = 0.3  # share of those rooms that are measured (rest simulated)
    rir_measured: tuple[str, ...] = ROOM_RIRS  # measured responses used (fetch_acoustics.sh files)
    rir_sim_rooms: int = 96  # simulated responses in the pool (built once, cached in .cache/acoustics)
    rir_sim_seed: int = 0  # seed of the simulated pool: same settings, same rooms
    rir_sim_rt60_s: tuple[float, float] = (0.2, 0.9)  # simulated reverberation time (Sabine), s
    rir_sim_size_m: tuple[float, float] = (2.5, 9.0)  # simulated floor side lengths, m
    rir_sim_height_m: tuple[float, float] = (2.4, 4.0)  # simulated ceiling height, m
    rir_sim_distance_m: tuple[float, float] = (0.3, 4.0)  # talker-to-microphone distance, m
    rir_sim_max_order: int = 40  # image-source order cap (speed; long tails are cut short)
    # --- per 10 s mix (augment_mix): the recording channel ---
    bandlimit_prob: float = 0.3  # chance the whole mix is band limited
    phone_share: float = 0.4  # share of band-limited mixes using the phone band (rest: cheap mic)
    phone_band_hz: tuple[float, float] = (300.0, 3400.0)  # telephone pass band, Hz
    phone_order: int = 6  # Butterworth order of the phone band edges (steep)
    mulaw_prob: float = 0.5  # chance a phone-band mix is also 8-bit mu-law quantised (G.711)
    mic_low_hz_range: tuple[float, float] = (60.0, 250.0)  # cheap-mic low cut-off range, Hz
    mic_high_hz_range: tuple[float, float] = (4000.0, 12000.0)  # cheap-mic high cut-off range, Hz
    mic_order: int = 2  # Butterworth order of the cheap-mic band edges (gentle)
    mic_eq_prob: float = 0.3  # chance of a microphone resonance (peaking EQ)
    mic_eq_hz_range: tuple[float, float] = (600.0, 5000.0)  # resonance centre, Hz
    mic_eq_gain_db_range: tuple[float, float] = (-6.0, 8.0)  # resonance gain, dB
    mic_eq_q_range: tuple[float, float] = (0.7, 3.0)  # resonance quality factor
    mix_gain_prob: float = 0.5  # chance the whole mix gets a random gain
    mix_gain_db_range: tuple[float, float] = (-10.0, 6.0)  # mix gain, dB (peak kept <= 1)

    @classmethod
    def off(cls) -> "AugmentConfig":
        """A config with every augmentation disabled (all probabilities 0)."""
        return cls(**{f.name: 0.0 for f in dataclasses.fields(cls) if f.name.endswith("_prob")})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "AugmentConfig":
        """Rebuild from ``dataclasses.asdict`` output read back from JSON (lists -> tuples)."""
        return config_from_dict(cls, raw)

    def validate(self) -> None:
        """Raise ConfigError naming the first setting out of range."""
        validate_config(self, order_fields=("phone_order", "mic_order", "rir_sim_rooms",
                                            "rir_sim_max_order"), choice_fields=("rir_measured",))
        if not set(self.rir_measured) <= set(MEASURED_RIRS):
            raise ConfigError(f"rir_measured must name files of {MEASURED_RIRS}, got {self.rir_measured}")
        if self.rir_sim_rt60_s[0] <= 0 or self.rir_sim_size_m[0] < 1.0 or self.rir_sim_distance_m[0] <= 0:
            raise ConfigError("simulated rooms need RT60 > 0, sides >= 1 m and a distance > 0")
        if self.speed_range[0] <= 0 or self.rt60_range_s[0] <= 0 or self.mic_eq_q_range[0] <= 0:
            raise ConfigError("speed factors, reverberation times and EQ Q must be positive")
        if not 0.0 <= self.wet_range[0] <= self.wet_range[1] <= 1.0:
            raise ConfigError(f"wet_range must lie within 0..1, got {self.wet_range}")


def config_from_dict(cls: type, raw: dict[str, Any]) -> Any:
    """Build and validate config dataclass ``cls`` from JSON data; ConfigError on unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    cfg = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    cfg.validate()
    return cfg


def validate_config(cfg: Any, order_fields: tuple[str, ...] = (),
                    choice_fields: tuple[str, ...] = ()) -> None:
    """Check a config dataclass: ``*_prob``/``*_share`` in [0, 1], every tuple field a
    (low, high) pair with low <= high (except ``choice_fields``), orders >= 1."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name.endswith(("_prob", "_share")) and not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"{f.name} must be between 0 and 1, got {value}")
        if f.name in choice_fields:
            if not (isinstance(value, tuple) and value):
                raise ConfigError(f"{f.name} must list at least one choice, got {value}")
        elif isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
            raise ConfigError(f"{f.name} must be a (low, high) pair with low <= high, got {value}")
        if f.name in order_fields and int(value) < 1:
            raise ConfigError(f"{f.name} must be at least 1, got {value}")


def _draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def augment_word_timed(audio: np.ndarray, rng: np.random.Generator,
                       cfg: AugmentConfig) -> tuple[np.ndarray, int]:
    """:func:`augment_word` that also returns where the dry word ends.

    Returns:
        (float32 audio, end sample): the spoken word ends at ``end`` (after speed
        changes; 1 ms later in a room response, whose direct sound comes at RIR_LEAD);
        samples after it are reverberation tail only. Put labels there.
    """
    x = np.array(audio, dtype=np.float32)  # a copy: the caller's clip is never modified
    if rng.random() < cfg.speed_prob:
        x = perturb_speed(x, _draw(rng, cfg.speed_range))
    if rng.random() < cfg.pitch_prob:
        x = shift_pitch(x, _draw(rng, cfg.pitch_semitones))
    if cfg.air_prob > 0 and rng.random() < cfg.air_prob:  # no draw when off: old mixes unchanged
        x = add_air(x, _draw(rng, cfg.air_db_range), rng)
    end = int(x.size)
    if cfg.rir_prob > 0 and rng.random() < cfg.rir_prob:  # no draw when off: old mixes unchanged
        x = convolve_rir(x, pick_rir(rng, cfg))
        end += RIR_LEAD  # the direct sound arrives 1 ms into the aligned response
    elif rng.random() < cfg.reverb_prob:
        x = add_reverb(x, _draw(rng, cfg.rt60_range_s), _draw(rng, cfg.wet_range), rng)
    if rng.random() < cfg.word_level_prob:
        x = scale_to_dbfs(x, _draw(rng, cfg.word_level_dbfs))
    return limit_peak(np.nan_to_num(x, copy=False)).astype(np.float32, copy=False), end


def augment_word(audio: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Apply a random chain (speed, pitch, reverb, level) to one spoken-word clip.

    Args:
        audio: float mono word at 44.1 kHz, silence trimmed.
        rng: the only source of randomness.
        cfg: probabilities and ranges.

    Returns:
        float32 audio with peak <= 1. Its length changes with speed and grows by
        the reverberation tail; :func:`augment_word_timed` gives the dry end.
    """
    return augment_word_timed(audio, rng, cfg)[0]


def augment_mix(audio: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Apply a random recording channel to a whole mix (e.g. 10 s): same length.

    Band limiting (phone band, maybe mu-law; or a cheap-mic band), a microphone
    resonance, and an overall gain, each with its probability. Returns float32 with
    peak <= 1.
    """
    x = np.array(audio, dtype=np.float32)  # a copy: the caller's mix is never modified
    if rng.random() < cfg.bandlimit_prob:
        if rng.random() < cfg.phone_share:
            x = band_limit(x, cfg.phone_band_hz[0], cfg.phone_band_hz[1], cfg.phone_order)
            if rng.random() < cfg.mulaw_prob:
                x = quantize_mulaw(limit_peak(x))
        else:
            x = band_limit(x, _draw(rng, cfg.mic_low_hz_range), _draw(rng, cfg.mic_high_hz_range),
                           cfg.mic_order)
    if rng.random() < cfg.mic_eq_prob:
        x = peak_eq(x, _draw(rng, cfg.mic_eq_hz_range), _draw(rng, cfg.mic_eq_gain_db_range),
                    _draw(rng, cfg.mic_eq_q_range))
    if rng.random() < cfg.mix_gain_prob:
        x = gain_db(x, _draw(rng, cfg.mix_gain_db_range))
    return limit_peak(np.nan_to_num(x, copy=False)).astype(np.float32, copy=False)
