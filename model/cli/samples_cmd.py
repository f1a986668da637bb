"""``python -m model samples``: write a dataset's first clips as WAV with label times."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data.dataset import DEFAULT_DATASET_DIR, load_dataset
from ..data.synth import SynthConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=4, help="clips to write (default 4)")
    p.add_argument("--out", default="assets/samples", help="output folder (default assets/samples)")
    p.add_argument("--dataset", default=str(DEFAULT_DATASET_DIR),
                   help="reproduce this dataset's recipe (default XY_train; built-in recipe if absent)")


def run(args: argparse.Namespace) -> int:
    from ..data.samples import write_samples

    folder = Path(args.dataset)
    held: list[str] = []
    if (folder / "meta.json").is_file():
        from ..data.makedata import recipe_from_meta

        cfg, engines = recipe_from_meta(load_dataset(folder, check_values=False).meta)
        held = list(engines)
    else:
        cfg = SynthConfig()
    for clip in write_samples(cfg, args.out, args.count, dev_engines=held):
        ends = ", ".join(f"{t:.2f}" for t in clip.trigger_end_s) or "none"
        print(f"{Path(args.out) / clip.file}: '{cfg.word}' ends at [{ends}] s; "
              f"{len(clip.other_spans_s)} other words; background {clip.background}")
    return 0
