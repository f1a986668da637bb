"""Dataset page: size and recipe of XY_train, and sample clips to listen to."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from model.dataset import load_dataset
from model.errors import LabError


@dataclass
class DatasetSummary:
    """What the page shows about a dataset folder."""

    n_train: int  # training examples
    n_dev: int  # dev examples
    word: str  # trigger word
    feature_kind: str  # feature kind from meta.json
    size_mb: float  # bytes on disk / 1e6
    seed: int | None  # generator seed
    generator_version: str  # generator version


def summarise_dataset(folder: Path) -> DatasetSummary:
    """Open a dataset (no value scan) and summarise it; raises LabError if unusable."""
    ds = load_dataset(folder, check_values=False)
    size = sum(p.stat().st_size for p in folder.glob("*.npy"))
    return DatasetSummary(ds.n_train, ds.n_dev, ds.meta.word, ds.meta.feature_kind, size / 1e6,
                          ds.meta.seed, ds.meta.generator_version)


def dataset_page(root: Path) -> None:
    """Render the dataset overview."""
    st.title("AMP trigger-word lab")
    st.caption("Does automatic mixed precision make this model train and converge faster, "
               "and what does it cost in quality?")
    folder = root / "XY_train"
    try:
        summary = summarise_dataset(folder)
    except LabError as err:
        st.error(str(err))
        return
    cols = st.columns(4)
    cols[0].metric("training examples", f"{summary.n_train:,}")
    cols[1].metric("dev examples (unseen voices)", f"{summary.n_dev:,}")
    cols[2].metric("trigger word", summary.word)
    cols[3].metric("size on disk", f"{summary.size_mb:,.0f} MB")
    st.write(f"Features: `{summary.feature_kind}`; seed {summary.seed}; "
             f"generator version {summary.generator_version or 'external'}.")
    _samples(root / "assets" / "samples")


def _samples(folder: Path) -> None:
    """Play the committed sample clips with their label times."""
    clips = sorted(folder.glob("*.wav"))
    if not clips:
        return
    st.subheader("Listen to synthesised examples")
    labels = _read_labels(folder / "labels.json")
    for clip in clips:
        info = labels.get(clip.name)
        st.audio(str(clip))
        if info:
            st.caption(info)


def _read_labels(path: Path) -> dict[str, str]:
    """File name -> one line describing its words (from labels.json)."""
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    lines = {}
    for item in raw.get("clips", []):
        ends = ", ".join(f"{t:.2f} s" for t in item.get("trigger_end_s", []))
        lines[item.get("file", "")] = (f"trigger word ends at: {ends or 'none'}; "
                                       f"other words: {item.get('n_other', 0)}; "
                                       f"background: {item.get('background', '?')}")
    return lines
