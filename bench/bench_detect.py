"""Detection speed and memory on this CPU (prints figures; asserts nothing).

    .venv/bin/python bench/bench_detect.py [--model SPEC] [--kind KIND] [--runs 15] [--no-hour]

Figures (medians of several runs):
* model load time (Keras load + streaming rebuild) and the one-off XLA compile for 10 s;
* warm latency for a 10 s clip (goal <= 50 ms): in-memory samples and a WAV file, with the
  features and network parts apart, and the levers tried on the network part;
* throughput on a 10-minute file (goal >= 100x real time on 2 cores);
* peak RSS of a fresh process scanning a 1-hour file and writing its chimed WAV (goal < 1 GB).
Without --model a network of the real size with random weights stands in (same cost as a
trained one): the seed network, or with ``--kind speech-embedding-v1`` the head over speech
embeddings (LayerNorm, Dense 64, GRU 64, Dense 1), whose features (openWakeWord's ONNX
front-end) cost more than the head itself.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402


LOWEST: dict[str, float] = {}  # label -> fastest run, seconds (less sensitive to other load)


def median_s(fn, runs: int, warm: int = 1, label: str = "") -> float:
    """Median wall time of ``fn()`` over ``runs`` calls after ``warm`` unmeasured ones."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    if label:
        LOWEST[label] = min(times)
    return float(np.median(times))


def write_noise_wav(path: Path, seconds: float, rate: int, block_s: float = 60.0) -> Path:
    """Noise with a tone burst every few seconds, written block by block (16-bit mono)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", rate, 1, "PCM_16", format="WAV") as f:
        left = int(seconds * rate)
        while left > 0:
            n = min(left, int(block_s * rate))
            t = np.arange(n) / rate
            burst = 0.2 * np.sin(2 * np.pi * 700 * t) * ((t % 4.0) < 0.5)
            f.write((0.03 * rng.normal(size=n) + burst).astype(np.float32))
            left -= n
    return path


def model_file(spec: str | None, folder: Path, kind: str) -> str:
    """The model to bench: the given spec, or a random network of the real size for ``kind``
    saved as .keras with its card."""
    if spec:
        return spec
    from model.card import write_model_card
    from model.train.network import build_model

    try:
        model = build_model(kind=kind)
    except TypeError:  # a network module without per-kind builders: the head's shape by hand
        model = head_like(kind)
    path = folder / "bench_model.keras"
    model.save(path)
    write_model_card(path, kind)
    return str(path)


def head_like(kind: str):
    """LayerNorm -> Dense(64, relu) -> GRU(64) -> Dense(1, sigmoid) on ``kind``'s values."""
    import keras

    from model.audio.features import feature_kind

    inputs = keras.Input((None, feature_kind(kind).n_values))
    x = keras.layers.Dense(64, activation="relu")(keras.layers.LayerNormalization()(inputs))
    x = keras.layers.GRU(64, return_sequences=True)(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def bench_load(spec: str, runs: int, partners: bool = True) -> None:
    from model.detect.detector import Detector
    from model.detect.inference import load_keras_model, resolve_model_path

    path = resolve_model_path(spec)
    keras_s = median_s(lambda: load_keras_model(path), runs)
    detector_s = median_s(lambda: Detector(spec, partners=partners), runs)
    print(f"model load: keras.saving.load_model {keras_s * 1000:.0f} ms, Detector(...) "
          f"incl. streaming rebuild {detector_s * 1000:.0f} ms (median of {runs})")


def bench_latency(detector, keras_model, folder: Path, runs: int) -> None:
    from model.detect.detector import DetectConfig, Detector
    from model.audio.features import audio_to_features

    rng = np.random.default_rng(1)
    clip = (0.05 * rng.normal(size=441000)).astype(np.float32)
    sf.write(folder / "clip10.wav", clip, 44100, subtype="PCM_16")
    t0 = time.perf_counter()
    detector.warm_up()
    print(f"first clip (the one XLA compile): {time.perf_counter() - t0:.2f} s")
    mem_s = median_s(lambda: detector.detect_samples(clip, 44100), runs, label="samples")
    file_s = median_s(lambda: detector.detect_file(folder / "clip10.wav"), runs, label="file")
    kind = detector.kinds[0]
    feat_s = median_s(lambda: audio_to_features(clip, 44100, kind), runs)
    feats = audio_to_features(clip, 44100, kind)
    net_s = median_s(lambda: detector.net.run_piece(feats, detector.net.initial_state()), runs)
    print(f"warm latency, 10 s clip ({kind}, {feats.shape[0]} steps of "
          f"{detector.timing.step_seconds * 1000:.3g} ms): {mem_s * 1000:.1f} ms from samples, "
          f"{file_s * 1000:.1f} ms from a WAV (features {feat_s * 1000:.1f} ms + network "
          f"{net_s * 1000:.1f} ms; median of {runs}; goal <= 50 ms); fastest run {LOWEST['samples'] * 1000:.1f} / "
          f"{LOWEST['file'] * 1000:.1f} ms")
    bench_levers(keras_model, feats, runs, Detector, DetectConfig, kind)


def bench_levers(keras_model, feats, runs: int, Detector, DetectConfig, kind: str) -> None:
    """The network part of a 10 s clip, by the ways Keras/TensorFlow can run it."""
    import tensorflow as tf

    x = feats[None]
    ways = {"model.predict_on_batch": lambda: keras_model.predict_on_batch(x)}
    fn = tf.function(lambda a: keras_model(a, training=False), reduce_retracing=True,
                     input_signature=[tf.TensorSpec([1, None, feats.shape[1]], tf.float32)])
    ways["tf.function, fixed signature"] = lambda: fn(x)
    plain = Detector.from_keras(keras_model, DetectConfig(compile_xla=False),
                                feature_kind=kind).net
    ways["streaming, tf.function (no XLA)"] = lambda: plain.run_piece(feats, plain.initial_state())
    xla = Detector.from_keras(keras_model, DetectConfig(compile_xla=True), feature_kind=kind).net
    ways["streaming, XLA jit_compile (used)"] = lambda: xla.run_piece(feats, xla.initial_state())
    n = max(3, runs // 3)
    for name, way in ways.items():
        print(f"  lever {name}: {median_s(way, n, warm=2) * 1000:.1f} ms (median of {n})")


def bench_throughput(detector, keras_model, folder: Path, runs: int) -> None:
    from model.detect.detector import DetectConfig, Detector

    paths = {rate: write_noise_wav(folder / f"ten_min_{rate}.wav", 600.0, rate)
             for rate in (44100, 16000)}
    for rate, path in paths.items():
        sec = median_s(lambda: detector.detect_file(path), runs, warm=0)
        print(f"throughput, 10-minute {rate} Hz WAV: {sec:.2f} s = {600.0 / sec:.0f}x real time "
              f"(median of {runs}; goal >= 100x on 2 cores)")
    long_pieces = Detector.from_keras(keras_model, DetectConfig(chunk_seconds=40.96),
                                      feature_kind=detector.kinds[0])
    sec = median_s(lambda: long_pieces.detect_file(paths[44100]), runs, warm=1)
    print(f"  lever 40.96 s pieces instead of {detector.config.chunk_seconds} s: {sec:.2f} s = "
          f"{600.0 / sec:.0f}x real time (44.1 kHz; median of {runs})")


HOUR_CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
from model.audio.files import AudioLimits
from model.detect.chime import write_chimed_wav
from model.detect.detector import DetectConfig, Detector
def rss_mb():  # VmHWM: this process's own peak (ru_maxrss inherits the parent's across exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
det = Detector({spec!r}, DetectConfig(), partners={partners!r})
det.warm_up()
print(f"  peak RSS after import, load and warm-up: {{rss_mb():.0f}} MB")
t0 = time.perf_counter()
res = det.detect_file({path!r})
print(f"  scanned {{res.duration_s / 3600:.2f}} h in {{time.perf_counter() - t0:.1f}} s "
      f"({{res.probabilities.shape[0]}} steps, {{len(res.detections)}} detections); "
      f"peak RSS {{rss_mb():.0f}} MB")
t0 = time.perf_counter()
write_chimed_wav({path!r}, [d.time_s for d in res.detections], {out!r})
print(f"  wrote the chimed WAV in {{time.perf_counter() - t0:.1f}} s; peak RSS {{rss_mb():.0f}} MB")
"""


def bench_hour(spec: str, folder: Path, partners: bool = True) -> None:
    path = write_noise_wav(folder / "hour_16k.wav", 3600.0, 16000)
    print(f"1-hour file: {path.stat().st_size / 1e6:.0f} MB 16 kHz 16-bit WAV, in a fresh process")
    code = HOUR_CHILD.format(root=str(ROOT), spec=spec, path=str(path), partners=partners,
                             out=str(folder / "hour_chimed.wav"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    print(proc.stdout.rstrip() or proc.stderr[-2000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="RUN_ID, 'pretrained' or a .keras path")
    parser.add_argument("--kind", default=None,
                        help="feature kind of the stand-in network without --model "
                             "(default log-power-v1; speech-embedding-v1: the head)")
    parser.add_argument("--runs", type=int, default=15, help="runs per latency figure")
    parser.add_argument("--no-hour", action="store_true", help="skip the 1-hour RSS figure")
    parser.add_argument("--hour-only", action="store_true", help="only the 1-hour RSS figure")
    parser.add_argument("--no-partners", action="store_true",
                        help="without the partners the model's card joins by max")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    import keras  # noqa: F401  (TensorFlow comes with it)

    print(f"import keras + tensorflow: {time.perf_counter() - t0:.1f} s (once per process)")
    from model.detect.detector import Detector

    with tempfile.TemporaryDirectory(prefix="bench_detect_") as tmp:
        folder = Path(tmp)
        spec = model_file(args.model, folder, args.kind or "log-power-v1")
        if args.hour_only:
            bench_hour(spec, folder, not args.no_partners)
            return 0
        bench_load(spec, max(3, args.runs // 3), not args.no_partners)
        detector = Detector(spec, partners=not args.no_partners)
        from model.detect.inference import load_keras_model

        keras_model = load_keras_model(detector.model_path)
        bench_latency(detector, keras_model, folder, args.runs)
        bench_throughput(detector, keras_model, folder, 3)
        if not args.no_hour:
            bench_hour(spec, folder, not args.no_partners)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
