"""Mixing: 10 s background + trigger words + other words -> one labelled example.

The deeplearning.ai recipe, generalised: 0-4 trigger words and 0-2 other words at
non-overlapping random positions over a generated (or recorded) background, each word
at its own level; the label is 1 for the 50 output steps after each trigger word ends
(on the seed network's 1375 steps; a kind with its own step timing, such as the speech
embedding's 116 steps of 80 ms, gets its labels on its own steps: ``labels_for_ends``).
Functions here are pure given a numpy Generator: same seed, same example.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from .augment import AugmentConfig, augment_mix, augment_word_timed
from ..audio.effects import limit_peak, rms_dbfs, scale_to_dbfs
from .backgrounds import BackgroundConfig, crop_background, make_background
from ..errors import ConfigError
from ..audio.feature_kinds import StepTiming
from ..audio.features import CLIP_SAMPLES, N_STEPS, SAMPLE_RATE_HZ

GENERATOR_VERSION = "1"
LABEL_STEPS = 50  # output steps set to 1 after each trigger word's end (seed convention)
_PLACE_TRIES = 60  # random draws before a word that will not fit is dropped
_PEAK_LIMIT = 0.98  # full mixes above this peak are scaled down (no clipping)


@dataclass
class SynthConfig:
    """How a dataset is synthesised (recorded in meta.json)."""

    word: str = "activate"  # the trigger word
    n_train: int = 2000  # training examples
    n_dev: int = 200  # dev examples (voices training never heard)
    seed: int = 0  # master seed: same seed, same bytes
    neural_share: float = 0.5  # share of word clips from the neural (piper) voice, among non-Kokoro clips
    max_triggers: int = 4  # trigger words per clip: uniform 0..max
    max_others: int = 2  # other words per clip: uniform 0..max
    near_miss_share: float = 0.4  # share of other words drawn from sound-alikes
    speech_dbfs: tuple[float, float] = (-34.0, -12.0)  # RMS level range of the speech, dBFS
    word_jitter_db: float = 4.0  # per-word level variation around the clip's speech level, dB
    snr_db: tuple[float, float] = (0.0, 30.0)  # speech-to-background ratio range, dB
    dev_family_share: float = 0.2  # share of voice families held out for the dev split
    bank_trigger_clips: int = 0  # trigger clips in the word bank; 0 = automatic
    bank_other_clips: int = 0  # other-word clips in the word bank; 0 = automatic
    raw_data: str = ""  # folder laid out like the seed's raw_data ("" = none)
    raw_mode: str = "mix"  # "mix": recordings join synthetic speech; "only": recordings alone
    raw_background_share: float = 0.5  # with raw backgrounds in "mix" mode: share of clips using them
    background_pool: int = 48  # generated backgrounds per split, reused at random circular shifts (0: fresh each)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # per-word and per-mix effects
    background: BackgroundConfig = field(default_factory=BackgroundConfig)  # generated backgrounds
    kokoro_share: float = 0.0  # share of word clips from the Kokoro voices (slow: ~1 s a word to build)
    clear_triggers: bool = False  # train only on trigger takes pocketsphinx hears as the word (dev keeps all)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists). A zero kokoro_share and clear_triggers off are
        left out, so recipes and meta.json written before them read the same."""
        d = asdict(self)
        for key in ("kokoro_share", "clear_triggers"):  # off: recipes read as before these existed
            if not d[key]:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "SynthConfig":
        """Inverse of :meth:`to_dict`; unknown keys are rejected with a ConfigError."""
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown synthesis settings: {', '.join(sorted(unknown))}")
        vals = dict(raw)
        if isinstance(vals.get("augment"), dict):
            vals["augment"] = AugmentConfig.from_dict(vals["augment"])
        if isinstance(vals.get("background"), dict):
            vals["background"] = BackgroundConfig.from_dict(vals["background"])
        for key in ("speech_dbfs", "snr_db"):
            if key in vals:
                vals[key] = tuple(vals[key])
        return cls(**vals)

    def validate(self) -> None:
        """Raise ConfigError (one line) for settings outside their ranges."""
        if self.n_train <= 0:
            raise ConfigError(f"the number of examples must be at least 1 (got {self.n_train})")
        if self.n_dev < 0:
            raise ConfigError(f"the number of dev examples cannot be negative (got {self.n_dev})")
        if not 0.0 <= self.neural_share <= 1.0:
            raise ConfigError(f"neural share must be within 0..1 (got {self.neural_share})")
        if not 0.0 <= self.kokoro_share <= 1.0:
            raise ConfigError(f"kokoro share must be within 0..1 (got {self.kokoro_share})")
        if not 0.0 < self.dev_family_share < 1.0:
            raise ConfigError(f"dev family share must be within 0..1 (got {self.dev_family_share})")
        if self.background_pool < 0:
            raise ConfigError(f"background pool size cannot be negative (got {self.background_pool})")
        if self.max_triggers < 0 or self.max_others < 0:
            raise ConfigError("word counts per clip cannot be negative")
        if self.raw_mode not in ("mix", "only"):
            raise ConfigError(f"raw mode must be 'mix' or 'only' (got {self.raw_mode!r})")
        if self.raw_mode == "only" and not self.raw_data:
            raise ConfigError("raw mode 'only' needs a raw-data folder")
        for name, (low, high) in (("speech_dbfs", self.speech_dbfs), ("snr_db", self.snr_db)):
            if low > high:
                raise ConfigError(f"{name} range is reversed: ({low}, {high})")
        self.augment.validate()
        self.background.validate()


@dataclass
class Sources:
    """What one split mixes from: clips (float32, 44.1 kHz) grouped by role."""

    triggers: Sequence[np.ndarray]  # trigger word clips
    others: Sequence[np.ndarray]  # ordinary other words
    near_misses: Sequence[np.ndarray]  # sound-alike other words (may be empty)
    babble: Sequence[np.ndarray]  # clips for babble backgrounds
    backgrounds: Sequence[np.ndarray]  # recorded backgrounds (may be empty)
    generated: Sequence[tuple[np.ndarray, str]] = ()  # pre-made (background, kind) pool; () = make fresh


@dataclass
class Example:
    """One rendered clip and its ground truth."""

    audio: np.ndarray  # float32 (441000,), 44.1 kHz
    labels: np.ndarray  # float32 (steps,), 1 after each trigger end (1375 on the seed's grid)
    trigger_spans: list[tuple[int, int]]  # (start, end) samples of each trigger word
    other_spans: list[tuple[int, int]]  # (start, end) samples of each other word
    background_kind: str  # which background generator (or "recorded")
    snr_db: float  # speech-to-background ratio used, dB
    trigger_families: list[str] = field(default_factory=list)  # voice family of each trigger span


def place_segments(rng: np.random.Generator, lengths: Sequence[int], n_samples: int,
                   taken: list[tuple[int, int]] | None = None) -> list[int | None]:
    """Random non-overlapping start samples for segments of the given lengths.

    Args:
        rng: random generator.
        lengths: segment lengths in samples, placed in order.
        n_samples: length of the clip in samples.
        taken: (start, end) spans already occupied; extended in place.

    Returns:
        Start sample per segment, or None for a segment that found no free place
        within a fixed number of tries (it is then left out, as in the seed).
    """
    spans = taken if taken is not None else []
    starts: list[int | None] = []
    for length in lengths:
        start = None
        if 0 < length <= n_samples:
            for _ in range(_PLACE_TRIES):
                cand = int(rng.integers(0, n_samples - length + 1))
                if all(cand >= e or cand + length <= s for s, e in spans):
                    start = cand
                    break
        if start is not None:
            spans.append((start, start + length))
        starts.append(start)
    return starts


def mix_clip(fg: np.ndarray, bg: np.ndarray, snr_db: float, start_sample: int) -> np.ndarray:
    """Overlay ``fg`` on a copy of ``bg`` at ``start_sample``, bg scaled to ``snr_db`` below fg.

    Args:
        fg: foreground (a word), float32.
        bg: background, float32; its length is kept.
        snr_db: RMS ratio of fg to bg in dB.
        start_sample: where fg begins in bg, samples.

    Returns:
        The mix, float32, len(bg).
    """
    out = scale_to_dbfs(bg, rms_dbfs(fg) - snr_db, max_peak=np.inf)
    end = min(len(out), start_sample + len(fg))
    out[start_sample:end] += fg[: end - start_sample]
    return out


def quantize_pcm16(audio: np.ndarray) -> np.ndarray:
    """Round float audio to the 16-bit PCM grid, as every real recording is.

    Without it, band-limited synthetic mixes hold exact zeros (-100 dB features) where any
    recording has a quantisation-noise floor near -95 dB: a gap the network could learn.
    It also makes a clip saved as 16-bit WAV identical to what was trained on.
    """
    return (np.round(np.clip(audio, -1.0, 1.0) * 32767.0) / 32767.0).astype(np.float32)


def labels_for_ends(end_samples: Sequence[int], n_samples: int = CLIP_SAMPLES,
                    n_steps: int = N_STEPS, label_steps: int = LABEL_STEPS,
                    timing: StepTiming | None = None) -> np.ndarray:
    """Label vector: ones on the output steps right after each trigger word's end.

    Args:
        end_samples: end sample of each trigger word (44.1 kHz).
        n_samples: clip length in samples (seed convention only).
        n_steps: output steps for the clip (seed convention only).
        label_steps: ones per trigger (seed convention only).
        timing: a feature kind's step timing (``feature_kind(name).timing``); when given it
            sets the step count, where each label starts (its ``label_start_step``) and how
            many steps it spans, and the three arguments above are ignored. None: the seed
            convention, ``label_steps`` ones from step ``end * n_steps // n_samples + 1``.

    Returns:
        float32 array (n_steps,), or (timing.clip_steps,) with a timing; a label that runs
        past the clip's end is cut there.
    """
    if timing is not None:
        y = np.zeros(timing.clip_steps, dtype=np.float32)
        for end in end_samples:
            start = timing.label_start_step(int(end))
            y[start: start + timing.label_steps] = 1.0
        return y
    y = np.zeros(n_steps, dtype=np.float32)
    for end in end_samples:
        step = int(end) * n_steps // n_samples
        y[step + 1: step + 1 + label_steps] = 1.0
    return y


def _pick(rng: np.random.Generator, clips: Sequence[np.ndarray]) -> tuple[np.ndarray, str]:
    """A random clip and its voice family ("" when the pool does not know it)."""
    i = int(rng.integers(len(clips)))
    label = getattr(clips, "label", None)
    return clips[i], (label(i) if label is not None else "")


def _draw_words(rng: np.random.Generator, src: Sources, cfg: SynthConfig
                ) -> list[tuple[bool, np.ndarray, str]]:
    """(is_trigger, clip, voice family) for this example's words; counts uniform like the seed's."""
    words = []
    if src.triggers:
        words += [(True, *_pick(rng, src.triggers)) for _ in range(int(rng.integers(cfg.max_triggers + 1)))]
    if src.others or src.near_misses:
        for _ in range(int(rng.integers(cfg.max_others + 1))):
            near = bool(src.near_misses) and (not src.others or rng.random() < cfg.near_miss_share)
            words.append((False, *_pick(rng, src.near_misses if near else src.others)))
    return words


def _draw_background(rng: np.random.Generator, src: Sources, cfg: SynthConfig) -> tuple[np.ndarray, str]:
    """A recorded background (when given) or a generated one."""
    share = 1.0 if cfg.raw_mode == "only" else cfg.raw_background_share
    if src.backgrounds and rng.random() < share:
        return crop_background(rng, _pick(rng, src.backgrounds)[0], CLIP_SAMPLES), "recorded"
    if src.generated:
        # a stationary background shifted in time and flipped in sign is a new draw of it,
        # at a fraction of the cost of synthesising one (~20 ms, half of an example's budget)
        audio, kind = src.generated[int(rng.integers(len(src.generated)))]
        sign = np.float32(1.0 if rng.random() < 0.5 else -1.0)
        return np.roll(audio.astype(np.float32), int(rng.integers(len(audio)))) * sign, kind
    return make_background(rng, CLIP_SAMPLES, cfg.background, src.babble or None)


def make_background_pool(seed: int, split_code: int, src: Sources, cfg: SynthConfig) -> list[tuple[np.ndarray, str]]:
    """The split's pool of generated backgrounds: the same in every worker process.

    Args:
        seed: dataset seed.
        split_code: 0 train, 1 dev (their pools differ).
        src: the split's sources (babble is made of its own other-word clips).
        cfg: settings; ``cfg.background_pool`` backgrounds are made.

    Returns:
        list of (audio, kind); audio is stored as float16 (half the memory of each worker;
        its ~-66 dB relative rounding noise sits far below any background's own level).
    """
    pool = []
    for i in range(cfg.background_pool):
        audio, kind = make_background(np.random.default_rng([seed, split_code, 2 ** 40 + i]), CLIP_SAMPLES,
                                      cfg.background, src.babble or None)
        pool.append((audio.astype(np.float16), kind))
    return pool


def render_example(rng: np.random.Generator, src: Sources, cfg: SynthConfig,
                   timing: StepTiming | None = None) -> Example:
    """Render one 10 s example.

    Words are augmented one by one (speed, pitch, reverb), set to the clip's speech
    level with a per-word jitter, and placed without overlap; the background is set
    ``snr_db`` below the speech level, except quiet "room" backgrounds, which keep their
    own (already low) level; finally a recording channel (band limit, EQ) is applied.

    Args:
        rng: the example's own generator (seeded per example, so workers do not matter).
        src: clips of the split being rendered.
        cfg: synthesis settings.
        timing: the step timing of the feature kind the labels are for (None: the seed's
            1375 steps); the audio does not depend on it.

    Returns:
        Example with audio, labels and ground-truth spans.
    """
    speech_db = float(rng.uniform(*cfg.speech_dbfs))
    snr_db = float(rng.uniform(*cfg.snr_db))
    speech = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    taken: list[tuple[int, int]] = []
    trig_spans, other_spans, trig_ends, trig_fams = [], [], [], []
    for is_trigger, clip, family in _draw_words(rng, src, cfg):
        audio, dry_end = augment_word_timed(clip, rng, cfg.augment)
        level = speech_db + float(rng.uniform(-cfg.word_jitter_db, cfg.word_jitter_db))
        audio = scale_to_dbfs(audio[:CLIP_SAMPLES], level)
        (start,) = place_segments(rng, [len(audio)], CLIP_SAMPLES, taken)
        if start is None:
            continue
        speech[start:start + len(audio)] += audio
        span = (start, start + min(dry_end, len(audio)))
        (trig_spans if is_trigger else other_spans).append(span)
        if is_trigger:
            trig_ends.append(span[1])
            trig_fams.append(family)
    bg, kind = _draw_background(rng, src, cfg)
    if kind != "room":
        bg = scale_to_dbfs(bg, speech_db - snr_db, max_peak=np.inf)
    mix = augment_mix(speech + bg, rng, cfg.augment)
    mix = quantize_pcm16(limit_peak(mix, _PEAK_LIMIT))
    return Example(mix, labels_for_ends(trig_ends, timing=timing), trig_spans, other_spans, kind,
                   snr_db if kind != "room" else speech_db - rms_dbfs(bg), trig_fams)
