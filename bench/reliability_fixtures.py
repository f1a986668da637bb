"""What several reliability row families use: a dashboard page run through AppTest on the
lab's environment (settings, store rows) and hostile .keras files (settings, model rows)."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Callable

from bench.reliability_core import Lab, Outcome, one_line


def page_errors(script: Callable[[], None], env: dict[str, str], lab: Lab
                ) -> tuple[list[str], list]:
    """Run one dashboard page through AppTest with ``env``: (error lines, exceptions)."""
    from streamlit.testing.v1 import AppTest
    from tests.app_helpers import app_env, environment
    with environment({**app_env(lab.base, lab.dataset, lab.store), **env}):
        at = AppTest.from_function(script, default_timeout=120).run()
        errors = [e.value for e in at.error] + [w.value for w in at.warning]
        return errors, list(at.exception)


def page_one_line(script, env: dict[str, str], lab: Lab, runs: int = 1) -> Outcome:
    """Run a page ``runs`` times: the row passes when it shows one-line messages and no
    exception (on every run: no crash loop)."""
    msgs, exc = [], []
    for _ in range(runs):  # again: the same line, no crash loop
        msgs, exc = page_errors(script, env, lab)
    errors = [m for m in msgs if m]
    return Outcome(errors[0] if errors else "(no message)",
                   {"a one-line message on the page": bool(errors) and all(one_line(m) for m in errors),
                    "no exception or traceback": not exc})


def lambda_model(folder: Path, marker: Path) -> Path:
    """A .keras with a Lambda layer whose code would create ``marker``."""
    import keras
    inp = keras.Input((None, 101))
    code = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    out = keras.layers.Lambda(eval(code))(inp)  # noqa: S307 - builds the hostile file
    path = folder / "lambda.keras"
    keras.Model(inp, out).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; loading must not
    return path


def custom_object_model(lab: Lab, folder: Path, marker: Path) -> Path:
    """A copy of the small model whose first layer is a class from an outside module that
    would create ``marker`` on import (the module is put on sys.path)."""
    mod = folder / "evil_lab_module.py"
    mod.write_text(f"open({str(marker)!r}, 'w').close()\n"
                   "import keras\n"
                   "class Evil(keras.layers.Layer):\n    pass\n")
    sys.path.insert(0, str(folder))
    path = folder / "custom.keras"
    with zipfile.ZipFile(lab.model) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                cfg = json.loads(data)
                layer = cfg["config"]["layers"][1]
                layer.update(module="evil_lab_module", class_name="Evil",
                             registered_name="evil>Evil")
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    return path
