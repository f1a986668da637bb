"""Command line: ``python -m model <command> ...``.

Each command lives in its own module with ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so
``make-data`` never pays for importing TensorFlow. Commands call the same
functions as the dashboard (the CLI stays thin).

Whatever goes wrong, the user gets one ``error:`` line and exit status 2, never a
traceback: LabError as it is, a failed file operation (disk full, permission, a NUL
byte in a path) as the path and the reason, anything else as its type and first line
(``LAB_TRACEBACK=1`` prints the traceback too). SIGTERM is handled like Ctrl-C: a
running comparison is cancelled before its next batch and recorded as cancelled.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback

from ..errors import LabError, os_error_line

# command name -> (module under model.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "make-data": ("data_cmd", "synthesise a training set (XY_train) with text-to-speech"),
    "train": ("train_cmd", "run an AMP-vs-FP32 comparison and store it"),
    "sweep": ("sweep_cmd", "AMP speedup vs batch size: one comparison per batch size"),
    "detect": ("detect_cmd", "find trigger words in audio files"),
    "samples": ("samples_cmd", "write a few synthesised 10 s clips as WAV with label times"),
    "enroll": ("enroll_cmd", "your own voice: a few takes -> a detector fine-tuned to you"),
    "evaluate": ("evaluate_cmd", "quality on the dev split's unseen voices: DET curve, FRR at "
                                 "1 FA/h, latency"),
    "mine-negatives": ("mine_cmd", "add the negative clips a model fires on most to a dataset's "
                                   "training split"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run one command; LabError becomes a one-line message, exit 2."""
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    modules, missing = {}, {}
    for name, (mod, text) in COMMANDS.items():
        try:  # add_arguments may import too (defaults from a config module)
            module = importlib.import_module(f"{__name__}.{mod}")
            module.add_arguments(sub.add_parser(name, help=text, description=text))
        except ImportError as err:  # e.g. no soundfile on a GPU machine: only this command is lost
            missing[name] = f"the {name} command needs a package that is not installed: {err}"
            if name in sub.choices:  # add_arguments failed half-way: keep its parser, say why
                sub.choices[name].description = missing[name]
            else:
                sub.add_parser(name, help=f"(unavailable) {text}", description=missing[name])
            continue
        modules[name] = module
    args = parser.parse_args(argv)
    if args.command in missing:
        print(f"error: {missing[args.command]}", file=sys.stderr)
        return 2
    previous = _sigterm_as_interrupt()
    try:
        return _run(modules[args.command], args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(module, args: argparse.Namespace) -> int:
    """Run one command; every failure becomes one ``error:`` line (see the module doc)."""
    try:
        return int(module.run(args) or 0)
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a file could not be read or written: disk full, rights, folder
        _maybe_traceback()
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except MemoryError:
        _maybe_traceback()
        print("error: out of memory; try a smaller input or batch", file=sys.stderr)
        return 2
    except ValueError as err:  # e.g. a NUL byte in a path argument
        _maybe_traceback()
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback on request
        _maybe_traceback()
        print(f"error: unexpected {type(err).__name__}: {one_line(err)} (set LAB_TRACEBACK=1 "
              "for the traceback)", file=sys.stderr)
        return 2


def one_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def _maybe_traceback() -> None:
    if os.environ.get("LAB_TRACEBACK"):
        traceback.print_exc()


def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the main thread, so commands stop as on Ctrl-C.

    Returns:
        The handler it replaced (None when not on the main thread: nothing changed).
    """
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests calling main() from a thread)
        return None
