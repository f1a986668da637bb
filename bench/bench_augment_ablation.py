"""Does training with each augmentation help on unseen voices? A small CPU ablation.

Run: .venv/bin/python bench/bench_augment_ablation.py [--n-train 1500] [--n-eval 300]
         [--epochs 6] [--lr 3e-3] [--dropout 0.3] [--variants all,none,...] [--extra-seeds 2]
         [--json bench/results/augment_ablation_cpu.json]

Mixes one fixed evaluation set once: the dev split (64 voice families training never
heard) of the pretraining recipe (seed 2026, cached word banks of .cache/banks/, no
text-to-speech) with the default AugmentConfig() channel mix. Then, per training variant
("all": AugmentConfig(); "none": AugmentConfig.off(); "-X": all but augmentation X), mixes
a training set of N clips with the same seed and clip indices (only the augmentation
config differs; "+SpecAugment" and "+cosine" train on the "all" data with
model.train.specaug.PRESET masks or a cosine learning rate; "fresh bg", "SNR -5..30" and "harder
mix" change the mixing as stage 3 of the shipped model did; "pcen" stores pcen-v1 features,
in its training set and in a copy of the evaluation set (same clips); effects draw from each clip's own
stream, so later draws of a clip shift too), trains the same small network with the same seed (model.train.trial.run_trial), deletes
the set, and scores the model on the evaluation set with the project's functions
(read_dev_truth, score_dev): dev loss, miss rate and false accepts per hour at 0.5 and 0.9,
and the lowest miss rate at FA/h <= 10 (300 clips are only 0.83 h). Optionally trains
every variant again with further seeds (same data) to show the seed-to-seed spread. Prints a table, writes
JSON; asserts nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_args import invocation  # noqa: E402  (bench/ is the script's folder)
from model.data.augment import AugmentConfig  # noqa: E402
from model.data.dataset import Dataset, load_dataset  # noqa: E402
from model.detect.dev_scores import read_dev_truth, score_dev  # noqa: E402
from model.detect.evaluate import predict_clips  # noqa: E402
from model.audio.features import FEATURE_KIND_LOG, FEATURE_KIND_PCEN  # noqa: E402
from model.data.makedata import make_dataset  # noqa: E402
from model.train.network import NetworkConfig  # noqa: E402
from model.train.specaug import PRESET as SPEC_PRESET  # noqa: E402
from model.data.synth import SynthConfig  # noqa: E402
from model.train.trial import binary_crossentropy, run_trial  # noqa: E402
from model.train.trial_config import TrialConfig  # noqa: E402

RECIPE = dict(seed=2026, neural_share=0.6, bank_trigger_clips=1200, bank_other_clips=1000)
THRESHOLDS = (0.5, 0.9)
FA_BUDGET = 10.0  # false accepts per hour
VARIANTS: dict[str, dict[str, float] | None] = {  # None: off(); else AugmentConfig() with these
    "all": {}, "none": None, "-speed": {"speed_prob": 0.0}, "-pitch": {"pitch_prob": 0.0},
    "-reverb": {"reverb_prob": 0.0}, "-bandlimit": {"bandlimit_prob": 0.0},
    "-mic EQ": {"mic_eq_prob": 0.0}, "-mix gain": {"mix_gain_prob": 0.0},
    "+SpecAugment": {}, "+cosine": {}, "fresh bg": {}, "SNR -5..30": {}, "harder mix": {},
    "pcen": {}}
# variants that change training, not the data: TrialConfig fields
TRAIN_SIDE: dict[str, dict[str, Any]] = {"+SpecAugment": {"spec_augment": SPEC_PRESET},
                                         "+cosine": {"lr_schedule": "cosine"}}
# variants that change the mixing, not the augmentation: SynthConfig fields (stage 3's mix)
MIX_SIDE: dict[str, dict[str, Any]] = {"fresh bg": {"background_pool": 0},
                                       "SNR -5..30": {"snr_db": (-5.0, 30.0)},
                                       "harder mix": {"background_pool": 0, "snr_db": (-5.0, 30.0)}}


# variants that change the features (training and evaluation sets alike)
FEATURE_SIDE: dict[str, str] = {"pcen": FEATURE_KIND_PCEN}


def describe(name: str) -> dict[str, Any]:
    """What variant ``name`` changes from "all", for the JSON."""
    out = dict(VARIANTS[name]) if VARIANTS[name] is not None else {"augment": "off"}
    out.update({k: str(v) for k, v in TRAIN_SIDE.get(name, {}).items()})
    out.update({k: list(v) if isinstance(v, tuple) else v for k, v in MIX_SIDE.get(name, {}).items()})
    if name in FEATURE_SIDE:
        out["features"] = FEATURE_SIDE[name]
    return out


def augment_for(name: str) -> AugmentConfig:
    """The training AugmentConfig of variant ``name`` (see :data:`VARIANTS`)."""
    changes = VARIANTS[name]
    return AugmentConfig.off() if changes is None else dataclasses.replace(AugmentConfig(), **changes)


def mix(out: Path, n_train: int, n_dev: int, augment: AugmentConfig, workers: int,
        feature_kind: str = FEATURE_KIND_LOG, **synth: Any) -> float:
    """Mix a dataset folder with the recipe's seed and banks (``synth``: SynthConfig changes);
    returns seconds taken."""
    t0 = time.perf_counter()
    make_dataset(SynthConfig(n_train=n_train, n_dev=n_dev, augment=augment, **RECIPE, **synth), out,
                 workers=workers, feature_kind=feature_kind)
    return time.perf_counter() - t0


def train(train_dir: Path, evalset: Dataset, trial: TrialConfig, run_dir: Path) -> tuple[Any, list]:
    """Train on ``train_dir``'s training split; returns (loaded model, per-epoch records)."""
    import keras

    data = load_dataset(train_dir, check_values=False)
    data = dataclasses.replace(data, x_dev=evalset.x_dev, y_dev=evalset.y_dev)
    events: list = []
    kind = run_trial(dataclasses.replace(trial, dataset=str(train_dir)), run_dir.name, run_dir,
                     events.append, data=data)
    if kind != "finished":
        raise RuntimeError(f"training {run_dir.name} ended {kind}: {events[-1].message}")
    epochs = [e.epoch for e in events if e.kind == "epoch"]
    return keras.saving.load_model(run_dir / "model.keras", compile=False), epochs


def score(model: Any, evalset: Dataset, truth: Any) -> dict[str, Any]:
    """Dev loss, miss/FA at THRESHOLDS and the lowest miss at FA/h <= FA_BUDGET."""
    probs = predict_clips(model, evalset.x_dev)
    labels = np.asarray(evalset.y_dev, dtype=np.float32).reshape(probs.shape[0], -1)
    det = score_dev(probs, labels, truth).det
    ths, miss, fa = (np.asarray(v, float) for v in (det.thresholds, det.miss_rate, det.fa_per_hour))
    row: dict[str, Any] = {"dev_loss": binary_crossentropy(probs, labels), "at": {}}
    for t in THRESHOLDS:
        i = int(np.argmin(np.abs(ths - t)))
        row["at"][f"{t:g}"] = {"miss_rate": float(miss[i]), "fa_per_hour": float(fa[i])}
    ok = fa <= FA_BUDGET
    best = int(np.flatnonzero(ok)[np.argmin(miss[ok])]) if ok.any() else None
    row["budget"] = None if best is None else {"miss_rate": float(miss[best]),
                                               "threshold": float(ths[best]),
                                               "fa_per_hour": float(fa[best])}
    return row


def table(rows: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table of every variant, with differences from "all" in points."""
    head = (f"{'variant':<12}{'dev loss':>9}" + "".join(f"{'miss@' + f'{t:g}':>9}{'FA/h@' + f'{t:g}':>9}"
            for t in THRESHOLDS) + f"{'miss@FA<=10':>12}{'d loss':>8}{'d miss@.5':>10}"
            f"{'d miss@.9':>10}{'d m@FA10':>9}")
    ref, lines = rows.get("all"), [head, "-" * len(head)]
    for name, r in rows.items():
        cells = "".join(f"{100 * r['at'][f'{t:g}']['miss_rate']:>8.1f}%"
                        f"{r['at'][f'{t:g}']['fa_per_hour']:>9.1f}" for t in THRESHOLDS)
        bud = r["budget"]
        line = f"{name:<12}{r['dev_loss']:>9.4f}{cells}" + (
            f"{100 * bud['miss_rate']:>11.1f}%" if bud else f"{'n/a':>12}")
        if ref is not None and name != "all":
            d = [100 * (r["at"][f"{t:g}"]["miss_rate"] - ref["at"][f"{t:g}"]["miss_rate"])
                 for t in THRESHOLDS]
            db = (f"{100 * (bud['miss_rate'] - ref['budget']['miss_rate']):>+9.1f}"
                  if bud and ref["budget"] else f"{'n/a':>9}")
            line += f"{r['dev_loss'] - ref['dev_loss']:>+8.4f}{d[0]:>+10.1f}{d[1]:>+10.1f}{db}"
        lines.append(line)
    return "\n".join(lines)


def mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed mean of score rows (budget: mean over the seeds that reached it)."""
    buds = [r["budget"] for r in rows if r["budget"]]
    return {"dev_loss": float(np.mean([r["dev_loss"] for r in rows])),
            "at": {t: {k: float(np.mean([r["at"][t][k] for r in rows]))
                       for k in ("miss_rate", "fa_per_hour")} for t in rows[0]["at"]},
            "budget": {"miss_rate": float(np.mean([b["miss_rate"] for b in buds]))} if buds else None}


def eval_set(ctx: dict[str, Any], kind: str, args: Any) -> tuple[Dataset, Any]:
    """The fixed evaluation set in features ``kind`` (mixed on first use), and its truth."""
    if kind not in ctx["evals"]:
        folder = ctx["tmp"] / f"eval-{kind}"
        eval_s = mix(folder, 1, args.n_eval, AugmentConfig(), args.workers, kind)
        evalset = load_dataset(folder, check_values=False)
        labels = np.asarray(evalset.y_dev, dtype=np.float32).reshape(evalset.n_dev, -1)
        ctx["evals"][kind] = (evalset, read_dev_truth(folder, labels)[0])
        ctx.setdefault("eval_mix_s", eval_s)
        print(f"evaluation set ({kind}): {args.n_eval} clips mixed in {eval_s:.0f} s", flush=True)
    return ctx["evals"][kind]


def run_variant(name: str, seeds: list[int], args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """Mix variant ``name``'s training set, train and score one model per seed, delete it."""
    tmp, results = ctx["tmp"], {}
    train_dir = tmp / "train"
    kind = FEATURE_SIDE.get(name, FEATURE_KIND_LOG)
    mix_s = mix(train_dir, args.n_train, 1, augment_for(name), args.workers, kind,
                **MIX_SIDE.get(name, {}))
    trial = dataclasses.replace(ctx["trial"], **TRAIN_SIDE.get(name, {}))
    evalset, truth = eval_set(ctx, kind, args)
    for seed in seeds:
        t0 = time.perf_counter()
        model, epochs = train(train_dir, evalset, dataclasses.replace(trial, seed=seed),
                              tmp / f"run-{seed}")
        train_s = time.perf_counter() - t0
        row = score(model, evalset, truth)
        if args.keep_models:
            keep = Path(args.keep_models) / f"{name.replace(' ', '_')}-s{seed}"
            keep.mkdir(parents=True, exist_ok=True)
            for part in ("model.keras", "model.json"):
                shutil.copy2(tmp / f"run-{seed}" / part, keep / part)
        row.update(mix_s=mix_s, train_s=train_s, seed=seed,
                   train_loss=[e.train_loss for e in epochs])
        results[seed] = row
        shutil.rmtree(tmp / f"run-{seed}", ignore_errors=True)
        print(f"{name} seed {seed}: mixed {mix_s:.0f} s, trained {train_s:.0f} s, dev loss "
              f"{row['dev_loss']:.4f}, miss@0.5 {100 * row['at']['0.5']['miss_rate']:.1f}%",
              flush=True)
    shutil.rmtree(train_dir, ignore_errors=True)
    return results


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=1500, help="training clips per variant")
    ap.add_argument("--n-eval", type=int, default=300, help="unseen-voice evaluation clips")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    ap.add_argument("--seed", type=int, default=0, help="training seed (weights, dropout, order)")
    ap.add_argument("--extra-seeds", type=int, default=0,
                    help="train every variant with this many more seeds (on the same data)")
    ap.add_argument("--filters", type=int, default=64)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=2, help="mixing processes")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    ap.add_argument("--json", default="", help="write results here")
    ap.add_argument("--keep-models", default="", help="copy each trained model into DIR/<variant>-s<seed>/")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Mix the evaluation set, run every variant, print the table, write the JSON."""
    args, t0 = parse(argv), time.perf_counter()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    net = NetworkConfig(conv_filters=args.filters, gru_units=args.units, dropout=args.dropout)
    trial = TrialConfig(batch_size=args.batch, epochs=args.epochs, learning_rate=args.lr,
                        seed=args.seed, dev_examples=args.batch, tensorboard=False, network=net)
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_ablation_") as tmp:
        ctx = {"tmp": Path(tmp), "evals": {}, "trial": trial}
        for name in names:
            extra = list(range(args.seed + 1, args.seed + 1 + args.extra_seeds))
            runs[name] = run_variant(name, [args.seed] + extra, args, ctx)
    rows = {n: r[args.seed] for n, r in runs.items()}
    text, total = table(rows), time.perf_counter() - t0
    means = {n: mean_row(list(r.values())) for n, r in runs.items() if len(r) > 1}
    if len(means) > 1:
        text += "\n\nmeans over seeds (same data, same seeds):\n" + table(means)
    for name in names:
        spread = runs.get(name, {})
        if len(spread) > 1:
            text += f"\n\nseed spread of '{name}':\n" + table(
                {f"{name[:8]} s{s}": r for s, r in spread.items()})
    print(f"\nN={args.n_train} train clips, M={args.n_eval} eval clips, {args.epochs} epochs, "
          f"{total:.0f} s\n{text}")
    if args.json:
        out = {"invocation": invocation(__file__, args, argv), "args": vars(args),
               "recipe": RECIPE, "network": dataclasses.asdict(net),
               "variants": {n: describe(n) for n in names}, "eval_mix_s": ctx.get("eval_mix_s"),
               "results": {n: {str(s): r for s, r in rr.items()} for n, rr in runs.items()},
               "total_s": total, "table": text}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
