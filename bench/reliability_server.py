"""The heavy rows of bench/bench_reliability.py: a real dashboard server (``streamlit run``)
killed, stopped, shared and loaded, driven by headless chromium (Playwright) and, for the
30 connections, by Streamlit's own websocket protocol.

Each scenario starts its own server on a free loopback port, on the catalogue's scratch
store and tiny dataset, and ends it. Loopback only; bounded in count and time. The server
and browser harness is in bench/reliability_harness.py, the fault rows in
bench/reliability_server_faults.py, the load row in bench/reliability_load.py; this module
lists them in the catalogue's order.
"""
from __future__ import annotations

from bench.reliability_core import one_line
from bench.reliability_harness import Browser, DashboardServer
from bench.reliability_load import FIGURES, load_30
from bench.reliability_server_faults import (double_start_and_cancel, kill9_server,
                                             sigterm_server, two_tabs_and_cli, urls)

SCENARIOS = [
    ("server: kill -9 during run 2 of a 2-run comparison, then restart", "faults", True,
     kill9_server),
    ("server: SIGTERM while a comparison trains and another waits", "faults", True,
     sigterm_server),
    ("server: two tabs and a CLI train on one store, binding", "dashboard", True,
     two_tabs_and_cli),
    ("server: /trials and an unknown URL", "dashboard", True, urls),
    ("server: Start double-clicked, Cancel in the first epoch", "dashboard", True,
     double_start_and_cancel),
    ("load: 30 connections load the Trials page while training", "load", True, load_30),
]

__all__ = ["SCENARIOS", "FIGURES", "DashboardServer", "Browser", "one_line", "kill9_server",
           "sigterm_server", "two_tabs_and_cli", "urls", "double_start_and_cancel", "load_30"]
