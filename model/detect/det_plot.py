"""The DET curve of an evaluation report as a PNG (matplotlib, Agg backend, no display).

Kept apart from :mod:`model.detect.evaluate` so that computing a report never imports matplotlib.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .evaluate import EvalReport

_DPI = 110
_SIZE_IN = (6.4, 4.2)  # figure size, inches (~700 x 460 px)


def _fa_floor(report: EvalReport) -> float:
    """Where "no false accept" is drawn on the log axis: half of one false accept per hour
    of dev audio (a log axis has no zero)."""
    hours = report.scores.hours
    return 0.5 / hours if hours > 0 else 0.01


def det_points(report: EvalReport) -> tuple[np.ndarray, np.ndarray, float]:
    """(false accepts per hour, miss rate, floor) to draw; zero FA/h is moved to the floor."""
    fa = np.asarray(report.scores.det.fa_per_hour, dtype=np.float64)
    miss = np.asarray(report.scores.det.miss_rate, dtype=np.float64)
    floor = _fa_floor(report)
    return np.maximum(fa, floor), miss, floor


def det_curve_png(report: EvalReport, path: str | Path) -> Path:
    """Draw the report's DET curve to ``path`` (PNG), atomically.

    x: false accepts per hour of dev audio (log scale; none is drawn at the floor, half a
    false accept per hour of audio); y: miss rate (share of trigger words not detected).
    The operating point at the false-accept budget is marked, and the budget drawn as a line.

    Args:
        report: an evaluation report.
        path: the PNG to write; a temp file in the same folder is renamed onto it.

    Returns:
        The path written.
    """
    # a bare Figure on an Agg canvas: no display, and no pyplot global state (the dashboard
    # may draw from several script threads)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE_IN, dpi=_DPI)
    FigureCanvasAgg(fig)
    _draw(fig.add_subplot(), report)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _draw(ax, report: EvalReport) -> None:
    """The curve (in threshold order: one point per threshold), budget line, operating point."""
    fa, miss, floor = det_points(report)
    at = report.scores.at_target
    ax.plot(fa, miss, color="tab:blue", lw=1.6, marker=".", ms=3, label="DET (dev split)")
    ax.axvline(at.target_fa_per_hour, color="tab:orange", ls="--", lw=1,
               label=f"budget {at.target_fa_per_hour:g} FA/h")
    if at.frr is not None:
        ax.plot([max(at.fa_per_hour, floor)], [at.frr], "o", color="tab:red", ms=8,
                label=f"FRR {at.frr:.1%} at threshold {at.threshold:.3g}")
    ax.set_xscale("log")
    ax.set_xlim(min(floor, at.target_fa_per_hour / 2) * 0.8,
                max(float(fa.max()) * 1.25, at.target_fa_per_hour * 10))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"false accepts per hour (log; none drawn at {floor:.2g})")
    ax.set_ylabel("miss rate (trigger words not detected)")
    ax.set_title(f"{report.word!r} on unseen voices: {report.scores.n_triggers} words, "
                 f"{report.scores.hours:.2f} h ({report.feature_kind})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
