"""``python -m model mine-negatives``: grow a dataset by the negatives a model fires on."""
from __future__ import annotations

import argparse
import sys

from ..data.dataset import DEFAULT_DATASET_DIR


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="pretrained, a run ID or a .keras path (reads the dataset's features)")
    p.add_argument("--dataset", default=str(DEFAULT_DATASET_DIR),
                   help="dataset made by make-data; its recipe renders the pool (default XY_train)")
    p.add_argument("--pool", type=int, default=2000, help="negative-only clips to render and score "
                                                          "(default 2000)")
    p.add_argument("--keep", type=int, default=500,
                   help="at most this many of the highest-scoring clips are added (default 500)")
    p.add_argument("--min-peak", type=float, default=0.05,
                   help="clips whose peak probability stays below this are not added (default 0.05)")
    p.add_argument("--max-others", type=int, default=4,
                   help="other words per pool clip, uniform 0..N (default 4)")
    p.add_argument("--out", default="", help="write the grown dataset here (default: replace "
                                             "--dataset, atomically)")
    p.add_argument("--workers", type=int, default=None, help="mixing processes (default: cores)")
    p.add_argument("--cache-dir", default="", help="word-bank cache folder (default .cache/banks)")


def run(args: argparse.Namespace) -> int:
    from ..detect.mining import MiningConfig, mine_negatives

    cfg = MiningConfig(pool=args.pool, keep=args.keep, min_peak=args.min_peak,
                       max_others=args.max_others)
    last = {"stage": ""}

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last["stage"] or done == total:
            print(f"{stage}: {done}/{total}", file=sys.stderr)
            last["stage"] = stage

    rep = mine_negatives(args.dataset, args.model, cfg, out_dir=args.out or None,
                         workers=args.workers, progress=progress, cache_dir=args.cache_dir or None)
    print(f"{rep.out}: kept {rep.kept} of {rep.pool} negative clips (peak >= "
          f"{rep.kept_peak_min:.3f}); {rep.n_train} training examples now")
    print(f"pool: median peak {rep.pool_peak_median:.3f}, {100 * rep.pool_share_over_half:.1f}% "
          f"over 0.5; render {rep.render_seconds:.0f} s, score {rep.score_seconds:.0f} s")
    return 0
