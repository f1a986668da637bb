"""Sweeps page: launch an AMP-vs-FP32 sweep over batch sizes and watch the speedup curve."""
from __future__ import annotations

import streamlit as st

from model.errors import ConfigError
from model.runs.jobs import Runner
from model.train.precision import default_precisions
from model.train.sweep_config import DEFAULT_BATCH_SIZES
from model.runs.sweep_jobs import cancel_sweep, start_sweep
from model.runs.sweep_store import SweepRow, read_sweep, sweep_ids, sweeps

from .common import guarded, runner, settings
from .comparison_data import runs_gpu_text
from .device_panel import LABELS, device_summary, gpu_settings, precision_choices
from .sweep_data import SweepFormValues, form_to_sweep, read_sweep_view, sweep_label
from .sweep_view import render_sweep

IDLE_POLL_S = 3.0  # how often an idle page looks for sweeps started elsewhere (CLI, other tab)
LIVE_POLL_S = 1.0  # how often the view refreshes while the sweep runs
ACTIVE = ("queued", "running")


def _form() -> SweepFormValues:
    """The sweep widgets; returns their values."""
    app, dev = settings(), device_summary()
    usable = [c.name for c in precision_choices(dev.kind, dev.cpu_flags) if c.enabled]
    c = st.columns([3, 3, 1, 2, 1, 2])
    batches = c[0].text_input("batch sizes (comma-separated)",
                              ", ".join(map(str, DEFAULT_BATCH_SIZES)), key="s_batches")
    precisions = c[1].multiselect("precisions (fp32 is the 1.0× reference)", usable,
                                  default=[p for p in default_precisions(dev.kind) if p in usable],
                                  format_func=LABELS.get, key="s_precisions")
    epochs = c[2].number_input("epochs", 1, 1000, 2, key="s_epochs",
                               help="epoch 1 compiles and warms up; speed is taken from 2..")
    train_n = c[3].number_input("training examples (0: all)", 0, 10**7, 0, key="s_train_n",
                                help="fewer examples keep a sweep short; each batch size must "
                                     "fit in them")
    repeats = c[4].number_input("seeds", 1, 100, 1, key="s_repeats")
    name = c[5].text_input("name", "", key="s_name")
    gpus, placement = gpu_settings(dev, "s")
    return SweepFormValues(batches, list(precisions), int(epochs), int(train_n), int(repeats),
                           name, str(app.dataset_dir), app.network, gpus, placement)


def launch(run: Runner, values: SweepFormValues) -> str:
    """Start (or queue) the sweep; returns the message to show (raises ConfigError)."""
    if not values.precisions:
        raise ConfigError("choose at least two precisions")
    was_busy = run.busy
    sid = start_sweep(run, form_to_sweep(values))
    sweep = read_sweep(run.store, sid)
    n_runs = sum(len(run.store.runs(m.comparison_id)) for m in sweep.members)
    what = f"sweep {sid}: {len(sweep.members)} comparisons, {n_runs} runs"
    return (f"Queued {what}; it starts after the job training now." if was_busy
            else f"Started {what}.")


def _pick(rows: list[SweepRow]) -> SweepRow:
    """The sweep picker; defaults to the running sweep, else the newest."""
    active = [i for i, s in enumerate(rows) if s.status in ACTIVE]
    index = active[-1] if active else 0
    labels = {s.id: sweep_label(s) for s in rows}
    sid = st.selectbox("Sweep", [s.id for s in rows], index=index, format_func=labels.get)
    return next(s for s in rows if s.id == sid)


@guarded
def sweeps_page() -> None:
    """Render the Sweeps page."""
    st.title("Sweeps: from which batch size does AMP pay?")
    st.caption("One comparison per batch size, same precisions, seeds and data, through the "
               "same queue as the Trials page (each batch size also appears in History).")
    values = _form()
    if st.button("Start sweep", type="primary", key="s_start"):
        st.success(launch(runner(), values))
    st.divider()
    rows = sweeps(runner().store)
    if not rows:
        st.info("No sweep yet: choose batch sizes and press Start sweep.")
        return
    shown = _pick(rows)
    active = shown.status in ACTIVE
    st.fragment(run_every=LIVE_POLL_S if active else IDLE_POLL_S)(_live_view)(
        shown.id, active, rows[0].id)


@guarded
def _live_view(sid: str, was_active: bool, newest: str) -> None:
    """The live part (a fragment): progress, chart, table, Cancel."""
    run = runner()
    sweep = read_sweep(run.store, sid)
    ids = sweep_ids(run.store, limit=1)
    if sweep is None or (ids and ids[0] != newest) or (sweep.status in ACTIVE) != was_active:
        st.rerun(scope="app")  # a sweep started elsewhere, or this one ended: redraw the page
        return
    if was_active and st.button("Cancel sweep", key="s_cancel"):
        if cancel_sweep(run, sweep):
            st.warning(f"Cancelling {sid}: the current run stops before its next batch.")
        else:
            st.warning("That sweep runs in another process (the CLI?); stop it there.")
    render_sweep(read_sweep_view(run.store, sweep))
    gpu_text = runs_gpu_text(run.store, [r for m in sweep.members
                                         for r in run.store.runs(m.comparison_id)])
    if gpu_text:
        st.caption(gpu_text)
