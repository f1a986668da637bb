"""Detection: any audio clip -> per-step trigger-word probabilities -> detections.

One output step lasts what the model's feature kind says (:mod:`model.detect.timing`):
10 s / 1375 ~ 7.27 ms for a spectrogram network, 80 ms for a head over speech embeddings.
Files of any length are decoded in bounded blocks (:mod:`model.detect.stream`) and cut into
bounded pieces (:mod:`model.detect.pieces`) that go through the network with its GRU state
carried (:mod:`model.detect.inference`), so memory stays flat and the probabilities equal
whole-clip processing to within 1e-4 (tests/test_detect.py). The chime lives in
:mod:`model.detect.chime`.

Detection rule (pure): :mod:`model.detect.rule`, whose :func:`probabilities_to_detections`,
:class:`Detection` and :func:`trace_to_episodes` are re-exported here for their callers;
it is the dev metric's rule, so a threshold chosen on the dev set carries over.
A model whose card names members is an ensemble (:mod:`model.detect.ensemble`):
every piece goes through each network and the probabilities are averaged before the rule;
members on different time grids are refused. Partners on a finer grid (a card's ``max_of``:
:mod:`model.detect.partners`) hear the same audio in lockstep, piece by piece; their
probabilities are pooled onto the model's steps and joined by max before the rule. A clip
needed for more than detection (the app's spectrogram and chime) is decoded once by
:func:`decode_clip` and scanned by :meth:`Detector.detect_clip`, with the same checks and
results as :meth:`Detector.detect_file`.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.files import AudioLimits
from ..errors import AudioError, ConfigError, LabError
from ..audio.feature_kinds import SEED_TIMING
from ..audio.features import FEATURE_KIND_LOG, FEATURE_KINDS, SAMPLE_RATE_HZ, to_mono_44k
from .edges import MAX_PAD_SECONDS, file_timing, lead_in_steps, padded_blocks
from .partners import check_partner_timing, partner_paths, pool_to_grid
from .pieces import iter_feature_piece_sets
# re-exported: callers import the rule's names from here
from .rule import Detection, probabilities_to_detections, trace_to_episodes  # noqa: F401
from .stream import StreamInfo, iter_mono_blocks, open_source, resample_blocks
from .timing import shared_timing


@dataclass
class DetectConfig:
    """How audio becomes detections (stored as JSON with any result that needs it)."""

    threshold: float = 0.5  # probability at or above which a step is "on", 0..1
    min_steps: int = 1  # consecutive on-steps an episode needs (a step: 7.27 ms or 80 ms)
    # hold-off after a detection's start, in steps; None: the kind's (75 x 7.27 ms, 7 x 80 ms)
    refractory_steps: int | None = None
    chunk_seconds: float = 10.24  # audio per network piece (1408 or 128 steps); one compiled length
    silence_peak: float = 1e-4  # a mono peak below this (-80 dBFS) is "silent" and refused
    feature_kind: str | None = None  # None: the model card's kind, else log-power-v1
    compile_xla: bool = True  # XLA-compile the network on TensorFlow (~4x faster on CPU)
    chime_gain: float = 0.5  # chime level mixed over the audio, 0..1
    # quiet put before / after a clip, s (model/detect/edges.py): a word said at once, or one
    # that ends the recording, is scored like a word inside it; 0: the file exactly as it is
    lead_pad_seconds: float = 0.0
    end_pad_seconds: float = 0.0
    limits: AudioLimits = field(default_factory=AudioLimits)  # file size / duration limits

    def validate(self) -> None:
        """Raise ConfigError for a setting outside its range."""
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {self.threshold}")
        held = self.refractory_steps
        if self.min_steps < 1 or (held is not None and held < 0):
            raise ConfigError("min_steps must be >= 1 and refractory_steps >= 0")
        if not 0.5 <= self.chunk_seconds <= 120.0:
            raise ConfigError(f"chunk_seconds must be within 0.5..120, got {self.chunk_seconds}")
        if self.feature_kind is not None and self.feature_kind not in FEATURE_KINDS:
            raise ConfigError(f"feature kind must be one of {FEATURE_KINDS}")
        if self.limits.max_bytes <= 0 or self.limits.max_seconds <= 0:
            raise ConfigError("size and duration limits must be positive")
        for pad in (self.lead_pad_seconds, self.end_pad_seconds):
            if not 0.0 <= pad <= MAX_PAD_SECONDS:
                raise ConfigError(f"padding must be within 0..{MAX_PAD_SECONDS:g} s, got {pad}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


@dataclass
class DecodedClip:
    """A whole clip decoded once, for detection, a spectrogram and the chime alike."""

    samples: np.ndarray  # float32 mono at info.sample_rate_hz, read-only (it may be shared)
    info: StreamInfo  # the header's facts plus what decoding found (frames_read, peak)

    @property
    def sample_rate_hz(self) -> int:
        """The source's own sample rate, Hz (not resampled, so the chimed WAV keeps it)."""
        return self.info.sample_rate_hz

    @property
    def duration_s(self) -> float:
        """Decoded duration, seconds."""
        return self.info.duration_s


def decode_clip(source: str | Path | bytes, limits: AudioLimits | None = None) -> DecodedClip:
    """Decode a whole clip into memory with exactly the checks of the streaming path.

    The blocks are those :meth:`Detector.detect_file` would stream, so scanning the result
    gives the same probabilities; use it only where the clip is wanted more than once
    (the file path keeps memory flat for hour-long files).

    Args:
        source: a path, or the file's bytes (an upload).
        limits: size and duration limits (defaults: 200 MB, 1 hour).

    Returns:
        The mono samples at the source's own rate, and what reading found.

    Raises:
        AudioError: unreadable, empty, truncated, NaN/inf or over a limit.
    """
    info = open_source(source, limits or AudioLimits())
    blocks = list(iter_mono_blocks(source, info))  # raises rather than yield nothing
    samples = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    samples.flags.writeable = False
    return DecodedClip(samples, info)


@dataclass
class DetectResult:
    """Everything detection found in one clip."""

    source: str  # file path, or a name for in-memory audio
    duration_s: float  # decoded audio duration, seconds
    probabilities: np.ndarray  # float32 (steps,), one per step_s
    detections: list[Detection]  # in time order
    model: str  # the model spec used (path, "pretrained" or run ID)
    feature_kind: str  # features the network was fed
    sample_rate_hz: int  # the source's own sample rate
    step_s: float = SEED_TIMING.step_seconds  # seconds per output step
    step0_s: float = 0.0  # time of step 0, s (step i is at step0_s + i * step_s)

    def to_json_dict(self, decimals: int = 4) -> dict[str, Any]:
        """The CLI's JSON object: file, duration_s, step_s, step0_s, probabilities,
        detections, model."""
        return {
            "file": self.source,
            "duration_s": round(self.duration_s, 6),
            "step_s": self.step_s,
            "step0_s": self.step0_s,
            "probabilities": np.round(self.probabilities.astype(np.float64), decimals).tolist(),
            "detections": [{"time_s": round(d.time_s, 6), "score": round(d.score, decimals)}
                           for d in self.detections],
            "model": self.model,
        }


class Detector:
    """A loaded model, ready to scan any number of clips (load once, detect many).

    Args:
        model: "pretrained", a .keras path or a run ID (see
            :func:`model.detect.inference.resolve_model_path`).
        config: detection settings; defaults to :class:`DetectConfig`.
        store_path: run store database for run IDs (default: the store's own).
        partners: load the partners the card names under ``max_of`` (False: the model and
            its members alone; a partner's own partners are never loaded).

    Raises:
        LabError: no such model, not loadable, or a layout that cannot be streamed.
    """

    def __init__(self, model: str | Path = "pretrained", config: DetectConfig | None = None,
                 store_path: str | Path | None = None, *, partners: bool = True) -> None:
        from .ensemble import model_members
        from .inference import load_keras_model, resolve_model_path
        from ..card import read_model_card

        self.config = config or DetectConfig()
        self.config.validate()
        self.model_path = resolve_model_path(model, store_path)
        kind = self.config.feature_kind or read_model_card(self.model_path)
        members = model_members(self.model_path, kind)  # the model, then its card's members
        self._setup([(load_keras_model(m.path), m.feature_kind) for m in members], str(model))
        if partners:
            self.partners = [self._partner(p) for p in partner_paths(self.model_path)]

    def _partner(self, path: Path) -> "Detector":
        """A partner on its own card's features and grid, sharing this detector's pieces."""
        partner = Detector(path, replace(self.config, feature_kind=None), partners=False)
        check_partner_timing(self.timing, partner.timing, path.name)
        return partner

    @classmethod
    def from_keras(cls, keras_model: Any, config: DetectConfig | None = None,
                   label: str = "in-memory", feature_kind: str | None = None) -> "Detector":
        """Wrap an already built or loaded Keras model (tests, a just-finished run)."""
        self = cls.__new__(cls)
        self.config = config or DetectConfig()
        self.config.validate()
        self.model_path = None
        kind = self.config.feature_kind or feature_kind or FEATURE_KIND_LOG
        self._setup([(keras_model, kind)], label)
        return self

    def _setup(self, models: list[tuple[Any, str]], label: str) -> None:
        """Streaming networks for (keras model, feature kind) pairs, averaged if several.

        Raises:
            LabError: members on different time grids or piece grids.
        """
        from .inference import StreamingModel

        self.label = label
        self.partners: list[Detector] = []  # finer-grid detectors joined by max (none here)
        self.kinds = [kind for _, kind in models]
        self.timing = shared_timing(self.kinds)
        self.piece_steps = max(1, round(self.config.chunk_seconds / self.timing.step_seconds))
        self.nets = [StreamingModel(m, self.piece_steps, self.config.compile_xla, kind)
                     for m, kind in models]
        if any(net.grid != self.nets[0].grid for net in self.nets):
            raise LabError("the members of an ensemble must share the Conv1D kernel and stride "
                           "and the features' frames")
        self.net = self.nets[0]
        self.feature_kind = "+".join(self.kinds)

    @property
    def partner_names(self) -> list[str]:
        """File names of the partners joined by max (empty for a plain model or ensemble)."""
        return [p.model_path.name for p in self.partners if p.model_path is not None]

    @property
    def refractory_steps(self) -> int:
        """The hold-off in use, steps: the config's, else the model's kind's."""
        held = self.config.refractory_steps
        return self.timing.refractory_steps if held is None else int(held)

    def detect_file(self, source: str | Path | bytes) -> DetectResult:
        """Probabilities and detections of a file (or its bytes), streamed in pieces.

        Raises:
            AudioError: unreadable, empty, truncated, NaN/inf, over a limit, too short, silent.
        """
        info = open_source(source, self.config.limits)
        blocks = iter_mono_blocks(source, info)
        return self._scan(resample_blocks(blocks, info.sample_rate_hz), info)

    def detect_clip(self, clip: DecodedClip) -> DetectResult:
        """:meth:`detect_file` of a clip already decoded by :func:`decode_clip` (no re-read).

        The streaming resampler's output does not depend on how its input is split, so the
        probabilities, duration and checks equal those of :meth:`detect_file` on the file.

        Raises:
            AudioError: too short or silent.
        """
        rate = clip.sample_rate_hz  # _scan only reads the info, so a shared clip stays intact
        return self._scan(resample_blocks(iter([clip.samples]), rate), clip.info)

    def detect_samples(self, audio: np.ndarray, sample_rate_hz: int,
                       name: str = "the recording") -> DetectResult:
        """Same as :meth:`detect_file` for audio already in memory (any rate, mono/stereo)."""
        seconds = max(np.shape(audio) or (0,)) / max(int(sample_rate_hz), 1)  # (n,), (n,ch), (ch,n)
        if seconds > self.config.limits.max_seconds:
            raise AudioError(f"{name} lasts {seconds:.0f} s, over the "
                             f"{self.config.limits.max_seconds:.0f} s limit")
        try:
            mono = to_mono_44k(audio, sample_rate_hz)
        except AudioError as err:
            raise AudioError(f"{name}: {err}") from None
        info = StreamInfo(name, SAMPLE_RATE_HZ, 1, mono.shape[0], container="memory",
                          frames_read=mono.shape[0], peak=float(np.max(np.abs(mono))))
        result = self._scan(iter([mono]), info)
        result.sample_rate_hz = int(sample_rate_hz)
        return result

    def warm_up(self) -> None:
        """Run once so that the first real clip does not pay the XLA compile (~2 s)."""
        noise = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE_HZ).astype(np.float32)
        self.detect_samples(noise, SAMPLE_RATE_HZ, "warm-up noise")

    def _scan(self, samples_44k, info: StreamInfo) -> DetectResult:
        """Run pieces through the network(s), then apply the silence check and the rule."""
        cfg = self.config
        lead = cfg.lead_pad_seconds
        parts = self._lockstep_parts(samples_44k)
        if info.peak < cfg.silence_peak:
            raise AudioError(f"{info.name} is silent (peak {_dbfs(info.peak)}): nothing to detect")
        if not parts[0]:
            need_ms = 1000 * self.net.grid.min_seconds
            raise AudioError(f"{info.name} is too short: {info.duration_s * 1000:.0f} ms, the "
                             f"network needs at least {need_ms:.0f} ms")
        probs = np.concatenate(parts[0])[lead_in_steps(self.timing, lead):]
        timing = file_timing(self.timing, lead)  # times in the file's own seconds
        for partner, own in zip(self.partners, parts[1:]):
            if own:  # audio too short for a partner leaves the model's trace as it is
                trace = np.concatenate(own)[lead_in_steps(partner.timing, lead):]
                probs = np.maximum(probs, pool_to_grid(trace, file_timing(partner.timing, lead),
                                                       timing, probs.size))
        found = probabilities_to_detections(probs, cfg.threshold, cfg.min_steps,
                                            self.refractory_steps, timing)
        return DetectResult(info.name, info.duration_s, probs, found, self.label,
                            self.feature_kind, info.sample_rate_hz,
                            step_s=timing.step_seconds, step0_s=timing.first_step_end_seconds)

    def _lockstep_parts(self, samples_44k) -> list[list[np.ndarray]]:
        """Per-piece probabilities of this detector and of each partner, in that order.

        The audio is read once: every detector's pieces last ``chunk_seconds``, so taking
        one piece from each in turn keeps the tee's buffer within about a piece.
        """
        cfg = self.config
        dets = [self, *self.partners]
        streams = itertools.tee(samples_44k, len(dets)) if self.partners else (samples_44k,)
        gens = [d._piece_probabilities(padded_blocks(s, cfg.lead_pad_seconds, cfg.end_pad_seconds))
                for d, s in zip(dets, streams)]
        parts: list[list[np.ndarray]] = [[] for _ in dets]
        for group in itertools.zip_longest(*gens):
            for i, piece in enumerate(group):
                if piece is not None:
                    parts[i].append(piece)
        return parts

    def _piece_probabilities(self, samples_44k):
        """Per piece, the mean probability over the networks, each fed its own features."""
        pieces = iter_feature_piece_sets(samples_44k, self.piece_steps, self.net.grid,
                                         tuple(self.kinds))
        states = [net.initial_state() for net in self.nets]
        for group in pieces:  # only the last piece may be short, so state is None only after it
            total = None
            for i, (net, piece) in enumerate(zip(self.nets, group)):
                probs, states[i] = net.run_piece(piece, states[i])
                total = probs if total is None else total + probs
            yield total / len(self.nets)


def _dbfs(peak: float) -> str:
    return "-inf dBFS" if peak <= 0 else f"{20 * np.log10(peak):.0f} dBFS"
