"""The "my model" section: before/after probability curves of an enrolment, its threshold and
false accepts per hour (shown on the Enrol page and under a personal model on Detect)."""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from .enroll_data import curves_frame, read_result, result_lines


def curve_chart(frame: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """Before and after probabilities over time, the threshold as a dashed rule."""
    lines = alt.Chart(frame).mark_line().encode(
        x=alt.X("time_s:Q", title="time (s)"),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="probability"),
        color=alt.Color("model:N", title=None))
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(
        color="orange", strokeDash=[6, 3]).encode(y="threshold:Q")
    return (lines + rule).properties(height=200)


def my_model_section(folder: Path) -> None:
    """Figures and curves of a profile's last enrolment (nothing if it has none)."""
    res = read_result(folder)
    if res is None:
        return
    st.markdown(f"**my model ({Path(folder).name})**: word “{res['word']}”, base "
                f"`{Path(res['base']).name}`, {res['date']}")
    for line in result_lines(res):
        st.caption(line)
    threshold = float(res["after"]["threshold"])
    for curve in res["curves"]:
        st.markdown(f"*{curve['label']}*")
        st.altair_chart(curve_chart(curves_frame(curve), threshold), width="stretch")
        audio = Path(folder) / curve["audio"]
        if audio.is_file():
            st.audio(audio.read_bytes(), format="audio/wav")
