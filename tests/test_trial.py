"""Trial engine on tiny data: events, learning, cancel, failure, memory, bad input."""
import json
import threading

import keras
import numpy as np
import pytest

from model.data.dataset import load_dataset
from model.errors import ConfigError, DatasetError
from model.train.device import read_rss_bytes
from model.train.network import NetworkConfig
from model.train.feed import iterate_batches
from model.train.trial import binary_crossentropy, run_trial
from model.train.trial_config import (ComparisonConfig, TrialConfig, epoch_learning_rate,
                                validate_comparison, validate_trial_config)
from tests.lr_check import weight_moves_under_lr
from tests.tinydata import write_tiny_dataset

SMALL = NetworkConfig(conv_filters=16, gru_units=16, dropout=0.1)




def small_cfg(tiny, **kw):
    base = dict(precision="fp32", batch_size=12, epochs=1, learning_rate=0.01,
                dataset=str(tiny), network=SMALL)
    base.update(kw)
    return TrialConfig(**base)


@pytest.fixture(scope="module")
def three_epochs(tiny, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    events = []
    kind = run_trial(small_cfg(tiny, epochs=3, batch_size=4), "run-a", run_dir, events.append)
    return kind, events, run_dir


def test_events_in_order_with_fields(three_epochs):
    kind, events, run_dir = three_epochs
    assert kind == "finished"
    assert [e.kind for e in events] == ["started", "epoch", "epoch", "epoch", "finished"]
    dev = events[0].device
    assert dev.compute_dtype == "float32" and dev.backend == "tensorflow" and not dev.tf32
    epochs = [e.epoch for e in events[1:4]]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    walls = [e.wall_seconds for e in epochs]
    assert walls == sorted(walls) and walls[0] >= epochs[0].epoch_seconds > 0
    for e in epochs:
        assert e.examples_per_second == pytest.approx(12 / e.epoch_seconds)
        assert np.isfinite(e.train_loss) and np.isfinite(e.dev_loss)
        assert e.peak_memory_bytes > 50e6 and e.memory_kind == "rss"
        assert e.detection.n_triggers == 6 and e.detection.dev_hours == pytest.approx(40 / 3600)
    summary = events[-1].summary
    assert summary.first_epoch_seconds == epochs[0].epoch_seconds
    assert summary.steady_epoch_seconds == pytest.approx(np.median([epochs[1].epoch_seconds,
                                                                    epochs[2].epoch_seconds]))
    assert summary.final_dev_loss == epochs[2].dev_loss and summary.epochs_done == 3
    model = keras.saving.load_model(events[-1].extra["model_path"], compile=False)
    assert model.output_shape == (None, None, 1)
    assert json.loads((run_dir / "model.json").read_text()) == {"feature_kind": "log-power-v1"}
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert not list(run_dir.glob(".*tmp*"))  # atomic save left no temporary file


def test_run_records_its_feature_kind_for_detection(tmp_path):
    """A model trained on PCEN data is fed PCEN by detect and evaluate (model.json beside it)."""
    import json

    from model.detect.detector import Detector
    from model.card import read_model_card
    data = write_tiny_dataset(tmp_path / "data")
    meta = json.loads((data / "meta.json").read_text())
    (data / "meta.json").write_text(json.dumps({**meta, "feature_kind": "pcen-v1"}))
    events = []
    run_trial(small_cfg(data, batch_size=4), "run-p", tmp_path / "run", events.append)
    path = events[-1].extra["model_path"]
    assert read_model_card(path) == "pcen-v1"
    det = Detector(path)
    assert det.feature_kind == "pcen-v1"
    noise = np.random.default_rng(0).normal(0, 0.1, 44100 * 2).astype(np.float32)
    assert det.detect_samples(noise, 44100).probabilities.shape[0] > 0


def test_loss_falls_on_learnable_toy_set(three_epochs):
    _, events, _ = three_epochs
    epochs = [e.epoch for e in events if e.kind == "epoch"]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].dev_loss < epochs[0].dev_loss < 0.69  # below a coin-flip predictor


class CancelAfterChecks(threading.Event):
    """A cancel flag that turns itself on at the n-th check (deterministic 'user clicks')."""

    def __init__(self, n):
        super().__init__()
        self.n, self.checks = n, 0

    def is_set(self):
        self.checks += 1
        return self.checks >= self.n or super().is_set()


def test_cancel_stops_within_one_batch(tiny, tmp_path):
    events = []
    flag = CancelAfterChecks(3)  # 2 of the epoch's 3 batches train, then the flag is seen
    kind = run_trial(small_cfg(tiny, batch_size=4, epochs=5), "run-c", tmp_path, events.append,
                     flag)
    assert kind == "cancelled" and flag.checks == 3
    assert [e.kind for e in events] == ["started", "cancelled"]
    assert events[-1].message == "cancelled during epoch 1"
    assert not (tmp_path / "model.keras").exists()


def test_failure_becomes_a_failed_event(tiny, tmp_path):
    events = []
    bad_net = NetworkConfig(conv_filters=8, gru_units=8, conv_stride=3)  # 1833 steps != 1375
    kind = run_trial(small_cfg(tiny, network=bad_net), "run-f", tmp_path, events.append)
    assert kind == "failed" and [e.kind for e in events] == ["started", "failed"]
    assert "\n" not in events[-1].message and events[-1].message
    assert "Traceback" in (tmp_path / "error.txt").read_text()


def test_batches_drop_remainder_and_cover_examples(tiny):
    data = load_dataset(tiny)
    seen = []
    for xb, yb in iterate_batches(data.x_train, data.y_train, 5, np.random.default_rng(0)):
        assert xb.dtype == np.float32 and xb.shape == (5, 5511, 101) and yb.shape == (5, 1375, 1)
        seen.extend(float(v) for v in xb[:, 0, 0])
    assert len(seen) == 10 and len(set(seen)) == 10


def test_peak_rss_does_not_grow_with_dataset(tmp_path):
    folder = write_tiny_dataset(tmp_path, n_train=48, n_dev=1)  # X.npy is ~53 MB
    data = load_dataset(folder, check_values=False)
    before = read_rss_bytes("RssFile")
    for _ in iterate_batches(data.x_train, data.y_train, 4, np.random.default_rng(0)):
        pass
    grown = read_rss_bytes("RssFile") - before
    assert grown < 0.3 * data.x_train.nbytes, f"mapped pages stayed resident: {grown} bytes"


def test_binary_crossentropy_matches_keras():
    rng = np.random.default_rng(1)
    p, y = rng.uniform(0, 1, (3, 20)).astype(np.float32), (rng.uniform(0, 1, (3, 20)) > 0.8)
    expected = float(keras.losses.binary_crossentropy(y[..., None].astype("float32"),
                                                      p[..., None]).numpy().mean())
    assert binary_crossentropy(p, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("change,message", [
    (dict(batch_size=0), "batch size must be at least 1"),
    (dict(batch_size=2.5), "batch size must be a whole number"),
    (dict(epochs=0), "epochs must be between 1 and 1000"),
    (dict(epochs=1001), "epochs must be between 1 and 1000"),
    (dict(precision="fp64"), "unknown precision 'fp64'"),
    (dict(learning_rate=-1.0), "learning rate must be a positive number"),
    (dict(init="imagenet"), "unknown init"),
    (dict(lr_schedule="linear"), "unknown learning-rate schedule 'linear'; choose constant or cosine"),
])
def test_bad_settings_are_one_line_config_errors(tiny, change, message):
    with pytest.raises(ConfigError, match=message) as info:
        validate_trial_config(small_cfg(tiny, **change))
    assert "\n" not in str(info.value)


def test_init_pretrained_with_another_network_is_refused_with_the_dataset(tiny):
    """Which shipped model "pretrained" names depends on the dataset's kind, so the check
    runs once the dataset is open, before anything is stored."""
    with pytest.raises(ConfigError, match="init pretrained needs the pretrained model's network; "
                                          "different: conv_filters") as info:
        validate_comparison(ComparisonConfig(small_cfg(tiny, init="pretrained"), ["fp32"]))
    assert "\n" not in str(info.value)


def test_cosine_schedule_per_epoch():
    cfg = TrialConfig(learning_rate=0.01, epochs=4, lr_schedule="cosine")
    rates = [epoch_learning_rate(cfg, e) for e in range(1, 5)]
    assert rates[0] == 0.01 and rates[2] == pytest.approx(0.005)
    assert rates == sorted(rates, reverse=True) and 0 < rates[3] < 0.0015
    assert epoch_learning_rate(TrialConfig(learning_rate=0.01, epochs=4), 4) == 0.01


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_learning_rate_changes_reach_keras_steps(tiny, mode):
    """The rate set between steps is the next step's: 0 freezes every trainable weight."""
    first, frozen, again = weight_moves_under_lr(mode, str(tiny))
    assert first > 1e-4 and again > 1e-4 and frozen == 0.0


def test_cosine_trial_ends_at_its_last_rate(tiny, tmp_path):
    """A 2-epoch cosine run trains its second epoch at half the rate (saved with the model)."""
    events = []
    run_trial(small_cfg(tiny, epochs=2, batch_size=4, lr_schedule="cosine"), "run-c", tmp_path,
              events.append)
    model = keras.saving.load_model(events[-1].extra["model_path"])
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.005)


def test_pretrained_init_needs_a_shipped_model_with_the_same_network(tmp_path):
    from model.train.network import NetworkConfig
    from model.train.trial_config import check_pretrained_network
    with pytest.raises(ConfigError, match="no pretrained model shipped yet"):
        check_pretrained_network(NetworkConfig(), tmp_path / "missing.keras")
    check_pretrained_network(NetworkConfig())  # the shipped model has the default network
    with pytest.raises(ConfigError, match=r"gru_units 64 \(pretrained: 128\)"):
        check_pretrained_network(NetworkConfig(gru_units=64))


def test_batch_larger_than_dataset_and_bad_lists(tiny):
    with pytest.raises(ConfigError, match="batch size 13 is larger than the 12 training"):
        validate_comparison(ComparisonConfig(small_cfg(tiny, batch_size=13), ["fp32"]))
    with pytest.raises(ConfigError, match="repeats a name"):
        validate_comparison(ComparisonConfig(small_cfg(tiny), ["fp32", "fp32"]))
    with pytest.raises(ConfigError, match="unknown precision"):
        validate_comparison(ComparisonConfig(small_cfg(tiny), ["fp32", "int8"]))


def _broken_copy(tiny, tmp_path, name, arr):
    import shutil
    folder = tmp_path / "broken"
    shutil.copytree(tiny, folder)
    if arr is None:
        (folder / name).unlink()
    else:
        np.save(folder / name, arr, allow_pickle=True)
    return folder


@pytest.mark.parametrize("name,make,message", [
    ("X.npy", None, "missing file"),
    ("X.npy", lambda x: x[:, :100], "expected \\(m, 5511, 101\\)"),
    ("Y.npy", lambda y: y[:5], "X has 12 examples but Y has 5"),
    ("X.npy", lambda x: np.where(np.arange(12)[:, None, None] == 3, np.nan, x), "NaN"),
    ("Y.npy", lambda y: np.array([object()] * 3, dtype=object), "pickled|Python objects"),
])
def test_bad_datasets_fail_before_training(tiny, tmp_path, name, make, message):
    arr = None if make is None else make(np.load(tiny / name))
    folder = _broken_copy(tiny, tmp_path, name, arr)
    cfg = ComparisonConfig(small_cfg(tiny, dataset=str(folder)), ["fp32"])
    with pytest.raises(DatasetError, match=message):
        validate_comparison(cfg, check_values=True)


def test_missing_dataset_folder(tmp_path):
    cfg = ComparisonConfig(TrialConfig(dataset=str(tmp_path / "nope")), ["fp32"])
    with pytest.raises(DatasetError, match="does not exist"):
        validate_comparison(cfg)


def test_pretrained_weights_are_copied_and_mismatch_is_refused(tmp_path):
    from model.train.network import build_model
    from model.train.trial import load_pretrained_weights
    keras.utils.set_random_seed(1)
    source = build_model("float32", SMALL)
    source.save(tmp_path / "activate.keras")
    keras.utils.set_random_seed(2)
    target = build_model("mixed_bfloat16", SMALL)
    load_pretrained_weights(target, tmp_path / "activate.keras")
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = build_model("float32", NetworkConfig(conv_filters=8, gru_units=8))
    with pytest.raises(ConfigError, match="does not match the network settings"):
        load_pretrained_weights(other, tmp_path / "activate.keras")


def test_pretrained_init_refuses_a_dataset_of_other_features(tmp_path):
    from dataclasses import replace

    from model.train.trial_config import check_against_dataset
    folder = write_tiny_dataset(tmp_path / "pcen", n_train=4, n_dev=2)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "feature_kind": "pcen-v1"}))
    cfg = TrialConfig(dataset=str(folder), batch_size=2, init="pretrained", network=NetworkConfig())
    with pytest.raises(ConfigError, match="reads log-power-v1 features, dataset .* holds pcen-v1"):
        check_against_dataset(cfg, load_dataset(folder))
    check_against_dataset(replace(cfg, init="scratch"), load_dataset(folder))


def test_divergence_hint_names_float16_overflow_only_where_it_can_happen():
    from model.train.trial import divergence_hint
    assert "seed-linear" in divergence_hint("seed-linear", "amp-fp16")
    assert divergence_hint("seed-linear", "amp-bf16") == ""  # bfloat16 has float32's range
    assert divergence_hint("log-power-v1", "amp-fp16") == ""
    assert divergence_hint("seed-linear", "fp32") == ""


def test_embedding_dataset_trains_the_head_and_scores_on_its_steps(tmp_path, monkeypatch):
    """A speech-embedding dataset: the head is built (not the seed network), the dev metric
    uses the kind's hold-off and early tolerance, the card names the kind."""
    from model.card import read_model_card
    from model.train import trial as trial_mod
    from model.train.network import HeadConfig
    from tests.tinydata import write_tiny_embedding_dataset
    data = write_tiny_embedding_dataset(tmp_path / "emb", n_train=16, n_dev=6)
    spans = []

    def frr_spy(*args, **kwargs):
        spans.append((kwargs.get("refractory_steps"), kwargs.get("early_steps")))
        return real_frr(*args, **kwargs)
    real_frr = trial_mod.frr_at_fa_rate
    monkeypatch.setattr(trial_mod, "frr_at_fa_rate", frr_spy)
    events = []
    cfg = small_cfg(data, batch_size=4, epochs=2, head=HeadConfig(dense_units=16, gru_units=8))
    assert run_trial(cfg, "run-e", tmp_path / "run", events.append) == "finished"
    assert spans == [(7, 4), (7, 4)]  # EMBEDDING_TIMING's, not the seed's 75 and 41
    epochs = [e.epoch for e in events if e.kind == "epoch"]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].detection.n_triggers == 9 and epochs[-1].detection.dev_hours == pytest.approx(60 / 3600)
    assert "GRU kernel: loop" in events[0].device.notes[-1]
    path = events[-1].extra["model_path"]
    assert read_model_card(path) == "speech-embedding-v1"
    model = keras.saving.load_model(path, compile=False)
    assert model.get_layer("gru1").units == 8 and model.inputs[0].shape[-1] == 96
    assert "Conv1D" not in [type(layer).__name__ for layer in model.layers]
