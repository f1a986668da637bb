"""``python -m model detect``: JSON schema, text output, chime file, bad files among good ones."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from model.cli import main
from model.audio.features import STEP_SECONDS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small saved model (the CLI loads .keras files) and a few audio files."""
    import keras

    from model.train.network import NetworkConfig, build_model

    keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("cli")
    model = build_model(config=NetworkConfig(conv_filters=16, gru_units=8))
    model.save(d / "model.keras")
    rng = np.random.default_rng(0)
    sf.write(d / "a.wav", rng.normal(0, 0.1, 44100 * 3).astype(np.float32), 44100, subtype="PCM_16")
    sf.write(d / "b.flac", rng.normal(0, 0.1, 16000 * 2).astype(np.float32), 16000)
    (d / "bad.wav").write_text("not audio")
    return d


def _run(capsys, *argv):
    code = main(["detect", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lines_schema(files, capsys):
    code, out, err = _run(capsys, files / "a.wav", files / "b.flac", "--model",
                          files / "model.keras", "--json", "--threshold", "0.3")
    assert code == 0 and err == ""
    lines = [json.loads(line) for line in out.splitlines()]
    assert [row["file"] for row in lines] == [str(files / "a.wav"), str(files / "b.flac")]
    for row, seconds in zip(lines, (3.0, 2.0)):
        assert set(row) == {"file", "duration_s", "step_s", "step0_s", "probabilities",
                            "detections", "model"}
        assert row["duration_s"] == pytest.approx(seconds) and row["step_s"] == STEP_SECONDS
        assert row["step0_s"] == 0.0
        assert row["model"] == str(files / "model.keras")
        probs = row["probabilities"]
        assert abs(len(probs) - seconds / STEP_SECONDS) < 5
        assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in probs)
        for det in row["detections"]:
            assert set(det) == {"time_s", "score"} and det["score"] >= 0.3
            assert 0 <= det["time_s"] < seconds


def test_bad_file_among_good_ones_gets_an_error_line_and_exit_1(files, capsys, tmp_path):
    out_wav = tmp_path / "chimed.wav"
    code, out, err = _run(capsys, files / "bad.wav", files / "a.wav", files / "missing.mp3",
                          "--model", files / "model.keras", "--threshold", "0.01",
                          "--chime-out", out_wav)
    assert code == 1
    assert err.count("\n") == 2 and all(line.startswith("error: ") for line in err.splitlines())
    assert "bad.wav" in err and "missing.mp3" in err and "Traceback" not in err
    assert out.startswith(f"{files / 'a.wav'}: 3.00 s, ") and "detection" in out
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["chimed-a.wav"]  # nothing for the bad files, no temporary left
    audio, rate = sf.read(tmp_path / "chimed-a.wav")
    assert rate == 44100 and audio.shape[0] == 3 * 44100


def test_single_chime_out_is_the_given_path(files, capsys, tmp_path):
    code, out, _ = _run(capsys, files / "b.flac", "--model", files / "model.keras",
                        "--threshold", "0.01", "--chime-out", tmp_path / "x.wav")
    assert code == 0 and (tmp_path / "x.wav").is_file() and "chimed audio" in out
    assert sf.info(tmp_path / "x.wav").samplerate == 16000


def test_model_errors_are_one_line_exit_2(files, capsys):
    code, out, err = _run(capsys, files / "a.wav", "--model", files / "nope.keras")
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1


def test_run_id_resolves_through_the_store(files, capsys, tmp_path):
    from model.train.events import TrialEvent
    from model.runs.store import RunStore
    from model.train.trial_config import ComparisonConfig, TrialConfig

    store = RunStore(tmp_path / "lab.sqlite")
    cid, (run_id,) = store.create_comparison(ComparisonConfig(TrialConfig(epochs=1), ["fp32"], 1))
    store.add_event(cid, TrialEvent("finished", run_id, "fp32", 0, time.time(),
                                    extra={"model_path": str(files / "model.keras")}))
    store.close()
    code, out, err = _run(capsys, files / "a.wav", "--model", run_id, "--store",
                          tmp_path / "lab.sqlite", "--json")
    assert code == 0 and json.loads(out)["model"] == run_id
    code, _, err = _run(capsys, files / "a.wav", "--model", "r-unknown", "--store",
                        tmp_path / "lab.sqlite")
    assert code == 2 and "r-unknown" in err


def test_no_traceback_from_a_real_process(files):
    proc = subprocess.run([sys.executable, "-m", "model", "detect", str(files / "bad.wav"),
                           "--model", str(files / "model.keras")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert f"error: {files / 'bad.wav'} is not a readable audio file" in proc.stderr


def test_threshold_defaults_to_the_model_cards_recommendation(files, capsys, tmp_path):
    import shutil

    from model.card import recommended_threshold
    model = tmp_path / "carded.keras"
    shutil.copy(files / "model.keras", model)
    assert recommended_threshold(model) is None  # no card
    code, out, _ = _run(capsys, files / "a.wav", "--model", model)
    assert code == 0 and "(threshold 0.5," in out
    model.with_suffix(".json").write_text('{"feature_kind": "log-power-v1", "threshold": 0.77}')
    assert recommended_threshold(model) == 0.77
    code, out, _ = _run(capsys, files / "a.wav", "--model", model)
    assert code == 0 and "(threshold 0.77," in out
    code, out, _ = _run(capsys, files / "a.wav", "--model", model, "--threshold", "0.2")
    assert code == 0 and "(threshold 0.2," in out  # an explicit threshold wins
    for bad in ('{"threshold": 1.5}', '{"threshold": true}', "not json"):
        model.with_suffix(".json").write_text(bad)
        assert recommended_threshold(model) is None


def test_an_embedding_head_reports_its_80ms_grid(tmp_path, capsys):
    """Probability i of a head over speech embeddings is at 0.782 + 0.08 i s; an always-on
    head gives one detection, at step 0's time, 0.782 s."""
    from model.audio.embedding import n_embedding_steps
    from tests.embedding_heads import always_on_head, save_head

    model = save_head(always_on_head(), tmp_path, "on.keras")
    audio = np.random.default_rng(1).normal(0, 0.1, 44100 * 3).astype(np.float32)
    sf.write(tmp_path / "c.wav", audio, 44100, subtype="FLOAT")
    code, out, err = _run(capsys, tmp_path / "c.wav", "--model", model, "--json")
    row = json.loads(out)
    assert code == 0 and err == ""
    assert (row["step_s"], row["step0_s"]) == (0.08, 0.782)
    assert len(row["probabilities"]) == n_embedding_steps(audio.size) == 28
    assert [d["time_s"] for d in row["detections"]] == [0.782]
