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
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SMALL_NET = None  # NetworkConfig(8, 8, 0.1), set on first use (keeps imports lazy)


@dataclass
class Row:
    """One catalogue entry."""

    scenario: str  # the bad input or fault
    category: str  # uploads, cli, settings, datasets, models, store, faults, dashboard
    check: str  # what was verified besides the message
    passed: bool  # every check held
    message: str  # what the user saw (one line)
    seconds: float = 0.0  # how long the scenario took


@dataclass
class Outcome:
    """What a scenario function returns: the message seen and the checks' verdicts."""

    message: str
    checks: dict[str, bool]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


Scenario = Callable[["Lab"], Outcome]
CATALOGUE: list[tuple[str, str, bool, Scenario]] = []  # (scenario, category, heavy, fn)


def scenario(name: str, category: str, heavy: bool = False):
    """Register a scenario function under ``name``."""
    def deco(fn: Scenario) -> Scenario:
        CATALOGUE.append((name, category, heavy, fn))
        return fn
    return deco


# -- shared fixtures and checks --------------------------------------------------------------
class Lab:
    """A scratch folder with a tiny dataset, a small model and a store, made once per run."""

    def __init__(self, base: Path):
        global SMALL_NET
        from model.train.network import NetworkConfig
        SMALL_NET = NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1)
        from tests.app_helpers import save_always_on_model
        from tests.tinydata import write_tiny_dataset
        self.base = base
        self.dataset = write_tiny_dataset(base / "tiny")
        self.model = save_always_on_model(base)
        self.store = base / "lab.sqlite"
        self._n = 0

    def tmp(self, name: str) -> Path:
        """A fresh empty folder for one scenario."""
        self._n += 1
        path = self.base / f"s{self._n:03d}-{name}"
        path.mkdir(parents=True)
        return path


def one_line(text: str) -> bool:
    """A user message: non-empty, one line, no traceback."""
    text = text.strip()
    return bool(text) and "\n" not in text and "Traceback" not in text


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file under ``folder`` (dotfiles too)."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``python -m model ARGV`` in this process: (exit status, stdout, stderr)."""
    from model.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse: usage line + exit 2
            rc = int(exc.code or 0)
    return rc, out.getvalue(), err.getvalue()


def cli_message(rc: int, err: str) -> str:
    """The last non-empty stderr line (argparse prints usage first)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"(exit {rc}, nothing on stderr)"


def cli_refuses(argv: list[str]) -> tuple[str, dict[str, bool]]:
    """Run a command that must fail: (its message, checks: exit != 0, one error line)."""
    rc, _, err = cli(argv)
    msg = cli_message(rc, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:") or ": error:" in ln]
    return msg, {"exit status is not 0": rc != 0,
                 "exactly one error line, no traceback": len(errors) == 1
                 and "Traceback" not in err}


def lab_error(fn: Callable[[], object]) -> tuple[str, bool]:
    """Call ``fn`` expecting a LabError: (its message, whether it was one one-line LabError)."""
    from model.errors import LabError
    try:
        fn()
    except LabError as err:
        return str(err), one_line(str(err))
    except Exception as err:  # noqa: BLE001 - the row fails and says what escaped
        return f"{type(err).__name__} escaped: {str(err)[:150]}", False
    return "(no error)", False


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def subprocess_peak(argv: list[str], timeout: float = 300, env: dict | None = None
                    ) -> tuple[int, str, float]:
    """``python -m model ARGV`` in a fresh process: (exit status, stderr, its peak RSS MB)."""
    code = ("import atexit, resource, sys, runpy\n"
            "atexit.register(lambda: sys.stderr.write('PEAK_RSS_KB %d\\n' % "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
            f"sys.argv = ['model'] + {argv!r}\n"
            "runpy.run_module('model', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    peak, lines = 0.0, []
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB "):
            peak = int(line.split()[1]) / 1024
        elif line.strip() and not line.startswith(("WARNING: All log", "I0000", "W0000",
                                                   "To enable the following")):
            lines.append(line)
    return proc.returncode, "\n".join(lines), peak


def write_wav(path: Path, seconds: float, rate: int, subtype: str = "PCM_16",
              level: float = 0.05) -> Path:
    """Noise WAV/FLAC written in blocks (an hour never sits in memory)."""
    import soundfile as sf
    rng = np.random.default_rng(0)
    block = rate * 60
    silence = np.zeros(block, np.float32)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype=subtype) as fh:
        left = int(seconds * rate)
        while left > 0:
            n = min(block, left)
            fh.write(silence[:n] if level == 0 else
                     (level * rng.standard_normal(n)).astype(np.float32))
            left -= n
    return path


# -- uploads (the Detect page's decode, the Enrol page's takes) ----------------------------
def _decode(data: bytes):
    from model.detect.detector import DetectConfig, decode_clip
    return decode_clip(data, DetectConfig().limits)  # what the Detect page calls on an upload


def _upload_refused(data: bytes) -> Outcome:
    msg, ok = lab_error(lambda: _decode(data))
    return Outcome(msg, {"one-line AudioError, nothing decoded": ok})


@scenario("upload: empty file (0 bytes)", "uploads")
def _(lab: Lab) -> Outcome:
    return _upload_refused(b"")


@scenario("upload: text file named .wav", "uploads")
def _(lab: Lab) -> Outcome:
    return _upload_refused(b"this is not audio at all\n" * 40)


@scenario("upload: truncated WAV (header promises 10 s, 0.1 s present)", "uploads")
def _(lab: Lab) -> Outcome:
    full = write_wav(lab.tmp("trunc") / "a.wav", 10.0, 16000).read_bytes()
    return _upload_refused(full[:3200])


@scenario("upload: float WAV with NaN samples", "uploads")
def _(lab: Lab) -> Outcome:
    import soundfile as sf
    buf = io.BytesIO()
    audio = np.zeros(16000, np.float32)
    audio[100] = np.nan
    sf.write(buf, audio, 16000, subtype="FLOAT", format="WAV")
    return _upload_refused(buf.getvalue())


@scenario("upload: random bytes named .mp3", "uploads")
def _(lab: Lab) -> Outcome:
    return _upload_refused(np.random.default_rng(1).bytes(50_000))


@scenario("upload: 201 MB file (over the 200 MB cap)", "uploads")
def _(lab: Lab) -> Outcome:
    before = peak_rss_mb()
    data = b"RIFF" + bytes(201 * 1024 * 1024)
    out = _upload_refused(data)
    del data
    grew = peak_rss_mb() - before
    out.checks["refused before decoding (peak RSS grew by no more than the bytes held)"] = \
        grew < 260
    out.checks["server caps uploads at 200 MB (.streamlit/config.toml)"] = \
        _streamlit_option("server.maxUploadSize") == 200
    return out


@scenario("upload: 10-hour 8 kHz FLAC (36,000 s)", "uploads")
def _(lab: Lab) -> Outcome:
    path = write_wav(lab.tmp("long") / "ten_hours.flac", 36_000, 8000, subtype="PCM_16",
                     level=0.0)
    rc, err, peak = subprocess_peak(["detect", str(path), "--model", str(lab.model)])
    msg = cli_message(rc, err)
    return Outcome(f"{msg} [peak RSS {peak:.0f} MB, file {path.stat().st_size / 1e6:.1f} MB]",
                   {"one line, exit 1": rc == 1 and one_line(err),
                    "refused on its header (duration), never decoded": "limit" in msg,
                    "peak RSS under 1.5 GB": 0 < peak < 1500})


@scenario("upload: 1 s at 384 kHz", "uploads")
def _(lab: Lab) -> Outcome:
    path = write_wav(lab.tmp("hirate") / "hi.wav", 1.0, 384_000)
    rc, out_err, peak = subprocess_peak(["detect", str(path), "--model", str(lab.model)])
    return Outcome(f"exit {rc}; {cli_message(rc, out_err) if rc else 'detections printed'} "
                   f"[peak RSS {peak:.0f} MB]",
                   {"decoded and scanned (exit 0)": rc == 0, "peak RSS under 1.5 GB": 0 < peak < 1500})


def _take_upload(lab: Lab, label: str) -> Outcome:
    """An Enrol-page upload under a hostile file name: stored only as takes/NN.wav."""
    from model.enroll.profile import add_take, open_profile
    data = write_wav(lab.tmp("take") / "t.wav", 1.0, 16000).read_bytes()
    root = lab.tmp("profiles")
    outside = root.parent
    before = {p.name for p in outside.iterdir()}
    folder, prof = open_profile("activate", "me", root)
    report = add_take(folder, prof, data, label)
    after = {p.name for p in outside.iterdir()}
    written = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return Outcome(report.message.replace("\x00", "\\x00"),
                   {"nothing written outside the profile folder": after - before <= {root.name}
                    and all(not w.startswith("..") for w in written),
                    "the take file name is the lab's own (takes/NN.wav)":
                        all(Path(w).name in ("profile.json",) or Path(w).parent.name == "takes"
                            for w in written),
                    "one-line message": one_line(report.message)})


@scenario("upload name: ../../escape.wav (Enrol take)", "uploads")
def _(lab: Lab) -> Outcome:
    return _take_upload(lab, "../../escape.wav")


@scenario("upload name: absolute /etc/passwd.wav (Enrol take)", "uploads")
def _(lab: Lab) -> Outcome:
    return _take_upload(lab, "/etc/passwd.wav")


@scenario("upload name: NUL byte a\\x00b.wav (Enrol take)", "uploads")
def _(lab: Lab) -> Outcome:
    return _take_upload(lab, "a\x00b.wav")


@scenario("upload name: HTML <img src=x onerror=alert(1)>.wav (Detect download name)", "uploads")
def _(lab: Lab) -> Outcome:
    from app.common import md_text
    name = "<img src=x onerror=alert(1)>.wav"
    shown = md_text(f"{name}: not a readable audio file")
    return Outcome(shown, {"escaped for markdown (no raw tag)": "<img" not in shown.replace("\\<", "")})


# -- command-line arguments -------------------------------------------------------------------
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


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# -- settings (environment variables the dashboard reads) -----------------------------------
def _page(script: Callable[[], None], env: dict[str, str], lab: Lab) -> tuple[list[str], list]:
    """Run one dashboard page through AppTest with ``env``: (error lines, exceptions)."""
    from streamlit.testing.v1 import AppTest
    from tests.app_helpers import app_env, environment
    with environment({**app_env(lab.base, lab.dataset, lab.store), **env}):
        at = AppTest.from_function(script, default_timeout=120).run()
        errors = [e.value for e in at.error] + [w.value for w in at.warning]
        return errors, list(at.exception)


def _page_one_line(script, env: dict[str, str], lab: Lab, runs: int = 1) -> Outcome:
    msgs, exc = [], []
    for _ in range(runs):  # again: the same line, no crash loop
        msgs, exc = _page(script, env, lab)
    errors = [m for m in msgs if m]
    return Outcome(errors[0] if errors else "(no message)",
                   {"a one-line message on the page": bool(errors) and all(one_line(m) for m in errors),
                    "no exception or traceback": not exc})


@scenario("setting: LAB_NETWORK=banana", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import trials_script
    return _page_one_line(trials_script, {"LAB_NETWORK": "banana"}, lab)


@scenario("setting: LAB_STORE is a folder", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import history_script
    return _page_one_line(history_script, {"LAB_STORE": str(lab.tmp("store-folder"))}, lab)


@scenario("setting: LAB_STORE under a file (/etc/hostname/lab.sqlite)", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import history_script
    blocker = lab.tmp("blk") / "file"
    blocker.write_text("x")
    return _page_one_line(history_script, {"LAB_STORE": str(blocker / "lab.sqlite")}, lab)


@scenario("setting: LAB_DATASET missing", "settings")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import trials_script
    return _page_one_line(trials_script, {"LAB_DATASET": str(lab.base / "nothing-here")}, lab)


def _detect_page_model(lab: Lab, model: Path, marker: Path | None = None) -> Outcome:
    _demo(lab)
    out = _page_one_line(detect_extra_script, {"LAB_MODELS": str(model)}, lab)
    if marker is not None:
        out.checks["nothing from the file ran"] = not marker.exists()
    return out


@scenario("setting: LAB_MODELS names a .keras that is plain text", "settings")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("txtmodel") / "notes.keras"
    bad.write_text("not a zip")
    return _detect_page_model(lab, bad)


@scenario("setting: LAB_MODELS names a .keras with a custom class", "settings")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("custom-page")
    marker = folder / "PWNED"
    return _detect_page_model(lab, custom_object_model(lab, folder, marker), marker)


def detect_extra_script():
    """The Detect page with the LAB_MODELS file and a demo clip picked (the model loads)."""
    import os
    from pathlib import Path

    import streamlit as st
    from app.detect_page import detect_page
    st.session_state.setdefault("d_model", f"file {Path(os.environ['LAB_MODELS']).name}")
    st.session_state.setdefault("d_source", "Demo clip")
    detect_page()


def _demo(lab: Lab) -> None:
    demo = lab.base / "demo"
    if not demo.is_dir():
        demo.mkdir()
        write_wav(demo / "noise.wav", 2.0, 16000)


def lambda_model(folder: Path, marker: Path) -> Path:
    """A .keras with a Lambda layer whose code would create ``marker``."""
    import keras
    inp = keras.Input((None, 101))
    code = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    out = keras.layers.Lambda(eval(code))(inp)  # noqa: S307 - builds the hostile file
    path = folder / "lambda.keras"
    keras.Model(inp, out).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; loading must not
    return path


def custom_object_model(lab: Lab, folder: Path, marker: Path) -> Path:
    """A copy of the small model whose first layer is a class from an outside module that
    would create ``marker`` on import (the module is put on sys.path)."""
    mod = folder / "evil_lab_module.py"
    mod.write_text(f"open({str(marker)!r}, 'w').close()\n"
                   "import keras\n"
                   "class Evil(keras.layers.Layer):\n    pass\n")
    sys.path.insert(0, str(folder))
    path = folder / "custom.keras"
    with zipfile.ZipFile(lab.model) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                cfg = json.loads(data)
                layer = cfg["config"]["layers"][1]
                layer.update(module="evil_lab_module", class_name="Evil",
                             registered_name="evil>Evil")
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    return path


@scenario("setting: LAB_MODELS names a .keras with a Lambda layer", "settings")
def _(lab: Lab) -> Outcome:
    _demo(lab)
    folder = lab.tmp("lambda")
    marker = folder / "PWNED"
    path = lambda_model(folder, marker)
    return _detect_page_model(lab, path, marker)


# -- datasets ----------------------------------------------------------------------------------
def _broken_dataset(lab: Lab, name: str, breaker: Callable[[Path], None]) -> Outcome:
    from model.data.dataset import load_dataset
    folder = lab.tmp(name) / "XY"
    shutil.copytree(lab.dataset, folder)
    breaker(folder)
    msg, ok = lab_error(lambda: load_dataset(folder, check_values=True))
    tr, tr_ok = lab_error(lambda: _train_in_process(lab, folder))
    return Outcome(msg, {"one-line DatasetError on load": ok,
                         "training refuses it with one line, nothing stored": tr_ok})


def _train_in_process(lab: Lab, dataset: Path) -> None:
    from model.runs.jobs import Runner
    from model.runs.store import RunStore
    from model.train.network import NetworkConfig
    from model.train.trial_config import ComparisonConfig, TrialConfig
    store = RunStore(lab.tmp("st") / "lab.sqlite")
    try:
        Runner(store, isolate=False).start(ComparisonConfig(TrialConfig(
            batch_size=4, epochs=1, dataset=str(dataset), network=SMALL_NET),
            ["fp32"]), check_values=True)
    finally:
        assert not store.comparisons(), "a comparison was stored"
        store.close()


@scenario("dataset: X.npy truncated to half", "datasets")
def _(lab: Lab) -> Outcome:
    def cut(folder: Path) -> None:
        data = (folder / "X.npy").read_bytes()
        (folder / "X.npy").write_bytes(data[:len(data) // 2])
    return _broken_dataset(lab, "truncx", cut)


@scenario("dataset: X.npy holds a pickled object", "datasets")
def _(lab: Lab) -> Outcome:
    def pickle_it(folder: Path) -> None:
        np.save(folder / "X.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    return _broken_dataset(lab, "pickle", pickle_it)


@scenario("dataset: meta.json is not JSON", "datasets")
def _(lab: Lab) -> Outcome:
    return _broken_dataset(lab, "meta", lambda f: (f / "meta.json").write_text("{oops"))


@scenario("dataset: NaN in X", "datasets")
def _(lab: Lab) -> Outcome:
    def nan(folder: Path) -> None:
        x = np.load(folder / "X.npy")
        x[0, 0, 0] = np.nan
        np.save(folder / "X.npy", x)
    return _broken_dataset(lab, "nan", nan)


@scenario("dataset: Y has fewer examples than X", "datasets")
def _(lab: Lab) -> Outcome:
    def short(folder: Path) -> None:
        np.save(folder / "Y.npy", np.load(folder / "Y.npy")[:-2])
    return _broken_dataset(lab, "short", short)


@scenario("dataset: Y_dev.npy missing", "datasets")
def _(lab: Lab) -> Outcome:
    return _broken_dataset(lab, "nodev", lambda f: (f / "Y_dev.npy").unlink())


@scenario("dataset: X.npy has the wrong shape", "datasets")
def _(lab: Lab) -> Outcome:
    return _broken_dataset(lab, "shape", lambda f: np.save(f / "X.npy", np.zeros((12, 7, 3),
                                                                                  np.float16)))


# -- model files ---------------------------------------------------------------------------------
def _detect_refuses(lab: Lab, model: Path, marker: Path | None = None) -> Outcome:
    clip = write_wav(lab.tmp("mclip") / "c.wav", 1.0, 16000)
    msg, checks = cli_refuses(["detect", str(clip), "--model", str(model)])
    if marker is not None:
        checks["nothing from the file ran"] = not marker.exists()
    return Outcome(msg, checks)


@scenario("model: --model X.keras that is plain text (not a zip)", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("notzip") / "m.keras"
    bad.write_text("definitely not a zip archive")
    return _detect_refuses(lab, bad)


@scenario("model: --model X.keras, a zip without config.json", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("noconfig") / "m.keras"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("hello.txt", "hi")
    return _detect_refuses(lab, bad)


@scenario("model: --model X.keras truncated to half", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("trunckeras") / "m.keras"
    data = lab.model.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    return _detect_refuses(lab, bad)


@scenario("model: --model X.keras with a Lambda layer (code that writes a file)", "models")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("lambda-cli")
    marker = folder / "PWNED"
    return _detect_refuses(lab, lambda_model(folder, marker), marker)


@scenario("model: --model X.keras naming a custom class from an outside module", "models")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("custom")
    marker = folder / "PWNED"
    out = _detect_refuses(lab, custom_object_model(lab, folder, marker), marker)
    out.checks["the outside module was never imported"] = "evil_lab_module" not in sys.modules
    return out


@scenario("model: --model model.h5 / model.pkl (not .keras)", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("pkl") / "model.pkl"
    bad.write_bytes(b"\x80\x04K\x01.")
    return _detect_refuses(lab, bad)


@scenario("model: --model an unknown run id", "models")
def _(lab: Lab) -> Outcome:
    clip = write_wav(lab.tmp("runid") / "c.wav", 1.0, 16000)
    return Outcome(*cli_refuses(["detect", str(clip), "--model", "r20990101-000000-abcdef",
                                 "--store", str(lab.store)]))


# -- store files -------------------------------------------------------------------------------
def _store_refused(path: Path) -> Outcome:
    from model.runs.store import RunStore
    before = path.read_bytes() if path.is_file() else None
    msg, ok = lab_error(lambda: RunStore(path))
    msg2, ok2 = lab_error(lambda: RunStore(path))  # again: same line, no crash loop
    return Outcome(msg, {"one-line StoreError": ok, "same line when opened again": ok2 and msg2 == msg,
                         "the file is left as it was (for recovery)":
                             before is None or path.read_bytes() == before})


@scenario("store: a file of random bytes", "store")
def _(lab: Lab) -> Outcome:
    path = lab.tmp("garbage") / "lab.sqlite"
    path.write_bytes(np.random.default_rng(2).bytes(8192))
    return _store_refused(path)


@scenario("store: written by a newer schema (version 99)", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    path = lab.tmp("newer") / "lab.sqlite"
    RunStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    return _store_refused(path)


@scenario("store: header overwritten (damaged file)", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    from tests.app_helpers import fake_comparison
    path = lab.tmp("damaged") / "lab.sqlite"
    store = RunStore(path)
    fake_comparison(store)
    store.close()
    data = bytearray(path.read_bytes())
    data[:100] = b"X" * 100
    path.write_bytes(bytes(data))
    return _store_refused(path)


@scenario("store: truncated to its first page", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    from tests.app_helpers import fake_comparison
    path = lab.tmp("truncstore") / "lab.sqlite"
    store = RunStore(path)
    for _ in range(5):
        fake_comparison(store, epochs=20)
    store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[:4096])

    def use() -> None:
        s = RunStore(path)
        for c in s.comparisons():
            s.runs(c.id)
        s.create_comparison(_small_cfg(lab))
    msg, ok = lab_error(use)
    return Outcome(msg, {"one-line StoreError": ok})


@scenario("store: disk full while writing an event (SQLITE_FULL)", "store")
def _(lab: Lab) -> Outcome:
    from model.runs.store import RunStore
    from model.train.events import TrialEvent
    from tests.app_helpers import fake_comparison
    path = lab.tmp("full") / "lab.sqlite"
    store = RunStore(path)
    done = fake_comparison(store, epochs=3)
    cid, ids = store.create_comparison(_small_cfg(lab))
    pages = store.query("PRAGMA page_count")[0][0]
    store.query(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: a full disk

    def write() -> None:
        for i in range(200):
            store.add_event(cid, TrialEvent("started", ids[0], "fp32", 0, time.time(),
                                            message="x" * 4000))
    msg, ok = lab_error(write)
    store.close()
    again = RunStore(path)
    checks = {"one-line StoreError naming the full disk": ok and "disk is full" in msg,
              "integrity_check ok": again.integrity_check() == "ok",
              "the finished comparison and its epochs are intact":
                  again.comparison(done).status == "finished"
                  and all(len(again.epochs(r.id)) == 3 for r in again.runs(done))}
    again.close()
    return Outcome(msg, checks)


def _small_cfg(lab: Lab, epochs: int = 1, precisions=("fp32",), batch: int = 4, **kw):
    from model.train.network import NetworkConfig
    from model.train.trial_config import ComparisonConfig, TrialConfig
    return ComparisonConfig(TrialConfig(batch_size=batch, epochs=epochs, dataset=str(lab.dataset),
                                        network=SMALL_NET, tensorboard=False, **kw),
                            list(precisions))


@scenario("store: dashboard page on a damaged store, opened twice", "store")
def _(lab: Lab) -> Outcome:
    from tests.app_helpers import history_script
    path = lab.tmp("pagestore") / "lab.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(200))
    return _page_one_line(history_script, {"LAB_STORE": str(path)}, lab, runs=2)


# -- the dashboard: user text shown as text, where it listens ---------------------------------
HOSTILE_NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>[click](javascript:alert(3))"


def hostile_history_script():
    """The History page on a store holding a comparison with a hostile name and message."""
    import os

    from app.history_page import history_page
    from model.runs.store import RunStore
    from tests.app_helpers import fake_comparison
    store = RunStore(os.environ["LAB_STORE"])
    if not store.comparisons():
        cid = fake_comparison(store, name=os.environ["LAB_BENCH_NAME"], finish=False)
        store.set_comparison_status(cid, "failed", os.environ["LAB_BENCH_NAME"])
    store.close()
    history_page()


@scenario("dashboard: comparison name and run message with <script>, <img onerror>, a "
          "javascript: link", "dashboard")
def _(lab: Lab) -> Outcome:
    from streamlit.testing.v1 import AppTest
    from tests.app_helpers import environment
    env = {"LAB_STORE": str(lab.tmp("html") / "lab.sqlite"), "LAB_BENCH_NAME": HOSTILE_NAME,
           "LAB_DATASET": str(lab.dataset)}
    with environment(env, close_store=False):
        at = AppTest.from_function(hostile_history_script, default_timeout=120).run()
        shown = [m.value for m in at.markdown] + [w.value for w in at.warning]
        exc = list(at.exception)
    hits = [m for m in shown if "alert(1)" in m]
    raw = [m for m in hits if "<script" in m.replace("\\<", "") or "](javascript" in m.replace("\\]", "")]
    return Outcome(hits[0][:160] if hits else "(name not shown)",
                   {"name and message shown": len(hits) >= 2, "no raw tag or link reaches markdown":
                    not raw, "no exception": not exc})


@scenario("dashboard: address when launched from the repository without --host", "dashboard")
def _(lab: Lab) -> Outcome:
    address = _streamlit_option("server.address")
    run_sh = (ROOT / "run.sh").read_text()
    return Outcome(f"server.address = {address!r}; run.sh default HOST=127.0.0.1",
                   {"binds 127.0.0.1 (.streamlit/config.toml)": address == "127.0.0.1",
                    "run.sh defaults to 127.0.0.1 and passes --server.address":
                        "HOST=127.0.0.1" in run_sh and '--server.address "$HOST"' in run_sh})


# -- faults: full disk during make-data, model save (fault hook or a real tiny filesystem) ------
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


def _old_dataset(folder: Path, lab: Lab) -> Path:
    shutil.copytree(lab.dataset, folder / "XY")
    return folder / "XY"


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
                  "the old dataset still loads": _loads(lambda: load_dataset(old))}
    return Outcome(f"{msg} [{how}]", checks)


def _loads(fn: Callable[[], object]) -> bool:
    try:
        fn()
        return True
    except Exception:  # noqa: BLE001
        return False


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
        cfg = _small_cfg(lab).base
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
                  "the old model still loads": not old.exists() or _loads(lambda: load_keras_model(old))}
    return Outcome(f"{msg} [{how}]", checks)


# -- running the catalogue -------------------------------------------------------------------------
def run_catalogue(heavy: bool = False, only: str = "", base: Path | None = None,
                  extra: list[tuple[str, str, bool, Scenario]] | None = None,
                  exclude: tuple[str, ...] = ()) -> list[Row]:
    """Run the registered scenarios (quick ones, and heavy ones when asked); one Row each.

    Args:
        exclude: skip scenarios whose name contains one of these.
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
            rows.append(row)
            print(f"{'ok  ' if row.passed else 'FAIL'} {row.seconds:6.1f}s  {name}: {row.message}",
                  flush=True)
    finally:
        if owned:
            shutil.rmtree(base, ignore_errors=True)
    return rows


def print_table(rows: list[Row]) -> None:
    width = max(len(r.scenario) for r in rows)
    print()
    print(f"{'scenario':{width}}  pass  message")
    for r in rows:
        print(f"{r.scenario:{width}}  {'yes ' if r.passed else 'NO  '}  {r.message[:150]}")
    cats = sorted({r.category for r in rows})
    print(f"\n{sum(r.passed for r in rows)}/{len(rows)} passed; by category: "
          + ", ".join(f"{c} {sum(r.category == c for r in rows)}" for c in cats))


def _streamlit_option(name: str):
    """A server option as `streamlit run` from the repository root would read it."""
    code = ("import os, sys; os.chdir(sys.argv[1]); from streamlit import config; "
            "config.get_config_options(force_reparse=True); "
            f"print(repr(config.get_option({name!r})))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True,
                         timeout=60)
    try:
        return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own repr
    except Exception:  # noqa: BLE001
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--heavy", action="store_true", help="also the process faults (minutes)")
    p.add_argument("--load", action="store_true", help="also 30 connections while training")
    p.add_argument("--only", default="", help="scenarios whose name contains this")
    p.add_argument("--out", default=str(RESULTS / "reliability.json"))
    p.add_argument("--merge", nargs="*", default=[], metavar="JSON",
                   help="add the rows (and load figures) of earlier runs, e.g. --heavy ones "
                        "run one at a time; rows run now win")
    args = p.parse_args(argv)
    extra = []
    if args.heavy or args.load:
        from bench import reliability_server as srv
        extra = [s for s in srv.SCENARIOS if args.heavy or s[0].startswith("load")]
        extra = [s for s in extra if args.load or not s[0].startswith("load")]
    rows = run_catalogue(heavy=args.heavy or args.load, only=args.only, extra=extra)
    merged_load: dict = {}
    for path in args.merge:
        earlier = json.loads(Path(path).read_text())
        have = {r.scenario for r in rows}
        rows += [Row(**r) for r in earlier["rows"] if r["scenario"] not in have]
        merged_load.update(earlier.get("load") or {})
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
