"""The GRU probe's labels for JAX (not installed here: a stand-in backend module).

Keras's JAX ``gru`` is a ``lax.scan``, not cuDNN: a call that returns must read "scan",
and one that raises NotImplementedError (masks, unroll) the generic "loop".
"""
from types import SimpleNamespace

import pytest

from model.train import kernels
from model.train.kernels import GruKernelReport, returned_kind


def test_returns_from_backend_gru_are_scan_on_jax_and_cudnn_on_tensorflow():
    assert returned_kind("jax") == "scan"
    assert returned_kind("tensorflow") == "fused"


def test_scan_labels():
    assert GruKernelReport(0, 0, True, scan=3).label == "scan"
    assert GruKernelReport(0, 2, True, scan=3).label == "mixed"  # some calls ran the loop
    assert GruKernelReport(1, 0, True, scan=3).label == "mixed"
    assert GruKernelReport(0, 0, False, scan=3).label == "unknown"


@pytest.fixture
def clean_counts():
    kernels.reset_gru_counts()
    yield
    kernels.reset_gru_counts()


def test_wrapped_jax_entry_counts_scan_calls_and_loop_fallbacks(clean_counts):
    """The wrapper as install_gru_probe puts it on a JAX backend module."""
    def gru(*_args, mask=None, **_kwargs):
        if mask is not None:  # as Keras's JAX gru: masks go to the layer's generic loop
            raise NotImplementedError
        return "outputs"

    backend = SimpleNamespace(gru=gru)
    kernels._wrap_layer_entry(backend, returned_kind("jax"))
    assert backend.gru("x") == "outputs" and backend.gru("x") == "outputs"
    with pytest.raises(NotImplementedError):
        backend.gru("x", mask="m")
    report = kernels.gru_kernel_report()
    assert (report.fused, report.scan, report.loop) == (0, 2, 1)
    assert GruKernelReport(report.fused, report.loop, True, scan=report.scan).label == "mixed"
