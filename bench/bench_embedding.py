"""Speech-embedding speed on this CPU: batched clips/s and streaming latency; asserts nothing.

    .venv/bin/python bench/bench_embedding.py [--clips 16] [--runs 5] [--threads 1]
        [--batch-windows 256] [--piece-ms 80] [--out bench/results/embedding_cpu.json]

Batched: median over ``--runs`` of ``--clips`` 10 s clips through audio_to_embeddings_batch
(resample + mel per clip, embedding model ``--batch-windows`` windows a call). Streaming:
median over ``--runs`` of the wall time to push one 10 s clip in ``--piece-ms`` pieces and
flush, plus the median and worst time of one push. Also the largest stream-vs-whole
difference seen. Writes the arguments and figures to ``--out`` as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402

from model.audio import embedding as E  # noqa: E402

CLIP_SAMPLES = 441000  # 10 s at 44.1 kHz


def make_clips(n: int) -> list[np.ndarray]:
    """Noise with a moving tone: content does not change the cost, only the length does."""
    rng = np.random.default_rng(0)
    t = np.arange(CLIP_SAMPLES) / E.SOURCE_RATE_HZ
    return [(0.05 * rng.standard_normal(CLIP_SAMPLES) + 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t * (1 + t))
             ).astype(np.float32) for i in range(n)]


def bench_batched(clips: list[np.ndarray], runs: int, config: E.EmbeddingConfig) -> list[float]:
    """Clips per second of each run."""
    E.audio_to_embeddings_batch(clips[:1], config)  # sessions and first-call warm-up
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        E.audio_to_embeddings_batch(clips, config)
        rates.append(len(clips) / (time.perf_counter() - t))
    return rates


def bench_stream(clip: np.ndarray, runs: int, piece: int,
                 config: E.EmbeddingConfig) -> tuple[list[float], list[float], float]:
    """(wall s per clip of each run, every push's s, max |stream - whole|)."""
    whole = E.audio_to_embeddings(clip, config)
    totals, pushes, worst = [], [], 0.0
    for _ in range(runs):
        stream, outs = E.EmbeddingStream(config), []
        t0 = time.perf_counter()
        for start in range(0, clip.size, piece):
            t = time.perf_counter()
            outs.append(stream.push(clip[start:start + piece]))
            pushes.append(time.perf_counter() - t)
        outs.append(stream.flush())
        totals.append(time.perf_counter() - t0)
        worst = max(worst, float(np.abs(np.concatenate(outs) - whole).max()))
    return totals, pushes, worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=16, help="10 s clips per batched run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    ap.add_argument("--batch-windows", type=int, default=256)
    ap.add_argument("--piece-ms", type=float, default=80.0, help="streaming piece length")
    ap.add_argument("--out", default="bench/results/embedding_cpu.json")
    args = ap.parse_args()

    config = E.EmbeddingConfig(intra_op_threads=args.threads, batch_windows=args.batch_windows)
    clips = make_clips(args.clips)
    rates = bench_batched(clips, args.runs, config)
    piece = int(round(args.piece_ms / 1000 * E.SOURCE_RATE_HZ))
    totals, pushes, worst = bench_stream(clips[0], args.runs, piece, config)
    result = {
        "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "onnxruntime": onnxruntime.__version__,
                    "load_avg_1min_at_end": os.getloadavg()[0]},  # other work skews figures
        "steps_per_clip": E.n_embedding_steps(CLIP_SAMPLES),
        "batched_clips_per_s": {"median": statistics.median(rates), "runs": rates},
        "stream_s_per_10s": {"median": statistics.median(totals), "runs": totals},
        "stream_push_ms": {"median": 1000 * statistics.median(pushes), "max": 1000 * max(pushes)},
        "stream_vs_whole_max_abs": worst,
    }
    print(f"batched: median {result['batched_clips_per_s']['median']:.2f} clips/s of 10 s "
          f"({args.clips} clips, {args.runs} runs, {args.threads} thread(s))")
    print(f"stream: median {result['stream_s_per_10s']['median']:.3f} s per 10 s in "
          f"{args.piece_ms:g} ms pieces; push median {result['stream_push_ms']['median']:.2f} ms, "
          f"max {result['stream_push_ms']['max']:.2f} ms; stream vs whole max |diff| {worst:.2e}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
