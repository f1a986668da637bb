"""Each augmentation's effect on a trained detector, on voices training never heard.

Run: .venv/bin/python bench/bench_robustness.py [--model pretrained] [--n 300]
         [--json bench/results/robustness_NAME_cpu.json] [--unpaired]

Mixes the pretraining recipe's dev split (seed 2026, cached word banks of .cache/banks/, no
text-to-speech) once per condition: "clean" (every augmentation off), one condition per
augmentation forced on (probability 1, the rest off) and "recipe" (the default
AugmentConfig, as in training). Every condition renders the same N clip indices of the same
seed. Paired by default: each effect draws its randomness from a generator seeded by one
draw of the example's own stream, so words, positions, levels and backgrounds are the same
in every condition and only the effect differs (a longer word may still land elsewhere).
``--unpaired`` mixes exactly as make-data does (its "recipe" clips are then the first N of
the shipped dev set), but effects that draw numbers shift the later draws of a clip.

Scores with the project's functions (predict_ensemble, so a model's card members count
too; read_dev_truth, score_dev): miss rate
and false accepts per hour at thresholds 0.5/0.9/0.99, FRR at 1 FA/h (or, if no threshold
meets it, the lowest FA/h reached with its miss rate), miss-rate change vs clean at 0.99.
Prints a table and writes JSON; asserts nothing. Mixed datasets live in a temp folder that
is deleted.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_args import invocation  # noqa: E402  (bench/ is the script's folder)
from model.data import synth  # noqa: E402
from model.data.augment import AugmentConfig  # noqa: E402
from model.audio.effects import add_air  # noqa: E402
from model.detect.dev_scores import DevScores, read_dev_truth, score_dev  # noqa: E402
from model.detect.ensemble import model_members, predict_ensemble  # noqa: E402
from model.detect.evaluate import check_feature_kind, open_dev_split  # noqa: E402
from model.audio.features import FEATURE_KIND_LOG  # noqa: E402
from model.detect.inference import load_keras_model, resolve_model_path  # noqa: E402
from model.card import read_model_card  # noqa: E402
from model.data.makedata import make_dataset  # noqa: E402
from model.train.metrics import DEFAULT_TARGET_FA_PER_HOUR  # noqa: E402

REPORT_THRESHOLDS = (0.5, 0.9, 0.99)
RECIPE = dict(seed=2026, neural_share=0.6, bank_trigger_clips=1200, bank_other_clips=1000)
PHONE = dict(bandlimit_prob=1.0, phone_share=1.0)
CONDITIONS: dict[str, dict[str, float] | None] = {  # off() plus these; None: AugmentConfig()
    "clean": {}, "speed": {"speed_prob": 1.0}, "pitch": {"pitch_prob": 1.0},
    "reverb": {"reverb_prob": 1.0}, "phone band": {**PHONE, "mulaw_prob": 0.0},
    "phone+mu-law": {**PHONE, "mulaw_prob": 1.0},
    "cheap mic": {"bandlimit_prob": 1.0, "phone_share": 0.0}, "mic EQ": {"mic_eq_prob": 1.0},
    "mix gain": {"mix_gain_prob": 1.0}, "word level": {"word_level_prob": 1.0}, "recipe": None,
    "hf air -30dB": {}, "hf air -20dB": {}}
# Speech above 11 kHz: the word banks hold 22.05 kHz audio, real 44.1 kHz recordings do not stop
# there. These conditions add noise above 11.5 kHz that follows each word's 5 ms envelope, this
# many dB below it (model.audio.effects.add_air; make-data applies it only with --air-prob).
AIR_DB = {"hf air -30dB": -30.0, "hf air -20dB": -20.0}


def augment_for(name: str) -> AugmentConfig:
    """The AugmentConfig of condition ``name`` (see :data:`CONDITIONS`)."""
    forced = CONDITIONS[name]
    return AugmentConfig() if forced is None else dataclasses.replace(AugmentConfig.off(), **forced)


@contextlib.contextmanager
def paired_effects() -> Iterator[None]:
    """Give every augment_word_timed / augment_mix call of model.data.synth its own generator,
    seeded by exactly one draw of the example's stream, so the stream (words, positions,
    levels, background) no longer depends on which effects are on. In-process only."""
    word_fn, mix_fn = synth.augment_word_timed, synth.augment_mix

    def own(rng: np.random.Generator) -> np.random.Generator:
        """A generator of its own for one effect call, from one draw of ``rng``."""
        return np.random.default_rng(int(rng.integers(2 ** 63)))

    synth.augment_word_timed = lambda audio, rng, cfg: word_fn(audio, own(rng), cfg)
    synth.augment_mix = lambda audio, rng, cfg: mix_fn(audio, own(rng), cfg)
    try:
        yield
    finally:
        synth.augment_word_timed, synth.augment_mix = word_fn, mix_fn


@contextlib.contextmanager
def word_air(rel_db: float | None) -> Iterator[None]:
    """Add air (:func:`model.audio.effects.add_air`) to every word model.data.synth renders, at a fixed
    level (None: nothing changes)."""
    word_fn = synth.augment_word_timed

    def with_air(audio: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig):
        x, end = word_fn(audio, rng, cfg)  # seeded by the word's length: pairing is kept
        return add_air(x, rel_db, np.random.default_rng(x.size)), end

    if rel_db is not None:
        synth.augment_word_timed = with_air
    try:
        yield
    finally:
        synth.augment_word_timed = word_fn


def mix_and_score(models: list[tuple[Any, str]], model_path: Path, name: str, n: int, workers: int,
                  tmp: Path, paired: bool) -> tuple[DevScores, float, float]:
    """Mix condition ``name``'s dev split into ``tmp``, score it, delete it.

    Returns:
        (scores, mixing seconds, scoring seconds).
    """
    out, t0 = tmp / name.replace(" ", "_").replace("+", "_"), time.perf_counter()
    cfg = synth.SynthConfig(n_train=1, n_dev=n, augment=augment_for(name), **RECIPE)
    with paired_effects() if paired else contextlib.nullcontext(), word_air(AIR_DB.get(name)):
        # the features the model was trained on (its model.json), log power by default
        make_dataset(cfg, out, workers=1 if paired else workers,
                     feature_kind=read_model_card(model_path) or FEATURE_KIND_LOG)
    t1 = time.perf_counter()
    data = open_dev_split(out)
    check_feature_kind(read_model_card(model_path), data, model_path)
    probs = predict_ensemble(models, data.x_dev, data.meta.feature_kind)  # members too
    labels = np.asarray(data.y_dev, dtype=np.float32).reshape(probs.shape[0], -1)
    truth, _ = read_dev_truth(out, labels)
    scores = score_dev(probs, labels, truth)
    del data
    shutil.rmtree(out, ignore_errors=True)
    return scores, t1 - t0, time.perf_counter() - t1


def summarise(scores: DevScores, target: float = DEFAULT_TARGET_FA_PER_HOUR) -> dict[str, Any]:
    """The figures of one condition, read off its DET curve and operating point."""
    det = scores.det
    ths, miss, fa = (np.asarray(v, float) for v in (det.thresholds, det.miss_rate, det.fa_per_hour))
    row: dict[str, Any] = {"n_clips": scores.n_clips, "n_triggers": scores.n_triggers,
                           "hours": scores.hours, "at": {}}
    for t in REPORT_THRESHOLDS:
        i = int(np.argmin(np.abs(ths - t)))
        row["at"][f"{t:g}"] = {"threshold": float(ths[i]), "miss_rate": float(miss[i]),
                               "fa_per_hour": float(fa[i])}
    meets = bool((fa <= target).any())
    lowest = int(np.lexsort((miss, fa))[0])  # fewest false accepts, then fewest misses
    row["target_fa_per_hour"] = target
    row["meets_target"] = meets
    row["frr_at_target"] = scores.at_target.frr if meets else None
    row["threshold_at_target"] = scores.at_target.threshold if meets else None
    row["lowest_fa"] = {"threshold": float(ths[lowest]), "fa_per_hour": float(fa[lowest]),
                        "miss_rate": float(miss[lowest])}
    return row


def table(rows: dict[str, dict[str, Any]]) -> str:
    """A fixed-width text table of every condition."""
    head = (f"{'condition':<13}{'trig':>5} " + " ".join(f"{'miss@' + f'{t:g}':>9}"
            for t in REPORT_THRESHOLDS) + " " + " ".join(f"{'FA/h@' + f'{t:g}':>9}"
            for t in REPORT_THRESHOLDS) + f" {'dmiss@.99':>9}  FRR at 1 FA/h")
    clean = rows["clean"]["at"]["0.99"]["miss_rate"]
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        at = [r["at"][f"{t:g}"] for t in REPORT_THRESHOLDS]
        if r["meets_target"]:
            frr = f"{100 * r['frr_at_target']:.1f}% (thr {r['threshold_at_target']:g})"
        else:
            lo = r["lowest_fa"]
            frr = (f"none meets it; lowest {lo['fa_per_hour']:.1f}/h (thr {lo['threshold']:g}, "
                   f"miss {100 * lo['miss_rate']:.1f}%)")
        lines.append(f"{name:<13}{r['n_triggers']:>5} "
                     + " ".join(f"{100 * a['miss_rate']:>8.1f}%" for a in at) + " "
                     + " ".join(f"{a['fa_per_hour']:>9.1f}" for a in at)
                     + f" {100 * (at[2]['miss_rate'] - clean):>+8.1f}%  {frr}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Mix, score and report every condition; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pretrained", help="pretrained, a run ID or a .keras path")
    ap.add_argument("--n", type=int, default=300, help="dev clips per condition")
    ap.add_argument("--workers", type=int, default=2, help="mixing processes (--unpaired only)")
    ap.add_argument("--unpaired", action="store_true", help="mix exactly as make-data does")
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated subset")
    ap.add_argument("--json", default="", help="write results here")
    args = ap.parse_args(argv)
    names = [c.strip() for c in args.conditions.split(",") if c.strip()]
    names = ["clean"] + [c for c in names if c != "clean"]  # the reference comes first
    model_path = resolve_model_path(args.model)
    models = [(load_keras_model(m.path), m.feature_kind)
              for m in model_members(model_path, read_model_card(model_path))]
    rows, timing, t0 = {}, {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_robustness_") as tmp:
        for name in names:
            scores, mix_s, score_s = mix_and_score(models, model_path, name, args.n,
                                                   args.workers, Path(tmp), not args.unpaired)
            rows[name], timing[name] = summarise(scores), {"mix_s": mix_s, "score_s": score_s}
            print(f"{name}: mixed in {mix_s:.0f} s, scored in {score_s:.0f} s", flush=True)
    text = table(rows)
    total = time.perf_counter() - t0
    print(f"\nmodel {model_path}, {args.n} unseen-voice dev clips per condition, "
          f"{'unpaired' if args.unpaired else 'paired'} mixing, {total:.0f} s\n{text}")
    if args.json:
        out = {"invocation": invocation(__file__, args, argv),
               "model": str(model_path), "n_clips": args.n, "paired": not args.unpaired,
               "recipe": RECIPE, "conditions": {n: CONDITIONS[n] for n in names},
               "results": rows, "timing_s": timing, "total_s": total, "table": text}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
