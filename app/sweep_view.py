"""The "AMP speedup vs batch size" chart and table of one sweep (live in a fragment, or static)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from .common import md_text
from .comparison_view import SVG
from .sweep_data import SweepView, medians_frame, points_frame, progress_text, records_table

CHART_TITLE = "AMP speedup vs batch size"


def speedup_chart(medians: pd.DataFrame, points: pd.DataFrame, reference: str,
                  batch_sizes: list[int]) -> alt.LayerChart:
    """Speedup over the reference precision against batch size (log2 axis).

    Args:
        medians: medians_frame (the line: median over repeats).
        points: points_frame (one dot per repeat).
        reference: the precision at 1.0x (usually fp32).
        batch_sizes: the sweep's batch sizes (axis ticks).

    Returns:
        A layered chart: a rule at 1.0 ("no gain"), a line through the medians, dots.
    """
    x = alt.X("batch_size:Q", title="batch size (log2 scale)",
              scale=alt.Scale(type="log", base=2),
              axis=alt.Axis(values=sorted(batch_sizes), format="d"))
    y = alt.Y("speedup:Q", title=f"speedup over {reference} (steady examples/s ratio)",
              scale=alt.Scale(zero=False))
    tips = ["batch_size:Q", "precision:N", alt.Tooltip("speedup:Q", format=".2f"),
            alt.Tooltip("examples_per_s:Q", title="examples/s", format=".1f"),
            alt.Tooltip("reference_examples_per_s:Q", title=f"{reference} examples/s",
                        format=".1f")]
    base = alt.Chart(pd.DataFrame({"speedup": [1.0], "label": ["1.0×: no gain"]}))
    rule = base.mark_rule(strokeDash=[6, 4], color="gray").encode(y="speedup:Q",
                                                                   tooltip=["label:N"])
    note = base.mark_text(align="left", dx=4, dy=-7, color="gray").encode(
        y="speedup:Q", x=alt.value(0), text="label:N")
    line = alt.Chart(medians).mark_line(point=alt.OverlayMarkDef(size=80, filled=True)).encode(
        x=x, y=y, color=alt.Color("precision:N"),
        tooltip=tips + ["runs:Q", alt.Tooltip("final_dev_loss:Q", format=".4f"), "flag:N"])
    dots = alt.Chart(points).mark_point(size=40, opacity=0.7).encode(
        x=x, y=y, color=alt.Color("precision:N"), tooltip=tips + ["repeat:Q"])
    return alt.layer(rule, note, line, dots).properties(height=360, title=CHART_TITLE, usermeta=SVG)


def render_sweep(view: SweepView) -> None:
    """Header, progress, the chart and the table of one sweep."""
    cfg = view.sweep.config
    st.markdown(f"**{view.sweep.id}**" + (f" “{md_text(view.sweep.name)}”" if view.sweep.name else "")
                + f" · **{view.sweep.status}** · {', '.join(cfg.precisions)} · batch "
                + ", ".join(map(str, cfg.batch_sizes)) + f" · {cfg.epochs} epochs · "
                + f"{cfg.repeats} seed(s) · training examples {cfg.train_examples or 'all'}")
    fraction, text = progress_text(view)
    st.progress(fraction, text=text)
    medians = medians_frame(view.result)
    if medians.empty:
        st.info("No batch size has finished both precisions yet; the chart fills in as each "
                "batch size's comparison ends.")
        return
    st.altair_chart(speedup_chart(medians, points_frame(view.result), view.result.reference,
                                  cfg.batch_sizes), width="stretch")
    st.caption(f"Line: median over seeds of steady examples/s (epochs 2.., epoch 1 compiles) "
               f"over {view.result.reference}'s at the same batch size; dots: each seed's "
               "paired ratio; dashed rule: 1.0, no gain.")
    if any(r.first_epoch_only for r in view.result.records):
        st.warning("Some runs had a single epoch: their speed includes compile/warm-up time "
                   "(use 2 or more epochs for steady figures).")
    st.table(records_table(view.result).set_index("batch"))
