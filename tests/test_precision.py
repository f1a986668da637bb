"""Precision modes: policies, TF32 switch, loss scaling, emulation flag, real compute dtypes."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from model.errors import ConfigError
from model.train import precision
from model.train.network import NetworkConfig, build_model
from model.train.precision import (PRECISION_MODES, PRECISIONS, PrecisionMode, PrecisionRecord,
                                   apply_precision, check_precision, default_precisions,
                                   in_table_order, make_optimizer, policy_for,
                                   record_model_dtypes, set_tf32)

SMALL = NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1)


def test_policies_and_unknown_precision():
    assert [policy_for(p) for p in ("fp32", "tf32", "amp-fp16", "amp-bf16")] == \
        ["float32", "float32", "mixed_float16", "mixed_bfloat16"]
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        policy_for("fp8")


def test_default_pair_depends_on_device():
    assert default_precisions("gpu") == ["fp32", "amp-fp16"]
    assert default_precisions("cpu") == ["fp32", "amp-bf16"]


def test_tf32_switch_reaches_tensorflow():
    set_tf32(True)
    assert tf.config.experimental.tensor_float_32_execution_enabled()
    rec = apply_precision("fp32")  # strict: switches it off again
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
    assert rec.backend == "tensorflow" and rec.device_kind == "cpu" and not rec.tf32


def test_cpu_records_tf32_absent_and_fp16_emulated():
    tf32 = apply_precision("tf32")
    assert not tf32.tf32 and "no TF32 on a CPU" in tf32.notes[0]
    fp16 = apply_precision("amp-fp16")
    assert fp16.emulated and fp16.dtype_policy == "mixed_float16"
    assert not apply_precision("amp-bf16").emulated


def test_loss_scaling_only_for_fp16():
    rec = PrecisionRecord("amp-fp16", "tensorflow", "cpu", "x", "mixed_float16")
    assert isinstance(make_optimizer("amp-fp16", 1e-3, rec), keras.optimizers.LossScaleOptimizer)
    assert rec.loss_scaling
    rec_bf = PrecisionRecord("amp-bf16", "tensorflow", "cpu", "x", "mixed_bfloat16")
    opt = make_optimizer("amp-bf16", 1e-3, rec_bf)
    assert not isinstance(opt, keras.optimizers.LossScaleOptimizer) and not rec_bf.loss_scaling


@pytest.mark.parametrize("precision,hidden", [("fp32", "float32"), ("amp-bf16", "bfloat16"),
                                              ("amp-fp16", "float16")])
def test_precisions_really_compute_in_different_dtypes(precision, hidden):
    model = build_model(policy_for(precision), SMALL)
    rec = PrecisionRecord(precision, "tensorflow", "cpu", "x", policy_for(precision))
    record_model_dtypes(model, rec)
    assert rec.compute_dtype == hidden and rec.variable_dtype == "float32"
    # the tensors themselves, not just the labels: run the hidden GRU and the output
    probe = keras.Model(model.input, [model.get_layer("gru1").output, model.output])
    gru_out, out = probe(np.zeros((1, 40, 101), dtype=np.float32))
    assert keras.backend.standardize_dtype(gru_out.dtype) == hidden
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_table_rows_are_consistent():
    assert PRECISIONS == ("fp32", "tf32", "amp-fp16", "amp-bf16")
    names = [m.name for m in PRECISION_MODES]
    assert len(set(names)) == len(names) and len({m.label for m in PRECISION_MODES}) == len(names)
    for mode in PRECISION_MODES:
        keras.DTypePolicy(mode.policy)  # a policy Keras knows
        assert mode.cpu_selectable or mode.cpu_note  # a disabled checkbox says why
    for kind in ("gpu", "cpu"):  # the Trials presets take [1] as "the AMP mode"
        pair = default_precisions(kind)
        assert len(pair) == 2 and pair[0] == "fp32"


@pytest.mark.parametrize("kind", ["gpu", "cpu"])
@pytest.mark.parametrize("mode", PRECISION_MODES, ids=lambda m: m.name)
def test_apply_precision_records_what_the_table_says(mode, kind, monkeypatch):
    switched = []
    monkeypatch.setattr(precision, "device_info", lambda: (kind, "fake device"))
    monkeypatch.setattr(precision, "set_tf32", switched.append)  # no process-wide switch
    rec = apply_precision(mode.name)
    opt = make_optimizer(mode.name, 1e-3, rec)
    assert rec.dtype_policy == mode.policy == policy_for(mode.name)
    assert rec.loss_scaling == mode.loss_scaling
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer) == mode.loss_scaling
    assert rec.tf32 == switched[-1] == (mode.tf32 and kind == "gpu")
    assert rec.emulated == (mode.cpu_emulated and kind == "cpu")
    assert rec.notes == ([mode.cpu_run_note] if kind == "cpu" and mode.cpu_run_note else [])


def test_table_order_and_an_extra_mode(monkeypatch):
    assert in_table_order(["amp-bf16", "fp32", "amp-bf16"]) == ["fp32", "amp-bf16"]
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        in_table_order(["fp32", "fp8"])  # raised, not silently dropped
    extra = PrecisionMode("fp8", "FP8 (test)", "float32", loss_scaling=False, tf32=False)
    monkeypatch.setattr(precision, "PRECISION_MODES", PRECISION_MODES + (extra,))
    assert check_precision("fp8") == "fp8" and policy_for("fp8") == "float32"
    assert in_table_order(["fp8", "fp32"]) == ["fp32", "fp8"]
