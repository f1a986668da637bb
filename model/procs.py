"""Starting worker processes safely from any host program.

``spawn`` children re-import the parent's ``__main__`` before running their target.
Inside Streamlit that is the app script (Streamlit installs it as ``__main__``), under
Streamlit's AppTest a temporary file that fails outside its harness; either way the child
would run UI code, or die before our function starts (and a multiprocessing.Pool then
respawns dying workers forever). Our targets are plain module-level functions in
``model``, so children need nothing from ``__main__``: while starting them, the parent
shows an empty ``__main__``.

It also reads other processes from /proc (``children_of``, ``alive``): the fault tests and
the reliability bench check that no training child outlives its parent.
"""
from __future__ import annotations

import sys
import threading
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_LOCK = threading.Lock()  # one swap at a time


@contextmanager
def bare_main() -> Iterator[None]:
    """Within this block, processes started by ``spawn`` do not import ``__main__``."""
    with _LOCK:
        real = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if real is not None:
                sys.modules["__main__"] = real


# -- other processes, read from /proc (Linux) -------------------------------------------------
def children_of(pid: int) -> list[int]:
    """The direct children of a process, from every /proc/<pid>/stat (Linux).

    Args:
        pid: the parent's process id.

    Returns:
        The process ids whose parent is ``pid`` (zombies included), in /proc's order;
        processes that end while /proc is read are skipped.
    """
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the command name (field 2) may hold spaces and ")": split after its last ")"
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (its /proc/<pid>/stat state is not Z).

    Args:
        pid: a process id.

    Returns:
        False when the process is gone or has exited but not yet been reaped.
    """
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
