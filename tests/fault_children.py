"""Stand-in training children for the fault tests (tests/test_faults.py): module-level, and
light to import, because a spawned child imports the module of its target."""
from __future__ import annotations

import time

from model.train.events import TrialEvent


def sleepy_child(cfg, run_id, run_dir, events, stop, env=None):
    """No framework: fp32 reports "started" and hangs until killed; other precisions finish."""
    events.put(TrialEvent("started", run_id, cfg.precision, cfg.seed, time.time()))
    if cfg.precision == "fp32":
        time.sleep(120)
    events.put(TrialEvent("finished", run_id, cfg.precision, cfg.seed, time.time()))
