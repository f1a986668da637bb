"""Ensembles: member files named in a model's card, averaged in detection and evaluation."""
import json

import numpy as np
import pytest

from model.detect.detector import DetectConfig, Detector
from model.detect.dev_scores import read_dev_truth, score_dev
from model.detect.ensemble import check_convertible, member_paths, model_members, predict_ensemble
from model.errors import LabError
from model.detect.evaluate import evaluate_model, predict_clips
from model.audio.features import (FEATURE_KIND_LOG, FEATURE_KIND_PCEN, SAMPLE_RATE_HZ,
                                  audio_to_features, log_power_to_pcen)
from model.detect.inference import load_keras_model
from model.card import write_model_card
from tests.tinydata import write_tiny_dataset


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two small networks, one on log power and one on PCEN; the first names the second."""
    import keras

    from model.train.network import NetworkConfig, build_model

    d = tmp_path_factory.mktemp("ensemble")
    for i, (name, kind) in enumerate((("main", FEATURE_KIND_LOG), ("other", FEATURE_KIND_PCEN))):
        keras.utils.set_random_seed(i)
        model = build_model(config=NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1))
        w, b = model.get_layer("out").get_weights()
        model.get_layer("out").set_weights([w * 10.0, b])  # spread probabilities over 0..1
        model.save(d / f"{name}.keras")
        write_model_card(d / f"{name}.keras", kind)
    card = d / "main.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "members": ["other.keras"]}))
    return d


def _speechlike(seconds=3.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SAMPLE_RATE_HZ * seconds)) / SAMPLE_RATE_HZ
    gate = np.sin(2 * np.pi * 1.3 * t) > 0
    return (0.05 * rng.normal(size=t.size) * (1 + 4 * gate)).astype(np.float32)


def test_members_come_from_the_card_with_their_own_feature_kinds(pair):
    members = model_members(pair / "main.keras", FEATURE_KIND_LOG)
    assert [(m.path.name, m.feature_kind) for m in members] == [
        ("main.keras", FEATURE_KIND_LOG), ("other.keras", FEATURE_KIND_PCEN)]
    assert model_members(pair / "other.keras", FEATURE_KIND_PCEN)[1:] == []  # no members


@pytest.mark.parametrize("entry, message", [
    ("../other.keras", "same folder"), ("other.h5", "same folder"),
    ("gone.keras", "missing"), (["other.keras"] * 5, "at most")])
def test_bad_member_entries_are_refused_in_one_line(pair, tmp_path, entry, message):
    (tmp_path / "m.keras").write_bytes((pair / "main.keras").read_bytes())
    (tmp_path / "other.keras").write_bytes((pair / "other.keras").read_bytes())
    members = entry if isinstance(entry, list) else [entry]
    (tmp_path / "m.json").write_text(json.dumps({"feature_kind": "log-power-v1",
                                                 "members": members}))
    with pytest.raises(LabError, match=message) as err:
        member_paths(tmp_path / "m.keras")
    assert "\n" not in str(err.value)


def test_pcen_from_stored_log_power_matches_pcen_from_the_audio():
    audio = _speechlike()
    log = audio_to_features(audio, SAMPLE_RATE_HZ, FEATURE_KIND_LOG)
    direct = audio_to_features(audio, SAMPLE_RATE_HZ, FEATURE_KIND_PCEN)
    np.testing.assert_allclose(log_power_to_pcen(log), direct, atol=2e-3)
    stored = log.astype(np.float16)  # as a dataset keeps it
    assert np.abs(log_power_to_pcen(stored[None])[0] - direct).mean() < 2e-3
    with pytest.raises(LabError, match="cannot be fed"):
        check_convertible(FEATURE_KIND_PCEN, FEATURE_KIND_LOG)
    check_convertible(FEATURE_KIND_LOG, FEATURE_KIND_PCEN)  # declared in the registry
    with pytest.raises(LabError, match="conversions: log-power-v1 to pcen-v1"):
        check_convertible("seed-linear", FEATURE_KIND_PCEN)


def test_detector_averages_its_members_each_on_its_own_features(pair):
    audio = _speechlike(seconds=12.0)  # two pieces of 10.24 s: state carried in both networks
    cfg = DetectConfig(compile_xla=False)
    both = Detector(pair / "main.keras", cfg).detect_samples(audio, SAMPLE_RATE_HZ)
    alone = [Detector.from_keras(load_keras_model(pair / f"{n}.keras"), cfg, feature_kind=k)
             .detect_samples(audio, SAMPLE_RATE_HZ).probabilities
             for n, k in (("main", FEATURE_KIND_LOG), ("other", FEATURE_KIND_PCEN))]
    assert both.feature_kind == "log-power-v1+pcen-v1"
    assert np.abs(alone[0] - alone[1]).max() > 0.05  # the members really differ
    np.testing.assert_allclose(both.probabilities, (alone[0] + alone[1]) / 2, atol=1e-5)


def test_evaluation_scores_the_mean_and_records_each_member(pair, tmp_path):
    data = write_tiny_dataset(tmp_path / "data", n_train=2, n_dev=3)
    report = evaluate_model(str(pair / "main.keras"), data, batch_size=2)
    x = np.load(data / "X_dev.npy")
    main, other = (load_keras_model(pair / f"{n}.keras") for n in ("main", "other"))
    expected = (predict_clips(main, x) + predict_clips(other, log_power_to_pcen(x))) / 2
    mean = predict_ensemble([(main, FEATURE_KIND_LOG), (other, FEATURE_KIND_PCEN)], x,
                            FEATURE_KIND_LOG, batch_size=2)
    np.testing.assert_allclose(mean, expected, atol=1e-6)
    assert list(report.members) == ["other.keras"] and len(report.members["other.keras"]) == 64
    labels = np.load(data / "Y_dev.npy").astype(np.float32).reshape(3, -1)
    truth, _ = read_dev_truth(data, labels)
    assert report.scores.det == score_dev(expected, labels, truth).det
    assert report.scores.det != score_dev(predict_clips(main, x), labels, truth).det


def test_evaluate_command_names_the_members(pair, tmp_path, capsys):
    from model.cli import main

    data = write_tiny_dataset(tmp_path / "data", n_train=2, n_dev=2)
    code = main(["evaluate", "--model", str(pair / "main.keras"), "--dataset", str(data),
                 "--out", str(tmp_path / "eval")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.splitlines()[0].startswith(f"model {pair / 'main.keras'} with members other.keras")
    single = main(["evaluate", "--model", str(pair / "other.keras"), "--dataset", str(data),
                   "--out", str(tmp_path / "eval2")])
    out, err = capsys.readouterr()
    assert single == 2 and "pcen-v1 features but dataset" in err  # a member alone needs PCEN data


def test_piece_sets_share_power_and_equal_each_kind_alone():
    from model.detect.pieces import PieceGrid, iter_feature_piece_sets, iter_feature_pieces

    audio = _speechlike(seconds=7.0)
    blocks = [audio[i:i + 30000] for i in range(0, audio.size, 30000)]
    grid, kinds = PieceGrid(), (FEATURE_KIND_PCEN, FEATURE_KIND_LOG, FEATURE_KIND_PCEN)
    sets = list(iter_feature_piece_sets(iter(blocks), 200, grid, kinds))
    assert len(sets) > 3  # several pieces, the PCEN filter state carried between them
    for k, kind in enumerate(kinds):
        alone = list(iter_feature_pieces(iter(blocks), 200, grid, kind))
        assert len(alone) == len(sets)
        for got, want in zip((s[k] for s in sets), alone):
            np.testing.assert_array_equal(got, want)


def test_a_changed_member_makes_the_report_stale_and_the_detect_cache_key_move(pair, tmp_path):
    import os
    import shutil

    from app.detect_data import model_version
    from app.quality_view import is_stale

    folder = tmp_path / "copy"
    shutil.copytree(pair, folder)
    data = write_tiny_dataset(tmp_path / "data", n_train=2, n_dev=2)
    report = evaluate_model(str(folder / "main.keras"), data, batch_size=2)
    assert not is_stale(report, folder / "main.keras")
    before = model_version(folder / "main.keras")
    other = folder / "other.keras"
    other.write_bytes((pair / "main.keras").read_bytes())  # the member replaced, main untouched
    os.utime(other, (before + 5, before + 5))
    assert is_stale(report, folder / "main.keras")
    assert model_version(folder / "main.keras") == before + 5


# ---------------------------------------------------------------- members on other time grids

@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    """Two random heads over speech embeddings; the first names the second."""
    from tests.embedding_heads import random_head, save_head

    d = tmp_path_factory.mktemp("heads")
    save_head(random_head(seed=4), d, "head_a.keras")
    save_head(random_head(seed=5), d, "head_b.keras")
    card = d / "head_a.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "members": ["head_b.keras"]}))
    return d


def test_members_on_another_time_grid_are_refused_in_one_line(pair, heads, tmp_path):
    """A spectrogram network (7.27 ms steps) and a head over embeddings (80 ms steps) are
    not averaged: detection and evaluation refuse them."""
    import shutil

    shutil.copy(pair / "main.keras", tmp_path / "main.keras")
    shutil.copy(heads / "head_b.keras", tmp_path / "head_b.keras")
    write_model_card(tmp_path / "head_b.keras", "speech-embedding-v1")
    (tmp_path / "main.json").write_text(json.dumps({"feature_kind": "log-power-v1",
                                                   "members": ["head_b.keras"]}))
    with pytest.raises(LabError, match="one time grid") as err:
        Detector(tmp_path / "main.keras", DetectConfig(compile_xla=False))
    assert "\n" not in str(err.value) and "80 ms" in str(err.value)
    models = [(load_keras_model(tmp_path / n), k) for n, k in
              (("main.keras", FEATURE_KIND_LOG), ("head_b.keras", "speech-embedding-v1"))]
    with pytest.raises(LabError, match="one time grid"):
        predict_ensemble(models, np.zeros((1, 5511, 101), np.float32), FEATURE_KIND_LOG)


def test_heads_over_embeddings_average_on_their_own_grid(heads):
    """Two embedding heads: the mean of each alone, on 80 ms steps, state carried over
    pieces of 1.04 s."""
    audio = _speechlike(seconds=5.0)
    cfg = DetectConfig(compile_xla=False, chunk_seconds=1.04)
    both = Detector(heads / "head_a.keras", cfg).detect_samples(audio, SAMPLE_RATE_HZ)
    alone = [Detector.from_keras(load_keras_model(heads / n), cfg,
                                 feature_kind="speech-embedding-v1")
             .detect_samples(audio, SAMPLE_RATE_HZ).probabilities
             for n in ("head_a.keras", "head_b.keras")]
    assert both.feature_kind == "speech-embedding-v1+speech-embedding-v1"
    assert both.step_s == 0.08 and both.probabilities.shape == (53,)  # 1 + (5 - 0.782) // 0.08
    assert np.abs(alone[0] - alone[1]).max() > 0.05
    np.testing.assert_allclose(both.probabilities, (alone[0] + alone[1]) / 2, atol=1e-5)
