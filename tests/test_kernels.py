"""The GRU kernel probe: its labels, and what it sees on this CPU (TensorFlow backend)."""
from model.train.kernels import GruKernelReport


def test_labels_name_the_kernel_that_ran():
    assert GruKernelReport(4, 0, True, flat=4).label == "cudnn (flat weights)"
    assert GruKernelReport(4, 0, True, flat=3).label == "cudnn"  # one call repacked by Keras
    assert GruKernelReport(4, 0, True).label == "cudnn"  # TensorFlow: no packing step
    assert GruKernelReport(2, 2, True).label == "mixed"
    assert GruKernelReport(0, 3, True).label == "loop"
    assert GruKernelReport(0, 0, True).label == "none"
    assert GruKernelReport(5, 0, False).label == "unknown"


def test_cpu_tensorflow_runs_the_loop():
    """No GPU here: Keras's fused GRU is refused and the probe must say "loop"."""
    from model.train.precision import apply_precision
    from model.train.trial import build_trial_model, probe_gru_kernel
    from model.train.network import NetworkConfig
    from model.train.trial_config import TrialConfig
    cfg = TrialConfig(network=NetworkConfig(conv_filters=8, gru_units=4))
    model = build_trial_model(cfg, apply_precision("fp32"))
    assert probe_gru_kernel(model) == "loop"
