"""Command line: ``python -m model <command> ...``.

Each command lives in its own module with ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so
``make-data`` never pays for importing TensorFlow. Commands call the same
functions as the dashboard (the CLI stays thin).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import LabError

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
    try:
        return int(modules[args.command].run(args) or 0)
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
