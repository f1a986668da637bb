"""Reliability rows: a full disk during make-data and while saving a trained model (a real
tiny tmpfs when root, else a fault hook raising ENOSPC): one line, no half-written file,
and the old dataset or model still loads."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from bench.reliability_core import (Entry, Lab, Outcome, cli, cli_message, loads, one_line,
                                    registrar, small_cfg, tree)

ROWS: list[Entry] = []
scenario = registrar(ROWS)


@contextlib.contextmanager
def full_disk(size_kb: int):
    """A folder on a ``size_kb`` tmpfs when this process may mount one (root), else None
    (the scenario then forces ENOSPC through a fault hook)."""
    if os.geteuid() != 0 or os.environ.get("LAB_FAULT_HOOK_ONLY"):
        yield None
        return
    mnt = Path(tempfile.mkdtemp(prefix="lab-fullfs-"))
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)],
                        capture_output=True).returncode == 0
    try:
        yield mnt if ok else None
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)


@contextlib.contextmanager
def enospc_hook(obj, attr: str, after_calls: int = 0):
    """Fault hook: ``obj.attr`` raises ENOSPC (after ``after_calls`` calls that go through)."""
    real = getattr(obj, attr)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)
    setattr(obj, attr, failing)
    try:
        yield
    finally:
        setattr(obj, attr, real)


@scenario("full disk: make-data over an existing dataset", "faults")
def _(lab: Lab) -> Outcome:
    from model.data.dataset import load_dataset
    with full_disk(3 * 1024) as fs:
        how = "3 MB tmpfs" if fs else "fault hook (posix_fallocate -> ENOSPC)"
        base = fs or lab.tmp("md-full")
        old = base / "XY"
        old.mkdir()
        for name in ("X.npy", "Y.npy", "X_dev.npy", "Y_dev.npy", "meta.json"):  # 1-clip dataset
            src = lab.dataset / name
            if name.endswith(".npy"):
                np.save(old / name, np.load(src)[:1])
            else:
                (old / name).write_text(src.read_text().replace('"n_train": 12', '"n_train": 1')
                                        .replace('"n_dev": 4', '"n_dev": 1'))
        before = tree(base)
        argv = ["make-data", "--examples", "4", "--dev-examples", "2", "--workers", "1",
                "--out", str(old)]
        if fs:
            rc, _, err = cli(argv)
        else:
            with enospc_hook(os, "posix_fallocate"):
                rc, _, err = cli(argv)
        msg = cli_message(rc, err)
        leftovers = [p.name for p in base.iterdir() if p.name.startswith(".")]
        checks = {"exit 2 with one error line": rc == 2 and one_line(err),
                  "no half-written XY_train (no temp folder left)": not leftovers,
                  "the old dataset is untouched": tree(old) == {k[len("XY/"):]: v for k, v in
                                                                before.items() if k.startswith("XY/")},
                  "the old dataset still loads": loads(lambda: load_dataset(old))}
    return Outcome(f"{msg} [{how}]", checks)


@scenario("full disk: saving a trained model", "faults")
def _(lab: Lab) -> Outcome:
    from model.detect.inference import load_keras_model
    from model.train.trial import run_trial
    events = []
    with full_disk(64) as fs:
        how = "64 KB tmpfs" if fs else "fault hook (zip write -> ENOSPC)"
        base = fs or lab.tmp("save-full")
        old = base / "old.keras"
        old_bytes = lab.model.read_bytes()
        if fs is None or len(old_bytes) < 40_000:
            old.write_bytes(old_bytes)
        cfg = small_cfg(lab).base
        cfg = type(cfg)(**{**cfg.__dict__, "precision": "fp32"})
        if fs:
            final = run_trial(cfg, "r-full", base / "run", events.append)
        else:
            with enospc_hook(zipfile.ZipFile, "writestr"):
                final = run_trial(cfg, "r-full", base / "run", events.append)
        msg = events[-1].message if events else "(no event)"
        left = [str(p.relative_to(base)) for p in base.rglob("*.keras") if p != old]
        checks = {"the run failed with one line": final == "failed" and one_line(msg),
                  "the line says the disk is full": "no space left" in msg.lower(),
                  "no half-written .keras (nor its temp file)": not left,
                  "the old model still loads": not old.exists() or loads(lambda: load_keras_model(old))}
    return Outcome(f"{msg} [{how}]", checks)
