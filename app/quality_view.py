"""Detect page: "Quality on unseen voices", the stored evaluation of the selected model.

Shows the key figures and the DET curve of ``<model file>.eval/`` (written by
``python -m model evaluate`` or by the button here) and runs a fresh evaluation on the
dataset's dev split. The helpers above the Streamlit part return plain values.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from model.detect.ensemble import member_paths
from model.detect.timing import kind_timing, timing_label
from model.errors import LabError
from model.detect.evaluate import (PLOT_FILE, EvalReport, default_dataset, default_out_dir,
                            evaluate_model, file_sha256, read_report, write_report)

from .common import LOG, unexpected_message


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _step_note(report: EvalReport) -> str:
    """The report's step length (its dataset's feature kind), for help texts."""
    try:
        return f" (steps of {timing_label(kind_timing(report.feature_kind))})"
    except LabError:  # a report of a kind this version does not know
        return ""


def quality_figures(report: EvalReport) -> list[tuple[str, str, str]]:
    """(label, value, help) of the key figures, in display order."""
    s = report.scores
    at, lat, neg = s.at_target, s.latency, s.negatives
    neg_value = "n/a" if neg.fa_per_hour is None else f"{neg.fa_per_hour:.2f}"
    return [
        (f"FRR at {at.target_fa_per_hour:g} FA/h", _pct(at.frr),
         f"share of the {at.n_triggers} trigger words missed at threshold {at.threshold:.8g}"),
        ("threshold", f"{s.threshold:.8g}",
         "given by hand" if s.threshold_given else "the one reaching the false-accept budget"),
        ("latency median / p95", f"{_ms(lat.median_ms)} / {_ms(lat.p95_ms)}",
         f"from the end of each of the {lat.n} detected words to the first step at or above "
         f"the threshold{_step_note(report)}"),
        ("FA/h without the word", neg_value,
         f"{neg.n_false_accepts} false accepts in {neg.hours:.3f} h of dev clips holding only "
         f"noises and other words ({neg.n_clips} clips)"),
    ]


def condition_rows(report: EvalReport) -> list[dict[str, object]]:
    """The per-condition breakdown as table rows (empty when the report has none)."""
    rows = []
    for r in report.scores.conditions:
        per_clip = r.n_clips > 0  # voice rows count words only: a clip can hold several voices
        rows.append({"condition": f"{r.group}: {r.value}", "clips": r.n_clips if per_clip else None,
                     "trigger words": r.n_words, "missed": _pct(r.miss_rate),
                     "false accepts": r.n_false_accepts if per_clip else None,
                     "FA/h": round(r.fa_per_hour, 1) if per_clip else None})
    return rows


def report_caption(report: EvalReport) -> str:
    """One line: what was scored, on which dataset, when, by which backend."""
    s = report.scores
    voices = f", {len(report.dev_voices)} unseen voice families" if report.dev_voices else ""
    return (f"{s.n_clips} dev clips, {s.n_triggers} trigger words, {s.hours:.2f} h of audio"
            f"{voices}; dataset {report.dataset} ({report.word!r}, {report.feature_kind}); "
            f"evaluated "
            f"{report.created_utc} on {report.backend or 'unknown backend'} in "
            f"{report.seconds:.1f} s")


def is_stale(report: EvalReport, model_path: Path) -> bool:
    """True when the report is of another file or of another version of this one.

    Compared by content hash when the report has one (a clone or copy changes paths and
    modification times, not bytes), else by path and modification time.
    """
    try:
        # an ensemble's members count too (reports record their hashes since 5591732, 2026-11-29)
        if report.model_sha256:
            members = {p.name: file_sha256(p) for p in member_paths(model_path)}
            return file_sha256(model_path) != report.model_sha256 or members != report.members
        mtime = model_path.stat().st_mtime
    except (OSError, LabError):
        return True
    return report.model_path != str(model_path) or abs(report.model_mtime - mtime) > 1e-3


def run_evaluation(spec: str, model_path: Path, dataset: Path, store_path: Path
                   ) -> EvalReport:
    """Evaluate, then store report.json and det.png beside the model (PNG drawn here)."""
    from model.detect.det_plot import det_curve_png

    report = evaluate_model(spec, dataset, store_path=store_path)
    out = default_out_dir(model_path)
    try:
        write_report(report, out)
        det_curve_png(report, out / PLOT_FILE)
    except OSError as err:
        raise LabError(f"cannot write the report to {out}: {err.strerror or err}") from None
    return report


def _show(report: EvalReport, folder: Path, model_path: Path) -> None:
    cols = st.columns(4)
    for col, (label, value, help_text) in zip(cols, quality_figures(report)):
        col.metric(label, value, help=help_text)
    st.caption(report_caption(report))
    if is_stale(report, model_path):
        st.warning("This report is of an older version of the model file; evaluate again.")
    for note in report.notes:
        st.caption(f"Note: {note}")
    png = folder / PLOT_FILE
    if png.is_file():
        st.image(str(png), caption="DET curve: miss rate against false accepts per hour "
                                   "(dev split)", width=640)
    rows = condition_rows(report)
    if rows:
        st.markdown(f"**Where it misses** (threshold {report.scores.threshold:.8g}; each clip's "
                    "mixing SNR and background, from the dataset's examples.csv)")
        st.dataframe(rows, hide_index=True)


def quality_expander(spec: str, model_path: Path, fallback_dataset: Path,
                     store_path: Path) -> None:
    """The expander: stored report (if any) and a button to (re)evaluate."""
    folder = default_out_dir(model_path)
    dataset = default_dataset(spec, store_path, fallback_dataset)
    with st.expander("Quality on unseen voices", expanded=False):
        st.caption(f"Scored on the dev split of {dataset} (voice families training never "
                   f"heard). Stored in {folder}.")
        if st.button("Evaluate on the dev split", key="d_eval"):
            try:
                with st.spinner("Evaluating on the dev split..."):
                    run_evaluation(spec, model_path, dataset, store_path)
            except LabError as err:
                st.error(str(err))
            except Exception as err:  # noqa: BLE001 - one line, traceback to the server log
                LOG.exception("evaluation failed")
                st.error(unexpected_message(err))
        report = read_report(folder)
        if report is None:
            st.info("Not evaluated yet: press the button (takes a few seconds to minutes), "
                    "or run `python -m model evaluate --model ...`.")
            return
        _show(report, folder, model_path)
