"""Background kinds and their settings: which backgrounds to make and how loud.

The kinds are made by model/data/backgrounds.py (generated, babble, real recordings); these
settings are recorded in a dataset's meta.json. Levels are RMS dBFS (``20*log10(rms)``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .acoustics import AMBIENCE_RECORDINGS, KEYBOARD_PROFILES, check_real_names
from .augment import config_from_dict, validate_config
from ..errors import ConfigError

WHITE, PINK, BROWN, BLUE = "white", "pink", "brown", "blue"
HUM, TONES, BABBLE, ROOM, MIXTURE = "hum", "tones", "babble", "room", "mixture"
AMBIENCE, KEYBOARD = "ambience", "keyboard"
REAL_KINDS = (AMBIENCE, KEYBOARD)  # recordings fetched by scripts/fetch_acoustics.sh
KINDS = (WHITE, PINK, BROWN, BLUE, HUM, TONES, BABBLE, ROOM, MIXTURE, AMBIENCE, KEYBOARD)
NOISE_EXPONENTS = {WHITE: 0.0, PINK: 1.0, BROWN: 2.0, BLUE: -1.0}  # power ~ f**-exponent
MIXABLE = (WHITE, PINK, BROWN, BLUE, HUM, TONES, BABBLE)  # kinds a mixture draws its parts from


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
