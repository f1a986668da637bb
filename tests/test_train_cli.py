"""`python -m model train` end to end: live lines, summary, the store the dashboard reads."""
import subprocess
import sys

import pytest

from model.cli import main
from model.train.events import PrecisionSummary
from model.cli.train_cmd import format_summary
from model.runs.store import RunStore
from tests.conftest import ROOT
from tests.tinydata import write_tiny_dataset

TINY_NET = ["--conv-filters", "16", "--gru-units", "16", "--dropout", "0.1"]


def test_train_runs_end_to_end(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    db = tmp_path / "runs" / "lab.sqlite"
    cmd = [sys.executable, "-m", "model", "train", "--precisions", "fp32,amp-bf16",
           "--batch-size", "6", "--epochs", "2", "--dataset", str(data), "--store", str(db),
           "--lr", "0.01", "--lr-schedule", "cosine", "--target-dev-loss", "0.69", *TINY_NET]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    epoch_lines = [ln for ln in out.splitlines() if " epoch " in ln]
    assert len(epoch_lines) == 4
    assert epoch_lines[0].startswith("fp32") and "  1/2" in epoch_lines[0]
    assert "first epoch" in epoch_lines[0] and "ex/s" in epoch_lines[1]
    assert "compute bfloat16" in out and "compute float32" in out
    header = next(ln for ln in out.splitlines() if ln.strip().startswith("precision"))
    assert "speedup" in header and "s to dev<=0.69" in header
    assert any(ln.strip().startswith("amp-bf16") and "x" in ln for ln in out.splitlines())
    # the same store the dashboard reads
    store = RunStore(db)
    (comp,) = store.comparisons()
    runs = store.runs(comp.id)
    assert comp.status == "finished" and [r.status for r in runs] == ["finished", "finished"]
    assert [len(store.epochs(r.id)) for r in runs] == [2, 2]
    assert all(store.model_path(r.id) is not None for r in runs)
    assert runs[0].config.network.gru_units == 16 and runs[0].config.batch_size == 6
    assert runs[0].config.lr_schedule == "cosine" and runs[0].config.learning_rate == 0.01


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "epochs must be between 1 and 1000"),
    (["--precisions", "fp32,fp8"], "unknown precision 'fp8'"),
    (["--batch-size", "13"], "batch size 13 is larger than the 12 training examples"),
    (["--init", "pretrained"], "init pretrained needs the pretrained model's network"),
])
def test_bad_input_is_one_line_and_stores_nothing(tmp_path, capsys, argv, message):
    data = write_tiny_dataset(tmp_path / "data")
    db = tmp_path / "lab.sqlite"
    code = main(["train", "--dataset", str(data), "--store", str(db), *TINY_NET, *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert RunStore(db).comparisons() == []


def test_summary_table_lines_up_and_marks_missing_values():
    rows = [PrecisionSummary("fp32", 2, 9.0, 3.0, 20.0, 1.0, 0.2, 0.25, 0.5, 30.0, 2, 2**31),
            PrecisionSummary("amp-bf16", 2, 11.0, 2.0, 30.0, 1.5, 0.21, 0.26, None, None, 0,
                             2**30)]
    lines = format_summary(rows, 0.05).splitlines()
    assert len({len(ln) for ln in lines}) == 1  # aligned columns
    assert "1.50x" in lines[2] and "never (0/2)" in lines[2] and "30.0 (2/2)" in lines[1]
