"""What a feature kind is: its name, time grid and shape; the clip and network grids.

This module holds no transforms, so that every layer (labels in make-data, the network's
defaults, streaming detection) can share the grids without importing numpy's or
scipy's signal code: :mod:`model.audio.features` holds the transforms and the registry
(``FEATURE_REGISTRY``) that ties each kind's name to them.

Two grids describe a kind:

* its *frame grid*: an analysis window and hop at a sample rate (log power: 200 and 80
  samples at 44.1 kHz, 551.25 frames per second; 1 + (441000 - 200) // 80 = 5511 frames
  per clip);
* its *step grid*: how the network that reads it maps frames to output steps. The seed
  network's Conv1D (kernel 15 frames, stride 4) gives (5511 - 15) // 4 + 1 = 1375 steps
  per 10 s clip, the grid of every dataset's labels. :data:`SEED_STEPS` is the one place
  those two numbers are written; ``NetworkConfig``'s defaults and detection's
  ``PieceGrid`` take theirs from it (labels are made below the training layer, so the
  numbers cannot live in ``NetworkConfig`` itself).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

SAMPLE_RATE_HZ = 44100
CLIP_SECONDS = 10.0
CLIP_SAMPLES = 441000
WINDOW_SAMPLES = 200
HOP_SAMPLES = 80
N_FREQ = WINDOW_SAMPLES // 2 + 1  # 101

FEATURE_KIND_LOG = "log-power-v1"
FEATURE_KIND_SEED = "seed-linear"
FEATURE_KIND_PCEN = "pcen-v1"


@dataclass(frozen=True)
class FrameGrid:
    """Where a kind's frames sit in the audio: frame f covers samples [hop*f, hop*f + window)
    at the grid's own sample rate (a kind may resample first, e.g. to 16 kHz)."""

    window_samples: int  # samples one frame reads, at sample_rate_hz
    hop_samples: int  # samples between consecutive frame starts, at sample_rate_hz
    sample_rate_hz: int = SAMPLE_RATE_HZ  # rate the frames are cut at, Hz

    @property
    def frames_per_second(self) -> float:
        """Frames per second of audio (log power: 551.25)."""
        return self.sample_rate_hz / self.hop_samples

    def frames_for_samples(self, n_samples: int) -> int:
        """Frames of ``n_samples`` samples at ``sample_rate_hz`` (0 if shorter than one window)."""
        if n_samples < self.window_samples:
            return 0
        return 1 + (n_samples - self.window_samples) // self.hop_samples

    def frames_for_audio(self, n_samples_44k: int) -> int:
        """Frames of ``n_samples_44k`` samples of 44.1 kHz audio, resampled to this grid's rate
        first (soxr's output length: the rounded ratio)."""
        if self.sample_rate_hz == SAMPLE_RATE_HZ:
            return self.frames_for_samples(n_samples_44k)
        n = (2 * n_samples_44k * self.sample_rate_hz + SAMPLE_RATE_HZ) // (2 * SAMPLE_RATE_HZ)
        return self.frames_for_samples(n)

    def samples_for_frames(self, n_frames: int) -> int:
        """Samples at ``sample_rate_hz`` that hold exactly ``n_frames`` frames (n_frames >= 1)."""
        return self.hop_samples * (n_frames - 1) + self.window_samples


@dataclass(frozen=True)
class StepGrid:
    """How a network maps frames to output steps: step s reads frames
    [stride*s, stride*s + kernel)."""

    kernel_frames: int  # frames one output step reads (the Conv1D kernel)
    stride_frames: int  # frames between consecutive output steps (the Conv1D stride)

    def steps_for_frames(self, n_frames: int) -> int:
        """Output steps produced by ``n_frames`` frames (0 if fewer than one kernel)."""
        if n_frames < self.kernel_frames:
            return 0
        return (n_frames - self.kernel_frames) // self.stride_frames + 1

    def frames_for_steps(self, n_steps: int) -> int:
        """Frames that produce exactly ``n_steps`` output steps (n_steps >= 1)."""
        return self.stride_frames * (n_steps - 1) + self.kernel_frames


LOG_POWER_FRAMES = FrameGrid(WINDOW_SAMPLES, HOP_SAMPLES)  # shared by all three current kinds
SEED_STEPS = StepGrid(kernel_frames=15, stride_frames=4)  # the seed network's Conv1D
N_FRAMES = LOG_POWER_FRAMES.frames_for_samples(CLIP_SAMPLES)  # 5511 frames per clip
N_STEPS = SEED_STEPS.steps_for_frames(N_FRAMES)  # 1375 output steps (labels) per clip
STEP_SECONDS = CLIP_SECONDS / N_STEPS  # ~7.27 ms per output step

FEATURE_KIND_EMBEDDING = "speech-embedding-v1"


@dataclass(frozen=True)
class StepTiming:
    """Where a kind's output steps sit in time, and the detection rule's spans in its steps.

    The seed's convention spreads a clip's steps evenly over it (``first_step_end_seconds``
    0: a word ending at sample e is labelled from step e * steps // samples + 1). A kind
    whose steps each hear a window of audio (a speech embedding) labels from the first step
    whose window ends after the word.
    """

    step_seconds: float  # seconds between consecutive output steps
    clip_steps: int  # output steps of one 10 s clip (the labels' length)
    first_step_end_seconds: float  # end of the audio step 0 hears; 0: the seed's even spread
    label_steps: int  # steps set to 1 after each trigger word's end (~0.36 s)
    refractory_steps: int  # hold-off after a detection (~0.55 s, as the seed's chime)
    early_tolerance_steps: int  # a detection this many steps before the word's end counts

    def label_start_step(self, end_sample: int) -> int:
        """First step labelled 1 for a trigger word ending at ``end_sample`` (44.1 kHz)."""
        if self.first_step_end_seconds == 0.0:
            return int(end_sample) * self.clip_steps // CLIP_SAMPLES + 1
        past = int(end_sample) / SAMPLE_RATE_HZ - self.first_step_end_seconds
        return max(0, math.floor(past / self.step_seconds + 1e-9) + 1)

    def seconds_to_steps(self, seconds: float) -> int:
        """Whole steps in ``seconds`` (rounded), at least 1."""
        return max(1, round(seconds / self.step_seconds))


# the seed network's steps: 50 label steps (0.36 s), 75 hold-off (0.55 s), 41 early (0.3 s)
SEED_TIMING = StepTiming(step_seconds=STEP_SECONDS, clip_steps=N_STEPS, first_step_end_seconds=0.0,
                         label_steps=50, refractory_steps=75, early_tolerance_steps=41)
# openWakeWord's speech embeddings: mel frames of 512 samples every 160 at 16 kHz, and one
# embedding per 76 mel frames every 8: a 12,512-sample window (0.782 s) every 1,280 (80 ms)
EMBED_RATE_HZ = 16000  # what both ONNX models expect
MEL_WINDOW_SAMPLES = 512  # 16 kHz samples each mel frame reads (32 ms)
MEL_HOP_SAMPLES = 160  # 16 kHz samples between mel frames (10 ms)
EMBED_WINDOW_FRAMES = 76  # mel frames per embedding window
EMBED_STRIDE_FRAMES = 8  # mel frames between embedding windows
EMBEDDING_FRAMES = FrameGrid(
    window_samples=(EMBED_WINDOW_FRAMES - 1) * MEL_HOP_SAMPLES + MEL_WINDOW_SAMPLES,
    hop_samples=EMBED_STRIDE_FRAMES * MEL_HOP_SAMPLES, sample_rate_hz=EMBED_RATE_HZ)
EMBEDDING_STEPS = StepGrid(kernel_frames=1, stride_frames=1)  # the head reads one frame a step
EMBEDDING_TIMING = StepTiming(
    step_seconds=EMBEDDING_FRAMES.hop_samples / EMBEDDING_FRAMES.sample_rate_hz,
    clip_steps=EMBEDDING_FRAMES.frames_for_samples(round(CLIP_SECONDS * 16000)),  # 116
    first_step_end_seconds=EMBEDDING_FRAMES.window_samples / EMBEDDING_FRAMES.sample_rate_hz,
    label_steps=5, refractory_steps=7, early_tolerance_steps=4)  # 0.40, 0.56, 0.32 s

Features = Any  # np.ndarray; kept as Any so this module needs no numpy
Transform = Callable[[Features], Features]  # features of one clip from its input


@dataclass(frozen=True)
class FeatureKind:
    """One registry row: a feature kind's name, grids, shape and transforms.

    Arrays are float32, (frames, n_values); audio is 44.1 kHz mono float32.
    """

    name: str  # stored in dataset meta and model cards, e.g. "pcen-v1"
    frames: FrameGrid  # the kind's frame grid (window, hop, sample rate)
    steps: StepGrid  # how the network that reads this kind maps frames to output steps
    n_values: int  # values per frame (frequency bins, or an embedding's size)
    synthesisable: bool  # make-data may write it (values fit its float16 storage)
    float16_safe: bool  # every value fits float16 (|x| <= 65504): AMP and float16 storage work
    transform: Transform  # whole clip: audio -> features
    from_power: Transform | None = None  # whole clip from audio_to_power's frames; None: audio only
    # factory of the running state across consecutive pieces of one stream: returns a
    # callable fed the stream's power frames in order, each frame once, returning their
    # features (PCEN: its running mean). None: features are framewise, a piece needs no state.
    new_stream: Callable[[], Transform] | None = None
    # stored kind -> conversion of one clip's stored features (frames, values) to this kind
    converts_from: Mapping[str, Transform] = field(default_factory=dict)
    timing: StepTiming = SEED_TIMING  # where its output steps sit in time; detection spans
    # factory of a running state fed 44.1 kHz audio in order: an object whose push(audio)
    # returns the features of the frames completed so far and flush() those left at the end
    # (a speech embedding's resampler and mel context); None: streamed from power frames
    new_audio_stream: Callable[[], Any] | None = None
    # many whole clips at once -> their features, the same numbers as ``transform`` per clip,
    # for a kind computed by a network that is cheaper per call on a batch; None: per clip
    batch_transform: Callable[[Any], list[Features]] | None = None

    def __post_init__(self) -> None:
        # detection (model/detect/pieces.py) feeds power-frame state the power frames it
        # shares between kinds, and audio state the audio itself
        if self.new_stream is not None and self.from_power is None:
            raise ValueError(f"{self.name}: running state is fed power frames, so the kind "
                             "needs from_power")
        if self.new_stream is not None and self.new_audio_stream is not None:
            raise ValueError(f"{self.name}: one running state, fed power frames or audio")
