"""How a personal dataset is made (:class:`PersonalDataConfig`, stored in its meta.json).

The recipe of the take clips, of the wider training-only take clips and of the synthetic
clips around them; model/enroll/personal.py makes the clips.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..data.acoustics import ambience_recordings, keyboard_profiles, measured_rirs
from ..data.augment import AugmentConfig
from ..data.backgrounds import BackgroundConfig
from ..data.synth import SynthConfig
from ..errors import LabError


@dataclass
class PersonalDataConfig:
    """How the personal dataset is made; stored in its meta.json."""

    seed: int = 0  # master seed: same takes and seed, same bytes
    clips_per_take: int = 0  # 10 s clips built around each take; 0: auto (see per_take)
    take_clips_total: int = 144  # auto: about this many take clips in all, at least 24 a take
    synth_train: int = 48  # clips of synthetic voices only (the base's own mix), for training
    new_word_synth_train: int = 240  # synthetic training clips when the base detects another word
    synth_dev: int = 90  # synthetic dev clips (dev voices only): 15 min for false accepts/h
    # take-free clips of other words and near-misses over babble and real rooms (negatives.py):
    # 2 stand-in takes, leave-one-out, found 194/217 held-out words (piper) and 203/217
    # (Kokoro) within 6 FA/h with 400, 190 and 201 with 200, 177 and 191 with none
    negatives: int = 400
    negative_max_others: int = 4  # other words per negative clip: uniform 0..max
    negative_babble_weight: float = 6.0  # babble backgrounds' weight there (make-data's: 1.5)
    negative_real_weight: float = 3.0  # real ambience and typing weight there (when fetched)
    # training labels become eps/2 and 1 - eps/2: a fine-tune on a few takes otherwise grows
    # sure of itself (outputs of 0.999 on babble) and its threshold climbs out of the takes' reach
    label_smoothing: float = 0.1
    max_triggers: int = 3  # takes per personal clip: uniform 0..max (0: a negative clip)
    # training-only clips of each take, in a wider recipe (never judged: the held-out clips
    # keep the recipe above): this many per plain clip of the take (per_take). 2 stand-in
    # takes, leave-one-out, held-out words found within 6 FA/h: piper 181 -> 199 of 217,
    # Kokoro 195 -> 207, espeak 202 -> 208 with 1.0 (3 takes: 169 -> 173, 176 -> 184 of 194);
    # 2.0 found 198 and 178 (piper) at more time
    train_ratio: float = 1.0
    # ... for up to this many takes (the leave-one-out enrolments): with 4+ takes 1.0 found
    # 31/35 (piper, 5 takes; 33 without), 34/35 (Kokoro; 34) and 75/78 (piper, 10; 73) held-out
    # words, no clear gain for 20-40 s more
    train_max_takes: int = 3
    train_speed_range: tuple[float, float] = (0.85, 1.15)
    train_speed_prob: float = 0.8
    train_pitch_prob: float = 0.8  # within pitch_semitones
    train_rir_prob: float = 0.5  # a measured or simulated room (when fetched), else reverb_prob
    train_reverb_prob: float = 0.5  # synthetic reverberation where no room response is used
    train_bandlimit_prob: float = 0.5  # phone or cheap-mic band
    train_mic_eq_prob: float = 0.5  # microphone resonance
    train_snr_db: tuple[float, float] = (-3.0, 30.0)  # speech-to-background ratio, dB
    train_babble_weight: float = 3.0  # babble backgrounds' weight (make-data's: 1.5)
    train_max_triggers: int = 3  # takes per training-only clip: uniform 0..max
    # take-free clips of each take's pieces (reversed, head, tail, swapped; negatives.py):
    # your voice not saying the word. On 3 hard stand-ins, 2 takes, the saved model over
    # clips of the same voice (bench/enroll_protocol.py, 2026-12-01), 96 against none: false
    # accepts in 10 min 3/2/3 against 4/3/3 among ordinary words, 17/12/17 against 19/15/21
    # among sound-alikes, recall within 1 false accept unchanged (0.93/0.92/0.89); ~10 s more
    own_negatives_total: int = 96
    own_negative_max_others: int = 3  # pieces per such clip: uniform 0..max
    # sound-alikes among those pieces: this many synthetic near-miss heads ("cul-", "mo-")
    # each followed by the take's own "-tivate" (negatives.splice_heads); 0: none
    own_splice_heads: int = 0
    pitch_semitones: tuple[float, float] = (-1.0, 1.0)  # per-take pitch shift range, semitones
    pitch_prob: float = 0.6  # chance a take is pitch shifted
    speed_range: tuple[float, float] = (0.9, 1.1)  # per-take speed factor range
    speed_prob: float = 0.6  # chance a take's speed changes
    rir_prob: float = 0.3  # chance a take is heard in another room (measured or simulated response)
    real_background_weight: float = 1.5  # weight of real ambience and of real typing backgrounds
    bank_clips: int = 600  # train word-bank clips per role (make-data's default size: cached)
    dev_bank_clips: int = 60  # dev word-bank clips per role (make-data's default dev size)
    fresh_bank_clips: int = 120  # clips per role when no bank of that size is cached (~15 s to speak)

    def per_take(self, n_takes: int) -> int:
        """Clips per take: the set number, or (auto) max(24, take_clips_total / n_takes).

        Few takes need more clips each: with 3 takes, 48 clips a take found 87% of the
        held-out words (168/194) against 72% (71/98) with 24; from 6 takes on it is 24 a take,
        which keeps 5 to 10 takes within 3 minutes on 2 CPU cores.
        """
        if self.clips_per_take:
            return self.clips_per_take
        return max(24, -(-self.take_clips_total // max(1, n_takes)))

    def own_negatives_per_take(self, n_takes: int) -> int:
        """Own-voice negative clips per take: ``own_negatives_total`` shared out (rounded up),
        so 10 takes cost no more than 2."""
        if self.own_negatives_total <= 0:
            return 0
        return -(-self.own_negatives_total // max(1, n_takes))

    def train_per_take(self, n_takes: int) -> int:
        """Training-only clips per take: ``train_ratio`` times :meth:`per_take`, rounded; none
        beyond ``train_max_takes`` takes."""
        if n_takes > self.train_max_takes:
            return 0
        return max(0, int(round(self.train_ratio * self.per_take(n_takes))))

    def train_config(self, word: str) -> SynthConfig:
        """The wider recipe of the training-only take clips (see the class's train_* settings)."""
        synth = self.synth_config(word, takes=True)
        real = real_acoustics()
        aug = replace(synth.augment, speed_range=tuple(self.train_speed_range),
                      speed_prob=self.train_speed_prob, pitch_prob=self.train_pitch_prob,
                      rir_prob=self.train_rir_prob if real else 0.0,
                      reverb_prob=self.train_reverb_prob, bandlimit_prob=self.train_bandlimit_prob,
                      mic_eq_prob=self.train_mic_eq_prob)
        bg = replace(synth.background, weight_babble=self.train_babble_weight)
        return replace(synth, augment=aug, background=bg, snr_db=tuple(self.train_snr_db),
                       max_triggers=self.train_max_triggers)

    def synth_config(self, word: str, takes: bool = False) -> SynthConfig:
        """The make-data recipe the clips are mixed with.

        Args:
            word: the trigger word.
            takes: the recipe of the take clips (their pitch, speed and room settings);
                False: make-data's default per-word effects, for the synthetic clips.

        Real rooms and backgrounds (``scripts/fetch_acoustics.sh``) are used only when their
        files are there, so enrolment works without them.
        """
        real = real_acoustics()
        aug = AugmentConfig()
        if takes:
            aug = replace(aug, pitch_semitones=tuple(self.pitch_semitones), pitch_prob=self.pitch_prob,
                          speed_range=tuple(self.speed_range), speed_prob=self.speed_prob,
                          rir_prob=self.rir_prob if real else 0.0)
        bg = BackgroundConfig()
        if real:  # the false accepts of embedding heads fell mostly on real backgrounds
            bg = replace(bg, weight_ambience=self.real_background_weight,
                         weight_keyboard=self.real_background_weight)
        return SynthConfig(word=word, seed=self.seed, augment=aug, background=bg,
                           max_triggers=self.max_triggers if takes else SynthConfig.max_triggers)


def real_acoustics() -> bool:
    """True when the fetched room responses and ambience recordings are there."""
    try:
        measured_rirs()
        ambience_recordings()
        keyboard_profiles()
    except LabError:
        return False
    return True
