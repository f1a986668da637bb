"""bench/*.py JSON files record how they were made: bench/bench_args.py."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_args import invocation  # noqa: E402


def test_invocation_keeps_the_words_and_the_parsed_arguments_with_defaults():
    p = argparse.ArgumentParser()
    p.add_argument("--batches", default="32,64")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("x.json"))
    argv = ["--epochs", "5"]
    got = invocation("/somewhere/bench/bench_gpu.py", p.parse_args(argv), argv)
    assert got == {"script": "bench_gpu.py", "argv": ["--epochs", "5"],
                   "args": {"batches": "32,64", "epochs": 5, "out": "x.json"}}
    assert json.loads(json.dumps(got)) == got  # JSON-safe (the Path became text)


def test_invocation_reads_sys_argv_when_main_was_called_without_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_train.py", "--gpu"])
    p = argparse.ArgumentParser()
    p.add_argument("--gpu", action="store_true")
    assert invocation("bench_train.py", p.parse_args())["argv"] == ["--gpu"]
