"""A trigger word at a recording's very start or end: found with and without the quiet pads.

A browser recording often starts just before the word and stops right after it. This
renders "activate" takes (drawn voices of each engine, seeded), trims them to the word,
and places each in short recordings: the word alone (no lead-in, no tail), with a short
lead-in only, with a short tail only, and inside 1 s of quiet each side (the control).
A faint noise floor (-60 dBFS) stands in for the microphone. Each recording is scanned by
the model at its card threshold, unpadded and with the Detect page's pads
(model/detect/edges.py, ``RECORDING_PADS``); a take is found if any detection lies in it.
Prints a table (and writes it with --out); asserts nothing.

    python bench/bench_edges.py [--model pretrained] [--takes 8] [--out FILE]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLACEMENTS = {"word alone": (0.0, 0.0), "lead-in 0.15 s": (0.15, 0.0),
              "tail 0.15 s": (0.0, 0.15), "1 s each side": (1.0, 1.0)}  # (before, after), s
ENGINES = ("piper", "espeak", "kokoro")


def takes_of(engine: str, n: int, seed: int) -> list[np.ndarray]:
    """``n`` trimmed "activate" takes of drawn voices of ``engine`` at 44.1 kHz, peak 0.5."""
    from model.audio.features import SAMPLE_RATE_HZ
    from model.data.speech import list_voices, synthesize, trim_silence
    rng = np.random.default_rng(seed)
    voices = list_voices(engine)
    out = []
    for i in range(n):
        voice = voices[int(rng.integers(len(voices)))]
        word = trim_silence(synthesize("activate", voice, seed=seed + i), SAMPLE_RATE_HZ)
        out.append((0.5 * word / max(np.abs(word).max(), 1e-6)).astype(np.float32))
    return out


def place(word: np.ndarray, before_s: float, after_s: float, rng) -> np.ndarray:
    """The word with ``before_s``/``after_s`` of a -60 dBFS noise floor around it."""
    from model.audio.features import SAMPLE_RATE_HZ
    pad = [np.zeros(int(s * SAMPLE_RATE_HZ), np.float32) for s in (before_s, after_s)]
    clip = np.concatenate([pad[0], word, pad[1]])
    return (clip + rng.normal(0, 1e-3, clip.shape)).astype(np.float32)


def found(detector, clip: np.ndarray) -> str:
    """'1' if a detection lies in the clip, '0' if none, 'short' if refused as too short."""
    from model.audio.features import SAMPLE_RATE_HZ
    from model.errors import AudioError
    try:
        result = detector.detect_samples(clip, SAMPLE_RATE_HZ)
    except AudioError as err:
        return "short" if "too short" in str(err) else "error"
    return "1" if result.detections else "0"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="pretrained")
    p.add_argument("--takes", type=int, default=8, help="takes per engine")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--out", default="")
    args = p.parse_args()
    from model.card import recommended_threshold
    from model.detect.detector import DetectConfig, Detector
    from model.detect.edges import RECORDING_PADS
    from model.detect.inference import resolve_model_path
    threshold = recommended_threshold(resolve_model_path(args.model)) or 0.5
    detectors = {"unpadded": Detector(args.model, DetectConfig(threshold=threshold)),
                 "padded": Detector(args.model, DetectConfig(threshold=threshold, **RECORDING_PADS))}
    t0 = time.time()
    lines = [f"# bench/bench_edges.py --model {args.model} --takes {args.takes} --seed {args.seed}"
             f"  ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, threshold {threshold})",
             f"{'engine':8s} {'placement':16s} {'unpadded found/short':>22s} {'padded found':>14s}"]
    totals = {"unpadded": 0, "padded": 0, "n": 0}
    for engine in args.engines.split(","):
        words = takes_of(engine, args.takes, args.seed)
        for name, (before, after) in PLACEMENTS.items():
            rng = np.random.default_rng(args.seed)
            clips = [place(w, before, after, rng) for w in words]
            res = {k: [found(d, c) for c in clips] for k, d in detectors.items()}
            lines.append(f"{engine:8s} {name:16s} {res['unpadded'].count('1'):>10d}/{len(clips)}"
                         f" short {res['unpadded'].count('short'):<4d} "
                         f"{res['padded'].count('1'):>10d}/{len(clips)}")
            if name != "1 s each side":
                totals["n"] += len(clips)
                for k in ("unpadded", "padded"):
                    totals[k] += res[k].count("1")
            print(lines[-1], flush=True)
    lines.append(f"edge placements, all engines: unpadded {totals['unpadded']}/{totals['n']}, "
                 f"padded {totals['padded']}/{totals['n']}; {time.time() - t0:.0f} s")
    print(lines[-1])
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
