"""Several GPUs, checked on the CPU: gloo ranks against one process, per-run placement on a
mocked device list, and bad --gpus values as one line."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import model.runs.jobs as jobs_mod
import model.train.distributed as dist_mod
from model.cli import main as cli_main
from model.errors import ConfigError
from model.runs.jobs import Runner
from model.runs.placement import assign, run_placed
from model.runs.store import RunStore
from model.train.distributed import ParallelConfig, check_parallel, rank_env
from model.train.events import TrialEvent, summarise_epochs
from model.train.network import NetworkConfig
from model.train.trial_config import ComparisonConfig, TrialConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dp():
    """tests/dp_checks.py's figures (2 gloo ranks on this CPU), computed once."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "dp_checks.py")],
                          capture_output=True, text=True, env=env, timeout=1200)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("DP_CHECKS ")]
    assert line, proc.stderr[-3000:]
    return json.loads(line[0].split(" ", 1)[1])


def test_two_gloo_ranks_take_the_step_one_process_takes(dp):
    fp32 = dp["fp32"]
    assert fp32["exit_codes"] == [0, 0, 0]
    assert fp32["loss_two"] == pytest.approx(fp32["loss_one"], abs=1e-6)
    assert fp32["max_weight_diff"] < 1e-5  # same maths; only the sums' order differs


def test_two_simulated_hosts_take_the_same_step(dp):
    hosts = dp["two_hosts"]  # one rank per "host": LOCAL_RANK 0 on both, GROUP_RANK 0 and 1
    assert hosts["exit_codes"] == [0, 0, 0] and hosts["max_weight_diff"] < 1e-5


def test_eight_gloo_ranks_take_the_step_one_process_takes(dp):
    # the 8-GPU machine's all-reduce (sum / 8) and batch norm over 8 ranks of 1 example each
    eight = dp["eight_ranks"]
    assert eight["exit_codes"] == [0] * 9
    assert eight["loss_two"] == pytest.approx(eight["loss_one"], abs=1e-6)
    assert eight["max_weight_diff"] < 1e-5 and eight["largest_weight"] > 0.5


def test_loss_scaled_fp16_ranks_agree_with_one_process(dp):
    # float16 activations round differently on half the batch; the update still agrees
    # to well under Adam's step (lr 1e-3), and the scaled step was not skipped on one side
    fp16 = dp["amp-fp16"]
    assert fp16["exit_codes"] == [0, 0, 0]
    assert fp16["loss_two"] == pytest.approx(fp16["loss_one"], abs=1e-3)
    assert fp16["max_weight_diff"] < 1.5e-3 and fp16["largest_weight"] > 0.5


def test_bf16_ranks_agree_with_one_process(dp):
    # bfloat16 activations and float32 weights: the same loss, updates within bf16 rounding
    bf16 = dp["amp-bf16"]
    assert bf16["exit_codes"] == [0, 0, 0]
    assert bf16["loss_two"] == pytest.approx(bf16["loss_one"], abs=1e-3)
    assert bf16["max_weight_diff"] < 1.5e-3 and bf16["largest_weight"] > 0.5


def test_data_parallel_trial_reports_once_with_global_figures(dp):
    trial = dp["trial"]
    assert trial["final"] == "finished", trial["message"]
    assert trial["kinds"] == ["started", "epoch", "finished"]  # rank 0 alone reports
    assert any("data-parallel over 2 ranks (gloo)" in n and "all-reduced in float32" in n
               for n in trial["notes"])
    # 16 examples in the epoch over both ranks: the rate counts both ranks' examples
    assert trial["examples_per_s"][0] == pytest.approx(16 / trial["epoch_s"][0], rel=1e-3)
    assert trial["model_saved"] and trial["orphans"] == []


def test_a_rank_that_dies_fails_the_run_with_its_rank_and_exit_code(dp):
    dead = dp["dead_rank"]
    assert dead["final"] == "failed"
    assert dead["message"].startswith("rank 1 of 2 ended unexpectedly (exit code 3)")
    assert dead["orphans"] == []


def test_assign_never_puts_two_runs_on_one_device():
    placed = assign(["a", "b", "c"], ["0", "1"])
    assert [(p.run_id, p.devices) for p in placed] == [("a", ["0"]), ("b", ["1"])]
    assert assign(["a"], []) == []
    assert [p.devices for p in assign(["a", "b"], ["0", "1", "2", "3"], per_run=2)] == \
        [["0", "1"], ["2", "3"]]


def test_run_placed_uses_every_device_and_never_shares_one():
    busy: dict[str, int] = {}
    seen: list[tuple[str, list[str]]] = []
    lock = threading.Lock()

    def train(run_id, devices):
        with lock:
            for d in devices:
                busy[d] = busy.get(d, 0) + 1
                assert busy[d] == 1, f"two runs on GPU {d}"
            seen.append((run_id, devices))
        time.sleep(0.05)
        with lock:
            for d in devices:
                busy[d] -= 1

    run_placed([f"r{i}" for i in range(6)], ["0", "1", "2"], train, threading.Event())
    assert sorted(r for r, _ in seen) == [f"r{i}" for i in range(6)]
    assert {d for _, devs in seen for d in devs} == {"0", "1", "2"}
    # the 8-GPU machine: a 12-run sweep uses all 8 and still never shares one
    seen.clear()
    run_placed([f"r{i}" for i in range(12)], [str(g) for g in range(8)], train, threading.Event())
    assert len(seen) == 12 and {d for _, devs in seen for d in devs} == {str(g) for g in range(8)}


def _fake_isolated(record):
    def run(cfg, run_id, run_dir, emit, cancel, devices=None):
        with record["lock"]:
            record["calls"].append((run_id, devices))
            record["live"] += 1
            record["peak"] = max(record["peak"], record["live"])
        emit(TrialEvent("started", run_id, cfg.precision, cfg.seed, time.time()))
        time.sleep(0.3)
        with record["lock"]:
            record["live"] -= 1
        emit(TrialEvent("finished", run_id, cfg.precision, cfg.seed, time.time(),
                        summary=summarise_epochs([], cfg.dev_loss_target)))
        return "finished"
    return run


def test_per_run_placement_spreads_a_comparison_and_a_queue_over_the_gpus(tiny, tmp_path,
                                                                         monkeypatch):
    record = {"calls": [], "live": 0, "peak": 0, "lock": threading.Lock()}
    monkeypatch.setattr(jobs_mod, "run_trial_isolated", _fake_isolated(record))
    monkeypatch.setattr(jobs_mod, "visible_gpus", lambda: ["0", "1"])
    monkeypatch.setattr(dist_mod, "visible_gpus", lambda: ["0", "1"])
    base = TrialConfig(batch_size=4, epochs=1, dataset=str(tiny), save_model=False,
                       network=NetworkConfig(conv_filters=8, gru_units=8),
                       parallel=ParallelConfig(gpus=2, placement="per-run"))
    runner = Runner(RunStore(tmp_path / "lab.sqlite"), isolate=True)
    try:
        first = runner.start(ComparisonConfig(base, ["fp32", "amp-bf16"]))
        second = runner.start(ComparisonConfig(base, ["fp32", "amp-bf16"]))
        assert runner.wait(first, 60) and runner.wait(second, 60)
        assert [r.status for c in (first, second) for r in runner.store.runs(c)] == \
            ["finished"] * 4
    finally:
        runner.shutdown(timeout=30)
    assert all(len(devs) == 1 for _, devs in record["calls"])
    assert {devs[0] for _, devs in record["calls"]} == {"0", "1"}
    assert record["peak"] == 2  # both GPUs busy at once, never more runs than GPUs


def test_bad_gpu_counts_are_one_line():
    with pytest.raises(ConfigError, match=r"^--gpus 3: this host has 2 GPUs; use --gpus 1..2$"):
        check_parallel(ParallelConfig(gpus=3), 64, "torch", ["0", "1"])
    with pytest.raises(ConfigError, match="no NVIDIA GPU found on this machine"):
        check_parallel(ParallelConfig(gpus=2), 64, "torch", [])
    with pytest.raises(ConfigError, match="does not split evenly over 2 GPUs"):
        check_parallel(ParallelConfig(gpus=2), 63, "torch", ["0", "1"])
    with pytest.raises(ConfigError, match="needs KERAS_BACKEND=torch"):
        check_parallel(ParallelConfig(gpus=2), 64, "tensorflow", ["0", "1"])
    check_parallel(ParallelConfig(gpus=2, placement="per-run"), 63, "tensorflow", ["0", "1"])


@pytest.mark.parametrize("found, gpus, expect", [
    (["0", "1"], "3", "error: --gpus 3: this host has 2 GPUs; use --gpus 1..2"),
    ([], "2", "error: --gpus 2: no NVIDIA GPU found on this machine (CPU only); use --gpus 1"),
])
def test_cli_bad_gpus_is_one_line(tiny, tmp_path, monkeypatch, capsys, found, gpus, expect):
    monkeypatch.setattr(dist_mod, "visible_gpus", lambda: found)
    code = cli_main(["train", "--gpus", gpus, "--placement", "per-run", "--dataset", str(tiny),
                     "--store", str(tmp_path / "lab.sqlite"), "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == expect


def test_a_process_group_that_cannot_start_is_one_line(monkeypatch):
    # rank 0 of 2 whose peer never comes: the rendezvous times out
    for key, value in rank_env(0, 2, dist_mod.free_port()).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        dist_mod.init_rank(timeout_s=2)
    text = str(err.value)
    assert text.startswith("GLOO did not start on rank 0 of 2: ") and "\n" not in text


def test_rank_env_is_torchruns_for_several_hosts():
    env = rank_env(5, 8, 29500, visible="0,1,2,3", addr="10.0.0.2", nproc_per_node=4)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["GROUP_RANK"]) == \
        ("5", "8", "1", "1")
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["CUDA_VISIBLE_DEVICES"]) == \
        ("10.0.0.2", "29500", "0,1,2,3")
