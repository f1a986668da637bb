"""speech-embedding-v1 through the data and train layers: labels on its steps, the dataset
contract per kind, the head chosen by kind, trial settings, the dev metric's spans."""
import json
from dataclasses import replace

import numpy as np
import pytest

from model.audio.embedding import step_end_seconds
from model.audio.features import (CLIP_SAMPLES, EMBEDDING_TIMING, FEATURE_KIND_EMBEDDING,
                                  FEATURE_KIND_LOG, FEATURE_KIND_PCEN, FEATURE_KIND_SEED, N_STEPS,
                                  SAMPLE_RATE_HZ, SEED_TIMING)
from model.data.dataset import expected_shapes, load_dataset
from model.data.synth import labels_for_ends
from model.errors import ConfigError, DatasetError
from model.train.network import (NETWORK_HEAD, NETWORK_SEED, HeadConfig, NetworkConfig,
                                 build_model, network_family)
from model.train.trial_config import TrialConfig, check_against_dataset, validate_trial_config
from tests.tinydata import write_tiny_dataset, write_tiny_embedding_dataset


@pytest.fixture(scope="module")
def emb(tmp_path_factory):
    return write_tiny_embedding_dataset(tmp_path_factory.mktemp("emb") / "data")


def _first_step_after(t_seconds: float) -> int:
    """The first embedding step whose window ends after t, by walking the windows' ends."""
    step = 0
    while step_end_seconds(step) <= t_seconds:
        step += 1
    return step


@pytest.mark.parametrize("end_s", [0.3, 0.781, 0.79, 2.0, 4.517, 7.25, 9.5])
def test_embedding_labels_start_at_the_first_window_ending_after_the_word(end_s):
    end = round(end_s * SAMPLE_RATE_HZ)
    y = labels_for_ends([end], timing=EMBEDDING_TIMING)
    first = _first_step_after(end / SAMPLE_RATE_HZ)
    expected = np.zeros(116, np.float32)
    expected[first:first + 5] = 1
    assert y.shape == (116,) and y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)
    assert step_end_seconds(first) > end / SAMPLE_RATE_HZ >= (step_end_seconds(first - 1)
                                                               if first else 0.0)


def test_embedding_labels_of_two_words_and_one_at_the_end():
    y = labels_for_ends([round(2.0 * SAMPLE_RATE_HZ), round(9.9 * SAMPLE_RATE_HZ)],
                        timing=EMBEDDING_TIMING)
    # 2.0 s: step 16 ends at 2.062 s (step 15 at 1.982 s); 9.9 s: step 114 ends at 9.902 s
    assert list(np.flatnonzero(y)) == [16, 17, 18, 19, 20, 114, 115]


def test_seed_labels_unchanged_and_equal_through_the_seed_timing():
    y = labels_for_ends([220500])  # 5 s: step 220500 * 1375 // 441000 = 687
    assert y.shape == (N_STEPS,) and list(np.flatnonzero(y)) == list(range(688, 738))
    ends = np.random.default_rng(0).integers(0, CLIP_SAMPLES, size=200)
    for chunk in np.split(ends, 50):
        np.testing.assert_array_equal(labels_for_ends(chunk),
                                      labels_for_ends(chunk, timing=SEED_TIMING))


def test_expected_shapes_per_kind():
    assert expected_shapes(FEATURE_KIND_LOG) == ((5511, 101), (1375, 1))
    assert expected_shapes(FEATURE_KIND_PCEN) == expected_shapes(FEATURE_KIND_SEED)
    assert expected_shapes(FEATURE_KIND_EMBEDDING) == ((116, 96), (116, 1))


def test_dataset_contract_checks_the_kinds_shapes(emb, tmp_path):
    ds = load_dataset(emb)
    assert ds.x_train.shape == (16, 116, 96) and ds.y_dev.shape == (6, 116, 1)
    wrong = write_tiny_dataset(tmp_path / "wrong", n_train=2, n_dev=1)  # log-power arrays
    meta = json.loads((wrong / "meta.json").read_text())
    (wrong / "meta.json").write_text(json.dumps({**meta, "feature_kind": FEATURE_KIND_EMBEDDING}))
    with pytest.raises(DatasetError, match=r"X has shape \(2, 5511, 101\); expected "
                                           r"\(m, 116, 96\) for speech-embedding-v1 features$"):
        load_dataset(wrong)
    meta = json.loads((emb / "meta.json").read_text())
    (wrong / "meta.json").write_text(json.dumps({**meta, "feature_kind": FEATURE_KIND_LOG}))
    for name in ("X", "Y", "X_dev", "Y_dev"):
        (wrong / f"{name}.npy").write_bytes((emb / f"{name}.npy").read_bytes())
    with pytest.raises(DatasetError, match=r"expected \(m, 5511, 101\) for log-power-v1"):
        load_dataset(wrong)


def test_build_model_picks_the_head_for_embeddings_and_the_seed_network_otherwise():
    assert network_family(FEATURE_KIND_EMBEDDING) == NETWORK_HEAD
    assert {network_family(k) for k in (FEATURE_KIND_LOG, FEATURE_KIND_PCEN,
                                        FEATURE_KIND_SEED)} == {NETWORK_SEED}
    head = build_model(kind=FEATURE_KIND_EMBEDDING)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["InputLayer", "LayerNormalization", "Dense", "Dropout", "GRU", "Dropout",
                     "Dense"]
    assert tuple(head.inputs[0].shape) == (None, None, 96)
    assert head.get_layer("gru1").units == 64 and head.get_layer("dense").units == 64
    assert head.get_layer("out").dtype_policy.compute_dtype == "float32"
    assert tuple(head(np.zeros((2, 116, 96), np.float32)).shape) == (2, 116, 1)
    seed = build_model(config=NetworkConfig(conv_filters=8, gru_units=8), kind=FEATURE_KIND_PCEN)
    assert type(seed.layers[1]).__name__ == "Conv1D" and tuple(seed.inputs[0].shape) == (None, None, 101)
    assert tuple(seed(np.zeros((1, 15 + 4 * 9, 101), np.float32)).shape) == (1, 10, 1)


def test_head_settings_and_wrong_family_configs():
    small = build_model("mixed_bfloat16", HeadConfig(dense_units=8, gru_units=4, dropout=0.0,
                                                     layer_norm=False), kind=FEATURE_KIND_EMBEDDING)
    assert "LayerNormalization" not in [type(layer).__name__ for layer in small.layers]
    assert small.get_layer("gru1").units == 4 and small.get_layer("gru1").compute_dtype == "bfloat16"
    with pytest.raises(ValueError, match="read by the head network, which takes a HeadConfig"):
        build_model(config=NetworkConfig(), kind=FEATURE_KIND_EMBEDDING)
    with pytest.raises(ValueError, match="takes a NetworkConfig, not a HeadConfig"):
        build_model(config=HeadConfig(), kind=FEATURE_KIND_LOG)
    with pytest.raises(ValueError, match="unknown feature kind"):
        network_family("mfcc")


def test_trial_config_stores_the_head_and_checks_it():
    cfg = TrialConfig(head=HeadConfig(dense_units=32, gru_units=16, dropout=0.1))
    again = TrialConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.head == cfg.head and again.network == cfg.network
    assert again.network_for(FEATURE_KIND_EMBEDDING) is again.head
    assert again.network_for(FEATURE_KIND_LOG) is again.network
    assert TrialConfig.from_dict({}).head == HeadConfig()  # runs stored before the head
    for head, message in ((HeadConfig(dense_units=0), "head Dense units must be between 1"),
                          (HeadConfig(gru_units=2.5), "head GRU units must be a whole number"),
                          (HeadConfig(dropout=1.0), r"head dropout must be in \[0, 1\)")):
        with pytest.raises(ConfigError, match=message):
            validate_trial_config(replace(cfg, head=head))


def test_init_pretrained_on_embeddings_starts_from_the_shipped_head(emb):
    """"pretrained" names the shipped model that reads the dataset's kind: the head here, and
    its weights are what the trial starts from; another head size or a log-power model is
    refused in one line, and SpecAugment is refused on embeddings."""
    import keras

    from model.card import DETECTOR_PATH
    from model.train.precision import apply_precision
    from model.train.specaug import PRESET
    from model.train.trial import build_trial_model
    data = load_dataset(emb)
    cfg = TrialConfig(dataset=str(emb), batch_size=4)
    check_against_dataset(cfg, data)
    check_against_dataset(replace(cfg, init="pretrained"), data)
    model = build_trial_model(replace(cfg, init="pretrained"), apply_precision("fp32"),
                              kind=data.meta.feature_kind)
    shipped = keras.saving.load_model(DETECTOR_PATH, compile=False)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), shipped.get_weights()))
    with pytest.raises(ConfigError, match=r"network; different: gru_units 32 \(pretrained: 64\)$"):
        check_against_dataset(replace(cfg, init="pretrained", head=HeadConfig(gru_units=32)), data)
    with pytest.raises(ConfigError) as err:
        check_against_dataset(replace(cfg, init="model/pretrained/activate.keras"), data)
    assert "reads log-power-v1 features" in str(err.value) and "holds speech-embedding-v1" \
        in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="SpecAugment masks spectrogram bins; .* turn SpecAugment off"):
        check_against_dataset(replace(cfg, spec_augment=PRESET), data)


def test_train_cli_sets_the_head(tmp_path):
    import argparse

    from model.cli import train_cmd
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    cfg = train_cmd.config_from_args(parser.parse_args(
        ["--head-gru-units", "32", "--head-dropout", "0.3", "--gru-units", "16"]))
    assert cfg.base.head == HeadConfig(gru_units=32, dropout=0.3)
    assert cfg.base.network.gru_units == 16
    assert train_cmd.config_from_args(parser.parse_args([])).base.head == HeadConfig()


def test_an_amp_model_loads_for_inference_in_float32(tmp_path):
    """load_keras_model hands inference a float32 copy of a mixed-precision model (same layer
    names and weights; probabilities within bfloat16 rounding), and a float32 model as is."""
    import keras

    from model.detect.inference import float32_copy, load_keras_model
    from model.train.network import build_model
    amp = build_model("mixed_bfloat16", HeadConfig(), kind=FEATURE_KIND_EMBEDDING)
    amp.save(tmp_path / "amp.keras")
    loaded = load_keras_model(tmp_path / "amp.keras")
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in amp.layers]
    x = np.random.default_rng(0).normal(size=(2, 116, 96)).astype(np.float32)
    got, want = loaded.predict(x, verbose=0), amp.predict(x, verbose=0)
    assert got.dtype == np.float32 and np.abs(got - want).max() < 0.02
    plain = build_model("float32", HeadConfig(), kind=FEATURE_KIND_EMBEDDING)
    assert float32_copy(plain) is plain
    keras.backend.clear_session()
