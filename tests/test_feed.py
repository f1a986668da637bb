"""The feeds' one interface: host and device feeds give the batches a seed implies."""
import threading

import numpy as np
import pytest

from model.data.dataset import load_dataset
from model.train.feed import (FEEDS, Cancelled, HostFeed, TrainPath, iterate_batches,
                              make_feed, predict_batches)
from model.train.feed_device import DeviceFeed, epoch_order
from tests.tinydata import write_tiny_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_dataset(write_tiny_dataset(tmp_path_factory.mktemp("feed"), n_train=11, n_dev=5))


def expected_train(data, n: int, batch: int, seed: int) -> list[np.ndarray]:
    """Sorted index rows of one epoch, straight from the generator: full batches only."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[s:s + batch]) for s in range(0, n - batch + 1, batch)]


@pytest.mark.parametrize("n_train,batch", [(11, 4), (9, 3), (7, 8)])
def test_host_feed_batches_are_the_seeds_rows(data, n_train, batch):
    feed = make_feed(TrainPath("host-memmap", "sync", "test"), data, n_train, data.n_dev)
    assert isinstance(feed, HostFeed) and feed.mode == "host-memmap" and feed.mode in FEEDS
    got = list(feed.train_batches(batch, np.random.default_rng(5)))
    rows = expected_train(data, n_train, batch, 5)
    assert len(got) == len(rows) == n_train // batch  # the last partial batch is dropped
    for (xb, yb), idx in zip(got, rows):
        assert xb.dtype == yb.dtype == np.float32 and xb.shape[0] == batch
        np.testing.assert_array_equal(xb, data.x_train[idx].astype(np.float32))
        np.testing.assert_array_equal(yb, data.y_train[idx].astype(np.float32))
    feed.release()


def test_host_feed_draws_once_per_epoch_and_lazily(data):
    rng = np.random.default_rng(2)
    feed = HostFeed(data, data.n_train, data.n_dev)
    batches = feed.train_batches(4, rng)
    untouched = np.random.default_rng(2)
    assert rng.random() == untouched.random()  # nothing drawn before the first batch
    next(batches)
    untouched.permutation(data.n_train)
    assert rng.random() == untouched.random()  # exactly one permutation for the epoch


def test_host_dev_batches_in_order_with_partial_last(data):
    feed = HostFeed(data, data.n_train, 4)
    parts = list(feed.dev_batches(3))
    assert [p.shape[0] for p in parts] == [3, 1]
    np.testing.assert_array_equal(np.concatenate(parts), data.x_dev[:4].astype(np.float32))


def test_epoch_order_matches_host_iteration(data):
    rows = epoch_order(data.n_train, 3, np.random.default_rng(9))
    host = list(iterate_batches(data.x_train, data.y_train, 3, np.random.default_rng(9)))
    assert rows.shape == (data.n_train // 3, 3)
    for idx, (xb, _yb) in zip(rows, host):
        np.testing.assert_array_equal(xb, data.x_train[idx].astype(np.float32))


class _Model:
    """predict_on_batch: the first feature of each frame, as (n, steps, 1) probabilities."""

    def predict_on_batch(self, xb):
        return np.asarray(xb)[:, :6, :1]


def test_predict_batches_concatenates_and_cancels(data):
    feed = HostFeed(data, data.n_train, data.n_dev)
    probs = predict_batches(_Model(), feed.dev_batches(2))
    np.testing.assert_array_equal(probs, data.x_dev[:, :6, 0].astype(np.float32))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        predict_batches(_Model(), feed.dev_batches(2), cancel)


def test_device_feed_on_cpu_gives_the_host_batches(data):
    torch = pytest.importorskip("torch")
    host = HostFeed(data, 10, 4)
    device = DeviceFeed(data, 10, 4, device="cpu")
    assert device.mode == "device-resident" and device.mode in FEEDS
    for seed in (0, 1):
        got = list(device.train_batches(3, np.random.default_rng(seed)))
        want = list(host.train_batches(3, np.random.default_rng(seed)))
        assert len(got) == len(want) == 3
        for (xd, yd), (xh, yh) in zip(got, want):
            assert isinstance(xd, torch.Tensor) and xd.dtype == torch.float32
            np.testing.assert_array_equal(xd.numpy(), xh)
            np.testing.assert_array_equal(yd.numpy(), yh)
    dev = [b.numpy() for b in device.dev_batches(3)]
    assert [b.shape[0] for b in dev] == [3, 1]
    np.testing.assert_array_equal(np.concatenate(dev), np.concatenate(list(host.dev_batches(3))))
    device.release()
    assert device.x_train is None
