"""History page: every stored comparison (dashboard or CLI), filter, open, compare, export, delete."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from model.runs.store import ComparisonRow, RunStore
from model.runs.export import export_csv, export_json

from .common import guarded, store
from .comparison_data import read_comparison
from .comparison_view import render_comparison

STATUSES = ["finished", "running", "queued", "cancelled", "failed", "interrupted"]


def comparison_table(comps: list[ComparisonRow]) -> pd.DataFrame:
    """One row per comparison: id, name, status, when, precisions and main settings."""
    rows = [{"id": c.id, "name": c.name, "status": c.status,
             "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(c.created_unix)),
             "precisions": ", ".join(c.config.precisions) or "device default",
             "batch": c.config.base.batch_size, "epochs": c.config.base.epochs,
             "seeds": c.config.repeats, "init": c.config.base.init,
             "dataset": c.config.base.dataset} for c in comps]
    return pd.DataFrame(rows, columns=["id", "name", "status", "created", "precisions", "batch",
                                       "epochs", "seeds", "init", "dataset"])


def filter_comparisons(comps: list[ComparisonRow], text: str, statuses: list[str]
                       ) -> list[ComparisonRow]:
    """Comparisons whose status is selected and whose id, name or precisions contain ``text``."""
    needle = text.strip().lower()
    keep = []
    for c in comps:
        hay = " ".join([c.id, c.name, *c.config.precisions]).lower()
        if (not statuses or c.status in statuses) and needle in hay:
            keep.append(c)
    return keep


def _open_one(st_store: RunStore, cid: str, key: str) -> None:
    data = read_comparison(st_store, cid)
    if data is None:
        st.warning(f"{cid} is no longer in the store.")
        return
    render_comparison(data, key=key)
    a, b = st.columns(2)
    a.download_button("Export CSV", export_csv(st_store, cid), f"{cid}.csv", "text/csv",
                      key=f"{key}-csv")
    b.download_button("Export JSON", export_json(st_store, cid), f"{cid}.json",
                      "application/json", key=f"{key}-json")


def _delete(st_store: RunStore, cid: str) -> None:
    with st.popover("Delete…"):
        st.write(f"Delete {cid}, its runs and saved models? This cannot be undone.")
        if st.button("Delete for good", type="primary", key=f"h-del-{cid}"):
            st_store.delete_comparison(cid)
            st.rerun()


@guarded
def history_page() -> None:
    """Render the History page."""
    st.title("History")
    st_store = store()
    comps = st_store.comparisons(limit=1000)
    if not comps:
        st.info("No comparison stored yet (the Trials page and `python -m model train` add them).")
        return
    f1, f2 = st.columns([2, 3])
    text = f1.text_input("Filter by id, name or precision", key="h_filter")
    statuses = f2.multiselect("Status", STATUSES, key="h_status")
    shown = filter_comparisons(comps, text, statuses)
    st.dataframe(comparison_table(shown), hide_index=True, width="stretch")
    if not shown:
        st.info("Nothing matches the filter.")
        return
    ids = [c.id for c in shown]
    labels = {c.id: f"{c.id} {c.name}".strip() + f" ({c.status})" for c in shown}
    picked = st.multiselect("Open (pick two to put them side by side)", ids, max_selections=2,
                            default=ids[:1], format_func=labels.get, key="h_open")
    cols = st.columns(len(picked)) if picked else []
    for col, cid in zip(cols, picked):
        with col:
            _open_one(st_store, cid, key=f"h-{cid}")
            _delete(st_store, cid)
