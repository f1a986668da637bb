"""One background thread per process for a long job started from a page (making a dataset,
enrolling a voice), polled by the page through snapshots. Nothing here calls Streamlit.

A job's state is a dataclass with at least ``running``, ``stage``, ``done``, ``total``,
``message`` and ``ok``; the thread writes it under a lock, the page reads copies.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

from model.errors import LabError


class BackgroundJob:
    """At most one run of a job at a time; subclasses start it with :meth:`_launch`."""

    def __init__(self, state: Any) -> None:
        self._lock = threading.Lock()
        self._state = state
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> Any:
        """A copy of the current state."""
        with self._lock:
            return replace(self._state)

    def cancel(self) -> None:
        """Ask the running job to stop."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _launch(self, state: Any, target: Callable[..., None], args: tuple, name: str,
                busy: str) -> None:
        """Start ``target(*args)`` in a fresh thread with ``state``; LabError(busy) if running."""
        with self._lock:
            if self._state.running:
                raise LabError(busy)
            self._state = state
            self._cancel = threading.Event()
            self._thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            self._thread.start()

    def _progress(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._state.stage, self._state.done, self._state.total = stage, done, total

    def _end(self, message: str, ok: bool, **fields: Any) -> None:
        """Record the result: not running, its message, ok, and any other state fields."""
        with self._lock:
            self._state.running, self._state.message, self._state.ok = False, message, ok
            for key, value in fields.items():
                setattr(self._state, key, value)
