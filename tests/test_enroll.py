"""Enrolment pieces without training: take checks, bad inputs, the profile folder, hold-out,
the personal dataset's splits and the threshold / refusal rule."""
from __future__ import annotations

import json

import numpy as np
import pytest

from model.audio.features import SAMPLE_RATE_HZ
from model.audio.files import write_wav_atomic
from model.enroll.judge import GRID, JudgeConfig, RefusedModel, pick_threshold
from model.enroll.personal import ClipSet, PersonalDataConfig, write_split
from model.enroll.pipeline import hold_out_plan
from model.enroll.profile import (MIN_TAKES, add_take, check_word, delete_take, good_takes,
                                  open_profile, take_files)
from model.enroll.standin import standin_takes
from model.enroll.takes import check_take, read_and_check
from model.data.dataset import load_dataset
from model.errors import ConfigError

SR = SAMPLE_RATE_HZ


@pytest.fixture(scope="module")
def takes():
    """Three stand-in takes of "activate" (a piper pitch band the candidates never trained on)."""
    return standin_takes("activate", 3, seed=5)


def _noise(seconds: float, db: float = -65.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10 ** (db / 20), int(seconds * SR)).astype(np.float32)


def test_good_take_is_trimmed_to_its_spoken_span(takes):
    report, trimmed = check_take(takes[0], "t1")
    assert report.ok, report.message
    lo, hi = report.span_s
    assert 0.3 < hi - lo < 1.5
    # trimmed to the span plus small margins, far shorter than the recording
    assert trimmed.size < takes[0].size - 0.5 * SR
    assert abs(trimmed.size / SR - (hi - lo)) < 0.2


@pytest.mark.parametrize("make, words", [
    (lambda t: np.zeros(SR, np.float32), "silence"),
    (lambda t: np.clip(t * 40, -1, 1), "clipped"),
    (lambda t: _noise(2.0, -40.0), "no speech"),
    (lambda t: t * 10 ** (-50 / 20), "too quiet"),
    (lambda t: np.concatenate([_noise(0.5), np.sin(np.arange(int(0.1 * SR)) * 0.05).astype(np.float32)
                               * 0.3, _noise(0.5, seed=1)]), "too short"),
    (lambda t: np.concatenate([_noise(0.3)] + [t] * 6), "too long"),
    (lambda t: np.concatenate([t] * 20)[: 30 * SR] if np.concatenate([t] * 20).size >= 30 * SR
     else np.resize(t, 30 * SR), "too long"),
])
def test_bad_takes_get_one_line_and_are_not_used(takes, make, words):
    report, trimmed = check_take(make(takes[0]).astype(np.float32), "bad.wav")
    assert trimmed is None and not report.ok
    assert words in report.message and "\n" not in report.message
    assert report.message.startswith("bad.wav: ")


def test_a_text_file_and_a_30_s_file_are_one_line(tmp_path):
    text = tmp_path / "take.wav"
    text.write_text("this is not audio\n")
    report, audio = read_and_check(text)
    assert audio is None and "not audio" in report.message and "\n" not in report.message
    long = write_wav_atomic(tmp_path / "long.wav", _noise(30.0, -30.0), SR)
    report, audio = read_and_check(long)
    assert audio is None and "too long" in report.message


def test_empty_word_and_bad_names_are_one_line():
    for word in ("", "   ", None):
        with pytest.raises(ConfigError, match="the word is empty"):
            check_word(word)
    with pytest.raises(ConfigError, match="not a word"):
        check_word("act1vate!")
    assert check_word("  Activate ") == "activate"
    with pytest.raises(ConfigError, match="name"):
        open_profile("activate", "../etc", create=False)


def test_profile_stores_takes_on_disk_and_deletes_them(tmp_path, takes):
    folder, prof = open_profile("activate", "ann", tmp_path)
    for i, take in enumerate(takes[:2]):
        path = write_wav_atomic(tmp_path / f"in{i}.wav", take, SR)
        assert add_take(folder, prof, path).ok
    bad = add_take(folder, prof, b"not audio at all", "upload.wav")
    assert not bad.ok and "not audio" in bad.message
    assert [p.name for p in take_files(folder)] == ["01.wav", "02.wav"]
    # a refresh reads the same profile back from disk
    _, again = open_profile("activate", "ann", tmp_path)
    assert [t["file"] for t in again.takes] == ["01.wav", "02.wav"]
    assert len(good_takes(folder, again)) == 2
    delete_take(folder, again, "01.wav")
    assert [p.name for p in take_files(folder)] == ["02.wav"]
    with pytest.raises(ConfigError,
                       match=f"1 good take of 'activate'; enrolment needs at least {MIN_TAKES}"):
        good_takes(folder, again)
    assert not list(folder.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_hold_out_plan():
    assert hold_out_plan(2) == ([[0], [1]], True)  # leave-one-out
    assert hold_out_plan(3) == ([[0], [1], [2]], True)
    assert hold_out_plan(4) == ([[3]], False)
    assert hold_out_plan(6) == ([[5]], False)
    assert hold_out_plan(7) == ([[5, 6]], False)
    assert hold_out_plan(10) == ([[8, 9]], False)


def test_held_out_takes_go_to_dev_only(tmp_path):
    rng = np.random.default_rng(0)
    n = 4 * 3 + 5  # 3 clips of each of 4 takes, 5 synthetic
    take = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3] + [-1] * 5)
    x = rng.normal(size=(n, 116, 96)).astype(np.float16)
    x[:, 0, 0] = np.arange(n)  # a row's identity
    y = np.zeros((n, 116, 1), np.float16)
    y[:, 40:45] = 1  # every clip holds a word
    clips = ClipSet(x, y, take)
    dev = ClipSet(rng.normal(size=(6, 116, 96)).astype(np.float16), np.zeros((6, 116, 1), np.float16),
                  np.full(6, -1))
    meta = write_split(tmp_path / "ds", clips, dev, [3], "activate", PersonalDataConfig(), {})
    data = load_dataset(tmp_path / "ds")
    assert data.meta.feature_kind == "speech-embedding-v1"
    assert (data.n_train, data.n_dev) == (14, 9)
    trained = set(np.asarray(data.x_train[:, 0, 0], np.float32).astype(int))
    assert trained.isdisjoint({9, 10, 11})  # take 3's clips never trained on
    assert list(np.asarray(data.x_dev[:3, 0, 0], np.float32).astype(int)) == [9, 10, 11]
    assert meta.config["dev_take_clips"] == 3 and meta.config["held_takes"] == [3]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # training labels are smoothed (0.05 / 0.95 by default); dev labels stay 0/1 for scoring
    assert np.allclose(np.unique(np.asarray(data.y_train, np.float32)), [0.05, 0.95], atol=1e-3)
    assert np.unique(np.asarray(data.y_dev, np.float32)).tolist() == [0.0, 1.0]


def test_training_only_take_clips_are_trained_on_but_never_judged(tmp_path):
    rng = np.random.default_rng(1)
    # 2 plain clips of each of 2 takes, then 2 training-only clips of each, then 3 synthetic
    take = np.array([0, 0, 1, 1, 0, 0, 1, 1, -1, -1, -1])
    only = np.array([False] * 4 + [True] * 4 + [False] * 3)
    n = len(take)
    x = rng.normal(size=(n, 116, 96)).astype(np.float16)
    x[:, 0, 0] = np.arange(n)
    y = np.zeros((n, 116, 1), np.float16)
    y[:8, 40:45] = 1
    clips = ClipSet(x, y, take, [], only)
    assert clips.judged([1]).tolist() == [False, False, True, True] + [False] * 7
    assert not clips.trained([1])[[2, 3, 6, 7]].any() and clips.trained([1]).sum() == 7
    dev = ClipSet(x[:2], np.zeros((2, 116, 1), np.float16), np.full(2, -1))
    meta = write_split(tmp_path / "ds", clips, dev, [1], "activate", PersonalDataConfig(), {})
    data = load_dataset(tmp_path / "ds")
    ids = lambda a: set(np.asarray(a[:, 0, 0], np.float32).astype(int))  # noqa: E731
    assert ids(data.x_train) == {0, 1, 4, 5, 8, 9, 10}  # take 0's clips of both recipes
    assert list(np.asarray(data.x_dev[:2, 0, 0], np.float32).astype(int)) == [2, 3]
    assert meta.config["dev_take_clips"] == 2 and data.n_dev == 4
    from model.enroll.negatives import with_negatives
    both = with_negatives(clips, dev)
    assert both.only_for_training().tolist() == only.tolist() + [False, False]


def test_training_only_clips_use_a_wider_recipe():
    cfg = PersonalDataConfig(train_ratio=1.0, train_max_takes=10)
    assert [cfg.train_per_take(n) for n in (2, 3, 5, 10)] == [72, 48, 29, 24]
    assert [PersonalDataConfig().train_per_take(n) for n in (2, 3, 4, 10)] == [72, 48, 0, 0]
    assert PersonalDataConfig(train_ratio=0.5, clips_per_take=3).train_per_take(2) == 2
    assert PersonalDataConfig(train_ratio=0.0).train_per_take(2) == 0
    plain, wide = cfg.synth_config("activate", takes=True), cfg.train_config("activate")
    assert wide.augment.speed_range[0] < plain.augment.speed_range[0]
    assert wide.augment.speed_prob > plain.augment.speed_prob
    assert wide.augment.pitch_semitones == plain.augment.pitch_semitones  # +-1 semitone, as asked
    assert wide.snr_db[0] < plain.snr_db[0]
    assert wide.background.weight_babble > plain.background.weight_babble


def _labels(n: int, word_step: int = 40) -> np.ndarray:
    y = np.zeros((n, 116), np.float32)
    y[:, word_step:word_step + 5] = 1
    return y


def test_threshold_is_picked_within_the_false_accept_budget():
    y = np.concatenate([_labels(6), np.zeros((30, 116), np.float32)])
    p = np.full(y.shape, 0.01, np.float32)
    p[:6, 41] = 0.97  # every held-out take found up to 0.97
    p[6:8, 80] = 0.9  # two false accepts at 0.9 and below
    fig, note = pick_threshold(p, y, 6, JudgeConfig(target_fa_per_hour=6.0))
    assert fig.recall == 1.0 and fig.false_accepts == 0
    assert 0.9 < fig.threshold <= 0.97 and fig.threshold in GRID
    assert "held-out takes" in note


def test_a_model_that_fires_on_everything_is_refused():
    y = np.concatenate([_labels(2), np.zeros((10, 116), np.float32)])
    p = np.ones(y.shape, np.float32)
    with pytest.raises(RefusedModel, match="not saved: the fine-tuned model fires"):
        pick_threshold(p, y, 2, JudgeConfig())


def test_a_trial_can_start_from_a_keras_file(tmp_path):
    """Enrolment's one change to the trial engine: ``init`` may name a .keras file."""
    from model.train.trial_config import TrialConfig, init_model_path, validate_trial_config
    base = "bench/candidates/embed-head-1000.keras"
    validate_trial_config(TrialConfig(init=base))
    assert str(init_model_path(base)) == base and init_model_path("scratch") is None
    with pytest.raises(ConfigError, match="no such file"):
        validate_trial_config(TrialConfig(init=str(tmp_path / "gone.keras")))
    with pytest.raises(ConfigError, match="choose scratch, pretrained or a .keras file"):
        validate_trial_config(TrialConfig(init="imagenet"))


def test_another_word_gets_more_synthetic_clips_and_epochs_unless_chosen():
    from pathlib import Path
    from dataclasses import replace

    from model.enroll.finetune import BaseModel
    from model.enroll.pipeline import EnrollConfig, for_word
    from model.train.network import HeadConfig
    base = BaseModel(Path("b.keras"), "speech-embedding-v1", HeadConfig(), "b", "activate")
    cfg = EnrollConfig()
    assert for_word(cfg, base, "activate") is cfg
    other = for_word(cfg, base, "computer")
    assert other.data.synth_train == cfg.data.new_word_synth_train
    assert other.finetune.epochs == cfg.finetune.new_word_epochs
    assert other.finetune.learning_rate == cfg.finetune.new_word_learning_rate
    chosen = replace(cfg, finetune=replace(cfg.finetune, epochs=1))
    assert for_word(chosen, base, "computer").finetune.epochs == 1  # a chosen count is kept


def test_few_takes_get_more_clips_each():
    auto = PersonalDataConfig()
    assert [auto.per_take(n) for n in (2, 3, 5, 6, 10)] == [72, 48, 29, 24, 24]
    assert PersonalDataConfig(clips_per_take=3).per_take(2) == 3  # a chosen number is kept


def test_figures_at_use_the_exact_threshold():
    from model.enroll.judge import figures_at
    y = _labels(2)
    p = np.full(y.shape, 0.01, np.float32)
    p[:, 41] = 0.935
    assert figures_at(p, y, 2, 0.93).found == 2  # not rounded up to a grid point (0.95)
    assert figures_at(p, y, 2, 0.93).threshold == 0.93


def test_negative_clips_hold_no_trigger_and_are_built_once(tmp_path, monkeypatch):
    from model.data.makedata import DEFAULT_CACHE_DIR
    from model.enroll import negatives
    (tmp_path / "banks").symlink_to(DEFAULT_CACHE_DIR.resolve(), target_is_directory=True)
    DEFAULT_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cfg = PersonalDataConfig(negatives=3)
    recipe = negatives.negatives_recipe("activate", cfg)
    assert recipe.max_triggers == 0 and recipe.max_others == cfg.negative_max_others
    assert recipe.background.weight_babble == cfg.negative_babble_weight
    first = negatives.synthetic_negatives("activate", cfg, tmp_path / "banks")
    assert first.x.shape == (3, 116, 96) and not np.asarray(first.y).any()
    assert (first.take == -1).all() and np.isfinite(np.asarray(first.x, np.float32)).all()
    assert len(list((tmp_path / "enroll").glob("negatives-*.npz"))) == 1

    def no_rendering(*args, **kwargs):
        raise AssertionError("negative clips rendered again instead of read from the cache")
    monkeypatch.setattr(negatives, "render_clips", no_rendering)
    again = negatives.synthetic_negatives("activate", cfg, tmp_path / "banks")
    assert np.array_equal(again.x, first.x)
    none = negatives.synthetic_negatives("activate", PersonalDataConfig(negatives=0), tmp_path / "banks")
    assert none.x.shape == (0, 116, 96)
    both = negatives.with_negatives(first, first)
    assert len(both.x) == 6 and len(both.take) == 6
