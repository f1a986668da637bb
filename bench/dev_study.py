"""Detection rules and ensembles on saved dev probabilities, with a held-out half.

Reads .npz files written by ``bench/dev_probs.py`` (the same dev clips, one file per model),
and for each model alone and for the mean of all of them prints the false-reject rate at
1 false accept per hour:

* with the detection rule of :mod:`model.train.metrics` (hold-off from the last detection's
  start) and with the rule used before commit 1463dee (2026-11-29) (hold-off from the end of the last
  episode);
* on all clips (the threshold chosen on them), and honestly: the threshold chosen on the
  first half of the clips, the figure read on the second half.

Thresholds: a grid finer than evaluate's near 1 (1 - 10^-k down to 10^-7), because some
networks put their false accepts at probabilities that round to 1 in float32.

    python bench/dev_study.py A/dev_probs.npz B/dev_probs.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.detect.dev_scores import DET_THRESHOLDS  # noqa: E402
from model.audio.features import CLIP_SECONDS  # noqa: E402
from model.train.metrics import (DEFAULT_REFRACTORY_STEPS, detection_groups, episodes,  # noqa: E402
                           match_detections)

THRESHOLDS = np.unique(np.concatenate([DET_THRESHOLDS, 1.0 - np.logspace(-7, -1, 31)]))


def old_rule_groups(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    hold_steps: int) -> np.ndarray:
    """The rule before commit 1463dee (2026-11-29): episodes less than ``hold_steps`` after the previous
    episode's end merge into its detection."""
    first = np.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] > 1:
        first[1:] = (rows[1:] != rows[:-1]) | (starts[1:] - ends[:-1] >= hold_steps)
    return first


def sweep(probs: np.ndarray, labels: np.ndarray, old_rule: bool) -> list[tuple[float, float, float]]:
    """(threshold, miss rate, false accepts per hour) at every threshold."""
    hours = probs.shape[0] * CLIP_SECONDS / 3600.0
    out = []
    for t in THRESHOLDS:
        rows, starts, ends = episodes(probs, float(t))
        keep = (old_rule_groups(rows, starts, ends, DEFAULT_REFRACTORY_STEPS) if old_rule
                else detection_groups(rows, starts, DEFAULT_REFRACTORY_STEPS))
        _, w_starts, _, first, inside = match_detections(rows[keep], starts[keep], labels)
        miss = 1.0 - (first >= 0).sum() / max(w_starts.size, 1)
        out.append((float(t), float(miss), float((~inside).sum() / hours)))
    return out


def best(points: list[tuple[float, float, float]], budget: float = 1.0):
    """The lowest miss rate within the budget (ties: the higher threshold); None if none."""
    ok = [p for p in points if p[2] <= budget]
    return min(ok, key=lambda p: (p[1], -p[0])) if ok else None


def report(name: str, probs: np.ndarray, labels: np.ndarray, old_rule: bool) -> str:
    """One line: all clips, and chosen on the first half / read on the second."""
    half = probs.shape[0] // 2
    every = best(sweep(probs, labels, old_rule))
    tune = best(sweep(probs[:half], labels[:half], old_rule))
    text = f"{name:28s} {'old' if old_rule else 'new'} rule  "
    text += (f"all: {every[1]:6.2%} at {every[2]:.2f}/h (thr {every[0]:.7f})" if every
             else "all: no threshold reaches 1 FA/h")
    if tune:
        test = [p for p in sweep(probs[half:], labels[half:], old_rule) if p[0] == tune[0]][0]
        text += f" | thr {tune[0]:.7f} from half 1 -> half 2: {test[1]:6.2%} at {test[2]:.2f}/h"
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("probs", nargs="+", help="dev_probs.npz files of the same dev clips")
    args = p.parse_args(argv)
    loaded = [np.load(f) for f in args.probs]
    labels = loaded[0]["labels"]
    if any(not np.array_equal(d["labels"], labels) for d in loaded[1:]):
        raise SystemExit("the files hold different dev clips (labels differ)")
    models = [(str(Path(f).parent.name), d["probs"]) for f, d in zip(args.probs, loaded)]
    if len(models) > 1:
        models.append(("mean of all", np.mean([m for _, m in models], axis=0)))
    print(f"{labels.shape[0]} clips, {labels.shape[0] * CLIP_SECONDS / 3600:.2f} h")
    for name, probs in models:
        for old in (True, False):
            print(report(name, probs, labels, old), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
