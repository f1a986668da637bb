"""Reliability catalogue: bad inputs and faults, the line the user saw, and that nothing was lost.

Each row is one bad input or fault: ``scenario`` (what was thrown at the lab), ``check``
(what was verified besides the message: files unchanged, nothing written outside, the old
dataset or model still loads, no code ran), ``passed`` and ``message`` (the line a user
saw). The quick rows call the same functions the dashboard and the command line call, in
this process; ``--heavy`` adds the process faults (kill -9 and SIGTERM of a real dashboard
server and of training children, a real full filesystem when root) and ``--load`` the 30
connections against a training server (figures, not pass/fail: p50/p95 page load, the
server's peak RSS).

    python bench/bench_reliability.py [--heavy] [--load] [--only TEXT] [--out FILE]

Writes bench/results/reliability.json ({"rows": [...]}) and prints a table. The quick rows
also run in the default test suite (tests/test_faults.py), the heavy ones with
LAB_LOAD_TESTS=1 (tests/e2e/test_faults_e2e.py).

The rows live in one module per family (bench/reliability_uploads.py, _cli, _settings,
_datasets, _models, _store, _dashboard, _full_disk; the heavy ones in
bench/reliability_server.py), what they share in bench/reliability_core.py and
bench/reliability_fixtures.py; this file joins them in the catalogue's order and runs them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (reliability_cli, reliability_dashboard, reliability_datasets,  # noqa: E402
                   reliability_full_disk, reliability_models, reliability_settings,
                   reliability_store, reliability_uploads)
from bench.reliability_core import (RESULTS, Entry, Lab, Outcome, Row,  # noqa: E402,F401
                                    Scenario, one_line)

# the catalogue's order: the families as the results list them
CATALOGUE: list[Entry] = [*reliability_uploads.ROWS, *reliability_cli.ROWS,
                          *reliability_settings.ROWS, *reliability_datasets.ROWS,
                          *reliability_models.ROWS, *reliability_store.ROWS,
                          *reliability_dashboard.ROWS, *reliability_full_disk.ROWS]


def run_one(lab: Lab, name: str, category: str, fn: Scenario) -> Row:
    """Run one scenario: its Row, with the failed checks named; a scenario that crashes is
    a failed row whose message names the exception and the line that raised it."""
    t0 = time.perf_counter()
    try:
        out = fn(lab)
        row = Row(name, category, "; ".join(out.checks), out.passed,
                  out.message.replace("\x00", "\\x00"))
        if not out.passed:
            failed = [k for k, v in out.checks.items() if not v]
            row.check += " -- FAILED: " + "; ".join(failed)
    except Exception as err:  # noqa: BLE001 - a scenario that crashes is a failed row
        row = Row(name, category, "the scenario ran", False,
                  f"{type(err).__name__}: {str(err)[:200]} | "
                  + traceback.format_exc().strip().splitlines()[-2].strip())
    row.seconds = round(time.perf_counter() - t0, 2)
    return row


def run_catalogue(heavy: bool = False, only: str = "", base: Path | None = None,
                  extra: list[Entry] | None = None,
                  exclude: tuple[str, ...] = ()) -> list[Row]:
    """Run the registered scenarios (quick ones, and heavy ones when asked); one Row each.

    Args:
        heavy: also run the scenarios marked heavy.
        only: run only scenarios whose name contains this (any case).
        base: scratch folder for the Lab (default: a temporary one, removed afterwards).
        extra: more scenarios after the catalogue's (the server rows).
        exclude: skip scenarios whose name contains one of these.

    Returns:
        One Row a scenario run, in order; each is also printed as it ends.
    """
    rows = []
    owned = base is None
    base = base or Path(tempfile.mkdtemp(prefix="lab-reliability-"))
    try:
        lab = Lab(base)
        for name, category, is_heavy, fn in CATALOGUE + (extra or []):
            if (is_heavy and not heavy) or (only and only.lower() not in name.lower()) \
                    or any(x in name for x in exclude):
                continue
            row = run_one(lab, name, category, fn)
            rows.append(row)
            print(f"{'ok  ' if row.passed else 'FAIL'} {row.seconds:6.1f}s  {name}: {row.message}",
                  flush=True)
    finally:
        if owned:
            shutil.rmtree(base, ignore_errors=True)
    return rows


def print_table(rows: list[Row]) -> None:
    """The rows as a table, then the pass count by category."""
    width = max(len(r.scenario) for r in rows)
    print()
    print(f"{'scenario':{width}}  pass  message")
    for r in rows:
        print(f"{r.scenario:{width}}  {'yes ' if r.passed else 'NO  '}  {r.message[:150]}")
    cats = sorted({r.category for r in rows})
    print(f"\n{sum(r.passed for r in rows)}/{len(rows)} passed; by category: "
          + ", ".join(f"{c} {sum(r.category == c for r in rows)}" for c in cats))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--heavy", action="store_true", help="also the process faults (minutes)")
    p.add_argument("--load", action="store_true", help="also 30 connections while training")
    p.add_argument("--only", default="", help="scenarios whose name contains this")
    p.add_argument("--out", default=str(RESULTS / "reliability.json"))
    p.add_argument("--merge", nargs="*", default=[], metavar="JSON",
                   help="add the rows (and load figures) of earlier runs, e.g. --heavy ones "
                        "run one at a time; rows run now win")
    return p.parse_args(argv)


def _server_rows(heavy: bool, load: bool) -> list[Entry]:
    """The heavy server rows asked for: all with ``heavy``, the load row with ``load``."""
    if not (heavy or load):
        return []
    from bench import reliability_server as srv
    extra = [s for s in srv.SCENARIOS if heavy or s[0].startswith("load")]
    return [s for s in extra if load or not s[0].startswith("load")]


def _merge(rows: list[Row], paths: list[str]) -> dict:
    """Append the rows of earlier results not run now; returns their load figures."""
    merged_load: dict = {}
    for path in paths:
        earlier = json.loads(Path(path).read_text())
        have = {r.scenario for r in rows}
        rows += [Row(**r) for r in earlier["rows"] if r["scenario"] not in have]
        merged_load.update(earlier.get("load") or {})
    return merged_load


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    extra = _server_rows(args.heavy, args.load)
    rows = run_catalogue(heavy=args.heavy or args.load, only=args.only, extra=extra)
    merged_load = _merge(rows, args.merge)
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = dict(merged_load)
    if extra:
        from bench import reliability_server as srv
        figures.update(srv.FIGURES)
        if figures:
            print("load figures: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    out.write_text(json.dumps({"rows": [asdict(r) for r in rows],
                               "load": figures,
                               "machine": f"{os.cpu_count()} CPU cores",
                               "created_unix": time.time()}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
