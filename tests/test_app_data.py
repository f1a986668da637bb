"""App helpers without Streamlit: settings, tables, summary, detect helpers, history filter."""
import numpy as np
import pytest

from app.comparison_data import (format_seconds, loss_frame, read_comparison, run_progress,
                                 summary_frame)
from app.detect_data import (curve_frame, features_to_image, list_demo_clips, list_models,
                             probabilities_csv)
from app.device_panel import cpu_bf16_flags, precision_choices
from app.history_page import comparison_table, filter_comparisons
from app.settings import load_settings, parse_network
from app.trial_settings import PRESETS, FormValues, form_to_comparison, preset_values
from model.errors import ConfigError, LabError
from model.runs.store import RunStore
from tests.app_helpers import fake_comparison


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / "lab.sqlite")
    yield s
    s.close()


def test_settings_from_environment(tmp_path):
    s = load_settings({"LAB_STORE": str(tmp_path / "x.sqlite"), "LAB_DATASET": "/d",
                       "LAB_MODELS": "/a.keras:/b.keras", "LAB_NETWORK": "16,8,0.1"})
    assert s.store_path == tmp_path / "x.sqlite" and str(s.dataset_dir) == "/d"
    assert [str(p) for p in s.extra_models] == ["/a.keras", "/b.keras"]
    assert (s.network.conv_filters, s.network.gru_units, s.network.dropout) == (16, 8, 0.1)
    assert load_settings({}).store_path.name == "lab.sqlite"
    with pytest.raises(ConfigError, match="LAB_NETWORK"):
        parse_network("16")


def test_precision_choices_on_cpu_and_gpu():
    cpu = {c.name: c for c in precision_choices("cpu", [])}
    assert not cpu["tf32"].enabled and "GPU" in cpu["tf32"].note
    assert cpu["fp32"].enabled and cpu["amp-fp16"].enabled and "emulated" in cpu["amp-fp16"].note
    assert "AVX512" in cpu["amp-bf16"].note
    assert all(c.enabled and not c.note for c in precision_choices("gpu", []))
    assert not {c.name: c for c in precision_choices("cpu", ["amx_bf16"])}["amp-bf16"].note
    assert cpu_bf16_flags("flags : fpu avx512_bf16 sse") == ["avx512_bf16"]


def test_presets_reproduce_the_seed_trials():
    assert [(p.init, p.batch_size, p.epochs) for p in PRESETS] == \
        [("scratch", 64, 10), ("scratch", 32, 10), ("pretrained", 64, 10)]
    vals = preset_values(PRESETS[1], "amp-bf16")
    assert vals["precisions"] == ["fp32", "amp-bf16"] and vals["batch_size"] == 32
    cfg = form_to_comparison(FormValues(["amp-bf16", "fp32"], batch_size=8, epochs=2, repeats=3,
                                        name=" x ", dataset="/d"))
    assert cfg.precisions == ["fp32", "amp-bf16"] and cfg.repeats == 3 and cfg.name == "x"
    assert cfg.base.batch_size == 8 and cfg.base.dataset == "/d"
    assert len(cfg.trials()) == 6


def test_tables_and_summary_from_the_store(store):
    cid = fake_comparison(store, epochs=3, repeats=2)
    data = read_comparison(store, cid)
    assert data.epochs_shown == 12
    losses = loss_frame(data)
    assert len(losses) == 24 and set(losses["split"]) == {"train", "dev"}
    table = summary_frame(data).set_index("precision")
    assert list(table.index) == ["fp32", "amp-bf16"]
    assert table.loc["fp32", "speedup vs fp32"] == "1.00×"
    assert table.loc["amp-bf16", "speedup vs fp32"] == "1.25×"
    assert "±" in table.loc["fp32", "examples/s"]  # two seeds: mean ± spread
    assert table.loc["amp-bf16", "ran as"] == "bfloat16/float32"
    assert table.loc["fp32", "time to target (s)"].endswith("(2/2)")
    assert read_comparison(store, "nope") is None


def test_progress_of_a_running_run_has_an_eta(store):
    cid = fake_comparison(store, ("fp32",), epochs=2, finish=False)
    data = read_comparison(store, cid)
    run = data.runs[0]
    run.config.epochs = 4
    prog = run_progress(run, data.epochs[run.id], now=run.started_unix + 10)
    assert prog.fraction == 0.5 and "epoch 2/4" in prog.text and "ETA 10 s" in prog.text
    assert format_seconds(3725) == "1 h 02 min" and format_seconds(65) == "1 min 5 s"


def test_history_filter_and_table(store):
    a = fake_comparison(store, ("fp32",), epochs=1, name="alpha")
    b = fake_comparison(store, ("fp32", "amp-fp16"), epochs=1, name="beta", finish=False)
    comps = store.comparisons()
    assert [c.id for c in filter_comparisons(comps, "ALPHA", [])] == [a]
    assert [c.id for c in filter_comparisons(comps, "fp16", [])] == [b]
    assert [c.id for c in filter_comparisons(comps, "", ["running"])] == [b]
    assert list(comparison_table(comps)["id"]) == [c.id for c in comps]


def test_delete_comparison(store):
    cid = fake_comparison(store, ("fp32",), epochs=1)
    run_id = store.runs(cid)[0].id
    store.run_dir(run_id).mkdir(parents=True)
    assert store.delete_comparison(cid)
    assert store.comparison(cid) is None and store.runs(cid) == [] and store.epochs(run_id) == []
    assert not store.run_dir(run_id).exists() and not store.delete_comparison(cid)
    active = fake_comparison(store, ("fp32",), epochs=1, finish=False)
    with pytest.raises(LabError, match="cancel it"):
        store.delete_comparison(active)


def test_detect_helpers(tmp_path, store, monkeypatch):
    img = features_to_image(np.random.default_rng(0).normal(size=(5511, 101)).astype(np.float32))
    assert img.shape == (202, 1200, 3) and img.dtype == np.uint8
    probs = np.zeros(10_000, np.float32)
    probs[7777] = 0.9
    curve = curve_frame(probs, max_points=1000)
    assert len(curve) == 1000 and curve["probability"].max() == pytest.approx(0.9)
    csv = probabilities_csv(np.array([0.25, 0.5], np.float32)).splitlines()
    assert csv[0] == "step,time_s,probability" and csv[2].startswith("1,0.00727,0.50000")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "b.wav").write_bytes(b"x")
    (tmp_path / "demo" / "a.txt").write_bytes(b"x")
    assert [p.name for p in list_demo_clips([tmp_path / "demo", tmp_path / "none"])] == ["b.wav"]
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    import app.detect_data as detect_data
    pair = tmp_path / "shipped" / "activate.keras"
    pair.parent.mkdir()
    pair.write_bytes(b"x")
    monkeypatch.setattr(detect_data, "PRETRAINED_PATH", pair)
    monkeypatch.setattr(detect_data, "shipped_detector_path", lambda: pair)
    # the shipped pretrained model comes first, then extra files that exist
    assert [c.spec for c in list_models(store, [model, tmp_path / "missing.keras"])] == \
        ["pretrained", str(model)]
    # candidate detectors follow the extra files, labelled with the features they read
    from model.card import write_model_card
    cand = tmp_path / "cands" / "embed-x.keras"
    cand.parent.mkdir()
    cand.write_bytes(b"x")
    write_model_card(cand, "speech-embedding-v1")
    choices = list_models(store, [model], candidates=[cand, tmp_path / "cands" / "gone.keras"])
    assert [c.spec for c in choices] == ["pretrained", str(model), str(cand)]
    assert choices[2].label == "candidate embed-x (speech-embedding-v1)"
    settings = load_settings({"LAB_CANDIDATES": str(cand.parent)})
    assert settings.candidate_models == [cand]
    assert load_settings({"LAB_CANDIDATES": str(tmp_path / "none")}).candidate_models == []
    # a shipped speech-embedding detector is "pretrained"; the pair it replaced stays listed
    head = tmp_path / "shipped" / "activate-embedding.keras"
    head.write_bytes(b"x")
    write_model_card(head, "speech-embedding-v1")
    monkeypatch.setattr(detect_data, "shipped_detector_path", lambda: head)
    choices = list_models(store, [])
    assert [c.spec for c in choices] == ["pretrained", str(pair)]
    assert choices[0].label == "pretrained (shipped, speech-embedding-v1)"
    assert choices[1].label.startswith("spectrogram pair (log-power-v1, shipped until")
    shipped = load_settings({}).candidate_models  # the repository's own candidates
    assert all(p.suffix == ".keras" and p.parent.name == "candidates" for p in shipped)


def test_ran_as_names_precision_switches_and_the_engine_path():
    from types import SimpleNamespace

    from app.comparison_data import ran_as
    from model.train.precision import PrecisionRecord
    rec = PrecisionRecord("amp-fp16", "torch", "gpu", "H200", "mixed_float16", "float16", "float32",
                          loss_scaling=True, feed="device-resident", step_mode="lean",
                          gru_kernel="cudnn")
    assert ran_as(SimpleNamespace(device=rec)) == \
        "float16/float32, loss scaling, device-resident, lean steps, GRU cudnn"
    old = PrecisionRecord("fp32", "tensorflow", "cpu", "cpu", "float32", "float32", "float32")
    assert ran_as(SimpleNamespace(device=old)) == "float32/float32"  # runs stored before paths
    assert ran_as(SimpleNamespace(device=None)) == ""
