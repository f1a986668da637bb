"""Kokoro speech engine speed on this machine; prints figures, asserts nothing.

    .venv/bin/python bench/bench_kokoro.py [--repeats 3] [--bank-clips 16]

1. Model load (session + voice packs; the first run ever also assembles the 92 MB model).
2. Seconds per word: ``speak_native`` (one onnxruntime thread) on 8 words x 3 voices, each
   timed ``--repeats`` times; the median, with the spread over words.
3. Word lengths, an ear-proxy: seconds of trimmed speech for Kokoro's plain voice against
   piper's plain voice, per word (a word should come out as ~0.5-1 s of speech).
4. A bank of ``--bank-clips`` Kokoro-only clips built with 1 and 2 threads: clips/s.
The machine's load average is printed first: the 2 cores are shared, figures move with it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import speech  # noqa: E402
from model.data.bank import BankConfig, build_bank  # noqa: E402
from model.data.speech_kokoro import kokoro_model, kokoro_phonemes  # noqa: E402

WORDS = ("activate", "window", "captivate", "seven", "activity", "music", "motivate", "computer")
VOICES = ("kokoro:t=alpha100:p=alpha100:sp1.00:st+0", "kokoro:t=kumo70+nezumi30:p=nezumi100:sp0.80:st-2",
          "kokoro:t=tebukuro70+gongitsune30:p=gongitsune100:sp1.25:st+2")


def seconds_per_word(repeats: int) -> tuple[float, float, float]:
    """(median, fastest word's median, slowest word's median) seconds per speak_native call."""
    voices = [v for v in speech.list_voices("kokoro") if v.name in VOICES]
    per_word = []
    for word in WORDS:
        times = []
        for voice in voices:
            for _ in range(repeats):
                t = time.perf_counter()
                speech.speak_native(word, voice)
                times.append(time.perf_counter() - t)
        per_word.append(statistics.median(times))
    return statistics.median(per_word), min(per_word), max(per_word)


def word_lengths() -> list[str]:
    """One line per word: Kokoro phonemes, and trimmed speech seconds of Kokoro and piper."""
    lines = []
    for word in WORDS:
        k = speech.speak_native(word, speech.default_voice("kokoro")).size / speech.NATIVE_RATE_HZ
        p = speech.speak_native(word, speech.default_voice("piper")).size / speech.NATIVE_RATE_HZ
        lines.append(f"  {word:10s} {kokoro_phonemes(word):14s} kokoro {k:.2f} s  piper {p:.2f} s  "
                     f"ratio {k / p:.2f}")
    return lines


def bank_rate(clips: int, workers: int) -> float:
    """Clips per second building a Kokoro-only bank of ``clips`` clips with ``workers`` threads."""
    config = BankConfig(word="activate", other_words=WORDS[1:], n_trigger_clips=clips // 2,
                        n_other_clips=clips - clips // 2, kokoro_share=1.0, seed=1)
    t = time.perf_counter()
    build_bank(config, workers=workers)
    return clips / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per word and voice")
    ap.add_argument("--bank-clips", type=int, default=16, help="clips per bank build")
    args = ap.parse_args()
    print(f"# .venv/bin/python bench/bench_kokoro.py {' '.join(sys.argv[1:])}  "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    t = time.perf_counter()
    kokoro_model()
    print(f"model load (session + 5 voice packs): {time.perf_counter() - t:.2f} s")
    med, low, high = seconds_per_word(args.repeats)
    print(f"seconds per word, 1 onnxruntime thread: median {med:.2f} s over {len(WORDS)} words x "
          f"{len(VOICES)} voices x {args.repeats} (per-word medians {low:.2f}..{high:.2f} s)")
    print("speech length per word (trimmed, plain voices):")
    print("\n".join(word_lengths()))
    for workers in (1, 2):
        rate = bank_rate(args.bank_clips, workers)
        print(f"bank of {args.bank_clips} Kokoro clips, {workers} thread(s): {rate:.2f} clips/s "
              f"({1 / rate:.2f} s a clip)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
