"""Enrol page: record or upload a few takes of the word, then fine-tune a detector to your voice.

Takes go straight to the profile folder on disk (``profiles/<word>-<name>/takes``), so a
refresh loses nothing; each shows its waveform, its trimmed span, a play button and Delete.
Start enrolment runs in a background thread (the fine-tune itself through the trials' job
queue); a fragment polls its progress. The result appears as "my model (<profile>)" in the
Detect page's model list.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from model.audio.files import read_audio
from model.audio.features import FEATURE_KIND_EMBEDDING
from model.card import read_model_card
from model.enroll.finetune import FinetuneConfig, best_amp_precision
from model.enroll.personal import PersonalDataConfig
from model.enroll.pipeline import EnrollConfig
from model.enroll.profile import (MAX_TAKES, MIN_TAKES, Profile, add_take, delete_take,
                                  open_profile, take_files)
from model.train.precision import PRECISIONS

from .common import guarded, runner, settings
from .detect_data import AUDIO_TYPES
from .enroll_data import get_enroll_job, profiles_root, take_waveform
from .enroll_view import my_model_section


def _wave_chart(frame: pd.DataFrame, span: tuple[float, float]) -> alt.LayerChart:
    """A take's envelope with its trimmed (spoken) span shaded."""
    band = alt.Chart(pd.DataFrame({"start": [span[0]], "end": [span[1]]})).mark_rect(
        opacity=0.2, color="green").encode(x="start:Q", x2="end:Q")
    area = alt.Chart(frame).mark_area().encode(x=alt.X("time_s:Q", title="time (s)"),
                                               y=alt.Y("peak:Q", title=None))
    return (band + area).properties(height=90)


def _add_takes(folder, prof: Profile) -> None:
    """Record with the microphone or upload files; each becomes a checked take on disk."""
    added = st.session_state.setdefault("e_added", set())
    rec_col, up_col = st.columns(2)
    rec = rec_col.audio_input("Say the word once", key="e_record")
    ups = up_col.file_uploader("...or upload takes", type=AUDIO_TYPES, accept_multiple_files=True,
                               key="e_upload")
    items = ([("recording", rec)] if rec is not None else []) + [(u.name, u) for u in ups or []]
    for label, item in items:
        data = item.getvalue()
        digest = hashlib.blake2b(data, digest_size=12).hexdigest() + folder.name
        if digest in added:  # a widget keeps its value across reruns: add each take once
            continue
        added.add(digest)
        folder.mkdir(parents=True, exist_ok=True)
        report = add_take(folder, prof, data, label)
        (st.success if report.ok else st.warning)(report.message)


def _show_takes(folder, prof: Profile) -> None:
    """Each stored take: waveform with its trimmed span, play button, Delete."""
    spans = {t["file"]: tuple(t.get("span_s", (0.0, 0.0))) for t in prof.takes}
    files = take_files(folder)
    st.subheader(f"Takes ({len(files)} of {MIN_TAKES}-{MAX_TAKES})")
    for path in files:
        c1, c2, c3 = st.columns([5, 3, 1])
        audio, rate = read_audio(path)
        c1.altair_chart(_wave_chart(take_waveform(audio, rate), spans.get(path.name, (0.0, 0.0))),
                        width="stretch")
        c2.caption(f"{path.name}: spoken {spans.get(path.name, (0, 0))[0]:.2f}-"
                   f"{spans.get(path.name, (0, 0))[1]:.2f} s (shaded)")
        c2.audio(path.read_bytes(), format="audio/wav")
        if c3.button("Delete", key=f"e_del_{folder.name}_{path.name}"):
            delete_take(folder, prof, path.name)
            st.rerun()


def _settings() -> EnrollConfig:
    """Base model, precision, epochs and data size (defaults fit 3 minutes on 2 CPU cores)."""
    kind = FEATURE_KIND_EMBEDDING
    bases = ["auto"] + [str(p) for p in settings().candidate_models if read_model_card(p) == kind] \
        + ["pretrained"]
    c = st.columns(3)
    init = c[0].selectbox("Base model", bases, key="e_init", format_func=lambda b: Path(b).stem,
                          help="auto: the shipped detector if it reads speech embeddings, "
                               "else candidate embed-head-1000")
    best = best_amp_precision()
    prec = c[1].selectbox("Precision", PRECISIONS, index=PRECISIONS.index(best), key="e_prec",
                          help=f"default: this device's best AMP mode ({best})")
    epochs = c[2].number_input("Epochs", 1, 200, FinetuneConfig.epochs, key="e_epochs")
    with st.expander("Data size"):
        d = PersonalDataConfig()
        cpt = st.number_input("10 s clips per take (0: automatic)", 0, 200, d.clips_per_take,
                              key="e_cpt", help="automatic: 144 in all, at least 24 a take; with 2-3 "
                              "takes each also gets as many training-only clips, more varied")
        syn = st.number_input("synthetic training clips", 0, 2000, d.synth_train, key="e_syn")
        neg = st.number_input("synthetic negative clips", 0, 4000, d.negatives, key="e_neg",
                              help="take-free clips of other words over babble and real rooms "
                                   "(built once per word, then cached)")
        own = st.number_input("your-voice negative clips", 0, 2000, d.own_negatives_total,
                              key="e_own", help="take-free clips of pieces of your takes "
                              "(reversed, cut, swapped): your voice not saying the word")
        dev = st.number_input("synthetic dev clips", 1, 2000, d.synth_dev, key="e_dev")
    return EnrollConfig(data=replace(PersonalDataConfig(), clips_per_take=int(cpt),
                                     synth_train=int(syn), negatives=int(neg),
                                     own_negatives_total=int(own), synth_dev=int(dev)),
                        finetune=FinetuneConfig(init=init, precision=prec, epochs=int(epochs)))


@guarded
def _progress_view(folder) -> None:
    """The live part (a fragment): the enrolment job's stage and result."""
    state = get_enroll_job().snapshot()
    if state.running:
        st.progress(state.fraction, text=f"{state.profile}: {state.stage} {state.done}/{state.total}")
        if st.button("Cancel enrolment", key="e_cancel"):
            get_enroll_job().cancel()
    elif state.ok is not None:
        (st.success if state.ok else st.error)(state.message)
        if state.ok:
            st.info(f"Pick “my model ({state.profile})” on the Detect page to try it.")
    if not state.running and (folder / "enroll.json").is_file():
        my_model_section(folder)


@guarded
def enroll_page() -> None:
    """Render the Enrol page."""
    st.title("Enrol your voice")
    st.caption("Say the word a few times (2 at least, 3-10 better); a detector fine-tuned to your "
               "voice is ready in a minute or two.")
    c1, c2 = st.columns(2)
    word = c1.text_input("Trigger word", "activate", key="e_word")
    name = c2.text_input("Your name", "me", key="e_name")
    folder, prof = open_profile(word, name, profiles_root(), create=False)
    _add_takes(folder, prof)
    _show_takes(folder, prof)
    cfg = _settings()
    job = get_enroll_job()
    n = len(take_files(folder))
    if st.button("Start enrolment", type="primary", key="e_start",
                 disabled=n < MIN_TAKES or job.snapshot().running,
                 help=None if n >= MIN_TAKES else f"needs at least {MIN_TAKES} good takes"):
        job.start(folder, prof, cfg, runner())
    st.fragment(run_every=1.0)(_progress_view)(folder)
