"""Each page's logic through Streamlit's AppTest, on a temporary store and tiny data.

Training is replaced by a fake trainer that reports epochs at once (real training is
covered by tests/test_jobs.py and the browser tests); detection runs a real small model.
"""
import io
import threading

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from model.train.specaug import PRESET as SPEC_PRESET

from model.runs.jobs import get_runner
from model.runs.store import RunStore
from tests.app_helpers import (FakeTrainer, dataset_script, detect_script, fake_comparison,
                               history_script, save_always_on_model, trials_script,
                               use_fake_trainer)
from tests.tinydata import write_tiny_dataset

TIMEOUT = 120


def failing_script():
    from app.common import guarded

    @guarded
    def page():
        raise ValueError("boom\nsecond line")
    page()


def texts(elements):
    return [e.value for e in elements]


def test_trials_page_starts_a_comparison_and_shows_it(lab, monkeypatch):
    use_fake_trainer(monkeypatch, FakeTrainer())
    at = AppTest.from_function(trials_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert at.checkbox(key="t_prec_tf32").disabled  # no TF32 on a CPU
    assert at.checkbox(key="t_prec_fp32").value and at.checkbox(key="t_prec_amp-bf16").value
    assert "No comparison yet" in texts(at.info)[0]
    at.number_input(key="t_epochs").set_value(2)
    at.number_input(key="t_batch").set_value(4)
    at.checkbox(key="t_specaug").check()
    at.selectbox(key="t_lr_schedule").set_value("cosine")
    at.button(key="t_start").click().run()
    assert texts(at.success)[0].startswith("Started c")
    cid = get_runner(lab / "lab.sqlite").store.comparisons()[0].id
    assert get_runner(lab / "lab.sqlite").wait(cid, 60)
    runs = get_runner(lab / "lab.sqlite").store.runs(cid)
    assert [r.config.spec_augment for r in runs] == [SPEC_PRESET] * 2  # the box reached the runs
    assert [r.config.lr_schedule for r in runs] == ["cosine"] * 2
    at.run()
    assert not at.exception and not at.error
    assert "epochs shown: 4" in texts(at.caption)
    assert any("SpecAugment 2×100 frames, 2×10 bins" in m.value and "lr 0.001 cosine" in m.value
               for m in at.markdown)
    table = at.table[0].value
    assert list(table.index) == ["fp32", "amp-bf16"]
    assert list(table["speedup vs fp32"]) == ["1.00×", "1.00×"]


def test_trials_page_offers_every_precision_mode_even_a_fifth(lab, monkeypatch):
    """A row added to the precision table gets its own checkbox and reaches the runs."""
    import model.train.precision as precision
    extra = precision.PrecisionMode("fp8-test", "FP8 (test)", "float32", loss_scaling=False,
                                    tf32=False)
    modes = precision.PRECISION_MODES + (extra,)
    monkeypatch.setattr(precision, "PRECISION_MODES", modes)
    use_fake_trainer(monkeypatch, FakeTrainer())
    at = AppTest.from_function(trials_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    boxes = [b for b in at.checkbox if str(b.key).startswith("t_prec_")]
    assert [(b.key, b.label) for b in boxes] == [(f"t_prec_{m.name}", m.label) for m in modes]
    at.checkbox(key="t_prec_fp8-test").check()
    at.number_input(key="t_epochs").set_value(1)
    at.number_input(key="t_batch").set_value(4)
    at.button(key="t_start").click().run()
    assert texts(at.success)[0].startswith("Started c")
    runner = get_runner(lab / "lab.sqlite")
    cid = runner.store.comparisons()[0].id
    assert runner.wait(cid, 60)
    assert [r.precision for r in runner.store.runs(cid)] == ["fp32", "amp-bf16", "fp8-test"]


def test_a_second_start_is_queued_and_cancel_works(lab, monkeypatch):
    gate = threading.Event()
    use_fake_trainer(monkeypatch, FakeTrainer(gate))
    at = AppTest.from_function(trials_script, default_timeout=TIMEOUT).run()
    at.number_input(key="t_batch").set_value(4)
    at.button(key="t_start").click().run()
    at.number_input(key="t_epochs").set_value(3)  # other settings: not a double press
    at.button(key="t_start").click().run()
    assert "waits (position 1)" in texts(at.success)[0]
    runner = get_runner(lab / "lab.sqlite")
    first, second = [c.id for c in reversed(runner.store.comparisons())]
    assert "Live view" in texts(at.subheader)
    assert any(first in m for m in texts(at.markdown))  # the running one is shown
    at.button(key="t_cancel").click().run()
    assert any("Cancelling" in w for w in texts(at.warning))
    gate.set()
    assert runner.wait(first, 30) and runner.wait(second, 30)
    assert runner.status(first).state == "cancelled"
    assert runner.status(second).state == "finished"


def test_bad_settings_show_one_line_errors(lab, monkeypatch):
    use_fake_trainer(monkeypatch, FakeTrainer())
    at = AppTest.from_function(trials_script, default_timeout=TIMEOUT).run()
    at.button(key="t_start").click().run()  # batch 64 > 12 training examples
    assert not at.exception
    assert len(at.error) == 1 and "batch size 64 is larger" in at.error[0].value
    assert "\n" not in at.error[0].value
    for name in ("fp32", "amp-fp16", "amp-bf16"):
        at.checkbox(key=f"t_prec_{name}").uncheck()
    at.number_input(key="t_batch").set_value(4)
    at.button(key="t_start").click().run()
    assert texts(at.error) == ["choose at least one precision"]


def test_missing_dataset_is_explained_and_offers_make_data(lab, monkeypatch):
    monkeypatch.setenv("LAB_DATASET", str(lab / "nothing-here"))
    at = AppTest.from_function(trials_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert any("nothing-here" in w for w in texts(at.warning))
    assert at.text_input(key="tpage-word").value == "activate"


def test_unexpected_errors_become_one_line():
    at = AppTest.from_function(failing_script).run()
    assert not at.exception
    assert texts(at.error) == ["Something went wrong (ValueError: boom)."]


def test_history_page_filters_opens_exports_and_deletes(lab):
    store = RunStore(lab / "lab.sqlite")
    old = fake_comparison(store, ("fp32",), epochs=2, name="alpha")
    new = fake_comparison(store, ("fp32", "amp-bf16"), epochs=2, name="beta")
    at = AppTest.from_function(history_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["id"]) == [new, old]
    assert any(new in m for m in texts(at.markdown))  # newest opened by default
    at.text_input(key="h_filter").input("alpha").run()
    assert list(at.dataframe[0].value["id"]) == [old]
    at.text_input(key="h_filter").input("").run()
    at.multiselect(key="h_open").set_value([new, old]).run()
    assert sum(1 for m in texts(at.caption) if m == "epochs shown: 4") == 1
    assert sum(1 for m in texts(at.caption) if m == "epochs shown: 2") == 1
    at.button(key=f"h-del-{old}").click().run()
    assert not at.exception
    assert [c.id for c in store.comparisons()] == [new]


def _wav(seconds: float, rate: int = 16000, level: float = 0.1) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    sf.write(buf, (level * rng.normal(size=int(seconds * rate))).astype(np.float32), rate,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def always_on_model(tmp_path_factory):
    """A small untrained model whose every step is 'on' (probability 0.9975)."""
    return save_always_on_model(tmp_path_factory.mktemp("model"))


def test_detect_page_without_models_says_so(lab, monkeypatch, tmp_path):
    import app.detect_data
    monkeypatch.setattr(app.detect_data, "PRETRAINED_PATH", tmp_path / "none.keras")
    monkeypatch.setattr(app.detect_data, "shipped_detector_path", lambda: tmp_path / "none.keras")
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert any("No model yet" in m for m in texts(at.info))


def test_detect_page_finds_detections_and_rejects_bad_files(lab, monkeypatch, always_on_model):
    monkeypatch.setenv("LAB_MODELS", str(always_on_model))
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    assert at.selectbox(key="d_model").value.startswith("pretrained (shipped, ")  # first
    at.selectbox(key="d_model").set_value("file always_on.keras").run()
    at.file_uploader(key="d_upload").upload("noise.wav", _wav(3.0), "audio/wav").run()
    assert not at.exception and not at.error
    found = at.metric[0]
    assert found.label == "detections" and found.value == "1"  # one episode: the whole clip
    # the clip's first step: the 42 steps of 7.27 ms inside the page's 0.3 s lead-in are dropped
    assert list(at.dataframe[0].value["time_s"]) == [0.005]
    at.slider(key="d_threshold").set_value(0.99).run()
    assert at.metric[0].value == "1"  # sigmoid(6) = 0.9975 is still above it
    at.file_uploader(key="d_upload").upload("bad.wav", b"this is not audio", "audio/wav").run()
    assert not at.exception
    assert len(at.error) == 1 and "\n" not in at.error[0].value and at.error[0].value
    assert not at.metric


def test_dataset_page_makes_data_in_the_background(lab, monkeypatch, tiny):
    import app.datajob as datajob

    kinds = []

    def fake_make(cfg, out_dir, progress, cancel, feature_kind):
        kinds.append(feature_kind)
        for i in range(3):
            progress("mix", i + 1, 3)
        write_tiny_dataset(out_dir, n_train=cfg.n_train, n_dev=cfg.n_dev)

        class Report:
            from model.data.dataset import DatasetMeta
            meta = DatasetMeta(word=cfg.word, feature_kind="log-power-v1", n_train=cfg.n_train,
                               n_dev=cfg.n_dev)
        return Report()

    job = datajob.DataJob(make=fake_make)
    monkeypatch.setattr(datajob, "_JOB", job)
    monkeypatch.setenv("LAB_DATASET", str(lab / "new-data"))
    at = AppTest.from_function(dataset_script, default_timeout=TIMEOUT).run()
    assert any("new-data" in w for w in texts(at.warning))
    at.number_input(key="dpage-n").set_value(6)
    at.number_input(key="dpage-dev").set_value(2)
    at.selectbox(key="dpage-features").set_value("pcen-v1")
    at.button[0].click().run()  # the form's "Make data"
    job.join(30)
    assert kinds == ["pcen-v1"]
    at.run()
    assert not at.exception and not at.error
    assert any("made 6 training and 2 dev" in s for s in texts(at.success))
    assert [m.value for m in at.metric][:2] == ["6", "2"]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A small random network whose probabilities follow the audio (unlike always_on)."""
    import keras

    from model.card import write_model_card
    from model.train.network import NetworkConfig, build_model
    keras.utils.set_random_seed(3)
    net = build_model("float32", NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1))
    kernel, bias = net.layers[-1].get_weights()
    net.layers[-1].set_weights([kernel * 20.0, bias])  # spread the probabilities over 0..1
    path = tmp_path_factory.mktemp("random") / "random.keras"
    net.save(path)
    write_model_card(path, "log-power-v1")
    return path


def _count_decodes(monkeypatch) -> list:
    """Record every decode pass: a soundfile handle samples were read from (sf.read and
    SoundFile.blocks both end in SoundFile.read), other than the chime asset; librosa's
    loaders are recorded too."""
    import librosa

    passes: list = []
    read = sf.SoundFile.read

    def counted(self, *args, **kwargs):
        if "chime.wav" not in str(self.name) and not any(self is p for p in passes):
            passes.append(self)
        return read(self, *args, **kwargs)
    monkeypatch.setattr(sf.SoundFile, "read", counted)
    for name in ("load", "stream"):
        monkeypatch.setattr(librosa, name, lambda *a, _n=name, **k: passes.append(_n))
    return passes


def test_detect_page_decodes_each_clip_once_and_scans_it_like_the_file(lab, monkeypatch,
                                                                       random_model):
    import streamlit as st

    from model.detect.detector import DetectConfig, Detector
    from model.detect.edges import RECORDING_PADS
    st.cache_data.clear()  # earlier tests may have scanned or decoded the same bytes
    st.cache_resource.clear()
    monkeypatch.setenv("LAB_MODELS", str(random_model))
    rng = np.random.default_rng(5)
    clips = []
    for rate in (22050, 44100):  # stereo, resampled and not
        buf = io.BytesIO()
        sf.write(buf, (0.1 * rng.normal(size=(int(4.5 * rate), 2))).astype(np.float32), rate,
                 format="WAV", subtype="PCM_16")
        clips.append(buf.getvalue())
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    at.selectbox(key="d_model").set_value("file random.keras").run()
    scans = []
    scan = Detector._scan

    def spy(self, *args):
        scans.append(scan(self, *args))
        return scans[-1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Detector, "_scan", spy)
        decodes = _count_decodes(mp)
        at.file_uploader(key="d_upload").upload("a.wav", clips[0], "audio/wav").run()
        assert not at.exception and not at.error and at.metric[0].label == "detections"
        assert len(decodes) == 1  # the detector, the spectrogram and the chime share it
        at.slider(key="d_threshold").set_value(0.3).run()  # a rerun chimes the clip again
        assert not at.error and len(decodes) == 1
        at.file_uploader(key="d_upload").upload("b.wav", clips[1], "audio/wav").run()
        assert not at.error and len(decodes) == 2 and len(scans) == 2
    pads = DetectConfig(**RECORDING_PADS)  # the page scores a recording's edges too
    for clip, seen in zip(clips, scans):  # the reference streams from the bytes, as before
        want = Detector(random_model, pads).detect_file(clip)
        assert np.array_equal(seen.probabilities, want.probabilities)
        assert seen.duration_s == want.duration_s and 0.0 < np.ptp(want.probabilities)


@pytest.fixture(scope="module")
def embedding_head(tmp_path_factory):
    """A head over speech embeddings whose every step is on (sigmoid(6)), with its card."""
    from tests.embedding_heads import always_on_head, save_head
    return save_head(always_on_head(), tmp_path_factory.mktemp("head"), "on_head.keras")


def test_detect_page_runs_an_embedding_head_on_its_80ms_grid(lab, monkeypatch, embedding_head):
    """Selectable like any .keras file; its card's kind sets the grid: one detection at step
    0's time (0.782 s after the page's 0.3 s of quiet lead-in began, so 0.482 s into the
    clip), the 7-step hold-off by default; a clip shorter than one window (0.5 s) is scanned
    with the page's quiet around it; a silent clip is one line."""
    monkeypatch.setenv("LAB_MODELS", str(embedding_head))
    at = AppTest.from_function(detect_script, default_timeout=TIMEOUT).run()
    at.selectbox(key="d_model").set_value("file on_head.keras").run()
    assert any("speech-embedding-v1" in c and "80 ms" in c for c in texts(at.caption))
    at.file_uploader(key="d_upload").upload("noise.wav", _wav(3.0), "audio/wav").run()
    assert not at.exception and not at.error
    assert at.metric[0].label == "detections" and at.metric[0].value == "1"
    assert list(at.dataframe[0].value["time_s"]) == [0.482]
    assert at.number_input(key="d_refractory_speech-embedding-v1").value == 7
    at.file_uploader(key="d_upload").upload("short.wav", _wav(0.5), "audio/wav").run()
    assert not at.exception and not at.error and at.metric[0].value == "1"
    at.file_uploader(key="d_upload").upload("silent.wav", _wav(0.5, level=0.0), "audio/wav").run()
    assert not at.exception and len(at.error) == 1
    assert "silent" in at.error[0].value and "\n" not in at.error[0].value
