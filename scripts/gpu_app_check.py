"""Drive the Trials page with Streamlit's AppTest on the GPU machine: fp32 against amp-fp16
(and, with several GPUs, the same comparison over all of them), then print the summary the
page shows. Run by scripts/gpu_app_check.sh, with LAB_STORE and LAB_DATASET set.

    python scripts/gpu_app_check.py OUT.json [EPOCHS] [BATCH]
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402


def trials_script():
    from app.trials_page import trials_page
    trials_page()


def drive(epochs: int, batch: int, gpus: int) -> dict:
    """One comparison started from the page; returns what the page shows once it ended."""
    from model.runs.jobs import get_runner
    at = AppTest.from_function(trials_script, default_timeout=300).run()
    panel = [m.value for m in at.markdown if "GPU" in m.value or "CPU only" in m.value]
    for name in ("fp32", "tf32", "amp-fp16", "amp-bf16"):
        box = at.checkbox(key=f"t_prec_{name}")
        box.check() if name in ("fp32", "amp-fp16") else box.uncheck()
    at.number_input(key="t_epochs").set_value(epochs)
    at.number_input(key="t_batch").set_value(batch)
    if gpus > 1:
        at.number_input(key="t_gpus").set_value(gpus)
        at.selectbox(key="t_placement").set_value("data-parallel")
    at.button(key="t_start").click().run()
    started = [s.value for s in at.success]
    runner = get_runner(os.environ["LAB_STORE"])
    cid = runner.store.comparisons()[0].id
    t0 = time.time()
    runner.wait(cid, 900)
    at.run()
    table = at.table[0].value if at.table else None
    runs = runner.store.runs(cid)
    return {"gpus": gpus, "batch_size": batch, "epochs": epochs, "device_panel": panel,
            "started": started, "seconds": round(time.time() - t0, 1),
            "statuses": [r.status for r in runs],
            "messages": [r.message for r in runs if r.message],
            "notes": [r.device.notes for r in runs if r.device],
            "summary": table.reset_index().to_dict(orient="records") if table is not None else None,
            "exceptions": [str(e.value) for e in at.exception], "errors": [e.value for e in at.error]}


def main() -> None:
    out = Path(sys.argv[1])
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    from model.train.distributed import visible_gpus
    results = [drive(epochs, batch, 1)]
    if len(visible_gpus()) > 1:
        n = len(visible_gpus())
        results.append(drive(epochs, batch * n, n))  # batch per GPU as above
    out.write_text(json.dumps({"date": "2026-11-30", "checks": results}, indent=2, default=str))
    for res in results:
        print(f"== {res['gpus']} GPU(s), global batch {res['batch_size']}: {res['statuses']} "
              f"in {res['seconds']} s; panel: {res['device_panel']}")
        for row in res["summary"] or []:
            print("   ", {k: row[k] for k in row if k in ("precision", "examples/s",
                  "speedup vs fp32", "speed-up vs 1 GPU", "final dev loss", "ran as")})
    from model.runs.jobs import get_runner
    get_runner(os.environ["LAB_STORE"]).shutdown(timeout=60)


if __name__ == "__main__":
    main()
