"""Export a stored comparison as JSON (complete, re-importable) or CSV (one row per epoch)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from ..errors import LabError
from .store import RunStore

EXPORT_FORMAT = "amp-lab-comparison"
EXPORT_VERSION = 1

CSV_COLUMNS = ("comparison_id", "run_id", "position", "repeat", "precision", "seed", "status",
               "backend", "device_name", "compute_dtype", "variable_dtype", "tf32",
               "loss_scaling", "emulated", "epoch", "train_loss", "dev_loss", "frr",
               "frr_threshold", "fa_per_hour", "epoch_seconds", "examples_per_second",
               "eval_seconds", "wall_seconds", "peak_memory_bytes", "memory_kind")


def comparison_to_dict(store: RunStore, comparison_id: str) -> dict[str, Any]:
    """Everything stored about a comparison, as plain JSON-ready data."""
    comp = store.comparison(comparison_id)
    if comp is None:
        raise LabError(f"no comparison {comparison_id!r} in {store.path}")
    runs = []
    for run in store.runs(comparison_id):
        item = asdict(run)
        item["epochs"] = [e.to_dict() for e in store.epochs(run.id)]
        runs.append(item)
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "comparison": asdict(comp),
            "runs": runs, "events": [e.to_dict() for e in store.events(comparison_id)]}


def export_json(store: RunStore, comparison_id: str) -> str:
    """The comparison as pretty JSON (see :func:`import_json`)."""
    return json.dumps(comparison_to_dict(store, comparison_id), indent=2, sort_keys=True)


def export_csv(store: RunStore, comparison_id: str) -> str:
    """One CSV row per epoch of every run (a run without epochs gets one row, epoch empty)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for run in store.runs(comparison_id):
        dev = run.device
        base = {"comparison_id": comparison_id, "run_id": run.id, "position": run.position,
                "repeat": run.repeat, "precision": run.precision, "seed": run.seed,
                "status": run.status}
        if dev is not None:
            base.update(backend=dev.backend, device_name=dev.device_name,
                        compute_dtype=dev.compute_dtype, variable_dtype=dev.variable_dtype,
                        tf32=dev.tf32, loss_scaling=dev.loss_scaling, emulated=dev.emulated)
        epochs = store.epochs(run.id)
        if not epochs:
            writer.writerow(base)
        for e in epochs:
            det = e.detection
            writer.writerow({**base, "epoch": e.epoch, "train_loss": repr(e.train_loss),
                             "dev_loss": repr(e.dev_loss),
                             "frr": "" if det is None or det.frr is None else repr(det.frr),
                             "frr_threshold": "" if det is None else repr(det.threshold),
                             "fa_per_hour": "" if det is None else repr(det.fa_per_hour),
                             "epoch_seconds": repr(e.epoch_seconds),
                             "examples_per_second": repr(e.examples_per_second),
                             "eval_seconds": repr(e.eval_seconds),
                             "wall_seconds": repr(e.wall_seconds),
                             "peak_memory_bytes": e.peak_memory_bytes,
                             "memory_kind": e.memory_kind})
    return buf.getvalue()


def import_json(store: RunStore, text: str) -> str:
    """Load an :func:`export_json` document into ``store`` (same ids); returns the comparison id.

    Raises:
        LabError: not an export, a newer format, or the comparison already exists.
    """
    from ..train.events import TrialEvent
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise LabError(f"not a comparison export: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise LabError("not a comparison export (format field missing)")
    if int(doc.get("version", 0)) > EXPORT_VERSION:
        raise LabError(f"export version {doc['version']} is newer than {EXPORT_VERSION}")
    comp = doc["comparison"]
    if store.comparison(comp["id"]) is not None:
        raise LabError(f"comparison {comp['id']} is already in {store.path}")
    with store.transaction() as con:
        con.execute("INSERT INTO comparisons (id, name, status, config_json, created_unix,"
                    " ended_unix, message, owner) VALUES (?, ?, ?, ?, ?, ?, ?, 'imported')",
                    (comp["id"], comp["name"], comp["status"], json.dumps(comp["config"]),
                     comp["created_unix"], comp["ended_unix"], comp["message"]))
        for run in doc["runs"]:
            _insert_run(con, run)
        for raw in doc["events"]:
            ev = TrialEvent.from_dict(raw)
            con.execute("INSERT INTO events (comparison_id, seq, run_id, kind, time_unix,"
                        " event_json) VALUES (?, ?, ?, ?, ?, ?)",
                        (comp["id"], ev.seq, ev.run_id, ev.kind, ev.time_unix,
                         json.dumps(ev.to_dict())))
    return comp["id"]


def _insert_run(con, run: dict[str, Any]) -> None:
    con.execute("INSERT INTO runs (id, comparison_id, position, repeat, precision, seed, status,"
                " config_json, device_json, summary_json, message, model_path, created_unix,"
                " started_unix, ended_unix, owner) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'imported')",
                (run["id"], run["comparison_id"], run["position"], run["repeat"],
                 run["precision"], run["seed"], run["status"], json.dumps(run["config"]),
                 json.dumps(run["device"]) if run["device"] else None,
                 json.dumps(run["summary"]) if run["summary"] else None, run["message"],
                 run["model_path"], run["created_unix"], run["started_unix"],
                 run["ended_unix"]))
    for e in run["epochs"]:
        det = e.get("detection") or {}
        con.execute("INSERT INTO epochs (run_id, epoch, train_loss, dev_loss, frr, epoch_seconds,"
                    " examples_per_second, wall_seconds, peak_memory_bytes, record_json)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run["id"], e["epoch"], e["train_loss"], e["dev_loss"], det.get("frr"),
                     e["epoch_seconds"], e["examples_per_second"], e["wall_seconds"],
                     e["peak_memory_bytes"], json.dumps(e)))
