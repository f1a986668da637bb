"""The whole enrolment: profile takes -> personal dataset -> fine-tune trial(s) -> judge -> save.

Hold-out: with 4 or more good takes the last one (two from 7 takes on) is held out and never
trained on; the saved model is the one trained without it. With 2 or 3 takes each take is
held out in turn (leave-one-out: one fine-tune per take, judged on that take's clips), and
the saved model is a last fine-tune on all of them; the card says which scheme ran.
Nothing is written beside the profile's takes until the model has passed judging, and the
base model is only ever read.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio.features import SAMPLE_RATE_HZ
from ..audio.files import write_wav_atomic
from ..card import model_card_path, recommended_threshold
from ..data.makedata import DEFAULT_CACHE_DIR
from ..runs.jobs import Runner
from .finetune import BaseModel, FinetuneConfig, finetune, resolve_base, trial_settings
from .judge import Figures, JudgeConfig, RefusedModel, figures_at, pick_threshold, predict
from .negatives import own_negative_clips, synthetic_negatives, with_negatives
from .personal import KIND, ClipSet, PersonalDataConfig, synthetic_dev, take_clips, write_split
from .profile import MODEL_FILE, RESULT_FILE, Profile, good_takes, write_text_atomic

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class EnrollConfig:
    """One enrolment's settings; stored in the card and enroll.json."""

    data: PersonalDataConfig = field(default_factory=PersonalDataConfig)  # personal dataset
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # the trial
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # threshold and refusal
    out: str = ""  # where the model goes ("": <profile>/my-model.keras)


@dataclass
class EnrollResult:
    """What an enrolment produced and measured."""

    model_path: Path  # the saved .keras (its card beside it)
    scheme: str  # how takes were held out, one line
    before: Figures  # the base model at its own card threshold (0.5 without one)
    after: Figures  # the personal model at the threshold picked
    note: str  # how the threshold was picked
    run_ids: list[str]  # the fine-tune runs in the store (the last one is the saved model's)
    seconds: float  # wall-clock of the whole enrolment
    base_tuned: Figures | None = None  # the base at a threshold picked the same way (None: refused)
    kept_base: bool = False  # the fine-tune found fewer held-out takes: "my model" is the base


def for_word(cfg: EnrollConfig, base: BaseModel, word: str) -> EnrollConfig:
    """The settings for enrolling ``word`` on ``base``: unchanged for the base's own word; for
    another word, more synthetic clips of it, more epochs and a larger step (it must relearn).
    Only settings left at their defaults change: a chosen epoch count or size is kept."""
    if base.word == word:
        return cfg
    d, f = PersonalDataConfig(), FinetuneConfig()
    data = cfg.data if cfg.data.synth_train != d.synth_train else \
        replace(cfg.data, synth_train=cfg.data.new_word_synth_train)
    ft = cfg.finetune
    if ft.epochs == f.epochs:
        ft = replace(ft, epochs=ft.new_word_epochs)
    if ft.learning_rate == f.learning_rate:
        ft = replace(ft, learning_rate=ft.new_word_learning_rate)
    return replace(cfg, data=data, finetune=ft)


def hold_out_plan(n_takes: int) -> tuple[list[list[int]], bool]:
    """Which takes each fine-tune holds out.

    Returns:
        (held-out take lists, one per judged fine-tune; True when a last fine-tune on all
        takes makes the saved model (leave-one-out)).
    """
    if n_takes >= 4:
        return [list(range(n_takes - (2 if n_takes >= 7 else 1), n_takes))], False
    return [[j] for j in range(n_takes)], True


def _scheme(names: list[str], folds: list[list[int]], loo: bool) -> str:
    if loo:
        return (f"leave-one-out over {len(names)} takes: each judged by a fine-tune without it; "
                "the saved model trained on all of them")
    held = ", ".join(names[j] for j in folds[0])
    return f"held out {held} (never trained on); trained on {len(names) - len(folds[0])} takes"


class _Scores:
    """Dev rows gathered over the judged fine-tunes: held-out take rows, then the rest."""

    def __init__(self) -> None:
        self.take_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # before, after, y
        self.other_rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        parts = self.take_rows + [self.other_rows]
        before, after, y = (np.concatenate([p[k] for p in parts]) for k in range(3))
        return before, after, y[..., 0].astype(np.float32), sum(len(p[2]) for p in self.take_rows)


def enroll(folder: Path, prof: Profile, cfg: EnrollConfig, runner: Runner,
           progress: ProgressFn | None = None, cancel: threading.Event | None = None,
           cache_dir: Path = DEFAULT_CACHE_DIR) -> EnrollResult:
    """Enrol a profile's takes and save the personal model (see the module docstring).

    Args:
        folder: the profile folder (takes/ inside).
        prof: its profile.
        cfg: settings.
        runner: the job queue the fine-tunes go through.
        progress: ``progress(stage, done, total)``, called on this thread.
        cancel: set it to stop; nothing is saved then.
        cache_dir: word-bank cache.

    Returns:
        EnrollResult.

    Raises:
        LabError (ConfigError, RefusedModel, ...): one line; nothing half-written.
    """
    t0 = time.perf_counter()
    names, takes = zip(*good_takes(folder, prof))
    base = resolve_base(cfg.finetune.init, runner.store.path)
    cfg = for_word(cfg, base, prof.word)
    clips = take_clips(list(takes), prof.word, cfg.data, cache_dir, progress, cancel)
    clips = with_negatives(clips, synthetic_negatives(prof.word, cfg.data, cache_dir, progress, cancel))
    clips = with_negatives(clips, own_negative_clips(list(takes), prof.word, cfg.data, cache_dir,
                                                     progress, cancel))
    dev, quiet_i, quiet_audio = synthetic_dev(prof.word, cfg.data, cache_dir, progress, cancel)
    job = _Job(Path(folder), prof, cfg, base, runner, list(names), clips, dev, cancel,
               progress or (lambda *a: None))
    try:
        scores, run_ids, fold_models, final = job.fine_tunes()
        job.say("judge", 0, 1)
        before_p, after_p, y, n_take = scores.arrays()
        after, note = pick_threshold(after_p, y, n_take, cfg.judge)
        before = figures_at(before_p, y, n_take, recommended_threshold(base.path) or 0.5)
        tuned = _base_tuned(before_p, y, n_take, cfg.judge)
        kept = tuned is not None and tuned.found > after.found
        if kept:  # personalising made it worse on your own held-out takes: keep the base
            note = (f"the fine-tune found {after.found}/{after.words} held-out takes, the base "
                    f"{tuned.found} at a threshold picked the same way: my model is the base")
            after, final, fold_models = tuned, base.path, {j: base.path for j in fold_models}
        curves = _curves(clips, dev, quiet_i, base, fold_models, final, names)
        out = Path(cfg.out) if cfg.out else Path(folder) / MODEL_FILE
        scheme = _scheme(list(names), *hold_out_plan(len(names)))
        if base.word != prof.word:
            scheme += (f"; {base.path.name} detects {base.word!r}: {cfg.data.synth_train} synthetic "
                       f"clips of {prof.word!r} too, {cfg.finetune.epochs} epochs")
        result = EnrollResult(out, scheme, before, after, note, run_ids, time.perf_counter() - t0,
                              tuned, kept)
        _save(final, result, prof, base, cfg, curves, folder, clips, quiet_audio)
        return result
    finally:
        shutil.rmtree(job.work, ignore_errors=True)


@dataclass
class _Job:
    """One enrolment's fixed inputs, shared by its fine-tunes."""

    folder: Path  # the profile folder
    prof: Profile  # its profile
    cfg: EnrollConfig  # settings
    base: BaseModel  # the model fine-tuned
    runner: Runner  # the job queue
    names: list[str]  # take file names, in take order
    clips: ClipSet  # take and synthetic training clips
    dev: ClipSet  # synthetic dev clips
    cancel: threading.Event | None  # set to stop
    say: ProgressFn  # progress callback

    @property
    def work(self) -> Path:
        """Folder of the leave-one-out datasets (removed at the end)."""
        return self.folder / "work"

    def train(self, out: Path, held: list[int], label: str) -> tuple[str, Path]:
        """Write one split and fine-tune on it; returns (run ID, model path)."""
        write_split(out, self.clips, self.dev, held, self.prof.word, self.cfg.data,
                    {"profile": self.prof.name, "takes": self.names, "base": str(self.base.path)})
        return finetune(out, self.base, self.cfg.finetune, self.runner,
                        f"enrol {self.folder.name} ({label})", cancel=self.cancel)

    def fine_tunes(self) -> tuple[_Scores, list[str], dict[int, Path], Path]:
        """Every fine-tune of the hold-out plan, scored on its held-out takes.

        Returns:
            (scores, run IDs, model of each held-out take's fine-tune, the model to save).
        """
        folds, loo = hold_out_plan(len(self.names))
        scores, run_ids, fold_models = _Scores(), [], {}
        for k, held in enumerate(folds):
            self.say("fine-tune", k, len(folds) + int(loo))
            # the saved model's dataset stays beside the profile (its run names it)
            out = self.work / f"fold{k}" if loo else self.folder / "dataset"
            run_id, model = self.train(out, held, f"{k + 1}/{len(folds)}")
            run_ids.append(run_id)
            _score_fold(scores, self.clips, self.dev, held, self.base, model, last=not loo,
                        own_voice=self.cfg.judge.count_own_voice)
            fold_models.update({j: model for j in held})
        if not loo:
            return scores, run_ids, fold_models, model
        self.say("fine-tune", len(folds), len(folds) + 1)
        run_id, final = self.train(self.folder / "dataset", [], "all takes")
        scores.other_rows = (predict(self.base.path, self.dev.x), predict(final, self.dev.x),
                             self.dev.y)
        return scores, run_ids + [run_id], fold_models, final


def _base_tuned(probs: np.ndarray, labels: np.ndarray, n_take: int, cfg: JudgeConfig
                ) -> Figures | None:
    """The base at the threshold the judge would pick for it (None: it would be refused)."""
    try:
        return pick_threshold(probs, labels, n_take, cfg)[0]
    except RefusedModel:
        return None


def _score_fold(scores: _Scores, clips: ClipSet, dev: ClipSet, held: list[int], base: BaseModel,
                model: Path, last: bool, own_voice: bool = False) -> None:
    """Base and fold-model probabilities on the held-out takes' clips (and, for the saved
    model when it is this fold's, on the synthetic dev clips); ``own_voice``: also on the held
    takes' take-free training-only clips (JudgeConfig.count_own_voice)."""
    mask = clips.judged(held)
    if own_voice:  # the held takes' take-free training-only clips: false accepts only
        free = ~np.asarray(clips.y, np.float32).reshape(len(clips.y), -1).any(axis=1)
        mask = mask | (np.isin(clips.take, held) & clips.only_for_training() & free)
    scores.take_rows.append((predict(base.path, clips.x[mask]), predict(model, clips.x[mask]),
                             clips.y[mask]))
    if last:
        scores.other_rows = (predict(base.path, dev.x), predict(model, dev.x), dev.y)


def _curves(clips: ClipSet, dev: ClipSet, quiet_i: int, base: BaseModel,
            fold_models: dict[int, Path], final: Path, names) -> list[dict]:
    """Before/after probabilities on one clip of each held-out take and a take-free clip."""
    out = []
    for j, model in sorted(fold_models.items()):
        row = int(np.flatnonzero(clips.judged([j]))[0])
        x = clips.x[row:row + 1]
        out.append({"label": f"held-out take {names[j]}", "audio": f"eval/take_{j + 1:02d}.wav",
                    "before": predict(base.path, x)[0].round(4).tolist(),
                    "after": predict(model, x)[0].round(4).tolist(),
                    "labels": clips.y[row, :, 0].astype(float).tolist()})
    x = dev.x[quiet_i:quiet_i + 1]
    out.append({"label": "take-free clip (synthetic dev)", "audio": "eval/take_free.wav",
                "before": predict(base.path, x)[0].round(4).tolist(),
                "after": predict(final, x)[0].round(4).tolist(),
                "labels": dev.y[quiet_i, :, 0].astype(float).tolist()})
    return out


def _save(model: Path, result: EnrollResult, prof: Profile, base: BaseModel, cfg: EnrollConfig,
          curves: list[dict], folder: Path, clips: ClipSet, quiet_audio: np.ndarray) -> None:
    """Copy the model and write its card and enroll.json, each through a temporary name."""
    out = result.model_path
    out.parent.mkdir(parents=True, exist_ok=True)
    for j, audio in enumerate(clips.audio):
        if any(c["audio"] == f"eval/take_{j + 1:02d}.wav" for c in curves):
            write_wav_atomic(Path(folder) / "eval" / f"take_{j + 1:02d}.wav", audio, SAMPLE_RATE_HZ)
    write_wav_atomic(Path(folder) / "eval" / "take_free.wav", quiet_audio, SAMPLE_RATE_HZ)
    facts = {"word": prof.word, "profile": prof.name, "profile_dir": str(Path(folder).resolve()),
             "base": str(base.path), "scheme": result.scheme, "threshold_note": result.note,
             "before": result.before.to_dict(), "after": result.after.to_dict(),
             "base_tuned": result.base_tuned.to_dict() if result.base_tuned else None,
             "kept_base": result.kept_base,
             "run_ids": result.run_ids, "seconds": round(result.seconds, 1),
             "training": trial_settings(cfg.finetune), "data": asdict(cfg.data),
             "judge": asdict(cfg.judge), "date": time.strftime("%Y-%m-%d", time.gmtime())}
    write_text_atomic(Path(folder) / RESULT_FILE, json.dumps({**facts, "curves": curves}))
    card = {"feature_kind": KIND, "threshold": result.after.threshold, **facts}
    write_text_atomic(model_card_path(out), json.dumps(card, indent=1))
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.keras")
    try:
        shutil.copyfile(model, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
