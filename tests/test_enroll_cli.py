"""End to end on a tiny setting: ``python -m model enroll`` -> a loadable model with its card,
which ``detect --model PATH`` uses; a spectrogram base is one line and writes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.card import PRETRAINED_PATH, read_model_card, recommended_threshold
from model.cli import main
from model.enroll.standin import write_standin_takes

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "bench" / "candidates" / "embed-head-1000.keras"
TINY = ["--clips-per-take", "3", "--synth-train", "4", "--negatives", "4", "--own-negatives", "2",
        "--synth-dev", "6",
        "--epochs", "1"]


@pytest.fixture(scope="module")
def takes_dir(tmp_path_factory):
    """Four stand-in takes (piper pitch band -4: a dev family of the base's card) and a note."""
    folder = tmp_path_factory.mktemp("takes")
    write_standin_takes(folder, "activate", 4, seed=3)
    (folder / "notes.txt").write_text("not a take\n")
    return folder


def test_enroll_cli_makes_a_loadable_model_with_a_card(tmp_path, takes_dir, capsys):
    out = tmp_path / "mine.keras"
    code = main(["enroll", "--word", "activate", "--takes", str(takes_dir), "--name", "tester",
                 "--init", str(BASE), "--profiles", str(tmp_path / "profiles"),
                 "--store", str(tmp_path / "lab.sqlite"), "--out", str(out), *TINY])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == str(out)
    assert "skipped notes.txt" in captured.err and "held out 04.wav" in captured.err
    assert read_model_card(out) == "speech-embedding-v1"
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["word"] == "activate" and card["profile"] == "tester"
    assert recommended_threshold(out) == card["after"]["threshold"]
    assert card["before"]["words"] == card["after"]["words"] > 0
    profile = tmp_path / "profiles" / "activate-tester"
    assert sorted(p.name for p in (profile / "takes").iterdir()) == [f"0{i}.wav" for i in range(1, 5)]
    result = json.loads((profile / "enroll.json").read_text())
    assert {c["label"] for c in result["curves"]} >= {"held-out take 04.wav",
                                                     "take-free clip (synthetic dev)"}
    assert not (profile / "work").exists()
    # the run is in the store like any trial, with its loss per epoch
    from model.runs.store import RunStore
    run = RunStore(tmp_path / "lab.sqlite").run(card["run_ids"][-1])
    assert run.status == "finished" and run.config.init == str(BASE)
    assert len(run.summary.epochs if hasattr(run.summary, "epochs") else [1]) >= 1
    # detect --model PATH uses it (and its card's threshold)
    code = main(["detect", str(takes_dir / "take_01.wav"), "--model", str(out), "--json"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and line["step_s"] == pytest.approx(0.08)


def test_a_spectrogram_base_is_one_line_and_writes_nothing(tmp_path, takes_dir, capsys):
    before = PRETRAINED_PATH.stat().st_mtime_ns
    # the spectrogram pair's log-power member: "pretrained" may name an embedding head by now
    code = main(["enroll", "--word", "activate", "--takes", str(takes_dir),
                 "--init", str(PRETRAINED_PATH),
                 "--profiles", str(tmp_path / "p"), "--store", str(tmp_path / "lab.sqlite"), *TINY])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "enrolment fine-tunes a speech-embedding-v1 model" in err and "embed-head-1000" in err
    assert not list((tmp_path / "p").rglob("*.keras"))
    assert PRETRAINED_PATH.stat().st_mtime_ns == before


@pytest.mark.parametrize("args, words", [
    (["--word", "", "--takes", "."], "the word is empty"),
    (["--word", "activate", "--takes", "/no/such/dir"], "no such folder"),
    (["--word", "activate", "--takes", "EMPTY"], "no WAV, FLAC, OGG or MP3"),
    (["--word", "activate", "--takes", ".", "--own-negatives", "-1"],
     "--own-negatives must be at least 0"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, args, words):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    code = main(["enroll", *args, "--profiles", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1


def test_fewer_than_two_good_takes_is_one_line(tmp_path, capsys):
    folder = tmp_path / "takes"
    write_standin_takes(folder, "activate", 1)
    (folder / "silence.wav").write_bytes((folder / "take_01.wav").read_bytes()[:44] + b"\0" * 88200)
    code = main(["enroll", "--word", "activate", "--takes", str(folder), "--profiles",
                 str(tmp_path / "p"), "--init", str(BASE)])
    err = capsys.readouterr().err
    assert code == 2 and "1 good take of 'activate'; enrolment needs at least 2" in err
