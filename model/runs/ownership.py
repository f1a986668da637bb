"""Which process owns a run: a token naming one process, and whether that process still lives.

Runs and comparisons in the store record the token of the process that queued them
(model/runs/store.py); on open, the store marks "interrupted" the active ones whose owner is
certainly gone. The token survives neither a reboot nor pid reuse, so a new process with an
old pid is never taken for the owner.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path


def process_token(pid: int | None = None) -> str:
    """host:boot-id:pid:start-time of a process; unique across reboots and pid reuse."""
    pid = os.getpid() if pid is None else pid
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]  # field 22 (starttime), after "comm"
    except (OSError, IndexError):
        boot, start = "", ""
    return f"{socket.gethostname()}:{boot}:{pid}:{start}"


def owner_alive(token: str) -> bool:
    """False if the process named by a :func:`process_token` is certainly gone."""
    try:
        host, boot, pid, start = token.rsplit(":", 3)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine's run: cannot tell, leave it alone
    if not start:
        return pid.isdigit() and Path(f"/proc/{pid}").exists()
    return process_token(int(pid)) == token if pid.isdigit() else False
