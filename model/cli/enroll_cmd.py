"""``python -m model enroll --word WORD --takes DIR``: a detector tuned to your voice.

Reads every WAV/FLAC/OGG/MP3 in DIR as one take, checks each (one line per take on stderr),
stores the good ones in the profile folder (``profiles/<word>-<name>/takes``, replacing the
profile's earlier takes), builds the personal dataset, fine-tunes the base through the run
store's job queue (the run shows in the dashboard's History), judges it and prints the path
of the new ``.keras`` on stdout. ``python -m model detect --model PATH`` then uses it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..train.precision import PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the enroll command's options."""
    parser.add_argument("--word", required=True, help="the trigger word (e.g. activate)")
    parser.add_argument("--takes", required=True, metavar="DIR",
                        help="folder of takes: every WAV/FLAC/OGG/MP3 in it is one take (2 to 10)")
    parser.add_argument("--name", default="me", help="whose voice (names the profile; default me)")
    parser.add_argument("--init", default="auto",
                        help="base model: auto (default: the shipped detector if it reads speech "
                             "embeddings, else bench/candidates/embed-head-1000), pretrained, "
                             "a RUN_ID or a .keras path")
    parser.add_argument("--precision", choices=PRECISIONS, default="",
                        help="training precision (default: the device's best AMP mode)")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tune epochs (default 20)")
    parser.add_argument("--clips-per-take", type=int, default=None,
                        help="10 s clips built around each take (default: 144 in all, at least "
                             "24 a take)")
    parser.add_argument("--synth-train", type=int, default=None,
                        help="synthetic-voice training clips beside the takes' (default 48)")
    parser.add_argument("--negatives", type=int, default=None,
                        help="take-free clips of other words over babble and real rooms "
                             "(default 400, cached per word)")
    parser.add_argument("--own-negatives", type=int, default=None,
                        help="take-free clips of pieces of your takes (your voice, not the word), "
                             "shared over the takes (default 96)")
    parser.add_argument("--synth-dev", type=int, default=None,
                        help="synthetic dev clips for false accepts per hour (default 90, cached)")
    parser.add_argument("--out", default="", help="where the model goes (default: "
                                                  "profiles/<word>-<name>/my-model.keras)")
    parser.add_argument("--profiles", default=None, help="profiles folder (default profiles/)")
    parser.add_argument("--store", default=None, help="run store database (default runs/lab.sqlite)")


def take_sources(folder: str) -> tuple[list[Path], list[str]]:
    """Audio files of a takes folder, and a line for each other file skipped.

    Raises:
        ConfigError: the folder is missing or holds no audio file.
    """
    from ..enroll.takes import TAKE_SUFFIXES
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"--takes {folder}: no such folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    audio = [p for p in files if p.suffix.lower() in TAKE_SUFFIXES]
    skipped = [f"skipped {p.name}: not a WAV, FLAC, OGG or MP3 file" for p in files if p not in audio]
    if not audio:
        raise ConfigError(f"--takes {folder}: no WAV, FLAC, OGG or MP3 files in it")
    return audio, skipped


def run(args: argparse.Namespace) -> int:
    """Enrol and print the new model's path; LabError propagates as one line."""
    from dataclasses import replace

    from ..enroll.pipeline import EnrollConfig, enroll
    from ..enroll.profile import DEFAULT_PROFILES_DIR, add_take, delete_take, open_profile, take_files
    from ..runs.jobs import get_runner

    for flag, low in (("epochs", 1), ("clips_per_take", 1), ("synth_train", 0), ("negatives", 0),
                       ("own_negatives", 0), ("synth_dev", 1)):
        value = getattr(args, flag)
        if value is not None and value < low:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least {low}, got {value}")
    folder, prof = open_profile(args.word, args.name, args.profiles or DEFAULT_PROFILES_DIR,
                                create=False)
    files, skipped = take_sources(args.takes)
    folder.mkdir(parents=True, exist_ok=True)
    for old in take_files(folder):  # the folder's takes become the profile's takes
        delete_take(folder, prof, old.name)
    for line in skipped:
        print(line, file=sys.stderr)
    for path in files:
        print(add_take(folder, prof, path, path.name).message, file=sys.stderr)
    cfg = EnrollConfig(out=args.out)
    cfg.finetune = replace(cfg.finetune, init=args.init, precision=args.precision,
                           epochs=args.epochs or cfg.finetune.epochs)
    sizes = {k: getattr(args, k) for k in ("clips_per_take", "synth_train", "negatives",
                                           "synth_dev") if getattr(args, k) is not None}
    if args.own_negatives is not None:
        sizes["own_negatives_total"] = args.own_negatives
    cfg.data = replace(cfg.data, **sizes)
    result = enroll(folder, prof, cfg, get_runner(args.store), progress=_progress)
    b, a = result.before, result.after
    print(f"\n{result.scheme}\nheld-out takes found: before {_pct(b.recall)} (threshold "
          f"{b.threshold:g}), after {_pct(a.recall)} (threshold {a.threshold:g}; {result.note})\n"
          f"false accepts per hour on dev: before {b.fa_per_hour:.1f}, after {a.fa_per_hour:.1f} "
          f"({a.hours * 60:.0f} min)\n{_tuned(result)}runs {', '.join(result.run_ids)}; "
          f"{result.seconds:.0f} s",
          file=sys.stderr)
    print(result.model_path)
    return 0


def _tuned(result) -> str:
    """A line on the base at a threshold tuned to the takes ("" when it would be refused)."""
    t = result.base_tuned
    return "" if t is None else (f"the base at a threshold picked the same way ({t.threshold:g}): "
                                 f"{_pct(t.recall)}, {t.fa_per_hour:.1f} FA/h\n")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _progress(stage: str, done: int, total: int) -> None:
    """One stderr line per stage step (no carriage returns: logs stay readable)."""
    if done == total or stage == "fine-tune" or stage == "judge":
        print(f"  {stage}: {done}/{total}", file=sys.stderr, flush=True)
