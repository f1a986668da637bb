"""Dataset page: size and recipe of the dataset, making a new one, sample clips to listen to."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from model.data.dataset import load_dataset
from model.errors import LabError
from model.audio.features import SYNTH_FEATURE_KINDS
from model.data.samples import read_samples
from model.data.synth import SynthConfig

from .common import guarded, settings
from .settings import ROOT
from .datajob import get_data_job


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
    size = sum(p.stat().st_size for p in Path(folder).glob("*.npy"))
    return DatasetSummary(ds.n_train, ds.n_dev, ds.meta.word, ds.meta.feature_kind, size / 1e6,
                          ds.meta.seed, ds.meta.generator_version)


def dataset_line(folder: Path) -> tuple[DatasetSummary | None, str]:
    """(summary or None, one line for the page: the size, or why the folder is unusable)."""
    try:
        s = summarise_dataset(folder)
    except LabError as err:
        return None, str(err)
    return s, (f"`{folder}`: {s.n_train:,} training + {s.n_dev:,} dev examples of "
               f"“{s.word}”, {s.size_mb:,.0f} MB")


def render_make_data(out_dir: Path, key: str = "md") -> None:
    """The "make data" form and, while it runs, its progress bar (polled every second)."""
    job = get_data_job()
    with st.form(f"{key}-form"):
        cols = st.columns(4)
        word = cols[0].text_input("trigger word", "activate", key=f"{key}-word")
        n_train = cols[1].number_input("training examples", 1, 200_000, 2000, key=f"{key}-n")
        n_dev = cols[2].number_input("dev examples", 1, 20_000, 200, key=f"{key}-dev")
        seed = cols[3].number_input("seed", 0, 2**31 - 1, 0, key=f"{key}-seed")
        kind = st.selectbox(
            "features", list(SYNTH_FEATURE_KINDS), key=f"{key}-features",
            help="log-power-v1: log power spectrogram (what the shipped model uses); pcen-v1: "
                 "per-channel energy normalisation, which mostly ignores level and microphone "
                 "colour; speech-embedding-v1: openWakeWord's frozen front-end trained on real "
                 "speech, 96 values every 80 ms, read by a small head (about 0.3 s a clip "
                 "to compute on a CPU)")
        st.caption(f"Writes `{out_dir}` (replaced only when complete). Text-to-speech runs "
                   "offline; expect minutes for thousands of examples on a CPU.")
        submitted = st.form_submit_button("Make data")
    if submitted:
        job.start(SynthConfig(word=word.strip(), n_train=int(n_train), n_dev=int(n_dev),
                              seed=int(seed)), out_dir, kind)
    _data_progress(key)


@st.fragment(run_every=1.0)
def _data_progress(key: str) -> None:
    job = get_data_job()
    state = job.snapshot()
    if state.running:
        st.progress(state.fraction, text=f"making data: {state.stage} {state.done}/{state.total}")
        if st.button("Cancel making data", key=f"{key}-cancel"):
            job.cancel()
    elif state.ok:
        st.success(state.message)
    elif state.ok is False:
        st.error(state.message)


@guarded
def dataset_page() -> None:
    """Render the dataset overview and the make-data action."""
    st.title("Dataset")
    folder = settings().dataset_dir
    summary, line = dataset_line(folder)
    if summary is None:
        st.warning(line)
    else:
        cols = st.columns(4)
        cols[0].metric("training examples", f"{summary.n_train:,}")
        cols[1].metric("dev examples (unseen voices)", f"{summary.n_dev:,}")
        cols[2].metric("trigger word", summary.word)
        cols[3].metric("size on disk", f"{summary.size_mb:,.0f} MB")
        st.write(f"Folder `{folder}` · features `{summary.feature_kind}` · seed {summary.seed} · "
                 f"generator version {summary.generator_version or 'external'}.")
    with st.expander("Make a new dataset", expanded=summary is None):
        render_make_data(folder, "dpage")
    _samples(ROOT / "assets" / "samples")


def _samples(folder: Path) -> None:
    """Play sample clips (written by `python -m model samples`) with their label times."""
    clips = read_samples(folder)
    if not clips:
        return
    st.subheader("Listen to synthesised examples")
    for clip in clips[:8]:
        if (folder / clip.file).is_file():
            st.audio(str(folder / clip.file))
            ends = ", ".join(f"{t:.2f} s" for t in clip.trigger_end_s) or "none"
            st.caption(f"trigger word ends at: {ends}; other words: {len(clip.other_spans_s)}; "
                       f"background: {clip.background}")
