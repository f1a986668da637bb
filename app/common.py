"""Shared glue: the process-wide runner and store, and one-line error display.

State lives in the runner and the store (process-wide), never in session_state, so a
refresh or a second tab sees the same running job.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import streamlit as st

from model.errors import LabError
from model.runs.jobs import Runner, get_runner
from model.runs.store import RunStore

from .settings import AppSettings, load_settings

LOG = logging.getLogger("amp_lab.app")


def settings() -> AppSettings:
    """The app settings (environment variables are read on every rerun)."""
    return load_settings()


def runner() -> Runner:
    """The process-wide job runner on the configured store."""
    return get_runner(settings().store_path)


def store() -> RunStore:
    """The configured run store (the runner's own)."""
    return runner().store


def release_store() -> None:
    """Close this script thread's store connection (Streamlit reruns on fresh threads)."""
    try:
        store().release_thread_connection()
    except LabError:
        pass


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\<>[]$"})


def md_text(text: str) -> str:
    """User text (a comparison name, a run's message, a file name) made safe for st.markdown,
    st.error and friends: it shows as typed, never as HTML, a link, an image, a colour
    directive or LaTeX (``\\ < > [ ] $`` are backslash-escaped; NUL and other control
    characters become spaces)."""
    clean = "".join(c if c.isprintable() or c == "\n" else " " for c in str(text))
    return clean.translate(_MD_SPECIAL)


def unexpected_message(err: BaseException) -> str:
    """One line for an error nobody planned for (the traceback goes to the server log)."""
    first = md_text((str(err).strip().splitlines() or [""])[0][:300])
    return f"Something went wrong ({type(err).__name__}{': ' + first if first else ''})."


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a page (or fragment) body: LabError and anything unexpected become one st.error line."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LabError as err:
            st.error(md_text(str(err)))
        except Exception as err:  # noqa: BLE001 - a page must never show a traceback
            LOG.exception("page error")
            st.error(unexpected_message(err))
        finally:
            release_store()
        return None
    return wrapper
