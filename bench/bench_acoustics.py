"""What real acoustics cost make-data: examples/s with and without rooms and real backgrounds.

Runs ``python -m model make-data`` in a fresh process per run for each recipe (the default,
``--rir-prob 0.5``, ``--ambience-share 0.5``, both), median of ``--repeats`` runs, and times
the pieces in this process: one word through augment_word_timed with a room response against
the synthetic reverb, one 10 s background per kind, and the one-off build of the simulated
room pool (cached in .cache/acoustics afterwards, so make-data runs only read it).

    .venv/bin/python bench/bench_acoustics.py [--examples 100] [--repeats 3] [--workers 2]

Needs the files of ``bash scripts/fetch_acoustics.sh``. Word banks come from .cache/banks
(built by the first run if missing: run the bench twice for steady figures).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_args import invocation  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RECIPES = {  # name -> extra make-data words
    "default": [],
    "rir 0.5": ["--rir-prob", "0.5"],
    "ambience 0.5": ["--ambience-share", "0.5"],
    "rir 0.5 + ambience 0.5": ["--rir-prob", "0.5", "--ambience-share", "0.5"],
}


def run_once(n: int, workers: int, extra: list[str]) -> float:
    """One make-data run in a fresh process; returns its mixing examples/s."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "model", "make-data", "--examples", str(n), "--out", f"{tmp}/XY",
               "--workers", str(workers), *extra]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"\(([\d.]+) examples/s\)", out).group(1))


def _median_ms(fn, repeats: int = 7) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def piece_timings() -> dict[str, float]:
    """Milliseconds per word (room vs synthetic reverb), per background kind, pool build."""
    from model.data import acoustics
    from model.data.augment import AugmentConfig, augment_word_timed
    from model.data.backgrounds import KINDS, MIXTURE, BackgroundConfig, make_background

    word = np.random.default_rng(0).standard_normal(30000).astype(np.float32) * 0.1  # 0.68 s
    off = AugmentConfig.off()
    cfgs = {"word, synthetic reverb": AugmentConfig(**{**vars(off), "reverb_prob": 1.0}),
            "word, measured room": AugmentConfig(**{**vars(off), "rir_prob": 1.0, "rir_measured_share": 1.0}),
            "word, simulated room": AugmentConfig(**{**vars(off), "rir_prob": 1.0, "rir_measured_share": 0.0})}
    acoustics.simulated_rirs.cache_clear()
    with tempfile.TemporaryDirectory() as tmp:  # a cold pool build, away from the real cache
        c = cfgs["word, simulated room"]
        t0 = time.perf_counter()
        acoustics.simulated_rirs(c.rir_sim_rooms, c.rir_sim_seed, c.rir_sim_rt60_s, c.rir_sim_size_m,
                                 c.rir_sim_height_m, c.rir_sim_distance_m, c.rir_sim_max_order, tmp)
        out = {"simulated pool build (96 rooms, cold)": 1e3 * (time.perf_counter() - t0)}
    for name, cfg in cfgs.items():
        augment_word_timed(word, np.random.default_rng(0), cfg)  # loads the pools once
        out[name] = _median_ms(lambda i, cfg=cfg: augment_word_timed(word, np.random.default_rng(i), cfg))
    for kind in KINDS:
        if kind == MIXTURE:
            continue
        cfg = BackgroundConfig(**{f"weight_{k}": float(k == kind) for k in KINDS})
        clips = [word]
        make_background(np.random.default_rng(0), cfg=cfg, babble_clips=clips)  # loads recordings once
        out[f"background {kind}"] = _median_ms(
            lambda i, cfg=cfg: make_background(np.random.default_rng(i), cfg=cfg, babble_clips=clips))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args(argv)
    pieces = piece_timings()
    for name, ms in pieces.items():
        print(f"{name:40s} {ms:8.1f} ms", flush=True)
    recipes = {}
    for name, extra in RECIPES.items():
        rates = [run_once(args.examples, args.workers, extra) for _ in range(args.repeats)]
        recipes[name] = {"mix_ex_per_s_median": statistics.median(rates), "runs": rates}
        print(f"make-data {name:24s} mixing {statistics.median(rates):5.1f} ex/s "
              f"(median of {len(rates)}: {', '.join(f'{r:.1f}' for r in rates)})", flush=True)
    if args.json:
        out = {"invocation": invocation(__file__, args, argv), "pieces_ms": pieces, "recipes": recipes}
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
