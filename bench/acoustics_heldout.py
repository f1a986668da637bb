"""Do real rooms and backgrounds in training cut false accepts on real backgrounds never heard?

Held out of training: the ``amazon-rainforest`` ambience recording (86 s; of the 4, the one
that brought the embed-head-1000 candidate, trained on the default mix, closest to firing: up
to 0.50, the others 0.05 or less) and 4 of the 16 keyboards (HELD_KEYBOARDS). Two datasets of
the same size and seed, speech-embedding-v1 features:

    .venv/bin/python bench/acoustics_heldout.py data --out DIR --examples 1000          # both
    .venv/bin/python -m model train --dataset DIR/XY_default --precisions fp32 --epochs 40 \\
        --batch-size 64 --store DIR/lab.sqlite --name default      (and DIR/XY_real, --name real)
    .venv/bin/python bench/acoustics_heldout.py score --models A.keras B.keras \\
        --dev DIR/XY_default DIR/XY_real --json OUT.json

``XY_default`` is the default mix; ``XY_real`` adds ``--rir-prob 0.5 --ambience-share 0.5``
with the held-out recording and keyboards removed from its choices. ``score`` runs each model
(model.detect.detector.Detector) over audio made only of held-out sounds, where every detection
is a false accept: the rain forest recording whole at three levels, and 10 s typing clips on the
held-out keyboards over the usual noise floor; as a control, 10 s generated backgrounds of the
default mix. False accepts at 0.5, 0.9 and 0.99, and the probability levels (median, p99,
max), which move before a false accept does. With ``--dev``, also each model's misses and
false accepts per hour on each dataset's dev split (both datasets share seed and voice split,
so their dev voices are the same and unheard by either model).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_args import invocation  # noqa: E402  (bench/ is the script's folder)

HELD_AMBIENCE = "amazon-rainforest"
HELD_KEYBOARDS = ("typewriter", "nk-cream", "mx-blue", "telios-v2")
THRESHOLDS = (0.5, 0.9, 0.99)
FEATURES = "speech-embedding-v1"


def make_data(out: Path, examples: int) -> None:
    """XY_default and XY_real (held-out sounds removed) under ``out``, same seed and size."""
    from model.cli import data_cmd
    from model.data.acoustics import AMBIENCE_RECORDINGS, KEYBOARD_PROFILES
    from model.data.makedata import make_dataset

    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    base = ["--examples", str(examples), "--seed", "0", "--features", FEATURES]
    for name, extra in (("XY_default", []), ("XY_real", ["--rir-prob", "0.5", "--ambience-share", "0.5"])):
        cfg = data_cmd.config_from_args(parser.parse_args(base + extra))
        cfg.background = dataclasses.replace(
            cfg.background, ambience_names=tuple(a for a in AMBIENCE_RECORDINGS if a != HELD_AMBIENCE),
            keyboard_names=tuple(k for k in KEYBOARD_PROFILES if k not in HELD_KEYBOARDS))
        report = make_dataset(cfg, out / name, workers=1, feature_kind=FEATURES)
        print(f"{name}: {report.meta.n_train} + {report.meta.n_dev} examples, "
              f"mixing {report.mix_examples_per_s:.1f} ex/s", flush=True)


def held_out_audio(seed: int = 0, clips: int = 24) -> dict[str, list[np.ndarray]]:
    """Test audio made only of sounds no XY_real example holds (plus a generated control)."""
    from model.audio.effects import scale_to_dbfs
    from model.data.acoustics import AMBIENCE_RECORDINGS, ambience_recordings
    from model.data.backgrounds import KINDS, BackgroundConfig, make_background
    from model.data.synth import quantize_pcm16

    forest = ambience_recordings((HELD_AMBIENCE,))[0]
    assert HELD_AMBIENCE in AMBIENCE_RECORDINGS
    typing = BackgroundConfig(**{f"weight_{k}": float(k == "keyboard") for k in KINDS},
                              keyboard_names=HELD_KEYBOARDS, level_range_dbfs=(-45.0, -30.0))
    rng = np.random.default_rng(seed)
    return {
        "rain forest recording": [quantize_pcm16(scale_to_dbfs(forest, level)) for level in (-45.0, -35.0, -25.0)],
        "held-out typing": [quantize_pcm16(make_background(rng, cfg=typing)[0]) for _ in range(clips)],
        "generated (control)": [quantize_pcm16(make_background(rng)[0]) for _ in range(clips)],
    }


def score(models: list[str]) -> dict:
    """False accepts per hour of each model on each held-out set, per threshold."""
    from model.detect.detector import Detector
    from yardstick_score import count_false_accepts, prob_levels

    sets = held_out_audio()
    out: dict = {"sets_seconds": {k: sum(a.size for a in v) / 44100.0 for k, v in sets.items()}, "models": {}}
    for spec in models:
        det = Detector(spec)
        rows = {}
        for name, audios in sets.items():
            traces = [det.detect_samples(a, 44100).probabilities for a in audios]
            seconds = sum(a.size for a in audios) / 44100.0
            levels = prob_levels(np.concatenate(traces))
            rows[name] = {"false_accepts": count_false_accepts(traces, THRESHOLDS, det.refractory_steps, seconds),
                          "levels": levels}
            line = ", ".join(f"{r['false_accepts']} at {r['threshold']}" for r in rows[name]["false_accepts"])
            print(f"{spec:40s} {name:22s} {seconds:5.0f} s: FAs {line}; probability median "
                  f"{levels['median']:.3f}, p99 {levels['p99']:.3f}, max {levels['max']:.3f}", flush=True)
        out["models"][spec] = rows
    return out


def score_dev(models: list[str], datasets: list[str]) -> dict:
    """Miss rate and false accepts per hour of each model on each dev split, per threshold."""
    from model.detect.evaluate import evaluate_model

    out: dict = {}
    for spec in models:
        for data in datasets:
            det = evaluate_model(spec, data).scores.det
            rows = []
            for thr in THRESHOLDS:
                i = min(range(len(det.thresholds)), key=lambda j: abs(det.thresholds[j] - thr))
                rows.append({"threshold": thr, "miss_rate": det.miss_rate[i], "fa_per_hour": det.fa_per_hour[i]})
            out[f"{spec} on {data}"] = rows
            line = ", ".join(f"{r['miss_rate']:.3f} missed / {r['fa_per_hour']:.1f} FA/h at {r['threshold']}"
                             for r in rows)
            print(f"{spec:40s} dev of {Path(data).name:12s}: {line}", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=("data", "score"))
    ap.add_argument("--out", default="", help="data: folder for XY_default and XY_real")
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--models", nargs="*", default=[], help="score: models (paths, run IDs)")
    ap.add_argument("--dev", nargs="*", default=[], help="score: datasets whose dev splits to score on")
    ap.add_argument("--json", default="", help="score: also write the results here")
    args = ap.parse_args(argv)
    if args.step == "data":
        make_data(Path(args.out), args.examples)
        return
    result = score(args.models)
    result["dev"] = score_dev(args.models, args.dev)
    if args.json:
        result["invocation"] = invocation(__file__, args, argv)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
