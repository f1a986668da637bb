"""Enrolment bench: time to a personal model, and what it changes, for 3, 5 and 10 takes.

Stand-in takes come from voice families the base never trained on (dev families of the
candidates' cards: a piper pitch band and an espeak accent); every enrolment runs the
command-line path (profile folder, personal dataset, fine-tune through the job queue on a
temporary store, judging). Figures printed per enrolment: wall-clock seconds, CPU seconds
(every thread; on a shared machine wall-clock grows with the others' load, printed as the
1-minute load average at the row's end, and CPU time does not), the hold-out
scheme, recall on held-out takes and false accepts per hour on dev before (the base at its
card threshold) and after (the personal model at its picked threshold), and false accepts on
the real speech that ships in pip (the yardstick's 37 s, when fetched) at those thresholds.
Prints figures; asserts nothing about speed.

    nice -n 10 .venv/bin/python bench/bench_enroll.py [--takes 3,5,10] [--init auto] \
        [--families FAMILY[@EFFECT=V...],...] [--set data.train_clips_total=0 ...]
    nice -n 10 .venv/bin/python bench/bench_enroll.py --scan-families [dev|F1,F2,...] \
        [--takes 2] [--scan-clips 8]     (which stand-ins the base misses: bench/enroll_scan.py)

Families may carry effects on their takes (bench/enroll_hard.py), e.g. piper:pitch-4@pitch=-5.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAMILIES = ("piper:pitch-4", "espeak:en-us+ed")  # dev families of bench/candidates/*.json


def real_false_accepts(model: Path, threshold: float) -> str:
    """Detections on the yardstick's real speech (no trigger word in it) at ``threshold``."""
    from bench.yardstick import real_speech_files
    from model.detect.detector import DetectConfig, Detector
    try:
        files = real_speech_files()
    except SystemExit:
        return "n/a (bash scripts/fetch_yardstick.sh)"
    det = Detector(str(model), DetectConfig(threshold=threshold))
    n = sum(len(det.detect_file(f).detections) for f in files)
    return f"{n} in {sum(det.detect_file(f).duration_s for f in files):.0f} s"


def cpu_seconds() -> float:
    """CPU seconds this process (every thread: embedding, the fine-tune worker) has used."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def settings(pairs: list[str]) -> dict[str, dict]:
    """``--set data.KEY=VALUE`` pairs (data, finetune or judge settings) as override dicts;
    VALUE is JSON (a list becomes a tuple)."""
    out: dict[str, dict] = {"data": {}, "finetune": {}, "judge": {}}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        part, _, name = key.partition(".")
        if part not in out or not name or not raw:
            raise SystemExit(f"--set {pair}: use data.KEY=VALUE, finetune.KEY=VALUE or judge.KEY=VALUE")
        value = json.loads(raw)
        out[part][name] = tuple(value) if isinstance(value, list) else value
    return out


def enrol_once(n_takes: int, family: str, init: str, work: Path, epochs: int | None = None,
               overrides: dict[str, dict] | None = None) -> dict:
    """One enrolment of ``n_takes`` stand-in takes of ``family`` (a family or an
    enroll_hard spec); returns its figures."""
    from bench.enroll_hard import write_takes
    from model.enroll.finetune import FinetuneConfig
    from model.enroll.judge import JudgeConfig
    from model.enroll.personal import PersonalDataConfig
    from model.enroll.pipeline import EnrollConfig, enroll
    from model.enroll.profile import add_take, open_profile
    from model.runs.jobs import Runner
    from model.runs.store import RunStore

    name = f"{re.sub(r'[^a-z0-9]+', '-', family.lower())[:24]}-{n_takes}"  # a profile name
    if "@" in family:  # a hard spec: 32 characters at most, distinct per spec
        name = f"{name[:20]}-{zlib.crc32(family.encode()):08x}-{n_takes}"
    files = write_takes(work / "in" / name, "activate", n_takes, family, seed=n_takes)
    t0, c0 = time.perf_counter(), cpu_seconds()
    folder, prof = open_profile("activate", name, work / "profiles")
    for f in files:
        add_take(folder, prof, f)
    runner = Runner(RunStore(work / "lab.sqlite"))
    try:
        over = overrides or {}
        ft_over = {**({"epochs": epochs} if epochs else {}), **over.get("finetune", {})}
        ft = FinetuneConfig(init=init, **ft_over)
        cfg = EnrollConfig(data=PersonalDataConfig(**over.get("data", {})), finetune=ft,
                           judge=JudgeConfig(**over.get("judge", {})))
        res = enroll(folder, prof, cfg, runner)
    finally:
        runner.shutdown()
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    from model.enroll.finetune import resolve_base
    from model.card import recommended_threshold
    base = resolve_base(init).path
    return {"takes": n_takes, "family": family, "seconds": seconds, "cpu": cpu,
            "scheme": res.scheme,
            "before": res.before, "after": res.after, "tuned": res.base_tuned, "kept": res.kept_base,
            "real_before": real_false_accepts(base, recommended_threshold(base) or 0.5),
            "real_after": real_false_accepts(res.model_path, res.after.threshold)}


def fmt(row: dict) -> str:
    b, a = row["before"], row["after"]
    pct = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    return (f"{row['family']:<17} {row['takes']:>5} {row['seconds']:>7.0f} {row['cpu']:>6.0f} "
            f"{os.getloadavg()[0]:>5.1f}  "
            f"{pct(b.recall):>6} ({b.found}/{b.words} @{b.threshold:g})  "
            f"{pct(a.recall):>6} ({a.found}/{a.words} @{a.threshold:g})  "
            f"{b.fa_per_hour:>6.1f} {a.fa_per_hour:>6.1f} ({a.hours * 60:.0f} min)  "
            f"{row['real_before']} / {row['real_after']}\n    {row['scheme']}"
            + (f"\n    base at a threshold picked the same way: {pct(t.recall)} ({t.found}/{t.words} "
               f"@{t.threshold:g}){'; kept as my model' if row['kept'] else ''}" if (t := row['tuned'])
               else ""))


def main(argv: list[str] | None = None) -> None:
    """Run the enrolments and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", default="3,5,10", help="take counts to enrol")
    parser.add_argument("--families", default=",".join(FAMILIES), help="stand-in voice families")
    parser.add_argument("--init", default="auto", help="base model (enroll --init)")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tune epochs (default: enroll's)")
    parser.add_argument("--set", action="append", default=[], metavar="PART.KEY=VALUE",
                        help="a data, finetune or judge setting (JSON value), e.g. "
                             "data.train_clips_total=0; repeatable")
    parser.add_argument("--scan-families", nargs="?", const="dev", metavar="FAMILIES",
                        help="no enrolment: the base's recall at its card threshold on a few "
                             "held-out-style clips per family (default: every dev family of the "
                             "shipped model's data; or a comma list of families / hard specs)")
    parser.add_argument("--scan-clips", type=int, default=8, help="clips a take when scanning")
    args = parser.parse_args(argv)
    from bench.enroll_hard import check_specs
    check_specs(args.families.split(","))
    if args.scan_families:
        from bench.enroll_scan import dev_families, scan
        fams = dev_families() if args.scan_families == "dev" else args.scan_families.split(",")
        check_specs(fams)
        n = int(args.takes.split(",")[0]) if args.takes != "3,5,10" else 2
        print(f"load average {os.getloadavg()[0]:.1f}")
        with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
            scan(fams, Path(tmp), n, args.scan_clips)
        return
    overrides = settings(args.set)
    from model.train.device import cpu_name
    from model.enroll.finetune import best_amp_precision, resolve_base
    print(f"enrolment bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_name()}; "
          f"base {resolve_base(args.init).path.relative_to(ROOT)}; precision {best_amp_precision()}; "
          f"epochs {args.epochs or 'default'}; load average {os.getloadavg()[0]:.1f}"
          + (f"; set {' '.join(args.set)}" if args.set else ""))
    print("family            takes  wall_s  cpu_s  load  recall before (found @thr)  after"
          "                 FA/h dev before after   real speech FA before / after")
    with tempfile.TemporaryDirectory(prefix="bench-enroll-") as tmp:
        for family in args.families.split(","):
            for n in (int(x) for x in args.takes.split(",")):
                print(fmt(enrol_once(n, family, args.init, Path(tmp), args.epochs, overrides)),
                      flush=True)


if __name__ == "__main__":
    main()
