"""``python -m model make-data``: synthesise XY_train with a progress bar."""
from __future__ import annotations

import argparse

from ..data.dataset import DEFAULT_DATASET_DIR
from ..errors import ConfigError
from ..audio.features import SYNTH_FEATURE_KINDS
from ..data.synth import SynthConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--examples", type=int, default=2000, help="training examples (default 2000)")
    p.add_argument("--dev-examples", type=int, default=None,
                   help="dev examples, voices training never heard (default: examples/10, at least 1)")
    p.add_argument("--word", default="activate", help="the trigger word (default: activate)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes")
    p.add_argument("--neural-share", type=float, default=0.5,
                   help="share of clips spoken by the neural voice, 0..1 (default 0.5)")
    p.add_argument("--bank-trigger-clips", type=int, default=0,
                   help="trigger-word clips in each split's word bank (default: 0.3 per example)")
    p.add_argument("--bank-other-clips", type=int, default=0,
                   help="other-word clips in each split's word bank (default: 0.3 per example)")
    p.add_argument("--raw-data", default="", metavar="DIR",
                   help="folder with activates/, negatives/, backgrounds/ WAV recordings to mix in")
    p.add_argument("--raw-only", action="store_true", help="use the recordings alone (no text-to-speech)")
    p.add_argument("--no-augment", action="store_true", help="turn every augmentation off")
    p.add_argument("--air-prob", type=float, default=0.0, metavar="P",
                   help="chance a word gets speech-like energy above 11.5 kHz (default 0)")
    p.add_argument("--rir-prob", type=float, default=0.0, metavar="P",
                   help="chance a word is heard in a real room: convolved with a measured (3 in 10) "
                        "or simulated room impulse response instead of the synthetic reverb "
                        "(default 0; files from bash scripts/fetch_acoustics.sh)")
    p.add_argument("--ambience-share", type=float, default=0.0, metavar="P",
                   help="share of backgrounds that are real recordings: ambience (3 in 4: rain "
                        "forest, train, drone, machine hum) and typing (1 in 4), default 0")
    p.add_argument("--out", default=str(DEFAULT_DATASET_DIR), help="output folder (default XY_train)")
    p.add_argument("--workers", type=int, default=None, help="mixing processes (default: cores)")
    p.add_argument("--snr-db", default="", metavar="LOW,HIGH",
                   help="speech-to-background ratio range in dB (default 0,30; write --snr-db=-5,25 "
                        "for a negative low end)")
    p.add_argument("--max-others", type=int, default=None, metavar="N",
                   help="other words per clip, uniform 0..N (default 2); negatives the model "
                        "must learn to ignore")
    p.add_argument("--background-pool", type=int, default=None,
                   help="generated backgrounds per split, reused at random shifts "
                        "(default 48; 0: a fresh one for every clip)")
    p.add_argument("--features", choices=SYNTH_FEATURE_KINDS, default=SYNTH_FEATURE_KINDS[0],
                   help="features stored: log power (default), per-channel energy normalisation, "
                        "or openWakeWord's speech embeddings (96 values every 80 ms; a small head "
                        "trains on them)")
    p.add_argument("--kokoro-share", type=float, default=0.0, metavar="P",
                   help="chance a word is spoken by a Kokoro voice (25 blends of 5 packs; slow: "
                        "~1 s a word when the bank is built, then cached; default 0: none)")
    p.add_argument("--clear-triggers", action="store_true",
                   help="train only on trigger takes that pocketsphinx (trained on real voices) "
                        "hears as the word among ~20 similar words; dev keeps every take")
    p.add_argument("--dev-engines", default="", metavar="ENGINES",
                   help="comma list of text-to-speech engines (espeak, piper, kokoro) held out of training "
                        "whole: all their voices go to dev, to measure a model on an engine it never "
                        "heard (default: none; each engine's families split train/dev)")
    p.add_argument("--cache-dir", default="", help="word-bank cache folder (default .cache/banks)")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """SynthConfig from parsed arguments (validation happens in make_dataset)."""
    from ..data.augment import AugmentConfig

    n_dev = args.dev_examples if args.dev_examples is not None else max(1, args.examples // 10)
    return SynthConfig(word=args.word, n_train=args.examples, n_dev=n_dev, seed=args.seed,
                       neural_share=args.neural_share, kokoro_share=args.kokoro_share,
                       raw_data=args.raw_data,
                       bank_trigger_clips=args.bank_trigger_clips,
                       bank_other_clips=args.bank_other_clips,
                       raw_mode="only" if args.raw_only else "mix",
                       augment=AugmentConfig.off() if args.no_augment
                       else AugmentConfig(air_prob=args.air_prob, rir_prob=args.rir_prob),
                       **_mixing_overrides(args))


def _mixing_overrides(args: argparse.Namespace) -> dict:
    """SynthConfig fields set by --snr-db, --background-pool, --max-others, --clear-triggers and
    --ambience-share (absent: the defaults)."""
    out: dict = {}
    if args.snr_db:
        try:
            low, high = (float(v) for v in args.snr_db.split(","))
        except ValueError:
            raise ConfigError(f"--snr-db takes two numbers LOW,HIGH in dB, got {args.snr_db!r}") from None
        out["snr_db"] = (low, high)
    if args.background_pool is not None:
        out["background_pool"] = args.background_pool
    if getattr(args, "max_others", None) is not None:
        out["max_others"] = args.max_others
    if getattr(args, "clear_triggers", False):
        out["clear_triggers"] = True
    if getattr(args, "ambience_share", 0.0):
        from ..data.backgrounds import BackgroundConfig

        out["background"] = BackgroundConfig().with_real_share(args.ambience_share)
    return out


def dev_engines_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """Engine names of --dev-engines (checked by make_dataset; empty: none held out)."""
    return tuple(e.strip() for e in (getattr(args, "dev_engines", "") or "").split(",") if e.strip())


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..data.makedata import make_dataset

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=total, desc=stage, unit="clip"
                                                             if stage != "mix" else "ex"))
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    from ..data.makedata import DEFAULT_CACHE_DIR

    report = make_dataset(config_from_args(args), args.out, progress=progress, workers=args.workers,
                          cache_dir=args.cache_dir or DEFAULT_CACHE_DIR, feature_kind=args.features,
                          dev_engines=dev_engines_from_args(args))
    meta = report.meta
    print(f"wrote {report.out_dir}: {meta.n_train} train + {meta.n_dev} dev examples of "
          f"'{meta.word}' ({len(meta.train_voices)} train / {len(meta.dev_voices)} dev voice families); "
          f"voices {report.bank_seconds:.1f} s, mixing {report.mix_seconds:.1f} s "
          f"({report.mix_examples_per_s:.1f} examples/s)")
    if report.heard:
        print("clear triggers: training uses the takes pocketsphinx heard as the word: " + ", ".join(
            f"{engine} {kept}/{total}" for engine, (kept, total) in sorted(report.heard.items())))
    return 0
