"""Copy a trained run's model into bench/candidates/NAME.keras (or --out-dir) and write its card from
measured figures only: the dataset's meta.json (recipe, dev voices, mining passes), the
run's record in its store, a fresh evaluation on the dataset's dev split, and the yardstick
result named by --yardstick.

    .venv/bin/python scripts/candidate_card.py --name embed-head-mined --store RUNS.sqlite \
        --run RUN_ID --dataset DIR --recipe "python -m model make-data ..." \
        --differs "one line" --threshold 0.99 --threshold-note "why" \
        --yardstick bench/results/yardstick_embed_head_mined.txt
"""
from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEV_THRESHOLDS = (0.5, 0.9, 0.99)


def run_record(store: Path, run_id: str) -> tuple[dict, dict, str]:
    """(trial config, summary, model path) of one run in a store."""
    con = sqlite3.connect(store)
    row = con.execute("select config_json, summary_json, model_path from runs where id = ?",
                      (run_id,)).fetchone()
    if row is None:
        raise SystemExit(f"error: run {run_id} is not in {store}")
    return json.loads(row[0]), json.loads(row[1] or "{}"), row[2]


def dev_figures(model_path: Path, dataset: Path) -> dict:
    """Missed share and FA/h at fixed thresholds on the dataset's dev split."""
    import numpy as np

    from model.detect.evaluate import evaluate_model

    scores = evaluate_model(str(model_path), dataset).scores
    det = scores.det
    th = np.asarray(det.thresholds)
    out = {}
    for t in DEV_THRESHOLDS:
        i = int(np.argmin(abs(th - t)))
        out[str(t)] = {"missed": round(float(det.miss_rate[i]), 3),
                       "fa_per_hour": round(float(det.fa_per_hour[i]), 1)}
    return {"clips": scores.n_clips, "words": scores.n_triggers, "hours": round(scores.hours, 3),
            "at_threshold": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("--name", "--store", "--run", "--dataset", "--recipe", "--differs", "--yardstick",
                 "--threshold-note"):
        p.add_argument(name, required=True)
    p.add_argument("--threshold", type=float, required=True)
    p.add_argument("--out-dir", default=str(ROOT / "bench" / "candidates"),
                   help="where NAME.keras and NAME.json go (default bench/candidates; "
                        "model/pretrained for the shipped detector)")
    args = p.parse_args()
    from model.card import write_model_card
    from model.data.dataset import load_dataset

    config, summary, model_file = run_record(Path(args.store), args.run)
    meta = load_dataset(args.dataset, check_values=False).meta
    out = Path(args.out_dir) / f"{args.name}.keras"
    shutil.copyfile(model_file, out)
    write_model_card(out, meta.feature_kind)  # the kind first, then the full card over it
    card = {
        "feature_kind": meta.feature_kind, "threshold": args.threshold,
        "threshold_note": args.threshold_note, "word": meta.word, "differs": args.differs,
        "network": {"family": "head", **config.get("head", {})},
        "data": {"recipe_command": args.recipe, "seed": meta.seed, "n_train_used": meta.n_train,
                 "n_dev": meta.n_dev, "mined": meta.config.get("mined", []),
                 "synth_config": {k: v for k, v in meta.config.items() if k != "mined"},
                 "dev_voice_families_list": meta.dev_voices},
        "training": {"run": args.run, "precision": config.get("precision"),
                     "epochs": config.get("epochs"), "batch_size": config.get("batch_size"),
                     "learning_rate": config.get("learning_rate"),
                     "wall_seconds": round(summary.get("wall_seconds", 0.0), 1),
                     "machine": "2-core CPU, TensorFlow 2.21, Keras 3.15.1", "date": "2026-11-30"},
        "synthetic_dev": dev_figures(out, Path(args.dataset)),
        "yardstick": args.yardstick,
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {out} and {out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
