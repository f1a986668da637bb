"""``python -m model evaluate``: a model's quality on a dataset's dev split (unseen voices).

Writes ``<out>/report.json`` (:class:`model.detect.evaluate.EvalReport`) and ``<out>/det.png``
(the DET curve); ``<out>`` defaults to ``<model file without .keras>.eval/`` beside the
model (``runs/<id>/model.eval/``, ``model/pretrained/activate.eval/``). Prints a short
summary, or the report as one JSON object with ``--json``. Bad input (unknown model, a
dataset without a dev split, features that do not match) is one ``error:`` line, exit 2.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

from ..detect.timing import kind_timing, timing_label
from ..errors import LabError
from ..train.metrics import DEFAULT_TARGET_FA_PER_HOUR

if importlib.util.find_spec("matplotlib") is None:  # fail at registration, like other commands
    raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the evaluate command's options."""
    parser.add_argument("--model", default="pretrained",
                        help="RUN_ID, 'pretrained' or a .keras file path (default: pretrained)")
    parser.add_argument("--dataset", default=None,
                        help="dataset folder with a dev split (default: a run's own training "
                             "set, else XY_train)")
    parser.add_argument("--out", default=None,
                        help="folder for report.json and det.png (default: "
                             "<model file>.eval/ beside the model)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="threshold for latency and false accepts on negatives "
                             "(default: the one reaching the false-accept budget)")
    parser.add_argument("--target-fa-per-hour", type=float, default=DEFAULT_TARGET_FA_PER_HOUR,
                        help="false-accept budget for the FRR, per hour (1)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per predict call (16)")
    parser.add_argument("--store", default=None, help="run store database for RUN_IDs")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the report and the plot, print; LabError propagates (exit 2)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from ..detect.det_plot import det_curve_png
    from ..detect.evaluate import PLOT_FILE, default_out_dir, evaluate_model, write_report

    if args.batch_size < 1:
        raise LabError(f"batch size must be at least 1, got {args.batch_size}")
    if args.target_fa_per_hour <= 0:
        raise LabError(f"the false-accept budget must be positive, got {args.target_fa_per_hour}")
    report = evaluate_model(args.model, args.dataset, args.threshold, args.target_fa_per_hour,
                            args.store, args.batch_size)
    out = Path(args.out) if args.out else default_out_dir(report.model_path)
    try:
        report_path = write_report(report, out)
        plot_path = det_curve_png(report, out / PLOT_FILE)
    except OSError as err:
        raise LabError(f"cannot write the report to {out}: {err.strerror or err}") from None
    if args.json:
        print(json.dumps(report.to_dict()), flush=True)
    else:
        print(summary_text(report, report_path, plot_path), flush=True)
    return 0


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _steps_note(kind: str) -> str:
    """", steps of 80 ms": the step length latency is measured in ("" for an unknown kind)."""
    try:
        return f", steps of {timing_label(kind_timing(kind))}"
    except LabError:
        return ""


def summary_text(report, report_path: Path | None = None, plot_path: Path | None = None) -> str:
    """A few human-readable lines: FRR at the budget, threshold, latency, negatives, counts."""
    s = report.scores
    at, lat, neg = s.at_target, s.latency, s.negatives
    frr = "n/a (no trigger words)" if at.frr is None else f"{at.frr:.1%}"
    which = "given" if s.threshold_given else (
        "at the budget" if at.n_found else "no threshold meets the budget: fewest false accepts")
    voices = f"{len(report.dev_voices)} unseen voice families" if report.dev_voices else \
        "voices not recorded"
    members = f" with members {', '.join(report.members)} (mean probability)" \
        if report.members else ""
    steps = _steps_note(report.feature_kind)
    lines = [
        f"model {report.model}{members} on {report.dataset} (dev split, {voices}; "
        f"{report.word!r}, {report.feature_kind})",
        f"  {s.n_clips} clips, {s.n_triggers} trigger words, {s.hours:.3f} h of audio",
        f"  FRR at {at.target_fa_per_hour:g} FA/h: {frr} (threshold {at.threshold:.8g}, "
        f"{at.fa_per_hour:.2f} FA/h, {at.n_found}/{at.n_triggers} found)",
        f"  threshold used ({which}): {s.threshold:.8g}, {s.n_found} words found",
        f"  latency from word end: median {_ms(lat.median_ms)}, p95 {_ms(lat.p95_ms)} "
        f"({lat.n} words{steps})",
    ]
    if neg.fa_per_hour is None:
        lines.append("  false accepts on clips without the word: none such clips in the dev split")
    else:
        lines.append(f"  false accepts on clips without the word: {neg.fa_per_hour:.2f}/h "
                     f"({neg.n_false_accepts} in {neg.hours:.3f} h, {neg.n_clips} clips)")
    if s.conditions:
        lines.append(f"  where it misses at {s.threshold:.8g} (condition: words missed, false "
                     "accepts):")
        # the worst families with enough words to say something (all are in the report)
        families = [r for r in s.conditions if r.group == "voice family" and r.n_words >= 10]
        for r in [r for r in s.conditions if r.group != "voice family"] + families[:5]:
            missed = "n/a" if r.miss_rate is None else f"{r.miss_rate:.1%}"
            fa = f", {r.n_false_accepts} in {r.n_clips} clips" if r.n_clips else ""
            lines.append(f"    {r.group} {r.value}: {missed} of {r.n_words}{fa}")
        n_fam = sum(r.group == "voice family" for r in s.conditions)
        if n_fam > min(5, len(families)):
            lines.append(f"    ({min(5, len(families))} of {n_fam} voice families shown: the "
                         "worst with at least 10 words; all are in the report)")
    lines += [f"  note: {note}" for note in report.notes]
    lines += [f"  {name}: {path}" for name, path in (("report", report_path),
                                                     ("DET plot", plot_path)) if path]
    return "\n".join(lines)
