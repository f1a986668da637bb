"""How many synthetic trigger takes a recogniser trained on real voices hears as the word.

    .venv/bin/python bench/bench_intelligibility.py [--examples 2000] [--kokoro-share 0.3]
        [--neural-share 0.6] [--seed 0] [--out bench/results/intelligibility_cpu.json]

Builds (or loads from the cache) the recipe's train and dev word banks, runs the
intelligibility check of ``model/data/intelligibility.py`` on every trigger take, and
prints per engine and per voice family group: takes heard as the word, and what the
others were heard as. Also the check's time per take (median of the banks' runs, done
fresh, not from the cache). Prints figures, asserts nothing.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_args import invocation  # noqa: E402
from model.data.bank import build_or_load_bank  # noqa: E402
from model.data.intelligibility import WordRecogniser  # noqa: E402
from model.data.makedata import DEFAULT_CACHE_DIR, auto_bank_clips  # noqa: E402
from model.data.sources import bank_config_for, split_families  # noqa: E402
from model.data.synth import SynthConfig  # noqa: E402


def group_of(family: str) -> str:
    """A family's group for the table: the engine, plus piper's pitch band or espeak's accent."""
    engine, _, rest = family.partition(":")
    if engine == "espeak":
        return f"espeak:{rest.split('+')[0]}"
    return engine


def check_bank(bank, rec: WordRecogniser) -> tuple[list[tuple[str, str]], list[float]]:
    """(family, heard word) per trigger take, and seconds per take."""
    out, secs = [], []
    for i in bank.indices(True):
        pcm = bank.audio[bank.offsets[i]:bank.offsets[i + 1]].astype("float32") / 32767.0
        t0 = time.perf_counter()
        heard = rec.hear(pcm, bank.rate_hz)
        secs.append(time.perf_counter() - t0)
        out.append((bank.families[i], heard))
    return out, secs


def table(rows: list[tuple[str, str]], word: str, key) -> list[dict]:
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for family, heard in rows:
        groups[key(family)].append(heard)
    out = []
    for name in sorted(groups):
        heard = groups[name]
        wrong = collections.Counter(h or "(nothing)" for h in heard if h != word).most_common(3)
        out.append({"group": name, "takes": len(heard), "heard": sum(h == word for h in heard),
                    "heard_instead": wrong})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--kokoro-share", type=float, default=0.3)
    ap.add_argument("--neural-share", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/intelligibility_cpu.json")
    args = ap.parse_args(argv)
    cfg = SynthConfig(n_train=args.examples, n_dev=max(1, args.examples // 10), seed=args.seed,
                      neural_share=args.neural_share, kokoro_share=args.kokoro_share)
    fams = dict(zip(("train", "dev"), split_families(cfg.seed, cfg.dev_family_share, (),
                                                     kokoro=cfg.kokoro_share > 0)))
    rec = WordRecogniser(cfg.word)
    print(f"intelligibility check: {cfg.word!r} against {len(rec.rivals)} rivals "
          f"({', '.join(rec.rivals)}); load average {os.getloadavg()[0]:.1f}")
    rows, secs = [], []
    for split, n in (("train", cfg.n_train), ("dev", cfg.n_dev)):
        bank = build_or_load_bank(bank_config_for(cfg, split, fams[split], n, auto_bank_clips(n)),
                                  DEFAULT_CACHE_DIR)
        got, s = check_bank(bank, rec)
        rows += got
        secs += s
    engines = table(rows, cfg.word, lambda f: f.split(":")[0])
    groups = table(rows, cfg.word, group_of)
    print(f"{len(rows)} trigger takes, {statistics.median(secs) * 1000:.0f} ms a take (median)")
    for title, tab in (("per engine", engines), ("per group", groups)):
        print(f"\n{title}:\n  {'group':28s} {'heard':>9s}   heard instead (most often)")
        for r in tab:
            wrong = ", ".join(f"{w} {c}" for w, c in r["heard_instead"])
            print(f"  {r['group']:28s} {r['heard']:4d}/{r['takes']:<4d}   {wrong}")
    result = {"invocation": invocation(__file__, args, argv), "rivals": rec.rivals,
              "ms_per_take_median": round(statistics.median(secs) * 1000, 1),
              "load_average": round(os.getloadavg()[0], 2), "engines": engines, "groups": groups}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
