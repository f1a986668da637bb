"""Starting worker processes safely from any host program.

``spawn`` children re-import the parent's ``__main__`` before running their target.
Inside Streamlit that is the app script (Streamlit installs it as ``__main__``), under
Streamlit's AppTest a temporary file that fails outside its harness; either way the child
would run UI code, or die before our function starts (and a multiprocessing.Pool then
respawns dying workers forever). Our targets are plain module-level functions in
``model``, so children need nothing from ``__main__``: while starting them, the parent
shows an empty ``__main__``.
"""
from __future__ import annotations

import sys
import threading
import types
from contextlib import contextmanager
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
