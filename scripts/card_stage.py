"""Add a training stage and a fresh evaluation to the shipped model's card (activate.json).

The shipped detector is trained in stages (from scratch, then fine-tuned from the previous
file with ``--init pretrained`` on a larger mix). Each stage's run lives in the SQLite
store the stage wrote on the GPU machine; this script copies that run's trial config,
device record, summary and epochs into the card's ``stages`` list, updates the data
recipe, and replaces the evaluation block with the figures of ``python -m model evaluate``
(report.json), so no number in the card is typed by hand.

    python scripts/card_stage.py --store STAGE.sqlite --script "scripts/pretrain.sh ..." \
        --examples 32000 --report model/pretrained/activate.eval/report.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CARD = ROOT / "model" / "pretrained" / "activate.json"
RECIPE_ARGS = "--seed 2026 --neural-share 0.6 --bank-trigger-clips 1200 --bank-other-clips 1000"
RECIPE = "python -m model make-data " + RECIPE_ARGS + "{mix} --examples {n} --dev-examples 1000"
# the fixed evaluation set: the recipe's default mixing, whatever a stage's training mix was
DEV_COMMAND = ("python -m model make-data " + RECIPE_ARGS + " --examples 16 --dev-examples {n}"
               "{features} --out DEV")
DET_THRESHOLDS = (0.5, 0.9, 0.99, 0.999, 0.9999)


def detection_rule() -> str:
    """The dev metric's detection rule in one line, from :mod:`model.train.metrics`' constants."""
    from model.audio.features import STEP_SECONDS
    from model.train.metrics import DEFAULT_REFRACTORY_STEPS as hold, EARLY_TOLERANCE_STEPS as early
    return (f"episodes at or above the threshold; a new detection needs {hold} steps "
            f"({hold * STEP_SECONDS:.2f} s) since the previous detection's start; a word is found "
            f"by a detection starting in its label window or up to {early} steps "
            f"({early * STEP_SECONDS:.2f} s) before it")


def stage_from_store(store_path: Path, script: str, note: str) -> dict:
    """The single finished run of a stage's store, as a card stage."""
    from model.runs.store import RunStore
    store = RunStore(store_path)
    runs = [r for c in store.comparisons() for r in store.runs(c.id) if r.status == "finished"]
    if len(runs) != 1:
        raise SystemExit(f"{store_path}: expected one finished run, found {len(runs)}")
    run = runs[0]
    return {"script": script, "note": note, "run_id": run.id,
            "trial_config": run.config.to_dict(), "device": run.device.to_dict(),
            "summary": run.summary.to_dict(),
            "epochs": [{"epoch": e.epoch, "train_loss": e.train_loss, "dev_loss": e.dev_loss,
                        "epoch_seconds": e.epoch_seconds} for e in store.epochs(run.id)]}


def synth_config_for(mix: str, n_train: int) -> dict:
    """The SynthConfig make-data records for the recipe plus ``mix`` (its extra options)."""
    import argparse
    import shlex

    from model.cli import data_cmd
    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    args = parser.parse_args(shlex.split(RECIPE_ARGS) + shlex.split(mix)
                             + ["--examples", str(n_train), "--dev-examples", "1000"])
    return data_cmd.config_from_args(args).to_dict()


def det_point(det: dict, threshold: float) -> dict:
    """The DET curve's point at (the grid threshold nearest to) ``threshold``."""
    i = min(range(len(det["thresholds"])), key=lambda k: abs(det["thresholds"][k] - threshold))
    return {"threshold": det["thresholds"][i], "miss_rate": round(det["miss_rate"][i], 4),
            "fa_per_hour": round(det["fa_per_hour"][i], 2)}


def evaluation_block(report: dict, report_path: str) -> dict:
    """The card's evaluation section from an evaluate report."""
    s = report["scores"]
    points = [det_point(s["det"], t) for t in DET_THRESHOLDS]
    fas = s["det"]["fa_per_hour"]
    floor = min(fas)
    at = s["at_target"]
    reached = at["n_found"] > 0
    out = {"command": "python -m model evaluate --model pretrained --dataset DEV",
           "dev_set_command": DEV_COMMAND.format(
               n=s["n_clips"], features="" if report["feature_kind"] == "log-power-v1"
               else f" --features {report['feature_kind']}"),
           "dev_clips": s["n_clips"], "dev_trigger_words": s["n_triggers"],
           "dev_hours": round(s["hours"], 3),
           "frr_at_1_fa_per_hour": round(at["frr"], 4) if reached else None,
           "det_points": points,
           f"latency_ms_at_{s['threshold']}": {"median": round(s["latency"]["median_ms"], 1),
                                               "p95": round(s["latency"]["p95_ms"], 1)},
           "trigger_free_clips": s["negatives"], "detection_rule": detection_rule(),
           "report": report_path,
           "det_plot": str(Path(report_path).with_name("det.png"))}
    if not reached:
        out["frr_at_1_fa_per_hour_note"] = (
            f"no threshold on the grid reaches {at['target_fa_per_hour']:g} FA/h: the fewest is "
            f"{floor:.2f} FA/h ({round(floor * s['hours'])} false accepts in {s['hours']:.2f} h)")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", help="the stage's SQLite run store (left out: only the evaluation "
                   "and threshold are refreshed, e.g. after a change of the detection rule)")
    p.add_argument("--script", help="the command that ran the stage")
    p.add_argument("--note", default="", help="why this stage (one line)")
    p.add_argument("--examples", type=int, help="training clips of the stage's mix")
    p.add_argument("--mix", default="", help="the stage's extra make-data options (PRETRAIN_MIX)")
    p.add_argument("--report", required=True, help="evaluate's report.json for the new model")
    p.add_argument("--threshold", type=float, default=0.99, help="recommended threshold")
    p.add_argument("--member", help="the stage trained this member file (beside the card's "
                   "model): its stage goes to the member's own card, and the card lists it")
    p.add_argument("--card", default=str(CARD))
    args = p.parse_args(argv)
    if args.store and (not args.script or not args.examples):
        p.error("a stage needs --script and --examples")
    card = json.loads(Path(args.card).read_text())
    if args.store and args.member:
        add_member_stage(card, Path(args.card).with_name(args.member), args)
    elif args.store:
        add_stage(card, args)
    report = json.loads(Path(args.report).read_text())
    card["evaluation"] = evaluation_block(report, os.path.relpath(args.report, ROOT))
    set_threshold(card, report, args.threshold)
    write_json(Path(args.card), card)
    print(json.dumps(card["evaluation"], indent=1))
    return 0


def write_json(path: Path, card: dict) -> None:
    """Write a card atomically (temporary file, then rename)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    tmp.replace(path)


def add_member_stage(card: dict, member: Path, args: argparse.Namespace) -> None:
    """Record the stage in the member's own card (kept beside it) and list the member."""
    from model.card import model_card_path

    if not member.is_file() or member.suffix != ".keras":
        raise SystemExit(f"{member}: no such .keras member beside the card")
    path = model_card_path(member)
    own = json.loads(path.read_text()) if path.is_file() else {}
    own.setdefault("data", {})
    add_stage(own, args)
    own["role"] = f"member of {Path(args.card).with_suffix('.keras').name}'s ensemble"
    write_json(path, own)
    if member.name not in card.setdefault("members", []):
        card["members"].append(member.name)


def add_stage(card: dict, args: argparse.Namespace) -> None:
    """Append the stage's run and set the data recipe to the stage's mix."""
    if "training" in card:  # cards before staged training held one "training" block
        card["stages"] = [card.pop("training")]
    card.setdefault("stages", [])
    card["stages"].append(stage_from_store(Path(args.store), args.script, args.note))
    card["data"]["recipe_command"] = RECIPE.format(n=args.examples,
                                                   mix=f" {args.mix}" if args.mix else "")
    card["data"]["n_train"] = args.examples
    card["data"]["synth_config"] = {**card["data"].get("synth_config", {}),
                                    **synth_config_for(args.mix, args.examples)}


def set_threshold(card: dict, report: dict, threshold: float) -> None:
    """The recommended threshold, its one-line note and whether the synthetic goal is met."""
    pt = det_point(report["scores"]["det"], threshold)
    low = det_point(report["scores"]["det"], 0.5)
    card["threshold"] = threshold
    card["threshold_note"] = (
        f"recommended detection threshold: {pt['miss_rate']:.1%} missed at {pt['fa_per_hour']:.1f} "
        f"false accepts/h on unseen synthetic voices (0.5: {low['miss_rate']:.1%} at "
        f"{low['fa_per_hour']:.1f}/h)")
    frr = card["evaluation"]["frr_at_1_fa_per_hour"]
    goal = card.setdefault("goal", {"frr_at_1_fa_per_hour_max": 0.05})
    goal["met"] = frr is not None and frr <= goal["frr_at_1_fa_per_hour_max"]


if __name__ == "__main__":
    sys.exit(main())
