"""What every row of the reliability catalogue (bench/bench_reliability.py) shares: the row
and outcome records, a per-family scenario list, the scratch ``Lab`` (tiny dataset, small
model, store) and the checks: one-line messages, file trees unchanged, the command line
run in this process or in a fresh one, noise clips written in blocks.
"""
from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

RESULTS = ROOT / "bench" / "results"


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
Entry = tuple[str, str, bool, Scenario]  # (scenario, category, heavy, fn)


def registrar(rows: list[Entry]):
    """A ``scenario(name, category, heavy=False)`` decorator that appends to ``rows``: each
    row family keeps its own list, and the entry point joins them in the catalogue's order."""
    def scenario(name: str, category: str, heavy: bool = False):
        """Register a scenario function under ``name``."""
        def deco(fn: Scenario) -> Scenario:
            rows.append((name, category, heavy, fn))
            return fn
        return deco
    return scenario


def small_net():
    """The catalogue's small network: NetworkConfig(8, 8, 0.1) (imported late: keeps the
    bench's start light)."""
    from model.train.network import NetworkConfig
    return NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1)


# -- shared fixtures and checks --------------------------------------------------------------
class Lab:
    """A scratch folder with a tiny dataset, a small model and a store, made once per run."""

    def __init__(self, base: Path):
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


def small_cfg(lab: Lab, epochs: int = 1, precisions=("fp32",), batch: int = 4, **kw):
    """A ComparisonConfig of the small network on the lab's tiny dataset, no TensorBoard."""
    from model.train.trial_config import ComparisonConfig, TrialConfig
    return ComparisonConfig(TrialConfig(batch_size=batch, epochs=epochs, dataset=str(lab.dataset),
                                        network=small_net(), tensorboard=False, **kw),
                            list(precisions))


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


def loads(fn: Callable[[], object]) -> bool:
    """Whether ``fn()`` returns without raising (an old dataset or model still loads)."""
    try:
        fn()
        return True
    except Exception:  # noqa: BLE001
        return False


def peak_rss_mb() -> float:
    """This process's peak RSS so far, MB."""
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


def streamlit_option(name: str):
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
