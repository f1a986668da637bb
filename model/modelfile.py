"""Checking a .keras file before Keras reads it: no code, only Keras's own building blocks.

A ``.keras`` file is a zip holding ``config.json`` (the architecture) and the weights. Keras's
``safe_mode=True`` already refuses a Lambda layer's pickled Python code; this check runs
first and refuses, with one line, anything that is not plain Keras: a Lambda layer of any
kind, a class from a module outside Keras (a custom object, which would import that
module), a registered custom name (``package>Class``), an oversized or unreadable
config. Nothing in the file is imported or executed before it passes.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from .errors import LabError

MAX_CONFIG_BYTES = 5 * 1024 * 1024  # config.json larger than this is refused unread
_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}  # layers that carry Python code


def check_keras_file(path: str | Path) -> None:
    """Raise LabError (one line) unless ``path`` is a .keras zip of Keras's own classes."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"{path}: no such model file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise LabError(f"{path} is not a .keras model file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise LabError(f"{path}: its config.json is {info.file_size / 1e6:.0f} MB; "
                               "refused (a model's architecture is a few KB)")
            config = json.loads(archive.read(info))
    except KeyError:
        raise LabError(f"{path} is not a .keras model file (no config.json inside)") from None
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise LabError(f"{path} is not a readable .keras model file: {first}") from None
    problem = _first_problem(config)
    if problem:
        raise LabError(f"{path}: refused: {problem}; only models made of Keras's own layers "
                       "are loaded (nothing from the file was run)")


def _first_problem(node: Any, depth: int = 0) -> str:
    """Why a config tree is not plain Keras ("" if it is)."""
    if depth > 200:
        return "its config is nested too deeply"
    if isinstance(node, dict):
        cls, module = node.get("class_name"), node.get("module")
        registered = node.get("registered_name")
        if isinstance(cls, str) and cls in _CODE_LAYERS:
            return f"it holds a {cls} layer (Python code)"
        if isinstance(module, str) and module.split(".")[0] != "keras":
            return f"it names a class from outside Keras ({module}.{cls})"
        if isinstance(registered, str) and ">" in registered:
            return f"it names a custom object ({registered})"
        for value in node.values():
            found = _first_problem(value, depth + 1)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _first_problem(value, depth + 1)
            if found:
                return found
    return ""
