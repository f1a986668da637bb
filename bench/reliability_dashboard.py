"""Reliability rows: the dashboard shows user text as text (a hostile comparison name and
run message) and listens on 127.0.0.1 when launched from the repository."""
from __future__ import annotations

from bench.reliability_core import ROOT, Entry, Lab, Outcome, registrar, streamlit_option

ROWS: list[Entry] = []
scenario = registrar(ROWS)

HOSTILE_NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>[click](javascript:alert(3))"


def hostile_history_script():
    """The History page on a store holding a comparison with a hostile name and message."""
    import os

    from app.history_page import history_page
    from model.runs.store import RunStore
    from tests.app_helpers import fake_comparison
    store = RunStore(os.environ["LAB_STORE"])
    if not store.comparisons():
        cid = fake_comparison(store, name=os.environ["LAB_BENCH_NAME"], finish=False)
        store.set_comparison_status(cid, "failed", os.environ["LAB_BENCH_NAME"])
    store.close()
    history_page()


@scenario("dashboard: comparison name and run message with <script>, <img onerror>, a "
          "javascript: link", "dashboard")
def _(lab: Lab) -> Outcome:
    from streamlit.testing.v1 import AppTest
    from tests.app_helpers import environment
    env = {"LAB_STORE": str(lab.tmp("html") / "lab.sqlite"), "LAB_BENCH_NAME": HOSTILE_NAME,
           "LAB_DATASET": str(lab.dataset)}
    with environment(env, close_store=False):
        at = AppTest.from_function(hostile_history_script, default_timeout=120).run()
        shown = [m.value for m in at.markdown] + [w.value for w in at.warning]
        exc = list(at.exception)
    hits = [m for m in shown if "alert(1)" in m]
    raw = [m for m in hits if "<script" in m.replace("\\<", "") or "](javascript" in m.replace("\\]", "")]
    return Outcome(hits[0][:160] if hits else "(name not shown)",
                   {"name and message shown": len(hits) >= 2, "no raw tag or link reaches markdown":
                    not raw, "no exception": not exc})


@scenario("dashboard: address when launched from the repository without --host", "dashboard")
def _(lab: Lab) -> Outcome:
    address = streamlit_option("server.address")
    run_sh = (ROOT / "run.sh").read_text()
    return Outcome(f"server.address = {address!r}; run.sh default HOST=127.0.0.1",
                   {"binds 127.0.0.1 (.streamlit/config.toml)": address == "127.0.0.1",
                    "run.sh defaults to 127.0.0.1 and passes --server.address":
                        "HOST=127.0.0.1" in run_sh and '--server.address "$HOST"' in run_sh})
