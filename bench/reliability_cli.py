"""Reliability rows: command-line arguments (detect --chime-out, make-data --out, train and
evaluate settings) that must be refused with one line and write nothing."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from bench.reliability_core import (Entry, Lab, Outcome, cli, cli_refuses, registrar, tree,
                                    write_wav)

ROWS: list[Entry] = []
scenario = registrar(ROWS)


@contextlib.contextmanager
def _cwd(path: Path):
    """Run the block in ``path`` as the working folder."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@scenario("cli: detect --chime-out with a NUL byte", "cli")
def _(lab: Lab) -> Outcome:
    clip = write_wav(lab.tmp("clip") / "c.wav", 2.0, 16000)
    msg, checks = cli_refuses(["detect", str(clip), "--model", str(lab.model),
                               "--chime-out", "out\x00.wav"])
    return Outcome(msg, checks)


@scenario("cli: detect --chime-out ../../outside/x.wav (folder missing)", "cli")
def _(lab: Lab) -> Outcome:
    work = lab.tmp("chime")
    clip = write_wav(work / "c.wav", 2.0, 16000)
    before = tree(lab.base)
    outside = f"outside-{os.getpid()}-{time.monotonic_ns()}"
    with _cwd(work):
        msg, checks = cli_refuses(["detect", str(clip), "--model", str(lab.model),
                                   "--chime-out", f"../../{outside}/x.wav"])
    checks["nothing written anywhere"] = tree(lab.base) == before \
        and not (lab.base.parent / outside).exists()
    return Outcome(msg, checks)


@scenario("cli: detect ../x/a.wav b.wav --chime-out out.wav (input names with folders)", "cli")
def _(lab: Lab) -> Outcome:
    work = lab.tmp("chime2")
    (work / "x").mkdir()
    (work / "o").mkdir()
    write_wav(work / "x" / "a.wav", 1.0, 16000)
    write_wav(work / "o" / "b.wav", 1.0, 16000)
    with _cwd(work / "o"):
        rc, out, err = cli(["detect", "../x/a.wav", "b.wav", "--model", str(lab.model),
                            "--chime-out", "out.wav"])
    made = sorted(str(p.relative_to(work)) for p in work.rglob("*.wav"))
    return Outcome(f"exit {rc}; wrote {', '.join(m for m in made if 'out' in m)}",
                   {"exit 0": rc == 0, "chimed files only beside out.wav, named by stem":
                    made == ["o/b.wav", "o/out-a.wav", "o/out-b.wav", "x/a.wav"]})


@scenario("cli: detect --chime-out is the input file itself", "cli")
def _(lab: Lab) -> Outcome:
    clip = write_wav(lab.tmp("self") / "c.wav", 1.0, 16000)
    before = clip.read_bytes()
    msg, checks = cli_refuses(["detect", str(clip), "--model", str(lab.model),
                               "--chime-out", str(clip)])
    checks["the input is unchanged"] = clip.read_bytes() == before
    return Outcome(msg, checks)


@scenario("cli: detect --chime-out is an existing folder", "cli")
def _(lab: Lab) -> Outcome:
    work = lab.tmp("chimedir")
    clip = write_wav(work / "c.wav", 2.0, 16000)
    msg, checks = cli_refuses(["detect", str(clip), "--model", str(lab.model),
                               "--chime-out", str(work)])
    checks["folder untouched"] = sorted(p.name for p in work.iterdir()) == ["c.wav"]
    return Outcome(msg, checks)


@scenario("cli: make-data --out with a NUL byte", "cli")
def _(lab: Lab) -> Outcome:
    return Outcome(*cli_refuses(["make-data", "--examples", "2", "--out", "XY\x00evil"]))


@scenario("cli: make-data --out . (the working folder)", "cli")
def _(lab: Lab) -> Outcome:
    work = lab.tmp("cwd")
    (work / "precious.txt").write_text("keep me")
    before = tree(work)
    with _cwd(work):
        msg, checks = cli_refuses(["make-data", "--examples", "2", "--dev-examples", "1",
                                   "--workers", "1", "--out", "."])
    checks["the folder and its files are untouched"] = tree(work) == before
    return Outcome(msg, checks)


@scenario("cli: make-data --out is an existing file", "cli")
def _(lab: Lab) -> Outcome:
    work = lab.tmp("outfile")
    target = work / "notes.txt"
    target.write_text("keep me")
    msg, checks = cli_refuses(["make-data", "--examples", "2", "--dev-examples", "1",
                               "--workers", "1", "--out", str(target)])
    checks["file untouched"] = target.read_text() == "keep me"
    return Outcome(msg, checks)


def _train_refuses(lab: Lab, extra: list[str]) -> Outcome:
    store = lab.tmp("train") / "lab.sqlite"
    msg, checks = cli_refuses(["train", "--dataset", str(lab.dataset), "--store", str(store),
                               "--batch-size", "4", "--epochs", "1"] + extra)
    if store.exists():
        con = sqlite3.connect(store)
        n = con.execute("SELECT COUNT(*) FROM comparisons").fetchone()[0]
        con.close()
    else:
        n = 0
    checks["nothing stored"] = n == 0
    return Outcome(msg, checks)


@scenario("cli: train --batch-size 0", "cli")
def _(lab: Lab) -> Outcome:
    return _train_refuses(lab, ["--batch-size", "0"])


@scenario("cli: train --epochs -3", "cli")
def _(lab: Lab) -> Outcome:
    return _train_refuses(lab, ["--epochs", "-3"])


@scenario("cli: train --precisions fp64", "cli")
def _(lab: Lab) -> Outcome:
    return _train_refuses(lab, ["--precisions", "fp64"])


@scenario("cli: train --lr nan", "cli")
def _(lab: Lab) -> Outcome:
    return _train_refuses(lab, ["--lr", "nan"])


@scenario("cli: train --dataset /no/such/folder", "cli")
def _(lab: Lab) -> Outcome:
    return _train_refuses(lab, ["--dataset", "/no/such/folder"])


@scenario("cli: train --name with 10,000 characters and HTML", "cli")
def _(lab: Lab) -> Outcome:
    return _train_refuses(lab, ["--name", "<script>" + "x" * 10_000, "--batch-size", "0"])


@scenario("cli: detect --threshold 2", "cli")
def _(lab: Lab) -> Outcome:
    clip = write_wav(lab.tmp("thr") / "c.wav", 1.0, 16000)
    return Outcome(*cli_refuses(["detect", str(clip), "--model", str(lab.model),
                                 "--threshold", "2"]))


@scenario("cli: detect a missing file and a folder", "cli")
def _(lab: Lab) -> Outcome:
    work = lab.tmp("missing")
    rc, _, err = cli(["detect", str(work / "nope.wav"), str(work), "--model", str(lab.model)])
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    return Outcome(" | ".join(lines), {"exit 1": rc == 1, "one error line per file": len(lines) == 2,
                                       "no traceback": "Traceback" not in err})


@scenario("cli: --store is a folder", "cli")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("storedir")
    return Outcome(*cli_refuses(["train", "--dataset", str(lab.dataset), "--store", str(folder),
                                 "--batch-size", "4", "--epochs", "1"]))


@scenario("cli: evaluate --out with a NUL byte", "cli")
def _(lab: Lab) -> Outcome:
    return Outcome(*cli_refuses(["evaluate", "--model", str(lab.model), "--dataset",
                                 str(lab.dataset), "--out", "rep\x00ort"]))

