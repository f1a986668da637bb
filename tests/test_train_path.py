"""model/train/feed.py's choice of feed and step mode: every branch of choose_train_path."""
from types import SimpleNamespace

import numpy as np
import pytest

from model.train import feed
from model.train.feed import choose_train_path, resident_bytes

GIB = 2 ** 30


@pytest.fixture
def no_device_query(monkeypatch):
    """Fail if the free device memory is asked for where the branch must not need it."""
    def ask():
        raise AssertionError("free device memory asked for")
    monkeypatch.setattr(feed, "_free_device_bytes", ask)


@pytest.mark.parametrize("backend, kind", [("torch", "gpu"), ("torch", "cpu"),
                                           ("tensorflow", "gpu"), ("jax", "cpu")])
def test_portable_mode_is_the_reference_path_everywhere(no_device_query, backend, kind):
    """Host feed and train_on_batch, even where the data would fit on the device."""
    path = choose_train_path(backend, kind, need_bytes=1, mode="portable",
                             free_device_bytes=100 * GIB)
    assert (path.feed, path.step, path.reason) == ("host-memmap", "sync",
                                                   "portable path requested")


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
@pytest.mark.parametrize("kind", ["gpu", "cpu"])
def test_graph_backends_step_with_train_on_batch(no_device_query, backend, kind):
    """Lean steps and the resident feed are torch-only: other backends go host/sync."""
    path = choose_train_path(backend, kind, need_bytes=1, free_device_bytes=100 * GIB)
    assert (path.feed, path.step) == ("host-memmap", "sync")
    assert path.reason.startswith(f"{backend} backend")


def test_torch_on_a_cpu_takes_lean_steps_from_host_memory(no_device_query):
    """No device memory to fill: host feed, lean steps, without asking torch.cuda."""
    path = choose_train_path("torch", "cpu", need_bytes=100 * GIB)
    assert (path.feed, path.step) == ("host-memmap", "lean")
    assert "CPU" in path.reason


@pytest.mark.parametrize("need, feed_mode", [(10 * GIB, "device-resident"),  # exactly half
                                             (10 * GIB + 1, "host-memmap"),  # a byte over
                                             (1, "device-resident")])
def test_torch_gpu_keeps_data_resident_only_within_half_the_free_memory(need, feed_mode):
    """The resident feed may take at most 50% of the free device memory."""
    path = choose_train_path("torch", "gpu", need_bytes=need, free_device_bytes=20 * GIB)
    assert (path.feed, path.step) == (feed_mode, "lean")
    word = "fits in" if feed_mode == "device-resident" else "exceeds 50% of"
    assert f"{word} 20.0 GiB free" in path.reason


def test_torch_gpu_asks_torch_for_free_memory_when_not_given(monkeypatch):
    """free_device_bytes=None: the free memory comes from the device (here a stand-in)."""
    asked = []
    monkeypatch.setattr(feed, "_free_device_bytes", lambda: asked.append(1) or 4 * GIB)
    fits = choose_train_path("torch", "gpu", need_bytes=2 * GIB)
    too_big = choose_train_path("torch", "gpu", need_bytes=3 * GIB)
    assert (fits.feed, too_big.feed) == ("device-resident", "host-memmap")
    assert len(asked) == 2 and "4.0 GiB free" in fits.reason


def test_resident_bytes_counts_the_first_examples_as_stored():
    """float16 inputs and labels, only the first n_train / n_dev rows."""
    data = SimpleNamespace(x_train=np.zeros((10, 6, 4), np.float16),
                           y_train=np.zeros((10, 2, 1), np.float16),
                           x_dev=np.zeros((5, 6, 4), np.float16),
                           y_dev=np.zeros((5, 2, 1), np.float16))
    assert resident_bytes(data, 3, 2) == (3 * 24 + 3 * 2 + 2 * 24 + 2 * 2) * 2
