"""Hard-negative mining: which pool clips are kept, how the dataset grows (atomically), and
one real pass through make-data's recipe with a saved head."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from model.data.dataset import load_dataset
from model.detect import mining
from model.detect.mining import MiningConfig, append_training_rows, mine_negatives, select_hard
from model.errors import ConfigError, LabError
from tests.embedding_heads import random_head, save_head
from tests.tinydata import write_tiny_embedding_dataset


def test_select_hard_keeps_the_highest_peaks_above_the_floor_in_a_stable_order():
    peaks = np.array([0.2, 0.9, 0.01, 0.9, 0.5, 0.04])
    assert select_hard(peaks, keep=3, min_peak=0.05).tolist() == [1, 3, 4]
    assert select_hard(peaks, keep=10, min_peak=0.05).tolist() == [1, 3, 4, 0]
    assert select_hard(peaks, keep=10, min_peak=0.95).size == 0


@pytest.mark.parametrize("field,value", [("pool", 0), ("keep", 0), ("min_peak", 1.0),
                                         ("max_others", 0), ("batch_size", 0)])
def test_bad_settings_are_one_line_errors(field, value):
    with pytest.raises(ConfigError) as err:
        MiningConfig(**{field: value}).validate()
    assert "\n" not in str(err.value)


def test_appended_rows_are_the_chosen_pool_clips_with_zero_labels(tmp_path):
    data = load_dataset(write_tiny_embedding_dataset(tmp_path / "d", n_train=5, n_dev=2, seed=0))
    pool = load_dataset(write_tiny_embedding_dataset(tmp_path / "p", n_train=6, n_dev=1, seed=1))
    out = tmp_path / "grown"
    n = append_training_rows(data, pool, np.array([4, 1]), out, {"kept": 2})
    grown = load_dataset(out)
    assert n == grown.n_train == 7
    np.testing.assert_array_equal(grown.x_train[:5], data.x_train)
    np.testing.assert_array_equal(grown.x_train[5:], pool.x_train[[1, 4]])
    np.testing.assert_array_equal(grown.y_train[:5], data.y_train)
    assert not np.any(np.asarray(grown.y_train[5:]))
    np.testing.assert_array_equal(grown.x_dev, data.x_dev)
    assert grown.meta.config["mined"] == [{"kept": 2}]
    assert grown.meta.feature_kind == data.meta.feature_kind


def test_a_failed_write_leaves_the_dataset_untouched_and_no_temporary_folder(tmp_path, monkeypatch):
    folder = write_tiny_embedding_dataset(tmp_path / "d", n_train=5, n_dev=2)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    data = load_dataset(folder)
    pool = load_dataset(write_tiny_embedding_dataset(tmp_path / "p", n_train=6, n_dev=1, seed=1))
    calls = []

    def failing(path, parts, n):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(path, parts, n)

    real = mining._write_rows
    monkeypatch.setattr(mining, "_write_rows", failing)
    with pytest.raises(OSError):
        append_training_rows(data, pool, np.array([0]), folder, {})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "p"]


def test_a_dataset_without_a_recipe_is_refused(tmp_path):
    folder = write_tiny_embedding_dataset(tmp_path / "d", n_train=4, n_dev=1)
    head = save_head(random_head(), tmp_path, "head.keras")
    with pytest.raises(LabError, match="records no synthesis recipe"):
        mine_negatives(folder, str(head), MiningConfig(pool=2, keep=1))


@pytest.fixture(scope="module")
def recipe_set(tmp_path_factory):
    """A real make-data embedding dataset (4 clips) and a word-bank cache."""
    from model.data.makedata import make_dataset
    from model.data.synth import SynthConfig

    root = tmp_path_factory.mktemp("mine")
    cfg = SynthConfig(n_train=4, n_dev=1, background_pool=2, bank_trigger_clips=4,
                      bank_other_clips=4)
    make_dataset(cfg, root / "ds", workers=1, cache_dir=root / "cache",
                 feature_kind="speech-embedding-v1")
    return root


def test_mining_renders_a_trigger_free_pool_from_the_recipe_and_appends_its_hardest(recipe_set,
                                                                                   tmp_path):
    head = save_head(random_head(), tmp_path, "head.keras")
    rep = mine_negatives(recipe_set / "ds", str(head), MiningConfig(pool=6, keep=3, min_peak=0.0),
                         out_dir=tmp_path / "grown", workers=1, cache_dir=recipe_set / "cache")
    grown, old = load_dataset(tmp_path / "grown"), load_dataset(recipe_set / "ds")
    assert (rep.pool, rep.kept, rep.n_train, grown.n_train) == (6, 3, 7, 7)
    assert not np.any(np.asarray(grown.y_train[4:]))
    np.testing.assert_array_equal(grown.x_train[:4], old.x_train)
    assert rep.kept_peak_min <= rep.pool_peak_median or rep.kept == rep.pool
    note = grown.meta.config["mined"][0]
    assert (note["pool"], note["kept"], note["model"]) == (6, 3, str(head))
    with open(tmp_path / "grown" / "examples.csv", newline="") as fh:
        rows = [r for r in csv.reader(fh)][1:]
    mined = [r for r in rows if r[5].startswith("mined:")]
    assert [r[1] for r in mined] == ["4", "5", "6"] and all(r[2] == "0" for r in mined)
    assert not list(tmp_path.glob(".grown.*")) and not list(recipe_set.glob(".ds.*"))


def test_mining_refuses_a_pool_whose_voices_would_leak_from_dev(recipe_set, tmp_path):
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(recipe_set / "ds", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["dev_voices"] = meta["dev_voices"] + meta["train_voices"][:1]
    (folder / "meta.json").write_text(json.dumps(meta))
    head = save_head(random_head(), tmp_path, "head.keras")
    with pytest.raises(LabError, match="would reach training"):
        mine_negatives(folder, str(head), MiningConfig(pool=2, keep=1), workers=1,
                       cache_dir=recipe_set / "cache")
    assert load_dataset(folder).n_train == 4
