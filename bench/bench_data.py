"""make-data throughput and peak memory on this machine.

Runs ``python -m model make-data`` in a fresh process for each size (default 500 and
2000 examples), samples the RSS of the whole process tree (main + mixing workers)
every 0.1 s, and prints examples/s for the voice bank and the mixing stage apart,
since the bank is cached between runs with the same settings.

    .venv/bin/python bench/bench_data.py [--sizes 500 2000] [--repeats 3] [--workers 2]

Goal (issue 2): mixing >= 40 examples/s on 2 cores; peak RSS < 1 GB and flat in N.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_args import invocation  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent


def _tree_rss_bytes(pid: int) -> tuple[int, int]:
    """(RSS of pid, RSS of pid plus all its descendants) from /proc, bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return rss.get(pid, 0), total


def run_once(n: int, workers: int, cache: Path, seed: int) -> dict:
    """One make-data run; returns timings parsed from its summary line and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "model", "make-data", "--examples", str(n), "--seed", str(seed),
               "--out", f"{tmp}/XY", "--workers", str(workers), "--cache-dir", str(cache)]
        env = dict(os.environ)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)
        peak_main = peak_tree = 0
        while proc.poll() is None:
            main, tree = _tree_rss_bytes(proc.pid)
            peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
            time.sleep(0.1)
        out = proc.stdout.read()
        if proc.returncode != 0:
            raise SystemExit(f"make-data failed ({proc.returncode}): {out}")
    m = re.search(r"voices ([\d.]+) s, mixing ([\d.]+) s", out)
    bank_s, mix_s = float(m.group(1)), float(m.group(2))
    total = n + max(1, n // 10)
    return {"examples": total, "bank_s": bank_s, "mix_s": mix_s, "mix_ex_per_s": total / mix_s,
            "total_ex_per_s": total / (bank_s + mix_s), "peak_rss_main_mb": peak_main / 1e6,
            "peak_rss_tree_mb": peak_tree / 1e6}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as cache_dir:
        for n in args.sizes:
            runs = [run_once(n, args.workers, Path(cache_dir), seed=0) for _ in range(args.repeats)]
            cold = runs[0]["bank_s"]  # the first run builds the bank, later ones load it
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            med["bank_cold_s"] = cold
            results.append(med)
            print(f"N={n:5d} (+dev): bank cold {cold:6.1f} s | mixing {med['mix_ex_per_s']:5.1f} ex/s "
                  f"(median of {len(runs)}) | end-to-end cold {runs[0]['total_ex_per_s']:5.1f} ex/s | "
                  f"peak RSS main {med['peak_rss_main_mb']:5.0f} MB, all processes "
                  f"{med['peak_rss_tree_mb']:5.0f} MB", flush=True)
    if args.json:
        out = {"invocation": invocation(__file__, args, argv), "results": results}
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
