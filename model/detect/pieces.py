"""Step-aligned feature pieces for detection: 44.1 kHz mono -> pieces of output steps.

Pieces line up exactly with the whole file: the features and outputs of consecutive pieces
concatenate to those of the whole. Two paths, by what a kind's running state is fed (its
registry row):

* power-frame kinds (log power, PCEN, seed-linear): pieces of audio start on the network's
  output-step grid (``hop * conv_stride`` = 320 samples) and overlap by the conv's
  receptive field minus one stride; PCEN's filter state is carried across them;
* audio-fed kinds (speech embeddings, ``FeatureKind.new_audio_stream``): the kind's stream
  is fed the audio itself, a bounded block at a time, and the frames it completes (one
  every 80 ms) are cut into pieces of ``piece_steps`` steps.

Decoding and resampling the source live in :mod:`model.detect.stream`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..audio.feature_kinds import LOG_POWER_FRAMES, SEED_STEPS, FrameGrid, StepGrid, Transform
from ..audio.features import (FEATURE_KIND_LOG, SAMPLE_RATE_HZ, audio_to_features, audio_to_power,
                              feature_kind)

# audio handed to an audio-fed kind's stream at once: it bounds the stream's buffers, and
# onnxruntime's arena grows to the largest call (10 s pushes held ~235 MB more, 2 s ~50 MB,
# at the same speed on 2 cores)
PUSH_SECONDS = 2.0


@dataclass(frozen=True)
class PieceGrid(StepGrid):
    """How the network maps frames to steps (step s reads frames [stride*s, stride*s + kernel)),
    and where those frames sit in the audio. Defaults: the seed network on log power's frames.
    :func:`piece_grid` gives a kind's own."""

    kernel_frames: int = SEED_STEPS.kernel_frames  # Conv1D kernel, frames
    stride_frames: int = SEED_STEPS.stride_frames  # Conv1D stride, frames
    frames: FrameGrid = LOG_POWER_FRAMES  # the features' frames, at frames.sample_rate_hz

    @property
    def step_samples(self) -> int:
        """Samples (at the frames' rate; 44.1 kHz on the power path) between output steps."""
        return self.frames.hop_samples * self.stride_frames

    @property
    def step_seconds(self) -> float:
        """Seconds between consecutive output steps (log power: 320 / 44100; embeddings 0.08)."""
        return self.step_samples / self.frames.sample_rate_hz

    @property
    def min_seconds(self) -> float:
        """The shortest audio giving one output step, seconds (embeddings: 0.782)."""
        return self.piece_samples(1) / self.frames.sample_rate_hz

    def piece_samples(self, n_steps: int) -> int:
        """Samples (at the frames' rate) needed to produce exactly ``n_steps`` output steps."""
        return self.frames.samples_for_frames(self.frames_for_steps(n_steps))

    def steps_for_samples(self, n_samples: int) -> int:
        """Output steps produced by ``n_samples`` samples at 44.1 kHz (0 if too short)."""
        return self.steps_for_frames(self.frames.frames_for_audio(n_samples))


def piece_grid(kind: str, kernel_frames: int | None = None,
               stride_frames: int | None = None) -> PieceGrid:
    """The piece grid of a feature kind: its frames, and a network's kernel and stride over them.

    Args:
        kind: a registry name (:data:`model.audio.features.FEATURE_KINDS`).
        kernel_frames: frames one output step reads; None: the kind's own step grid.
        stride_frames: frames between output steps; None: the kind's own step grid.

    Raises:
        ValueError: an unknown kind.
    """
    row = feature_kind(kind)
    return PieceGrid(row.steps.kernel_frames if kernel_frames is None else int(kernel_frames),
                     row.steps.stride_frames if stride_frames is None else int(stride_frames),
                     row.frames)


def iter_feature_pieces(samples_44k: Iterable[np.ndarray], piece_steps: int, grid: PieceGrid,
                        kind: str = FEATURE_KIND_LOG) -> Iterator[np.ndarray]:
    """Cut a 44.1 kHz mono stream into feature pieces of ``piece_steps`` output steps.

    Args:
        samples_44k: consecutive mono blocks at 44.1 kHz, any sizes.
        piece_steps: output steps per full piece (the last piece may be shorter).
        grid: the network's frame-to-step mapping on the kind's frames (:func:`piece_grid`).
        kind: feature kind (see :mod:`model.audio.features`).

    Returns:
        Iterator of float32 feature arrays (frames, values); piece i yields exactly
        ``piece_steps`` steps (except the last), whose concatenation equals the whole's.
    """
    for (features,) in iter_feature_piece_sets(samples_44k, piece_steps, grid, (kind,)):
        yield features


def iter_feature_piece_sets(samples_44k: Iterable[np.ndarray], piece_steps: int, grid: PieceGrid,
                            kinds: tuple[str, ...]) -> Iterator[tuple[np.ndarray, ...]]:
    """:func:`iter_feature_pieces` for several feature kinds at once (an ensemble's members):
    per piece, one feature array per entry of ``kinds``.

    Kinds computed from power frames share one power spectrogram per piece of audio; kinds
    with an audio stream (speech embeddings) are fed the audio block by block and their
    frames cut into pieces. One call takes kinds of one sort only (their grids differ).

    Raises:
        ValueError: an unknown kind, or kinds of both sorts.
    """
    audio_fed = [feature_kind(kind).new_audio_stream is not None for kind in kinds]
    if any(audio_fed) and not all(audio_fed):
        raise ValueError(f"kinds {kinds} mix audio-fed and power-frame features: their steps "
                         "lie on different time grids")
    if all(audio_fed) and kinds:
        yield from _audio_stream_piece_sets(samples_44k, piece_steps, grid, kinds)
        return
    features = _PieceFeatures(kinds, grid.frames_for_steps(piece_steps)
                              - grid.stride_frames * piece_steps)
    cutter = _Cutter(grid.piece_samples(piece_steps), grid.step_samples * piece_steps)
    for block in samples_44k:
        for piece in cutter.push(block):
            yield features(piece)
    tail = cutter.tail()
    if grid.steps_for_samples(tail.shape[0]) > 0:
        yield features(tail)


class _Cutter:
    """Cuts a stream of arrays (samples, or frames along axis 0) into pieces of ``need`` rows
    starting every ``advance`` rows; holds at most one piece's rows plus one block."""

    def __init__(self, need: int, advance: int) -> None:
        self.need, self.advance = int(need), int(advance)
        self.pending: list[np.ndarray] = []
        self.held = 0  # rows in pending

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        """Add the next block; return the pieces it completes, in order."""
        self.pending.append(block)
        self.held += block.shape[0]
        if self.held < self.need:
            return []
        buf = np.concatenate(self.pending)
        out, start = [], 0
        while buf.shape[0] - start >= self.need:
            out.append(buf[start:start + self.need])
            start += self.advance
        self.pending, self.held = [buf[start:]], buf.shape[0] - start
        return out

    def tail(self) -> np.ndarray:
        """The rows after the last full piece's start (may hold a short last piece)."""
        if not self.pending:
            return np.zeros(0, np.float32)
        return np.concatenate(self.pending)


def _audio_stream_piece_sets(samples_44k: Iterable[np.ndarray], piece_steps: int,
                             grid: PieceGrid, kinds: tuple[str, ...]
                             ) -> Iterator[tuple[np.ndarray, ...]]:
    """Pieces of kinds whose running state is fed the audio itself (FeatureKind.new_audio_stream).

    Each kind's state sees every sample once, in order, and returns the frames they
    complete; the frames are cut like samples are on the power path. Blocks are pushed
    :data:`PUSH_SECONDS` at a time, so a clip decoded whole still costs bounded memory.
    """
    unique = tuple(dict.fromkeys(kinds))
    streams = {kind: feature_kind(kind).new_audio_stream() for kind in unique}
    cutters = {kind: _Cutter(grid.frames_for_steps(piece_steps), grid.stride_frames * piece_steps)
               for kind in unique}
    ready: dict[str, list[np.ndarray]] = {kind: [] for kind in unique}
    push = int(PUSH_SECONDS * SAMPLE_RATE_HZ)
    for block in samples_44k:
        for start in range(0, block.shape[0], push):
            for kind in unique:
                ready[kind] += cutters[kind].push(streams[kind].push(block[start:start + push]))
            yield from _pop_ready(ready, kinds)
    for kind in unique:
        ready[kind] += cutters[kind].push(streams[kind].flush())
    yield from _pop_ready(ready, kinds)
    tails = {kind: cutters[kind].tail() for kind in unique}
    if all(grid.steps_for_frames(tail.shape[0]) > 0 for tail in tails.values()):
        yield tuple(tails[kind] for kind in kinds)


def _pop_ready(ready: dict[str, list[np.ndarray]], kinds: tuple[str, ...]
               ) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield (and drop) the pieces every kind has ready, in order."""
    n = min(len(pieces) for pieces in ready.values())
    for i in range(n):
        yield tuple(ready[kind][i] for kind in kinds)
    for kind in ready:
        del ready[kind][:n]


class _PieceFeatures:
    """Features of each kind for consecutive pieces. Kinds computed from power frames share
    one power spectrogram per piece; each kind is computed once however often it is asked for."""

    def __init__(self, kinds: tuple[str, ...], overlap_frames: int):
        self.kinds = tuple(kinds)
        rows = {kind: feature_kind(kind) for kind in self.kinds}  # refuses unknown kinds up front
        # kinds with running state get a fresh one per stream; the others are framewise
        self.streams = {kind: _StatefulPieces(row.new_stream(), overlap_frames)
                        for kind, row in rows.items() if row.new_stream is not None}
        self.from_power = {kind: row.from_power for kind, row in rows.items()
                           if row.from_power is not None}

    def __call__(self, audio_44k: np.ndarray) -> tuple[np.ndarray, ...]:
        power = audio_to_power(audio_44k) if self.from_power else None
        done: dict[str, np.ndarray] = {}
        for kind in dict.fromkeys(self.kinds):
            if kind in self.streams:
                done[kind] = self.streams[kind](power)
            elif kind in self.from_power:
                done[kind] = self.from_power[kind](power)
            else:
                done[kind] = audio_to_features(audio_44k, SAMPLE_RATE_HZ, kind)
        return tuple(done[kind] for kind in self.kinds)


class _StatefulPieces:
    """Features of consecutive overlapping pieces for a kind with running state (PCEN),
    equal to those of the whole stream.

    The state is a recursive filter: each frame must pass through it once, in order. A
    piece's first ``overlap`` frames are the previous piece's last ones, so their
    features are reused and only the new frames advance the state.
    """

    def __init__(self, stream: Transform, overlap_frames: int):
        self.stream = stream  # the kind's running state (FeatureKind.new_stream())
        self.overlap = overlap_frames  # frames shared by consecutive pieces
        self.started = False  # whether a piece went through already
        self.last = np.zeros((0, 0), np.float32)  # features of the previous piece's overlap

    def __call__(self, power: np.ndarray) -> np.ndarray:
        """Features (float32 (frames, values)) of one piece's power frames."""
        reuse = self.last.shape[0] if self.started else 0
        fresh = self.stream(power[reuse:])
        self.started = True
        out = np.concatenate([self.last, fresh]) if reuse else fresh
        self.last = out[out.shape[0] - self.overlap:] if self.overlap else out[:0]
        return out
