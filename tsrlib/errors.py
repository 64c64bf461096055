"""The one exception type that user-facing code raises for bad input.

The CLI turns an :class:`AudioInputError` into a one-line message and a non-zero exit,
so a user never sees a traceback from deep inside numpy or torch.
"""

from __future__ import annotations


class TsrError(Exception):
    """Base class of every error tsrlib raises on purpose."""


class AudioInputError(TsrError, ValueError):
    """The audio given to tsrlib cannot be used (missing, corrupt, empty, silent, NaN, ...)."""


class CheckpointError(TsrError, FileNotFoundError):
    """A model checkpoint is missing or unreadable; the message says what to fetch and where."""


class ConfigError(TsrError, ValueError):
    """Arguments or options that do not fit together (a search without a verifier, a DSP model with a search),
    an unknown name (filter family, solver, device) or a value out of range."""


class ClippingWarning(UserWarning):
    """Audio with over 1 % of its samples at full scale: it can still be upsampled, but its clipping distortion will
    be upsampled too. The CLI says so once per file, where it reads it."""


class DataError(TsrError, FileNotFoundError):
    """A corpus, manifest or folder of recordings is missing or holds nothing usable."""
