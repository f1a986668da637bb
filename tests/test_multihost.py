"""Data-parallel runs over several hosts, simulated on one CPU: two ``python -m model train``
processes play host 0 and host 1 (one gloo rank each) and meet on one rendezvous port;
plus the host settings' one-line refusals, the global ranks each host starts, and what a
host without rank 0 reports."""
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import model.train.distributed as dist_mod
from model.cli import main as cli_main
from model.errors import ConfigError
from model.runs.isolation import _dead_rank, _rank_label, child_envs
from model.runs.store import RunStore
from model.train.distributed import ParallelConfig, RankInfo, check_parallel, free_port
from model.train.dp_trial import RankEmitter, settings_digest
from model.train.events import TrialEvent
from model.train.precision import PrecisionRecord
from model.train.trial_config import TrialConfig
from tests.tinydata import write_tiny_embedding_dataset

ROOT = Path(__file__).resolve().parent.parent
HOST_1_LINE = "rank 1 of 2 on host 1; rank 0 (host 0) reports the figures"


def _host(k: int, port: int, dataset: Path, store: Path) -> subprocess.Popen:
    """Host ``k`` of 2: the same train command, its own --node-rank and store."""
    cmd = [sys.executable, "-m", "model", "train", "--dataset", str(dataset),
           "--store", str(store), "--precisions", "fp32", "--epochs", "1", "--batch-size", "8",
           "--train-examples", "16", "--dev-examples", "4", "--gpus", "1", "--nnodes", "2",
           "--node-rank", str(k), "--master-addr", "127.0.0.1", "--master-port", str(port)]
    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _only_run(store: Path):
    runs = RunStore(store).runs(RunStore(store).comparisons()[0].id)
    assert len(runs) == 1
    return runs[0]


def test_two_simulated_hosts_train_one_run_and_both_finish(tmp_path):
    dataset = write_tiny_embedding_dataset(tmp_path / "emb", n_train=16, n_dev=4)
    port, stores = free_port(), [tmp_path / "host0.sqlite", tmp_path / "host1.sqlite"]
    hosts = [_host(k, port, dataset, stores[k]) for k in (1, 0)][::-1]  # host 1 waits first
    try:
        outs = [h.communicate(timeout=240)[0] for h in hosts]
    finally:
        for h in hosts:
            if h.poll() is None:
                h.kill()
    assert [h.returncode for h in hosts] == [0, 0], "\n".join(o[-2000:] for o in outs)
    lead, other = _only_run(stores[0]), _only_run(stores[1])
    assert lead.status == "finished" and lead.summary is not None
    epochs = RunStore(stores[0]).epochs(lead.id)
    # 16 examples a epoch over both hosts: the rate counts host 1's examples too
    assert len(epochs) == 1 and epochs[0].examples_per_second == pytest.approx(
        16 / epochs[0].epoch_seconds, rel=1e-3)
    assert any(n.startswith("data-parallel over 2 ranks (gloo) on 2 hosts (1 per host)")
               for n in lead.device.notes)
    assert other.status == "finished" and other.message == HOST_1_LINE
    assert other.summary is None and RunStore(stores[1]).epochs(other.id) == []
    assert f"finished ({HOST_1_LINE})" in outs[1]


@pytest.mark.parametrize("cfg, expect", [
    (ParallelConfig(nnodes=2, node_rank=2, master_port=29500),
     r"^--node-rank 2 is outside 0\.\.1 \(--nnodes 2\)$"),
    (ParallelConfig(nnodes=2, node_rank=-1, master_port=29500), r"^--node-rank -1 is outside"),
    (ParallelConfig(nnodes=2, node_rank=1),
     r"^--nnodes 2 needs --master-port: the port rank 0's host listens on, the same on every"),
    (ParallelConfig(gpus=2, placement="per-run", nnodes=2, master_port=29500),
     r"^--nnodes 2: per-run placement keeps each run on one host; use --placement"),
    (ParallelConfig(nnodes=0), r"^--nnodes must be a whole number of at least 1, got 0$"),
    (ParallelConfig(nnodes=2, master_port=70000), r"^--master-port must be 1\.\.65535"),
    (ParallelConfig(gpus=2, nnodes=2, master_port=29500),  # --gpus 2 on a CPU: still refused
     r"^--gpus 2: no NVIDIA GPU found on this machine \(CPU only\); use --gpus 1$"),
    (ParallelConfig(nnodes=3, master_port=29500),
     r"^batch size 8 does not split evenly over 3 ranks \(3 hosts\); use a multiple of 3$"),
])
def test_bad_host_settings_are_one_line(cfg, expect):
    with pytest.raises(ConfigError, match=expect):
        check_parallel(cfg, 8, "torch", [])


def test_one_rank_per_simulated_host_is_allowed_on_a_cpu():
    check_parallel(ParallelConfig(nnodes=2, node_rank=1, master_port=29500), 8, "torch", [])
    with pytest.raises(ConfigError, match="needs KERAS_BACKEND=torch"):
        check_parallel(ParallelConfig(nnodes=2, master_port=29500), 8, "tensorflow", [])


@pytest.mark.parametrize("flags, expect", [
    (["--nnodes", "2", "--node-rank", "2", "--master-port", "29500"],
     "error: --node-rank 2 is outside 0..1 (--nnodes 2)"),
    (["--nnodes", "2", "--node-rank", "1"], "error: --nnodes 2 needs --master-port: the port "
     "rank 0's host listens on, the same on every host"),
    (["--nnodes", "2", "--master-port", "29500", "--placement", "per-run"],
     "error: --nnodes 2: per-run placement keeps each run on one host; use --placement "
     "data-parallel or --nnodes 1"),
])
def test_cli_bad_host_flags_are_one_line(tiny, tmp_path, monkeypatch, capsys, flags, expect):
    monkeypatch.setattr(dist_mod, "visible_gpus", lambda: [])
    code = cli_main(["train", "--dataset", str(tiny), "--store", str(tmp_path / "lab.sqlite"),
                     "--epochs", "1", *flags])
    assert code == 2 and capsys.readouterr().err.strip() == expect


def test_each_host_starts_its_own_global_ranks():
    par = ParallelConfig(gpus=2, nnodes=2, node_rank=1, master_addr="10.0.0.2",
                         master_port=29500)
    envs = child_envs(TrialConfig(parallel=par), ["0", "1"])
    assert [(e["RANK"], e["LOCAL_RANK"], e["GROUP_RANK"], e["WORLD_SIZE"]) for e in envs] == \
        [("2", "0", "1", "4"), ("3", "1", "1", "4")]
    assert {(e["MASTER_ADDR"], e["MASTER_PORT"], e["CUDA_VISIBLE_DEVICES"]) for e in envs} == \
        {("10.0.0.2", "29500", "0,1")}
    host0 = child_envs(TrialConfig(parallel=replace(par, node_rank=0)), None)
    assert [e["RANK"] for e in host0] == ["0", "1"] and "CUDA_VISIBLE_DEVICES" not in host0[0]
    one = child_envs(TrialConfig(parallel=ParallelConfig(nnodes=2, node_rank=1,
                                                         master_port=29500)), None)
    assert [(e["RANK"], e["LOCAL_RANK"], e["WORLD_SIZE"]) for e in one] == [("1", "0", "2")]


def test_a_dead_rank_on_host_1_is_named_by_its_global_rank():
    envs = child_envs(TrialConfig(parallel=ParallelConfig(gpus=2, nnodes=2, node_rank=1,
                                                          master_port=29500)), ["0", "1"])

    class Child:  # what _dead_rank reads of a multiprocessing.Process
        def __init__(self, code):
            self.exitcode = code
    why = _dead_rank([Child(None), Child(3)], [_rank_label(e, 2) for e in envs])
    assert why.startswith("rank 3 of 4 ended unexpectedly (exit code 3)")
    assert _rank_label({}, 1) == "the training process"


def _events(info: RankInfo, cfg: TrialConfig) -> list[TrialEvent]:
    """What a rank's emitter passes on from one run's started, epoch and finished events."""
    out: list[TrialEvent] = []
    emitter = RankEmitter(out.append, info, cfg)
    device = PrecisionRecord("fp32", "torch", "cpu", "cpu", "float32")
    for kind, extra in (("started", {"device": device}), ("epoch", {}),
                        ("finished", {"extra": {"model_path": "m.keras"}})):
        emitter(TrialEvent(kind, "r1", "fp32", 0, time.time(), **extra))
    return out


def test_a_host_without_rank_0_reports_its_start_and_end_only():
    par = ParallelConfig(gpus=2, nnodes=2, node_rank=1, master_port=29500)
    cfg = TrialConfig(batch_size=8, parallel=par)
    lead = _events(RankInfo(2, 4, 0, "gloo"), cfg)
    assert [e.kind for e in lead] == ["started", "finished"]
    assert lead[-1].message == "rank 2-3 of 4 on host 1; rank 0 (host 0) reports the figures"
    assert lead[-1].summary is None and lead[-1].extra == {}
    assert lead[0].device.notes[-1] == lead[-1].message
    assert _events(RankInfo(3, 4, 1, "gloo"), cfg) == []  # host 1's other rank stays quiet
    host0 = _events(RankInfo(1, 4, 1, "gloo"), replace(cfg, parallel=replace(par, node_rank=0)))
    assert host0 == []


def test_runs_stored_before_several_hosts_read_with_one_host():
    old = ParallelConfig.from_dict({"gpus": 2, "placement": "data-parallel",
                                    "allreduce_dtype": "float32"})
    assert (old.nnodes, old.node_rank, old.master_addr, old.master_port) == \
        (1, 0, "127.0.0.1", 0)
    assert old.ranks == 2 and ParallelConfig(gpus=2, nnodes=3).ranks == 6


def test_hosts_must_share_every_setting_but_their_index_and_dataset_path():
    par = ParallelConfig(nnodes=2, master_port=29500)
    base = TrialConfig(batch_size=8, dataset="/data/a", parallel=par)
    same = replace(base, dataset="/mnt/b", parallel=replace(par, node_rank=1))
    assert settings_digest(same) == settings_digest(base)
    for other in (replace(base, seed=1), replace(base, batch_size=16),
                  replace(base, parallel=replace(par, gpus=2))):
        assert settings_digest(other) != settings_digest(base)
