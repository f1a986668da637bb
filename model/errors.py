"""Exceptions whose message is a complete one-line explanation for the user.

Every entry point (CLI, dashboard) catches :class:`LabError` and shows ``str(err)``
without a traceback; anything else is a bug.
"""


class LabError(Exception):
    """Base class: bad input or a state the user can fix; the message says how."""


class AudioError(LabError):
    """Audio that cannot be read or used (empty, corrupt, too long, NaN...)."""


class DatasetError(LabError):
    """A training set that is missing or malformed."""


class SpeechError(LabError):
    """A word the synthesiser cannot speak, or a text-to-speech failure."""


class ConfigError(LabError):
    """A setting outside its allowed range."""


class StoreError(LabError):
    """The run store cannot be opened, read or written (damaged, disk full, busy, read-only)."""


def os_error_line(err: OSError) -> str:
    """One line for a failed file operation: what went wrong and on which path.

    ``[Errno 28] No space left on device: 'x'`` becomes ``x: no space left on device``.
    """
    what = (err.strerror or str(err) or type(err).__name__).strip().splitlines()[0]
    what = what[:1].lower() + what[1:]
    path = err.filename if err.filename is not None else ""
    extra = f" -> {err.filename2}" if getattr(err, "filename2", None) else ""
    return f"{path}{extra}: {what}" if path else what
