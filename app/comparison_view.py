"""Charts, progress bars and summary of one comparison (live in a fragment, or static)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from model.runs.jobs import ENDED

from .common import md_text
from .comparison_data import (ComparisonData, epoch_time_frame, format_seconds, loss_frame,
                              run_progress, summary_frame)

SVG = {"embedOptions": {"renderer": "svg"}}  # small charts as SVG: crisp, and readable by tests
X_AXES = {"epoch": ("epoch:Q", "epoch"), "wall-clock seconds": ("wall_s:Q", "wall-clock seconds")}


def loss_chart(frame: pd.DataFrame, x_axis: str) -> alt.Chart:
    """Train (dashed) and dev (solid) loss per run, coloured by precision."""
    field, title = X_AXES[x_axis]
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X(field, title=title),
        y=alt.Y("loss:Q", title="loss (binary cross-entropy)", scale=alt.Scale(zero=False)),
        color=alt.Color("precision:N"),
        strokeDash=alt.StrokeDash("split:N", sort=["dev", "train"]),
        detail="run:N",
        tooltip=["run", "split", "epoch", "wall_s", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(height=320, title="Training and dev loss", usermeta=SVG)


def epoch_time_chart(frame: pd.DataFrame) -> alt.Chart:
    """Training seconds per epoch, one bar per run side by side."""
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("epoch:O", title="epoch"),
        xOffset="run:N",
        y=alt.Y("epoch_s:Q", title="epoch time (s)"),
        color=alt.Color("precision:N"),
        tooltip=["run", "epoch", alt.Tooltip("epoch_s:Q", format=".2f"),
                 alt.Tooltip("examples_per_s:Q", format=".1f")],
    ).properties(height=320, title="Epoch time (epoch 1 includes compilation)",
                 usermeta=SVG)


def comparison_header(data: ComparisonData) -> str:
    """One line: id, name, state and the main settings."""
    comp, base = data.comparison, data.comparison.config.base
    precisions = ", ".join(dict.fromkeys(r.precision for r in data.runs))
    name = f" “{md_text(comp.name)}”" if comp.name else ""  # user text: shown as typed
    aug = base.spec_augment
    sched = f" {base.lr_schedule}" if base.lr_schedule != "constant" else ""
    masks = (f" · SpecAugment {aug.time_masks}×{aug.time_mask_frames} frames, "
             f"{aug.freq_masks}×{aug.freq_mask_bins} bins" if aug.active else "")
    return (f"**{comp.id}**{name} · **{comp.status}** · {precisions} · batch {base.batch_size} · "
            f"{base.epochs} epochs · lr {base.learning_rate:g}{sched} · {base.init} · "
            f"{comp.config.repeats} seed(s){masks}")


def render_comparison(data: ComparisonData, key: str, show_progress: bool = True) -> None:
    """Header, progress bars, loss and epoch-time charts and the summary table."""
    st.markdown(comparison_header(data))
    if data.comparison.message and data.comparison.status != "finished":
        st.warning(md_text(data.comparison.message))
    if show_progress:
        for run in data.runs:
            prog = run_progress(run, data.epochs.get(run.id, []))
            st.progress(prog.fraction, text=prog.text)
    st.caption(f"epochs shown: {data.epochs_shown}")
    losses = loss_frame(data)
    if losses.empty:
        st.info("No epoch has finished yet; the charts fill in after each epoch.")
        return
    x_axis = st.radio("x-axis", list(X_AXES), horizontal=True, key=f"{key}-xaxis")
    left, right = st.columns(2)
    left.altair_chart(loss_chart(losses, x_axis), width="stretch")
    right.altair_chart(epoch_time_chart(epoch_time_frame(data)), width="stretch")
    st.caption(f"Loss against {x_axis}; dashed: training loss (with dropout), solid: dev loss.")
    st.table(summary_frame(data).set_index("precision"))
    if data.comparison.status in ENDED and data.comparison.ended_unix:
        took = data.comparison.ended_unix - data.comparison.created_unix
        st.caption(f"Ended after {format_seconds(took)} (from queueing to the end).")
