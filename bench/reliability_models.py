"""Reliability rows: model files passed to ``detect --model`` (not a zip, no config, truncated,
a Lambda layer, a custom class from an outside module, other formats, an unknown run id):
refused with one line, and no code from the file runs."""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from bench.reliability_core import Entry, Lab, Outcome, cli_refuses, registrar, write_wav
from bench.reliability_fixtures import custom_object_model, lambda_model

ROWS: list[Entry] = []
scenario = registrar(ROWS)


def _detect_refuses(lab: Lab, model: Path, marker: Path | None = None) -> Outcome:
    clip = write_wav(lab.tmp("mclip") / "c.wav", 1.0, 16000)
    msg, checks = cli_refuses(["detect", str(clip), "--model", str(model)])
    if marker is not None:
        checks["nothing from the file ran"] = not marker.exists()
    return Outcome(msg, checks)


@scenario("model: --model X.keras that is plain text (not a zip)", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("notzip") / "m.keras"
    bad.write_text("definitely not a zip archive")
    return _detect_refuses(lab, bad)


@scenario("model: --model X.keras, a zip without config.json", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("noconfig") / "m.keras"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("hello.txt", "hi")
    return _detect_refuses(lab, bad)


@scenario("model: --model X.keras truncated to half", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("trunckeras") / "m.keras"
    data = lab.model.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    return _detect_refuses(lab, bad)


@scenario("model: --model X.keras with a Lambda layer (code that writes a file)", "models")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("lambda-cli")
    marker = folder / "PWNED"
    return _detect_refuses(lab, lambda_model(folder, marker), marker)


@scenario("model: --model X.keras naming a custom class from an outside module", "models")
def _(lab: Lab) -> Outcome:
    folder = lab.tmp("custom")
    marker = folder / "PWNED"
    out = _detect_refuses(lab, custom_object_model(lab, folder, marker), marker)
    out.checks["the outside module was never imported"] = "evil_lab_module" not in sys.modules
    return out


@scenario("model: --model model.h5 / model.pkl (not .keras)", "models")
def _(lab: Lab) -> Outcome:
    bad = lab.tmp("pkl") / "model.pkl"
    bad.write_bytes(b"\x80\x04K\x01.")
    return _detect_refuses(lab, bad)


@scenario("model: --model an unknown run id", "models")
def _(lab: Lab) -> Outcome:
    clip = write_wav(lab.tmp("runid") / "c.wav", 1.0, 16000)
    return Outcome(*cli_refuses(["detect", str(clip), "--model", "r20990101-000000-abcdef",
                                 "--store", str(lab.store)]))
