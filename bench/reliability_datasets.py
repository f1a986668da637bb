"""Reliability rows: broken dataset folders (truncated, pickled, bad JSON, NaN, mismatched,
missing, wrong shape): loading and training refuse each with one line, nothing stored."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from bench.reliability_core import Entry, Lab, Outcome, lab_error, registrar, small_net

ROWS: list[Entry] = []
scenario = registrar(ROWS)


def _broken_dataset(lab: Lab, name: str, breaker: Callable[[Path], None]) -> Outcome:
    from model.data.dataset import load_dataset
    folder = lab.tmp(name) / "XY"
    shutil.copytree(lab.dataset, folder)
    breaker(folder)
    msg, ok = lab_error(lambda: load_dataset(folder, check_values=True))
    tr, tr_ok = lab_error(lambda: _train_in_process(lab, folder))
    return Outcome(msg, {"one-line DatasetError on load": ok,
                         "training refuses it with one line, nothing stored": tr_ok})


def _train_in_process(lab: Lab, dataset: Path) -> None:
    from model.runs.jobs import Runner
    from model.runs.store import RunStore
    from model.train.trial_config import ComparisonConfig, TrialConfig
    store = RunStore(lab.tmp("st") / "lab.sqlite")
    try:
        Runner(store, isolate=False).start(ComparisonConfig(TrialConfig(
            batch_size=4, epochs=1, dataset=str(dataset), network=small_net()),
            ["fp32"]), check_values=True)
    finally:
        assert not store.comparisons(), "a comparison was stored"
        store.close()


@scenario("dataset: X.npy truncated to half", "datasets")
def _(lab: Lab) -> Outcome:
    def cut(folder: Path) -> None:
        data = (folder / "X.npy").read_bytes()
        (folder / "X.npy").write_bytes(data[:len(data) // 2])
    return _broken_dataset(lab, "truncx", cut)


@scenario("dataset: X.npy holds a pickled object", "datasets")
def _(lab: Lab) -> Outcome:
    def pickle_it(folder: Path) -> None:
        np.save(folder / "X.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    return _broken_dataset(lab, "pickle", pickle_it)


@scenario("dataset: meta.json is not JSON", "datasets")
def _(lab: Lab) -> Outcome:
    return _broken_dataset(lab, "meta", lambda f: (f / "meta.json").write_text("{oops"))


@scenario("dataset: NaN in X", "datasets")
def _(lab: Lab) -> Outcome:
    def nan(folder: Path) -> None:
        x = np.load(folder / "X.npy")
        x[0, 0, 0] = np.nan
        np.save(folder / "X.npy", x)
    return _broken_dataset(lab, "nan", nan)


@scenario("dataset: Y has fewer examples than X", "datasets")
def _(lab: Lab) -> Outcome:
    def short(folder: Path) -> None:
        np.save(folder / "Y.npy", np.load(folder / "Y.npy")[:-2])
    return _broken_dataset(lab, "short", short)


@scenario("dataset: Y_dev.npy missing", "datasets")
def _(lab: Lab) -> Outcome:
    return _broken_dataset(lab, "nodev", lambda f: (f / "Y_dev.npy").unlink())


@scenario("dataset: X.npy has the wrong shape", "datasets")
def _(lab: Lab) -> Outcome:
    return _broken_dataset(lab, "shape", lambda f: np.save(f / "X.npy", np.zeros((12, 7, 3),
                                                                                  np.float16)))
