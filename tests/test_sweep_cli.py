"""`python -m model sweep` in process, with the fake trainer of known speeds (tests/sweep_helpers.py)."""
import pytest

from model.cli import main
from model.runs.jobs import get_runner
from model.runs.sweep_store import sweeps
from tests.sweep_helpers import SpeedTrainer
from tests.test_app_pages import use_fake_trainer
from tests.tinydata import write_tiny_dataset


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "runs" / "lab.sqlite"
    yield path
    get_runner(path).shutdown(timeout=30)


def test_sweep_command_prints_speedups_and_stores_the_sweep(tmp_path, db, monkeypatch, capsys):
    use_fake_trainer(monkeypatch, SpeedTrainer())
    data = write_tiny_dataset(tmp_path / "data")
    rc = main(["sweep", "--batch-sizes", "4,2,8", "--precisions", "fp32,amp-bf16",
               "--dataset", str(data), "--store", str(db), "--name", "cli"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("-- batch ") == 3 and out.count(" epoch ") == 12  # 2 epochs by default
    rows = {tuple(ln.split()[:2]): ln.split() for ln in out.splitlines()
            if ln.split()[:2] and ln.split()[1] == "amp-bf16"}
    assert [rows[(b, "amp-bf16")][4] for b in ("2", "4", "8")] == ["1.00x", "1.25x", "1.50x"]
    (sweep,) = sweeps(get_runner(db).store)
    assert sweep.name == "cli" and sweep.status == "finished"
    assert [m.batch_size for m in sweep.members] == [2, 4, 8]


def test_sweep_command_reports_bad_settings_in_one_line(tmp_path, db, capsys):
    data = write_tiny_dataset(tmp_path / "data")
    rc = main(["sweep", "--batch-sizes", "2,2", "--dataset", str(data), "--store", str(db)])
    assert rc == 2
    assert capsys.readouterr().err == "error: batch sizes repeat 2; list each once\n"
