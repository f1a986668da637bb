"""``python -m model evaluate`` end to end on a tiny dataset and a tiny untrained model."""
import json
import shutil
import subprocess
import sys
import time

import pytest

from model.cli import main
from model.detect.evaluate import EvalReport
from tests.conftest import ROOT
from tests.tinydata import write_tiny_dataset

N_DEV, N_NEG = 4, 2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny dataset (examples.csv, trigger-free dev clips) and a small saved model."""
    import keras

    from model.card import write_model_card
    from model.train.network import NetworkConfig, build_model

    keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("evalcli")
    data = write_tiny_dataset(d / "data", n_train=2, n_dev=N_DEV, n_dev_negative=N_NEG,
                              examples_csv=True)
    model = build_model(config=NetworkConfig(conv_filters=8, gru_units=8, dropout=0.1))
    model.save(d / "model.keras")
    write_model_card(d / "model.keras", "log-power-v1")
    return {"dir": d, "data": data, "model": d / "model.keras"}


def _run(capsys, *argv):
    code = main(["evaluate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_writes_report_and_plot_beside_the_model_and_prints_a_summary(files, capsys):
    code, out, err = _run(capsys, "--model", files["model"], "--dataset", files["data"])
    assert code == 0 and err == ""
    folder = files["dir"] / "model.eval"
    assert (folder / "det.png").read_bytes()[:4] == b"\x89PNG"
    report = EvalReport.from_dict(json.loads((folder / "report.json").read_text()))
    s = report.scores
    assert (s.n_clips, s.n_triggers) == (N_DEV + N_NEG, 6)  # clips hold 1, 2, 1, 2 triggers
    assert s.negatives.n_clips == N_NEG and s.negatives.hours == pytest.approx(N_NEG * 10 / 3600)
    assert report.model_path == str(files["model"]) and report.word == "stripe"
    assert report.feature_kind == "log-power-v1" and report.backend == "tensorflow"
    for text in ("FRR at 1 FA/h", "threshold", "latency from word end: median",
                 "false accepts on clips without the word", str(folder / "det.png")):
        assert text in out
    # the tiny set's clips are all "noise" at 10 dB: one SNR row and one background row
    assert [(r.group, r.value, r.n_clips, r.n_words) for r in s.conditions] == [
        ("SNR", "10-20 dB", N_DEV + N_NEG, 6), ("background", "noise", N_DEV + N_NEG, 6)]
    assert "    SNR 10-20 dB: " in out and "    background noise: " in out


def test_json_output_with_a_given_threshold_and_out_dir(files, capsys, tmp_path):
    code, out, err = _run(capsys, "--model", files["model"], "--dataset", files["data"],
                          "--json", "--threshold", "0.3", "--out", tmp_path / "ev")
    assert code == 0 and err == ""
    report = EvalReport.from_dict(json.loads(out))
    assert report.scores.threshold == 0.3 and report.scores.threshold_given
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == ["det.png", "report.json"]
    stored = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert stored == json.loads(out)


def _one_line_error(capsys, *argv, match=""):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert match in err
    return err


def test_bad_input_is_one_line_and_exit_2(files, capsys, tmp_path):
    model, data = files["model"], files["data"]
    _one_line_error(capsys, "--model", tmp_path / "nope.keras", "--dataset", data,
                    match="no such model file")
    _one_line_error(capsys, "--model", model, "--dataset", tmp_path / "missing",
                    match="does not exist")
    no_dev = tmp_path / "no_dev"
    shutil.copytree(data, no_dev)
    (no_dev / "X_dev.npy").unlink()
    (no_dev / "Y_dev.npy").unlink()
    _one_line_error(capsys, "--model", model, "--dataset", no_dev, match="no dev split")
    _one_line_error(capsys, "--model", model, "--dataset", data, "--threshold", "1.5",
                    match="threshold")
    assert not (tmp_path / "no_dev" / "model.eval").exists()


def test_feature_kind_mismatch_is_refused(files, capsys, tmp_path):
    from model.card import write_model_card

    other = tmp_path / "seed.keras"
    shutil.copy(files["model"], other)
    write_model_card(other, "seed-linear")
    err = _one_line_error(capsys, "--model", other, "--dataset", files["data"],
                          match="seed-linear")
    assert "log-power-v1" in err and not other.with_suffix(".eval").exists()


def test_run_id_uses_the_runs_own_dataset(files, capsys, tmp_path):
    from model.train.events import TrialEvent
    from model.runs.store import RunStore
    from model.train.trial_config import ComparisonConfig, TrialConfig

    db = tmp_path / "lab.sqlite"
    store = RunStore(db)
    cfg = TrialConfig(epochs=1, dataset=str(files["data"]))
    cid, (run_id,) = store.create_comparison(ComparisonConfig(cfg, ["fp32"], 1))
    store.add_event(cid, TrialEvent("finished", run_id, "fp32", 0, time.time(),
                                    extra={"model_path": str(files["model"])}))
    store.close()
    code, out, _ = _run(capsys, "--model", run_id, "--store", db, "--json",
                        "--out", tmp_path / "ev")
    report = json.loads(out)
    assert code == 0 and report["model"] == run_id and report["dataset"] == str(files["data"])
    _one_line_error(capsys, "--model", "r-unknown", "--store", db, match="r-unknown")


def test_no_traceback_from_a_real_process(files, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "model", "evaluate", "--model",
                           str(tmp_path / "gone.keras"), "--dataset", str(files["data"])],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {tmp_path / 'gone.keras'}: no such model file"]  # TF may log too


def test_a_command_whose_options_need_a_missing_package_is_reported(monkeypatch, capsys):
    import model.cli.evaluate_cmd as cmd

    def needs_missing(parser):
        parser.add_argument("--model")
        raise ModuleNotFoundError("No module named 'keras'", name="keras")

    monkeypatch.setattr(cmd, "add_arguments", needs_missing)
    code, out, err = _run(capsys, "--model", "x")
    assert code == 2 and out == "" and "needs a package that is not installed" in err
    capsys.readouterr()
