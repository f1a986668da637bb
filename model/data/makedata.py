"""Making a dataset folder: word banks -> parallel mixing -> memory-mapped .npy -> rename.

The slow, single-process part (text-to-speech) runs once per split into a cached
word bank; mixing is numpy only and runs in worker processes, each example seeded
by (seed, split, index), so the bytes do not depend on the number of workers. Each worker
also computes its clips' features: speech embeddings (ONNX, one thread a process) cost
~0.3 s a clip on this CPU, ten times the mixing, so they dominate such a dataset. Arrays
are written through memory-mapped .npy files in a temporary folder beside the
destination, which replaces the old folder only when everything is written: peak
memory stays flat in the number of examples and nothing is ever half-written (that
folder's handling is in data/outdir.py).
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
import multiprocessing as mp
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .bank import BankConfig, WordBank, build_or_load_bank
from .intelligibility import attach_heard, check_train_takes, heard_summary
from .dataset import DEFAULT_DATASET_DIR, META_FILE, DatasetMeta
from .outdir import (allocate_arrays, building_folder, check_replaceable,
                     swap_in, write_examples_csv)  # noqa: F401 - swap_in: mining imports it here
from ..errors import ConfigError, LabError
from ..procs import bare_main
from ..audio.features import (CLIP_SAMPLES, FEATURE_KIND_LOG, SAMPLE_RATE_HZ, SYNTH_FEATURE_KINDS,
                              audio_to_features, feature_kind)
from .rawdata import ROLES, RawData, load_raw_data
from .sources import ClipPool, check_dev_engines, split_families, split_sources
from .synth import (GENERATOR_VERSION, Example, Sources, SynthConfig, make_background_pool,
                    render_example)

DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "banks"
SPLITS = ("train", "dev")
_SPLIT_CODE = {"train": 0, "dev": 1}  # part of every example's seed
_CHUNK = 16  # examples per worker task
_PARALLEL_MIN = 48  # fewer examples than this are mixed in-process (pool start-up costs ~2 s)

ProgressFn = Callable[[str, int, int], None]  # (stage "bank" | "mix", done, total)


@dataclass
class MakeDataReport:
    """What make_dataset did, with timings for the benchmark and the UI."""

    out_dir: Path  # the dataset folder written
    meta: DatasetMeta  # what meta.json says
    bank_seconds: float  # text-to-speech (or cache load) time, s
    mix_seconds: float  # mixing + features + writing time, s
    heard: dict[str, tuple[int, int]] = field(default_factory=dict)  # clear_triggers: engine -> (kept, takes)

    @property
    def mix_examples_per_s(self) -> float:
        return (self.meta.n_train + self.meta.n_dev) / max(self.mix_seconds, 1e-9)

    @property
    def total_examples_per_s(self) -> float:
        return (self.meta.n_train + self.meta.n_dev) / max(self.mix_seconds + self.bank_seconds, 1e-9)


class Cancelled(LabError):
    """make_dataset was cancelled; nothing was written."""


def auto_bank_clips(n_examples: int) -> int:
    """Clips per role in a split's bank: ~0.3 per example (each clip is reused a few times,
    differently augmented each time), at least 16."""
    return max(16, int(np.ceil(0.3 * n_examples)))


def example_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one example: independent of worker count and order."""
    return np.random.default_rng([int(seed), _SPLIT_CODE[split], int(index)])


# --- worker side -----------------------------------------------------------------------
_W: dict[str, object] = {}  # per-process state set by _init_worker (module global: pool API)


def _init_worker(cfg_dict: dict, bank_paths: dict[str, str | None], raw_folder: str,
                 out_dir: str, feature_kind: str = FEATURE_KIND_LOG) -> None:
    cfg = SynthConfig.from_dict(cfg_dict)
    _W["cfg"], _W["out"], _W["sources"], _W["kind"] = cfg, Path(out_dir), {}, feature_kind
    _W["banks"] = {s: (WordBank.load(p) if p else None) for s, p in bank_paths.items()}
    if cfg.clear_triggers and _W["banks"].get("train") is not None:  # checked (cached) by make_dataset
        attach_heard(_W["banks"]["train"], bank_paths["train"], cfg.word)
    _W["raw"] = _load_raw(cfg) if raw_folder else None


def sources_with_pool(cfg: SynthConfig, bank: WordBank | None, raw: RawData | None, split: str) -> Sources:
    """A split's clip pools plus its pool of generated backgrounds (what every worker mixes from)."""
    src = split_sources(cfg, bank, raw, split)
    if cfg.raw_mode != "only" or not src.backgrounds:
        src.generated = make_background_pool(cfg.seed, _SPLIT_CODE[split], src, cfg)
    return src


def _worker_sources(split: str) -> Sources:
    """This worker's sources of ``split``, made on first use (a worker may see one split only)."""
    if split not in _W["sources"]:
        _W["sources"][split] = sources_with_pool(_W["cfg"], _W["banks"][split], _W["raw"], split)
    return _W["sources"][split]


def _render_range(task: tuple[str, int, int]) -> list[list[str]]:
    """Render examples [start, stop) of a split into the memory-mapped arrays.

    The chunk's clips are rendered first and featurised together, so a kind computed by a
    network (speech embeddings) runs it on the whole chunk in few calls.
    """
    split, start, stop = task
    cfg, out = _W["cfg"], _W["out"]
    timing = feature_kind(_W["kind"]).timing
    examples = [render_example(example_rng(cfg.seed, split, i), _worker_sources(split), cfg, timing)
                for i in range(start, stop)]
    suffix = "" if split == "train" else "_dev"
    x = np.load(out / f"X{suffix}.npy", mmap_mode="r+")
    y = np.load(out / f"Y{suffix}.npy", mmap_mode="r+")
    for k, feats in enumerate(_features16([ex.audio for ex in examples])):
        x[start + k] = feats
        y[start + k, :, 0] = examples[k].labels
    x.flush()
    y.flush()
    del x, y
    return [_csv_row(split, start + k, ex) for k, ex in enumerate(examples)]


def _features16(clips: list[np.ndarray]) -> list[np.ndarray]:
    """float16 features of the worker's kind for each 10 s clip."""
    kind = _W.get("kind", FEATURE_KIND_LOG)
    batch = feature_kind(kind).batch_transform
    if batch is not None:
        # a chunk's clips go through the network together (the same numbers, 1/16 of the
        # calls). Speech embeddings use one ONNX thread per process (EmbeddingConfig's
        # default): on this 2-core machine 2 threads made one process slower (2.1 vs 2.8
        # examples/s), and 2 workers x 2 threads slower still (1.5)
        return [e.astype(np.float16) for e in batch(clips)]
    return [audio_to_features(a, SAMPLE_RATE_HZ, kind).astype(np.float16) for a in clips]


def _csv_row(split: str, index: int, ex: Example) -> list[str]:
    ends = " ".join(f"{e / SAMPLE_RATE_HZ:.3f}" for _, e in ex.trigger_spans)
    return [split, str(index), str(len(ex.trigger_spans)), ends, str(len(ex.other_spans)),
            ex.background_kind, f"{ex.snr_db:.1f}", ";".join(ex.trigger_families)]


# --- orchestration -----------------------------------------------------------------------
def _load_raw(cfg: SynthConfig) -> RawData:
    """Recordings: all three roles in "only" mode; in "mix" mode whichever roles exist."""
    folder = Path(cfg.raw_data)
    roles = ROLES if cfg.raw_mode == "only" else tuple(r for r in ROLES if (folder / r).is_dir())
    if not roles:
        roles = ROLES  # none exist: let the loader name what is missing
    return load_raw_data(folder, roles)


def _build_banks(cfg: SynthConfig, families: dict[str, list[str]], cache_dir: Path,
                 progress: ProgressFn | None) -> dict[str, Path | None]:
    """Build or load each split's word bank; returns their cache paths (None in raw-only mode)."""
    from .bank import bank_path
    from .sources import bank_config_for
    from .speech import check_word

    if cfg.raw_mode == "only":
        return {s: None for s in SPLITS}
    counts = {"train": cfg.n_train, "dev": cfg.n_dev}
    configs = {split: bank_config_for(cfg, split, families[split], counts[split],
                                      auto_bank_clips(counts[split]))
               for split in SPLITS if counts[split] > 0}
    if not all(bank_path(b, cache_dir).is_file() for b in configs.values()):
        # cached banks were checked when built (and need no speech engine); check only the
        # engines the banks draw (Kokoro is slow to load and optional)
        kokoro = any(b.kokoro_share > 0 for b in configs.values())
        drawn = ("espeak", "piper") + (("kokoro",) if kokoro else ())
        check_word(cfg.word, drawn)
    paths: dict[str, Path | None] = {s: None for s in SPLITS}
    for split, bcfg in configs.items():
        report = (lambda d, t, s=split: progress(f"voices ({s})", d, t)) if progress else None
        # one thread a core: Kokoro (~1 s a word on one core) and piper calls run side by side in
        # one session each; the bank's bytes do not depend on the thread count
        build_or_load_bank(bcfg, cache_dir, progress=report, workers=usable_cores())
        paths[split] = bank_path(bcfg, cache_dir)
    return paths


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _tasks(n_train: int, n_dev: int) -> list[tuple[str, int, int]]:
    return [(split, s, min(s + _CHUNK, n)) for split, n in (("train", n_train), ("dev", n_dev))
            for s in range(0, n, _CHUNK)]


def _mix_all(cfg: SynthConfig, bank_paths: dict[str, Path | None], tmp: Path, workers: int,
             progress: ProgressFn | None, cancel: threading.Event | None,
             feature_kind: str = FEATURE_KIND_LOG) -> list[list[str]]:
    """Render every example into ``tmp``; returns the examples.csv rows in order."""
    tasks, total, rows = _tasks(cfg.n_train, cfg.n_dev), cfg.n_train + cfg.n_dev, []
    init = (cfg.to_dict(), {s: (str(p) if p else None) for s, p in bank_paths.items()},
            cfg.raw_data, str(tmp), feature_kind)
    if workers <= 1 or total < _PARALLEL_MIN:
        _init_worker(*init)
        for task in tasks:
            rows += _render_range(task)
            _report(progress, cancel, len(rows), total)
        return rows
    # spawn, not fork: the caller may be a threaded server with TensorFlow loaded. An
    # executor, not a Pool: a worker that dies raises BrokenProcessPool instead of being
    # respawned for ever.
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=init)
    try:
        with bare_main():
            futures = [pool.submit(_render_range, task) for task in tasks]
        for fut in futures:
            rows += fut.result()
            _report(progress, cancel, len(rows), total)
    except BrokenProcessPool as err:
        raise LabError(f"a mixing worker process died ({err}); try --workers 1 to see why") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return rows


def _report(progress: ProgressFn | None, cancel: threading.Event | None, done: int, total: int) -> None:
    if progress:
        progress("mix", done, total)
    if cancel is not None and cancel.is_set():
        raise Cancelled("making data was cancelled; nothing was written")


def make_dataset(cfg: SynthConfig, out_dir: str | Path = DEFAULT_DATASET_DIR,
                 progress: ProgressFn | None = None, workers: int | None = None,
                 cache_dir: str | Path = DEFAULT_CACHE_DIR,
                 cancel: threading.Event | None = None,
                 feature_kind: str = FEATURE_KIND_LOG,
                 dev_engines: Sequence[str] = ()) -> MakeDataReport:
    """Synthesise a dataset folder (X.npy, Y.npy, X_dev.npy, Y_dev.npy, meta.json, examples.csv).

    Args:
        cfg: synthesis settings (validated here).
        out_dir: destination folder; replaced only after everything is written.
        progress: ``progress(stage, done, total)`` callback, called in this thread.
        workers: mixing processes (default: usable cores, at most 4); each featurises its
            own clips (speech embeddings: one ONNX thread each).
        cache_dir: where word banks are cached between runs.
        cancel: set it to stop early; raises Cancelled and leaves ``out_dir`` untouched.
        feature_kind: features stored in X, one of SYNTH_FEATURE_KINDS (``log-power-v1``,
            ``pcen-v1``, ``speech-embedding-v1``); X and Y take its shapes and its labels'
            step timing.
        dev_engines: text-to-speech engines ("espeak", "piper", "kokoro") held out of training whole:
            every family of theirs goes to dev, so a model can be measured on an engine it
            never heard. Empty (default): the usual per-engine family split.

    Returns:
        MakeDataReport with the meta and timings.

    Raises:
        ConfigError, SpeechError, DatasetError (one-line messages); nothing half-written.
    """
    cfg.validate()
    if feature_kind not in SYNTH_FEATURE_KINDS:
        raise ConfigError(f"unknown feature kind {feature_kind!r}; choose one of "
                          f"{', '.join(SYNTH_FEATURE_KINDS)}")
    # the share only matters where banks are drawn (not for recordings alone)
    held = check_dev_engines(dev_engines, cfg.neural_share if cfg.raw_mode != "only" else None,
                             cfg.kokoro_share)
    out = Path(out_dir).resolve()
    raw = _load_raw(cfg) if cfg.raw_data else None
    train_fams, dev_fams = split_families(cfg.seed, cfg.dev_family_share, held, kokoro=cfg.kokoro_share > 0)
    t0 = time.perf_counter()
    bank_paths = _build_banks(cfg, {"train": train_fams, "dev": dev_fams}, Path(cache_dir), progress)
    checked = check_train_takes(cfg, bank_paths["train"], progress)
    t1 = time.perf_counter()
    check_replaceable(out)
    tmp = building_folder(out)
    try:
        allocate_arrays(tmp, cfg.n_train, cfg.n_dev, feature_kind)
        rows = _mix_all(cfg, bank_paths, tmp, workers or min(usable_cores(), 4), progress, cancel,
                        feature_kind)
        meta = _meta(cfg, raw, train_fams, dev_fams, feature_kind, held)
        write_examples_csv(tmp / "examples.csv", rows)
        (tmp / META_FILE).write_text(meta.to_json())
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return MakeDataReport(out, meta, t1 - t0, time.perf_counter() - t1,
                          heard_summary(checked) if checked else {})


def _meta(cfg: SynthConfig, raw: RawData | None, train_fams: list[str], dev_fams: list[str],
          feature_kind: str = FEATURE_KIND_LOG, dev_engines: Sequence[str] = ()) -> DatasetMeta:
    recorded = {"raw_files": raw.files, "raw_dev_disjoint": raw.dev_disjoint} if raw else {}
    # beside the SynthConfig fields, like raw_files: readers keep only the fields they know
    held = {"dev_engines": list(dev_engines)} if dev_engines else {}
    synthetic = cfg.raw_mode != "only"
    return DatasetMeta(
        word=cfg.word, feature_kind=feature_kind, n_train=cfg.n_train, n_dev=cfg.n_dev,
        seed=cfg.seed, generator_version=GENERATOR_VERSION, storage_dtype="float16",
        train_voices=train_fams if synthetic else [], dev_voices=dev_fams if synthetic else [],
        config={**cfg.to_dict(), **recorded, **held, "clip_samples": CLIP_SAMPLES,
                "sample_rate_hz": SAMPLE_RATE_HZ},
        created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def recipe_from_meta(meta: DatasetMeta) -> tuple[SynthConfig, tuple[str, ...]]:
    """The inverse of :func:`_meta`: the SynthConfig and held-out engines a meta.json records
    (keys beside the SynthConfig fields, and fields newer than the data, are skipped)."""
    known = {k: v for k, v in meta.config.items() if k in SynthConfig.__dataclass_fields__}
    return SynthConfig.from_dict(known), tuple(meta.config.get("dev_engines", []))
