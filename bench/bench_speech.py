"""Text-to-speech and word-bank speed on this machine; prints figures, asserts nothing.

    .venv/bin/python bench/bench_speech.py [--clips 1000] [--repeats 3] [--workers 2]

Per-word times are medians over ``--repeats`` passes of 12 words x a few voices (one
thread). The bank figure is the median wall time of ``--repeats`` builds of ``--clips``
clips at 50% neural voice.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from model.data import speech  # noqa: E402
from model.data.bank import BankConfig, build_bank  # noqa: E402
from model.data.speech_engines import piper_model  # noqa: E402

WORDS = ("activate", "window", "captivate", "seven", "river", "music", "active", "table",
         "cultivate", "morning", "yellow", "computer")


def ms_per_word(engine: str, repeats: int) -> tuple[float, float]:
    """Median ms per word for speak_native (22.05 kHz) and synthesize (44.1 kHz)."""
    rng = np.random.default_rng(0)
    voices = [speech.draw_voice(rng, None, 1.0 if engine == "piper" else 0.0) for _ in range(4)]
    native, full = [], []
    for _ in range(repeats):
        for fn, out in ((speech.speak_native, native), (speech.synthesize, full)):
            t = time.perf_counter()
            for w in WORDS:
                for v in voices:
                    fn(w, v)
            out.append((time.perf_counter() - t) * 1000 / (len(WORDS) * len(voices)))
    return statistics.median(native), statistics.median(full)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    t = time.perf_counter()
    piper_model()
    print(f"piper model load (graph rewrite + session): {time.perf_counter() - t:.2f} s")
    for engine in ("espeak", "piper"):  # Kokoro is far slower: bench/bench_kokoro.py
        native, full = ms_per_word(engine, args.repeats)
        print(f"{engine}: {native:.1f} ms/word at 22.05 kHz, {full:.1f} ms/word at 44.1 kHz "
              f"(median of {args.repeats})")

    others = tuple(w for w in WORDS if w != "activate")
    config = BankConfig(word="activate", other_words=others, n_trigger_clips=args.clips // 2,
                        n_other_clips=args.clips - args.clips // 2, neural_share=0.5, seed=1)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        bank = build_bank(config, workers=args.workers)
        times.append(time.perf_counter() - t)
    seconds = bank.audio.size / bank.rate_hz
    print(f"bank of {args.clips} clips, 50% neural, workers={args.workers}: median {statistics.median(times):.1f} s "
          f"of {args.repeats} ({args.clips / statistics.median(times):.0f} clips/s); "
          f"{bank.audio.nbytes / 1e6:.1f} MB int16 at {bank.rate_hz} Hz, mean clip {seconds / len(bank):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
