"""Trials page: settings and presets, Start/Cancel, and the live view of the current job."""
from __future__ import annotations

import time

import streamlit as st

from model.errors import ConfigError
from model.runs.jobs import Runner
from model.train.precision import default_precisions
from model.train.specaug import PRESET as SPEC_PRESET
from model.runs.store import RunStore
from model.train.trial_config import LR_SCHEDULES

from .common import guarded, runner, settings
from .comparison_data import read_comparison
from .comparison_view import render_comparison
from .dataset_page import dataset_line, render_make_data
from .device_panel import device_summary, gpu_settings, precision_choices, render_device_panel
from .trial_settings import (CUSTOM, PRESETS, FormValues, form_to_comparison, preset_values,
                             pretrained_available)

IDLE_POLL_S = 3.0  # how often an idle page looks for jobs started elsewhere (CLI, other tab)
DOUBLE_PRESS_S = 2.0  # the same settings started again this soon from one tab: a double press
LIVE_POLL_S = 1.0  # how often the live view refreshes while a job runs


def pick_live_comparison(store: RunStore) -> tuple[str | None, bool]:
    """(comparison to show, whether it is active): the running one, else the oldest queued,
    else the most recent."""
    comps = store.comparisons(limit=50)
    for state in ("running", "queued"):
        active = [c for c in comps if c.status == state]
        if active:
            return active[-1].id, True
    return (comps[0].id, False) if comps else (None, False)


def _apply_preset() -> None:
    """on_change of the preset picker: copy the preset into the widgets."""
    label = st.session_state["t_preset"]
    preset = next((p for p in PRESETS if p.label == label), None)
    if preset is None:
        return
    dev = device_summary()
    amp = default_precisions(dev.kind)[1]
    vals = preset_values(preset, amp)
    for choice in precision_choices(dev.kind, dev.cpu_flags):
        st.session_state[f"t_prec_{choice.name}"] = choice.name in vals["precisions"]
    st.session_state.update(t_batch=vals["batch_size"], t_epochs=vals["epochs"],
                            t_init=vals["init"], t_lr=vals["learning_rate"])


def _precision_checkboxes(kind: str, cpu_flags: list[str]) -> list[str]:
    """One checkbox per precision-table row, side by side; returns the ticked, enabled ones.

    Args:
        kind: "gpu" or "cpu".
        cpu_flags: bf16-relevant CPU features.

    Returns:
        Ticked precision names, in table order.
    """
    choices = precision_choices(kind, cpu_flags)
    default_pair = default_precisions(kind)
    chosen = []
    # One column per choice: a fixed count would let zip() drop modes past the last column.
    for col, choice in zip(st.columns(len(choices)), choices, strict=True):
        key = f"t_prec_{choice.name}"
        if key not in st.session_state:
            st.session_state[key] = choice.enabled and choice.name in default_pair
        if col.checkbox(choice.label, key=key, disabled=not choice.enabled,
                        help=choice.note or None) and choice.enabled:
            chosen.append(choice.name)
        if choice.note:
            col.caption(("Disabled: " if not choice.enabled else "") + choice.note)
    return chosen


def _settings_form() -> FormValues:
    """The settings widgets; returns their values."""
    app = settings()
    dev = device_summary()
    has_pretrained, why = pretrained_available()
    st.selectbox("Preset (the seed's trials)", [CUSTOM] + [p.label for p in PRESETS],
                 key="t_preset", on_change=_apply_preset,
                 help=None if has_pretrained else f"Trial 3 needs the pretrained model: {why}")
    st.write("Precisions to compare")
    chosen = _precision_checkboxes(dev.kind, dev.cpu_flags)
    c = st.columns(6)
    batch = c[0].number_input("batch size", 1, 4096, 64, key="t_batch")
    epochs = c[1].number_input("epochs", 1, 1000, 10, key="t_epochs")
    lr = c[2].number_input("learning rate", 1e-6, 1.0, 1e-3, format="%g", key="t_lr")
    inits = ["scratch", "pretrained"] if has_pretrained else ["scratch"]
    if st.session_state.get("t_init") not in inits:
        st.session_state["t_init"] = "scratch"
    init = c[3].selectbox("init", inits, key="t_init",
                          help="pretrained: the shipped model that reads the dataset's features" if has_pretrained
                          else f"pretrained unavailable: {why}")
    seed = c[4].number_input("first seed", 0, 2**31 - 1, 0, key="t_seed")
    repeats = c[5].number_input("seeds (repeats)", 1, 100, 1, key="t_repeats")
    gpus, placement = gpu_settings(dev, "t")
    with st.expander("Advanced"):
        a = st.columns(6)
        name = a[0].text_input("name", "", key="t_name")
        train_n = a[1].number_input("training examples (0: all)", 0, 10**7, 0, key="t_train_n")
        dev_n = a[2].number_input("dev examples (0: all)", 0, 10**7, 0, key="t_dev_n")
        target = a[3].number_input("dev-loss target", 1e-6, 10.0, 0.05, format="%g",
                                   key="t_target")
        filters = a[4].number_input("Conv1D filters", 1, 4096, app.network.conv_filters,
                                    key="t_filters")
        gru = a[5].number_input("GRU units", 1, 4096, app.network.gru_units, key="t_gru")
        masks = st.checkbox(
            "SpecAugment-style masking", key="t_specaug",
            help=f"each training clip gets {SPEC_PRESET.time_masks} time spans of up to "
                 f"{SPEC_PRESET.time_mask_frames} frames (0.18 s) and {SPEC_PRESET.freq_masks} "
                 f"frequency bands of up to {SPEC_PRESET.freq_mask_bins} bins (2.2 kHz) set to "
                 "its mean; "
                 "dev scoring never masks")
        schedule = st.selectbox(
            "learning-rate schedule", list(LR_SCHEDULES), key="t_lr_schedule",
            help="cosine: the learning rate falls each epoch from the value above to near 0 "
                 "in the last epoch (steadier final weights in long runs)")
    net = type(app.network)(conv_filters=int(filters), gru_units=int(gru),
                            dropout=app.network.dropout)
    return FormValues(chosen, int(batch), int(epochs), float(lr), init, int(seed), int(repeats),
                      name, str(app.dataset_dir), int(train_n), int(dev_n), float(target), net,
                      bool(masks), str(schedule), gpus, placement)


def start_comparison(run: Runner, values: FormValues, session: dict | None = None) -> str:
    """Start (or queue) the comparison; returns the message to show.

    Args:
        run: the process-wide runner.
        values: the form.
        session: this tab's session state: Start pressed again with the same settings within
            DOUBLE_PRESS_S seconds (a double click) starts nothing more.
    """
    if not values.precisions:
        raise ConfigError("choose at least one precision")
    cfg = form_to_comparison(values)
    key, now = cfg.to_json(), time.monotonic()
    last = (session or {}).get("t_last_start")
    if last and last[0] == key and now - last[1] < DOUBLE_PRESS_S:
        return f"Already started {last[2]}: Start was pressed twice; one comparison runs."
    was_busy = run.busy
    cid = run.start(cfg)
    if session is not None:  # before any Streamlit call: a rerun cannot cut in between
        session["t_last_start"] = (key, now, cid)
    if was_busy:
        pos = run.status(cid).queue_position
        return f"Queued {cid}: another comparison is training; this one waits (position {pos})."
    return f"Started {cid}."


@guarded
def trials_page() -> None:
    """Render the Trials page."""
    st.title("Trials: does AMP train this model faster?")
    render_device_panel(device_summary())
    summary, line = dataset_line(settings().dataset_dir)
    with st.expander("Dataset: " + (line if summary else "missing or unusable"),
                     expanded=summary is None):
        if summary is None:
            st.warning(line)
        render_make_data(settings().dataset_dir, "tpage")
    values = _settings_form()
    if st.button("Start", type="primary", key="t_start"):
        st.success(start_comparison(runner(), values, st.session_state))
    st.divider()
    cid, active = pick_live_comparison(runner().store)
    if cid is None:
        st.info("No comparison yet: choose settings and press Start.")
        # keep looking: a job started in another tab or from the CLI then shows here too
        st.fragment(run_every=IDLE_POLL_S)(_wait_for_first)()
        return
    poll = LIVE_POLL_S if active else IDLE_POLL_S
    st.fragment(run_every=poll)(_live_view)(cid, active)


@guarded
def _wait_for_first() -> None:
    """The idle page's poll (a fragment) while the store holds no comparison yet."""
    if pick_live_comparison(runner().store)[0] is not None:
        st.rerun(scope="app")


@guarded
def _live_view(cid: str, was_active: bool) -> None:
    """The live part (a fragment): progress, charts, summary, Cancel."""
    run = runner()
    now_cid, now_active = pick_live_comparison(run.store)
    if (now_cid, now_active) != (cid, was_active):
        st.rerun(scope="app")  # another job started or this one ended: redraw the page
    data = read_comparison(run.store, cid)
    if data is None:
        st.rerun(scope="app")
        return
    st.subheader("Live view" if was_active else "Latest comparison")
    if was_active:
        if data.comparison.status == "queued":
            pos = run.status(cid).queue_position
            st.info(f"Queued (position {pos}): it starts when the current job ends."
                    if pos else "Queued.")
        if st.button("Cancel", key="t_cancel"):
            if run.cancel(cid):
                st.warning(f"Cancelling {cid}: the current run stops before its next batch.")
            else:
                st.warning("That comparison runs in another process (the CLI?); stop it there.")
    render_comparison(data, key="live")
