"""``python -m model detect FILE [FILE ...]``: trigger-word detections per file.

The model is loaded once. A file that cannot be used gets one ``error:`` line on stderr
and the others are still processed; the exit status is then 1. With ``--json`` each file
gives one JSON object on its own line of stdout:
``{"file", "duration_s", "step_s", "step0_s", "probabilities", "detections": [{"time_s",
"score"}], "model"}``; probability i belongs to time ``step0_s + i * step_s`` (the model's
step grid: 7.27 ms steps from 0 for spectrogram networks, 80 ms steps from 0.782 s for a
head over speech embeddings, whose step i hears the 0.782 s before that time).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..audio.files import DEFAULT_MAX_BYTES, DEFAULT_MAX_SECONDS, AudioLimits
from ..errors import LabError
from ..audio.features import FEATURE_KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the detect command's options."""
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="audio files (WAV, FLAC, OGG, MP3)")
    parser.add_argument("--model", default="pretrained",
                        help="RUN_ID, 'pretrained' or a .keras file path (default: pretrained)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="probability threshold (default: the model card's, else 0.5)")
    parser.add_argument("--min-steps", type=int, default=1,
                        help="consecutive steps above the threshold (1; a step is 7.27 ms, "
                             "or 80 ms for speech-embedding models)")
    parser.add_argument("--refractory-steps", type=int, default=None,
                        help="steps after a detection before the next can start (default: "
                             "the model's features': 75 x 7.27 ms, or 7 x 80 ms)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument("--chime-out", metavar="OUT.wav",
                        help="write the audio with a chime at each detection (several files: "
                             "OUT-<file name>.wav each)")
    parser.add_argument("--features", choices=FEATURE_KINDS, default=None,
                        help="feature kind the model was trained on (default: its model card)")
    parser.add_argument("--store", default=None, help="run store database for RUN_IDs")
    parser.add_argument("--pad", action="store_true",
                        help="score each file with 0.3 s of quiet before it and 0.5 s after it, "
                             "as the Detect page does, so a word at the very start or end of a "
                             "recording is scored like one inside it (times stay the file's)")
    parser.add_argument("--no-partners", action="store_true",
                        help="the model (and its members) alone, without the partners its card "
                             "joins by max (the shipped head without the spectrogram pair)")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 2 ** 20,
                        help="refuse files larger than this many MiB (200)")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                        help="refuse audio longer than this (3600)")


def chime_paths(chime_out: str, files: list[str]) -> list[Path]:
    """Where each file's chimed WAV goes: the path itself for one file, else OUT-<name>.wav.

    Only the input files' stems are used (never their folders), so every chimed file lands
    in --chime-out's own folder, which must exist (a typo does not make folders); an input
    file is never overwritten.

    Raises:
        LabError: a NUL byte, a missing folder, a folder given as the file, or an input's path.
    """
    if "\x00" in chime_out:
        raise LabError("--chime-out holds a NUL byte; give a plain file path")
    out = Path(chime_out)
    if out.is_dir():
        raise LabError(f"--chime-out {out} is a folder; give a file path such as {out / 'chimed.wav'}")
    if not out.parent.is_dir():
        raise LabError(f"--chime-out {out}: its folder {out.parent} does not exist")
    inputs = {Path(f).resolve() for f in files if "\x00" not in f}
    if len(files) == 1:
        if out.resolve() in inputs:
            raise LabError(f"--chime-out {out} is the input file itself; give another path")
        return [out]
    paths, seen = [], set()
    for i, name in enumerate(files):
        candidate = out.with_name(f"{out.stem}-{Path(name).stem}{out.suffix or '.wav'}")
        if candidate in seen:
            candidate = candidate.with_name(f"{out.stem}-{i + 1}-{Path(name).stem}.wav")
        if candidate.resolve() in inputs:
            raise LabError(f"--chime-out would overwrite the input file {candidate}; give "
                           "another path")
        seen.add(candidate)
        paths.append(candidate)
    return paths


def run(args: argparse.Namespace) -> int:
    """Detect in every file; 0 if all were processed, 1 if any failed (LabError on setup: 2)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from ..detect.chime import write_chimed_wav
    from ..detect.detector import DetectConfig, Detector
    from ..detect.edges import RECORDING_PADS

    limits = AudioLimits(int(args.max_mb * 2 ** 20), float(args.max_seconds))
    from ..detect.inference import resolve_model_path
    from ..card import recommended_threshold

    threshold = args.threshold
    if threshold is None:
        threshold = recommended_threshold(resolve_model_path(args.model, args.store)) or 0.5
    config = DetectConfig(threshold=threshold, min_steps=args.min_steps,
                          refractory_steps=args.refractory_steps, feature_kind=args.features,
                          limits=limits, **(RECORDING_PADS if args.pad else {}))
    outs = chime_paths(args.chime_out, args.files) if args.chime_out else [None] * len(args.files)
    detector = Detector(args.model, config, store_path=args.store, partners=not args.no_partners)
    failed = 0
    for name, out in zip(args.files, outs):
        try:
            result = detector.detect_file(name)
            if out is not None:
                write_chimed_wav(name, [d.time_s for d in result.detections], out,
                                 config.chime_gain, limits)
        except LabError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            failed += 1
            continue
        except OSError as err:  # the chime WAV could not be written (folder, disk, rights)
            print(f"error: {out}: {err.strerror or err}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(json.dumps(result.to_json_dict()) if args.json else _text(result, config, out),
              flush=True)
    return 1 if failed else 0


def _text(result, config, out: Path | None) -> str:
    """Human-readable lines for one file."""
    n = len(result.detections)
    lines = [f"{result.source}: {result.duration_s:.2f} s, {n} detection{'s' * (n != 1)} "
             f"(threshold {config.threshold:g}, model {result.model})"]
    lines += [f"  {d.time_s:9.3f} s  score {d.score:.3f}" for d in result.detections]
    if out is not None:
        lines.append(f"  chimed audio: {out}")
    return "\n".join(lines)
