"""Listenable examples: the first clips of a dataset rendered as WAV with their labels.

Rendering uses the dataset's own recipe, word bank and per-example seeds, so
``samples/example_000.wav`` is exactly what example 0 of X.npy was computed from.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..audio.files import write_wav_atomic
from .bank import WordBank
from ..errors import ConfigError
from ..audio.features import SAMPLE_RATE_HZ
from .synth import SynthConfig, render_example

LABELS_FILE = "labels.json"


@dataclass
class SampleClip:
    """One written sample and its ground truth (times in seconds)."""

    file: str  # WAV file name inside the samples folder
    trigger_spans_s: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each trigger
    other_spans_s: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of other words
    background: str = ""  # background kind
    snr_db: float = 0.0  # speech-to-background ratio, dB

    @property
    def trigger_end_s(self) -> list[float]:
        """Where the labels start: the end of each trigger word, seconds."""
        return [end for _, end in self.trigger_spans_s]


def write_samples(cfg: SynthConfig, out_dir: str | Path, count: int = 4,
                  cache_dir: str | Path | None = None,
                  dev_engines: Sequence[str] = ()) -> list[SampleClip]:
    """Render the first ``count`` training examples of ``cfg`` as 16-bit WAV files.

    Args:
        cfg: the dataset recipe (e.g. ``SynthConfig.from_dict(meta.config)``).
        out_dir: folder for example_NNN.wav and labels.json.
        count: number of clips, 1..50.
        cache_dir: word-bank cache (default: the one make_dataset uses).
        dev_engines: engines the dataset held out of training (its meta config's
            ``dev_engines``), so the clips come from the dataset's own training voices.

    Returns:
        The written clips with their label times.
    """
    from .intelligibility import check_train_takes
    from .makedata import DEFAULT_CACHE_DIR, _build_banks, _load_raw, example_rng, sources_with_pool
    from .sources import split_families

    if not 1 <= count <= 50:
        raise ConfigError(f"sample count must be within 1..50 (got {count})")
    cfg.validate()
    train_fams, dev_fams = split_families(cfg.seed, cfg.dev_family_share, tuple(dev_engines),
                                          kokoro=cfg.kokoro_share > 0)
    paths = _build_banks(cfg, {"train": train_fams, "dev": dev_fams},
                         Path(cache_dir or DEFAULT_CACHE_DIR), None)
    bank = (check_train_takes(cfg, paths["train"]) or WordBank.load(paths["train"])) if paths["train"] else None
    raw = _load_raw(cfg) if cfg.raw_data else None
    src = sources_with_pool(cfg, bank, raw, "train")
    out, clips = Path(out_dir), []
    for i in range(min(count, cfg.n_train)):
        ex = render_example(example_rng(cfg.seed, "train", i), src, cfg)
        name = f"example_{i:03d}.wav"
        write_wav_atomic(out / name, ex.audio, SAMPLE_RATE_HZ)
        clips.append(SampleClip(name, _spans_s(ex.trigger_spans), _spans_s(ex.other_spans),
                                ex.background_kind, round(ex.snr_db, 1)))
    _write_json_atomic(out / LABELS_FILE, {"word": cfg.word, "clips": [asdict(c) for c in clips]})
    return clips


def read_samples(folder: str | Path) -> list[SampleClip]:
    """The clips listed in a samples folder's labels.json (empty if none or unreadable)."""
    path = Path(folder) / LABELS_FILE
    try:
        raw = json.loads(path.read_text())
        return [SampleClip(c["file"], [tuple(s) for s in c["trigger_spans_s"]],
                           [tuple(s) for s in c["other_spans_s"]], c["background"], c["snr_db"])
                for c in raw["clips"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _spans_s(spans: list[tuple[int, int]]) -> list[tuple[float, float]]:
    return [(round(s / SAMPLE_RATE_HZ, 3), round(e / SAMPLE_RATE_HZ, 3)) for s, e in spans]


def _write_json_atomic(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=1)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600
    os.replace(tmp, path)
