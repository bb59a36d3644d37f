"""What the log may say about an error above DEBUG: its type and where it was raised.

An error's message often quotes what it choked on — ``int('十三')`` says ``'十三'``, a
validation error its input — and what kesu handles are customers' words, names and phones and
staff replies, which must reach no one not involved (DOMAIN.md §8): whoever reads the servers'
logs is not. So above DEBUG an unexpected error is its type and its innermost frame
(``ValueError at flows/intake.py:261``); its message and traceback are logged at DEBUG, where
an operator who needs them turns them on (``KESU_LOG_LEVEL=DEBUG``, ``kesu -v``).

Errors whose messages are kesu's own words about its store, or the operating system's about a
connection (no customer's words in either), keep their message.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import PurePath

from storage.repositories import StorageError

#: Messages made of ids and the driver's or the OS's words, never of what was being handled.
_TOLD: tuple[type[BaseException], ...] = (StorageError, OSError)


def brief(exc: BaseException) -> str:
    """``ValueError at flows/intake.py:261``; a storage or network error with its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {'/'.join(PurePath(last.filename).parts[-2:])}:{last.lineno}"
    said = f": {str(exc).splitlines()[0]}" if isinstance(exc, _TOLD) and str(exc) else ""
    return f"{type(exc).__name__}{where}{said}"


def shape(payload: object) -> str:
    """A payload for the log: its keys (``keys: text, buttons``), never its values."""
    if isinstance(payload, dict):
        return "keys: " + ", ".join(sorted(map(str, payload)))
    return type(payload).__name__


def log_failure(
    log: logging.Logger, level: int, msg: str, *args: object, exc: BaseException
) -> None:
    """``msg % args`` at ``level``, followed by the error in :func:`brief`; the error in full,
    with its traceback, at DEBUG."""
    log.log(level, f"{msg}: %s", *args, brief(exc), stacklevel=2)
    log.debug(f"{msg}: in full", *args, exc_info=exc, stacklevel=2)
