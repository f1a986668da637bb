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
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.fft

from .acoustics import AMBIENCE_RECORDINGS, KEYBOARD_PROFILES, check_real_names
from .augment import config_from_dict, validate_config
from ..errors import AudioError, ConfigError
from ..audio.features import CLIP_SAMPLES, SAMPLE_RATE_HZ

WHITE, PINK, BROWN, BLUE = "white", "pink", "brown", "blue"
HUM, TONES, BABBLE, ROOM, MIXTURE = "hum", "tones", "babble", "room", "mixture"
AMBIENCE, KEYBOARD = "ambience", "keyboard"
REAL_KINDS = (AMBIENCE, KEYBOARD)  # recordings fetched by scripts/fetch_acoustics.sh
KINDS = (WHITE, PINK, BROWN, BLUE, HUM, TONES, BABBLE, ROOM, MIXTURE, AMBIENCE, KEYBOARD)
NOISE_EXPONENTS = {WHITE: 0.0, PINK: 1.0, BROWN: 2.0, BLUE: -1.0}  # power ~ f**-exponent
_MIXABLE = (WHITE, PINK, BROWN, BLUE, HUM, TONES, BABBLE)
_SHAPING_FLOOR_HZ = 20.0  # noise shaping is flat below this


@dataclass
class BackgroundConfig:
    """Which backgrounds to generate and how loud; recorded in meta.json."""

    weight_white: float = 1.0  # relative chance of white noise
    weight_pink: float = 1.5  # pink noise (power falls 3 dB per octave)
    weight_brown: float = 1.0  # brown noise (6 dB per octave)
    weight_blue: float = 0.5  # blue noise (rises 3 dB per octave)
    weight_hum: float = 1.0  # mains hum, 50 or 60 Hz and harmonics
    weight_tones: float = 1.0  # a few steady or gliding sine tones
    weight_babble: float = 1.5  # many quiet overlapping words (needs babble clips)
    weight_room: float = 2.0  # silence with only room noise
    weight_mixture: float = 2.5  # 2-3 of the kinds above summed
    weight_ambience: float = 0.0  # a real ambience recording (0: default recipes keep their bytes)
    weight_keyboard: float = 0.0  # real typing: key presses in bursts over the noise floor
    level_range_dbfs: tuple[float, float] = (-60.0, -30.0)  # background RMS level, dBFS
    room_level_range_dbfs: tuple[float, float] = (-75.0, -55.0)  # room kind RMS level, dBFS
    floor_level_range_dbfs: tuple[float, float] = (-85.0, -65.0)  # room floor under other kinds
    room_lowpass_hz_range: tuple[float, float] = (500.0, 4000.0)  # room noise low-pass corner, Hz
    hum_mains_hz: tuple[float, ...] = (50.0, 60.0)  # mains frequencies to choose from, Hz
    hum_harmonics_range: tuple[int, int] = (3, 12)  # number of hum harmonics
    hum_drift_hz: float = 0.1  # frequency wander of the fundamental, Hz
    tones_count_range: tuple[int, int] = (1, 3)  # sine tones per background
    tones_hz_range: tuple[float, float] = (80.0, 5000.0)  # tone frequency (log-uniform), Hz
    tones_glide_max: float = 0.05  # largest relative glide over the clip (0.05 = 5%)
    babble_words_range: tuple[int, int] = (15, 40)  # words overlaid in babble
    babble_gain_db_range: tuple[float, float] = (-12.0, 0.0)  # per-word gain before leveling, dB
    mixture_parts_range: tuple[int, int] = (2, 3)  # kinds summed in a mixture
    mixture_rel_db_range: tuple[float, float] = (-15.0, 0.0)  # level of added parts vs the first, dB
    real_mix_prob: float = 0.4  # chance a generated kind is added under ambience or typing
    ambience_names: tuple[str, ...] = AMBIENCE_RECORDINGS  # recordings used (hold one out to test on it)
    keyboard_names: tuple[str, ...] = KEYBOARD_PROFILES  # keyboard profiles used (likewise)
    ambience_rate_range: tuple[float, float] = (0.85, 1.18)  # playback rate (pitch and tempo) factor
    ambience_eq_hz_range: tuple[float, float] = (150.0, 6000.0)  # EQ centre (log-uniform), Hz
    ambience_eq_gain_db_range: tuple[float, float] = (-9.0, 9.0)  # EQ gain, dB
    ambience_band_prob: float = 0.3  # chance the recording is also band limited (far, muffled)
    keyboard_rate_hz_range: tuple[float, float] = (2.0, 8.0)  # keys per second while typing
    keyboard_burst_s_range: tuple[float, float] = (1.0, 6.0)  # length of a typing burst, s
    keyboard_pause_s_range: tuple[float, float] = (0.3, 4.0)  # pause between bursts, s
    keyboard_gain_db_range: tuple[float, float] = (-10.0, 0.0)  # per-key gain, dB

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "BackgroundConfig":
        """Rebuild from ``dataclasses.asdict`` output read back from JSON (lists -> tuples)."""
        return config_from_dict(cls, raw)

    def validate(self) -> None:
        """Raise ConfigError naming the first setting out of range."""
        validate_config(self, choice_fields=("hum_mains_hz", "ambience_names", "keyboard_names"))
        check_real_names(self.ambience_names, self.keyboard_names)
        if any(w < 0 for w in self.kind_weights().values()) or sum(self.kind_weights().values()) <= 0:
            raise ConfigError("background weights must be >= 0 with at least one above 0")

    def with_real_share(self, share: float) -> "BackgroundConfig":
        """A copy whose backgrounds are real recordings ``share`` of the time (ambience 3 :
        typing 1), the generated kinds keeping their relative weights the rest of the time."""
        if not 0.0 <= share < 1.0:
            raise ConfigError(f"the real-background share must be in [0, 1), got {share}")
        generated = sum(w for k, w in self.kind_weights().items() if k not in REAL_KINDS)
        real = generated * share / (1.0 - share)
        return dataclasses.replace(self, weight_ambience=0.75 * real, weight_keyboard=0.25 * real)

    def kind_weights(self) -> dict[str, float]:
        """Kind name -> weight, in KINDS order."""
        return {kind: float(getattr(self, f"weight_{kind}")) for kind in KINDS}


@functools.lru_cache(maxsize=8)
def _fft_len(n_samples: int) -> int:
    return int(scipy.fft.next_fast_len(n_samples, real=True))


@functools.lru_cache(maxsize=8)
def _bin_freqs_hz(n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE_HZ).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _noise_magnitude(n_fft: int, exponent: float) -> np.ndarray:
    """Unit-RMS magnitude of a power-law noise spectrum (DC and Nyquist zero)."""
    mag = np.maximum(_bin_freqs_hz(n_fft), _SHAPING_FLOOR_HZ) ** np.float32(-exponent / 2.0)
    mag[0] = mag[-1] = 0.0
    return (mag * np.float32(_unit_rms_scale(mag, n_fft))).astype(np.float32)


def _unit_rms_scale(spec: np.ndarray, n_fft: int) -> float:
    """Factor giving an rfft spectrum (real magnitude or complex) the time-domain RMS 1
    (Parseval, DC/Nyquist ignored); 0 for an all-zero spectrum."""
    energy = 2.0 * float(np.vdot(spec, spec).real)
    return n_fft / np.sqrt(energy) if energy > 0 else 0.0


def _random_phase(rng: np.random.Generator, n_bins: int) -> np.ndarray:
    angle = rng.random(n_bins, dtype=np.float32) * np.float32(2.0 * np.pi)
    out = np.empty(n_bins, np.complex64)
    out.real, out.imag = np.cos(angle), np.sin(angle)
    return out


def _room_magnitude(n_fft: int, brown_share: float, lowpass_hz: float) -> np.ndarray:
    """Pink-to-brown noise with a 2nd-order low-pass at ``lowpass_hz``, unit RMS."""
    mix = np.float32(brown_share)
    mag = (1 - mix) * _noise_magnitude(n_fft, 1.0) + mix * _noise_magnitude(n_fft, 2.0)
    ratio = _bin_freqs_hz(n_fft) * np.float32(1.0 / lowpass_hz)
    ratio *= ratio
    mag = mag / np.sqrt(1.0 + ratio * ratio)
    return mag * np.float32(_unit_rms_scale(mag, n_fft))


@functools.lru_cache(maxsize=4)
def _floor_magnitude(n_fft: int) -> np.ndarray:
    """The noise floor under every other kind: fixed shape (cached), random level."""
    return _room_magnitude(n_fft, 0.5, 2000.0)


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
    return spec * np.float32(_unit_rms_scale(spec, n_fft))


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
    return spec * np.float32(_unit_rms_scale(spec, n_fft))


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
    parts = [k for k in _MIXABLE if k != BABBLE or have_babble]
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
    n_fft = _fft_len(max(int(n_samples), 2))
    phase = _random_phase(rng, n_fft // 2 + 1)
    if kinds == [ROOM]:
        level = rng.uniform(*cfg.room_level_range_dbfs)
        mag = _room_magnitude(n_fft, rng.uniform(0.0, 1.0), rng.uniform(*cfg.room_lowpass_hz_range))
        spec = mag * np.float32(10 ** (level / 20)) * phase
        return _spectrum_to_audio(spec, n_fft, n_samples), ROOM
    spec = np.zeros(n_fft // 2 + 1, np.complex64)
    babble_gain, talk = 0.0, np.zeros(0, np.float32)
    for i, kind in enumerate(kinds):
        rel = 1.0 if i == 0 else 10 ** (rng.uniform(*cfg.mixture_rel_db_range) / 20)
        if kind == BABBLE:
            n_words = int(rng.integers(cfg.babble_words_range[0], cfg.babble_words_range[1] + 1))
            talk = babble(rng, n_samples, babble_clips or [], n_words, cfg.babble_gain_db_range)
            babble_gain = rel
        else:
            spec += np.float32(rel) * _steady_spectrum(rng, kind, n_fft, phase, cfg)
    unit = _unit_rms_scale(spec, n_fft)
    steady_rms = 1.0 / unit if unit > 0 else 0.0
    total_rms = np.sqrt(steady_rms ** 2 + babble_gain ** 2)
    scale = 10 ** (rng.uniform(*cfg.level_range_dbfs) / 20) / total_rms if total_rms > 0 else 0.0
    floor = 10 ** (rng.uniform(*cfg.floor_level_range_dbfs) / 20)
    spec *= np.float32(scale)
    spec += _floor_magnitude(n_fft) * np.float32(floor) * phase
    audio = _spectrum_to_audio(spec, n_fft, n_samples)
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
    n_fft = _fft_len(max(n_samples, 2))
    floor = np.float32(10.0 ** (rng.uniform(*cfg.floor_level_range_dbfs) / 20.0))
    spec = _floor_magnitude(n_fft) * floor * _random_phase(rng, n_fft // 2 + 1)
    return audio + _spectrum_to_audio(spec, n_fft, n_samples), kind


def _steady_spectrum(rng: np.random.Generator, kind: str, n_fft: int, phase: np.ndarray,
                     cfg: BackgroundConfig) -> np.ndarray:
    if kind in NOISE_EXPONENTS:
        return _noise_magnitude(n_fft, NOISE_EXPONENTS[kind]) * phase
    if kind == HUM:
        return _hum_spectrum(rng, n_fft, cfg)
    if kind == TONES:
        return _tones_spectrum(rng, n_fft, cfg)
    raise ConfigError(f"unknown background kind {kind!r}; expected one of {KINDS}")


def _spectrum_to_audio(spec: np.ndarray, n_fft: int, n_samples: int) -> np.ndarray:
    return scipy.fft.irfft(spec, n_fft)[:n_samples].astype(np.float32, copy=False)


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
