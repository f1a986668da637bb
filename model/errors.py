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
