"""Text-to-speech of any word, offline, from pip packages only: many voices from three engines.

* ``espeak``: espeak-ng, 8 English accents x 39 voice variants (families), each spoken at
  5 rates x 4 base pitches x 3 pitch ranges.
* ``piper``: one neural (VITS) speaker, varied in phoneme length, generator noise and
  duration noise, then resampled to shift pitch and formants together by -4..+4
  semitones: one speaker made into many voices. A family is one pitch shift.
* ``kokoro``: Kokoro-82M with its five (Japanese) voice packs, fed espeak-ng's English
  phonemes (:mod:`model.data.speech_kokoro`); a family is one blend of the packs' timbre and
  prosody halves (25), each spoken at 5 speeds and shifted by -2..+2 semitones. Slow
  (~1 s a word on one core): word banks cache it. Drawn only when ``kokoro_share`` > 0.

A *family* is the unit of the train/dev split: dev voices come from families that
training never heard. Every call is deterministic: the same word, voice and seed give
the same samples (see :mod:`model.data.speech_engines` for how).

Clips are trimmed of leading and trailing silence and peak-normalised to
``PEAK_LEVEL``; :func:`speak_native` returns them at the engines' 22.05 kHz (what the
word bank stores), :func:`synthesize` at 44.1 kHz.
"""
from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, SpeechError
from ..audio.features import SAMPLE_RATE_HZ
from .speech_engines import NATIVE_RATE_HZ, espeak_pcm, piper_pcm
from .speech_kokoro import Blend, kokoro_blends, kokoro_pcm

ENGINES = ("espeak", "piper", "kokoro")  # kokoro last: the other engines' splits and draws stay as before
# accent label -> espeak-ng voice file (espeak calls British English plain "en")
ESPEAK_ACCENTS = {
    "en-gb": "en", "en-us": "en-us", "en-us-nyc": "en-us-nyc", "en-gb-scotland": "en-gb-scotland",
    "en-029": "en-029", "en-gb-x-rp": "en-gb-x-rp", "en-gb-x-gbclan": "en-gb-x-gbclan",
    "en-gb-x-gbcwmd": "en-gb-x-gbcwmd",
}
# human-sounding variants of espeak-ng-data/voices/!v (robotic, echo-heavy and whisper ones left out)
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Lee", "Mike", "Michael", "antonio", "ed",
    "grandpa", "ian", "john", "quincy", "robert", "travis", "victor", "Alicia", "Annie", "aunty",
    "belinda", "linda", "shelby", "steph", "grandma", "anika",
)
ESPEAK_RATES_WPM = (120, 145, 170, 195, 220)  # words per minute (espeak default 175)
ESPEAK_PITCHES = (25, 40, 55, 70)  # base pitch 0..100 (default 50)
ESPEAK_RANGES = (20, 50, 80)  # pitch range 0..100 (default 50)
PIPER_LENGTH_SCALES = (0.8, 0.9, 1.0, 1.1, 1.25)  # phoneme duration factor (>1 slower)
PIPER_NOISE_SCALES = (0.4, 0.667, 0.9)  # generator noise (voice texture, prosody)
PIPER_NOISE_W_SCALES = (0.4, 0.8, 1.2)  # duration-predictor noise (rhythm)
PIPER_SEMITONES = (-4, -3, -2, -1, 0, 1, 2, 3, 4)  # pitch+formant shift by resampling
KOKORO_SPEEDS = (0.8, 0.9, 1.0, 1.1, 1.25)  # Kokoro speaking-rate factor (>1 faster)
KOKORO_SEMITONES = (-2, -1, 0, 1, 2)  # Kokoro pitch+formant shift: the blends already vary the voice

MAX_WORD_CHARS = 40  # longest text check_word accepts (a short phrase)
PEAK_LEVEL = 0.9  # peak amplitude of every returned clip
TRIM_FRAME_S = 0.005  # energy frame for silence trimming, seconds
TRIM_BELOW_PEAK_DB = 40.0  # frames this far below the loudest frame count as silence
TRIM_MARGIN_S = 0.005  # silence kept before the first and after the last loud frame, seconds
MIN_SPEECH_S = 0.05  # less loud audio than this (or a near-zero signal) is "nothing said"
_SILENT_PEAK = 1e-3  # raw peak below which the engine said nothing


@dataclass(frozen=True)
class Voice:
    """One synthetic voice; fields an engine does not use keep their zero default."""

    engine: str  # "espeak", "piper" or "kokoro"
    family: str  # train/dev split group: "espeak:en-gb+f3", "piper:pitch-2", "kokoro:t=alpha100:p=alpha100"
    name: str  # unique stable id encoding every parameter below
    accent: str = ""  # espeak accent label, a key of ESPEAK_ACCENTS
    variant: str = ""  # espeak voice variant, e.g. "f3", "klatt2"
    rate_wpm: int = 0  # espeak speaking rate, words per minute
    pitch: int = 0  # espeak base pitch, 0..100
    pitch_range: int = 0  # espeak pitch range, 0..100
    length_scale: float = 0.0  # piper phoneme duration factor (>1 slower)
    noise_scale: float = 0.0  # piper generator noise
    noise_w_scale: float = 0.0  # piper duration noise
    semitones: int = 0  # piper and kokoro pitch and formant shift, semitones
    timbre: tuple[tuple[str, float], ...] = ()  # kokoro (voice pack, weight) of the decoder style half
    prosody: tuple[tuple[str, float], ...] = ()  # kokoro (voice pack, weight) of the prosody style half
    speed: float = 0.0  # kokoro speaking-rate factor (>1 faster)


def _espeak_voices() -> list[Voice]:
    out = []
    for accent, variant in itertools.product(ESPEAK_ACCENTS, ESPEAK_VARIANTS):
        family = f"espeak:{accent}+{variant}"
        for rate, pitch, rng in itertools.product(ESPEAK_RATES_WPM, ESPEAK_PITCHES, ESPEAK_RANGES):
            out.append(Voice("espeak", family, f"{family}:r{rate}:p{pitch}:g{rng}", accent=accent,
                             variant=variant, rate_wpm=rate, pitch=pitch, pitch_range=rng))
    return out


def _piper_voices() -> list[Voice]:
    out = []
    for st in PIPER_SEMITONES:
        family = f"piper:pitch{st:+d}"
        for ls, ns, nw in itertools.product(PIPER_LENGTH_SCALES, PIPER_NOISE_SCALES, PIPER_NOISE_W_SCALES):
            out.append(Voice("piper", family, f"piper:joe:ls{ls:.2f}:ns{ns:.3f}:nw{nw:.2f}:st{st:+d}",
                             length_scale=ls, noise_scale=ns, noise_w_scale=nw, semitones=st))
    return out


def _kokoro_voices() -> list[Voice]:
    out = []
    for blend in kokoro_blends():
        family = f"kokoro:{blend.tag}"
        for speed, st in itertools.product(KOKORO_SPEEDS, KOKORO_SEMITONES):
            out.append(Voice("kokoro", family, f"{family}:sp{speed:.2f}:st{st:+d}", semitones=st,
                             timbre=blend.timbre, prosody=blend.prosody, speed=speed))
    return out


@functools.lru_cache(maxsize=1)
def _voice_table() -> tuple[tuple[Voice, ...], dict[str, tuple[Voice, ...]]]:
    voices = tuple(_espeak_voices() + _piper_voices() + _kokoro_voices())
    by_family: dict[str, list[Voice]] = {}
    for v in voices:
        by_family.setdefault(v.family, []).append(v)
    return voices, {f: tuple(vs) for f, vs in by_family.items()}


def _check_engine(engine: str | None) -> None:
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"unknown speech engine {engine!r}; expected one of {ENGINES}")


def list_voices(engine: str | None = None) -> list[Voice]:
    """Every voice, in a fixed order (espeak, piper, kokoro), optionally of one engine only."""
    _check_engine(engine)
    return [v for v in _voice_table()[0] if engine is None or v.engine == engine]


def voice_families(engine: str | None = None) -> list[str]:
    """Every voice family, in a fixed order, optionally of one engine only."""
    _check_engine(engine)
    return [f for f in _voice_table()[1] if engine is None or f.startswith(engine + ":")]


def draw_voice(rng: np.random.Generator, families: Sequence[str] | None = None,
               neural_share: float = 0.5, kokoro_share: float = 0.0) -> Voice:
    """Draw a voice: the engine by the shares, then a family of it, then a voice of it.

    One uniform number picks the engine: below ``kokoro_share`` Kokoro, else (rescaled to
    0..1) piper below ``neural_share``, espeak above. At ``kokoro_share`` 0 this is exactly
    the draw made before Kokoro existed, so old banks and datasets reproduce byte for byte.

    Args:
        rng: numpy Generator (the only source of randomness).
        families: allowed families (None: all); order does not matter.
        neural_share: probability of the neural (piper) engine among non-Kokoro clips, 0..1.
        kokoro_share: probability of the Kokoro engine, 0..1.

    Raises:
        ConfigError: a share outside 0..1, an unknown family, or no allowed family of the drawn engine.
    """
    for name, share in (("neural_share", neural_share), ("kokoro_share", kokoro_share)):
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"{name} must be within 0..1, got {share}")
    by_family = _voice_table()[1]
    allowed = list(by_family) if families is None else sorted(set(families))
    unknown = [f for f in allowed if f not in by_family]
    if unknown:
        raise ConfigError(f"unknown voice family {unknown[0]!r} (see voice_families())")
    u = rng.random()
    if u < kokoro_share:  # never true at share 0
        engine, asked = "kokoro", f"kokoro_share={kokoro_share}"
    else:
        if kokoro_share > 0.0:
            # uniform on 0..1 again; rounding must not reach 1 (neural_share 1 means always piper)
            u = min((u - kokoro_share) / (1.0 - kokoro_share), np.nextafter(1.0, 0.0))
        engine = "piper" if u < neural_share else "espeak"
        asked = f"neural_share={neural_share}"
    candidates = [f for f in allowed if f.startswith(engine + ":")]
    if not candidates:
        raise ConfigError(f"no {engine} voice family is allowed, but {asked} asks for {engine} voices")
    family = by_family[candidates[int(rng.integers(len(candidates)))]]
    return family[int(rng.integers(len(family)))]


def normalize_word(word: str) -> str:
    """NFC, lower case, single spaces; raises SpeechError for text that is no word."""
    if not isinstance(word, str):
        raise SpeechError(f"the word must be text, got {type(word).__name__}")
    text = " ".join(unicodedata.normalize("NFC", word).split()).lower()
    if not text:
        raise SpeechError("the word is empty: type a word such as 'activate'")
    if len(text) > MAX_WORD_CHARS:
        raise SpeechError(f"the word is too long: {len(text)} characters, at most {MAX_WORD_CHARS}")
    bad = sorted({c for c in text if not (c.isalpha() or c in " '-")})
    if bad or not any(c.isalpha() for c in text):
        what = f"contains {''.join(bad)!r}" if bad else "has no letter"
        raise SpeechError(f"the word {text!r} {what}: use letters, spaces, hyphens and apostrophes")
    return text


@functools.lru_cache(maxsize=256)
def check_word(word: str, engines: tuple[str, ...] = ("espeak", "piper")) -> str:
    """Normalise a word and make sure every engine in ``engines`` can say it (by default the
    two that every recipe draws; add "kokoro" when a recipe draws it too).

    Returns:
        the normalised word (NFC, lower case, single spaces).

    Raises:
        SpeechError: empty text, characters other than letters/space/'/-, over
            MAX_WORD_CHARS characters, or no audible speech from a default voice.
    """
    text = normalize_word(word)
    for engine in engines:
        _check_engine(engine)
        speak_native(text, default_voice(engine))
    return text


def default_voice(engine: str) -> Voice:
    """The engine's plain voice: espeak en-us+m3 at default rate and pitch, piper unshifted,
    kokoro's first pack alone at speed 1, unshifted."""
    _check_engine(engine)
    name = {"espeak": "espeak:en-us+m3:r170:p55:g50", "piper": "piper:joe:ls1.00:ns0.667:nw0.80:st+0",
            "kokoro": "kokoro:t=alpha100:p=alpha100:sp1.00:st+0"}[engine]
    return next(v for v in _voice_table()[0] if v.name == name)


def speak_native(word: str, voice: Voice, seed: int = 0) -> np.ndarray:
    """Say ``word`` at the engines' native 22.05 kHz, trimmed and peak-normalised.

    Args:
        word: text to speak (use :func:`check_word` first for user input).
        voice: one of :func:`list_voices`.
        seed: varies the neural voice's sampling noise (and espeak's breath noise; Kokoro
            has no noise); same word, voice and seed -> same samples.

    Returns:
        float32 mono at NATIVE_RATE_HZ (22050), peak PEAK_LEVEL.

    Raises:
        SpeechError: the engine fails or says nothing audible.
    """
    if voice.engine == "espeak":
        raw = espeak_pcm(word, f"{ESPEAK_ACCENTS[voice.accent]}+{voice.variant}", voice.rate_wpm,
                         voice.pitch, voice.pitch_range, seed).astype(np.float32) / 32768.0
    elif voice.engine == "piper":
        raw = piper_pcm(word, voice.length_scale, voice.noise_scale, voice.noise_w_scale, seed)
        raw = shift_semitones(raw, voice.semitones)
    elif voice.engine == "kokoro":
        raw = shift_semitones(kokoro_pcm(word, Blend(voice.timbre, voice.prosody), voice.speed),
                              voice.semitones)
    else:
        raise ConfigError(f"unknown speech engine {voice.engine!r}")
    clip = trim_silence(raw, NATIVE_RATE_HZ)
    if clip.size < MIN_SPEECH_S * NATIVE_RATE_HZ or float(np.abs(clip).max()) < _SILENT_PEAK:
        raise SpeechError(f"the synthesiser produced no audible speech for {word!r} ({voice.name})")
    return (clip * (PEAK_LEVEL / float(np.abs(clip).max()))).astype(np.float32)


def synthesize(word: str, voice: Voice, seed: int = 0) -> np.ndarray:
    """Say ``word`` with ``voice``: float32 mono at 44.1 kHz, trimmed, peak PEAK_LEVEL.

    Same arguments as :func:`speak_native` (same word, voice and seed -> same samples).
    """
    return native_to_44k(speak_native(word, voice, seed))


def native_to_44k(clip: np.ndarray) -> np.ndarray:
    """Resample a 22.05 kHz clip to 44.1 kHz and set its peak to PEAK_LEVEL (float32)."""
    import soxr

    out = soxr.resample(np.asarray(clip, dtype=np.float32), NATIVE_RATE_HZ, SAMPLE_RATE_HZ, "HQ")
    peak = float(np.abs(out).max()) if out.size else 0.0
    return (out * (PEAK_LEVEL / peak) if peak > 0 else out).astype(np.float32, copy=False)


def shift_semitones(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch and formants together by resampling (speed changes with them).

    Playing 22.05 kHz audio as if it were recorded at 22.05 * 2**(s/12) kHz raises every
    frequency by ``s`` semitones; we resample from that rate back to 22.05 kHz.
    """
    import soxr

    if semitones == 0:
        return np.asarray(audio, dtype=np.float32)
    from_hz = NATIVE_RATE_HZ * 2.0 ** (semitones / 12.0)
    return soxr.resample(np.asarray(audio, dtype=np.float32), from_hz, NATIVE_RATE_HZ, "HQ").astype(
        np.float32, copy=False)


def trim_silence(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """Cut leading and trailing frames quieter than TRIM_BELOW_PEAK_DB under the loudest
    TRIM_FRAME_S frame, keeping TRIM_MARGIN_S of margin; all-silent audio -> empty."""
    frame = max(1, int(round(TRIM_FRAME_S * rate_hz)))
    n_frames = audio.size // frame
    if n_frames == 0:
        return audio[:0]
    tail = audio[: n_frames * frame].reshape(n_frames, frame).astype(np.float64)
    rms = np.sqrt((tail ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (-TRIM_BELOW_PEAK_DB / 20.0))
    if rms.max() <= 0.0 or loud.size == 0:
        return audio[:0]
    margin = int(round(TRIM_MARGIN_S * rate_hz))
    start = max(0, loud[0] * frame - margin)
    end = min(audio.size, (loud[-1] + 1) * frame + margin)
    return audio[start:end]
