"""The folder this process runs in, against which ``./catalog`` and a relative ``MAGSAG_DB``, ``--db`` or ``--output``
are read.

A folder deleted since the shell or the MCP client entered it (a project removed and cloned again at the same path,
a temporary folder cleaned up) has no path any more: ``os.getcwd()`` raises ``FileNotFoundError``, and every command,
``magsag-mcp`` too, ended in that traceback, even with nothing relative to read (the default ledger's path is
absolute). Now only what needs the folder asks for it, and is told what happened and the fix."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

#: what a deleted working folder means and the fix, said where a path is read against it
GONE = (
    "the folder this runs in no longer exists (deleted, or replaced by a new one of the same name, since it was "
    'entered), so {what} names nothing; run it from a folder that exists (cd "$PWD" enters one made again at the '
    "same path){fix}"
)


def working_folder(what: str, fix: str = "") -> Path:
    """The folder this process runs in; a :class:`ConfigError` saying so and the fix when it was deleted, ``what``
    naming what was to be read in it (``./catalog``) and ``fix`` what else would do (``, or set MAGSAG_CATALOG``)."""
    try:
        return Path(os.getcwd())
    except FileNotFoundError:
        raise ConfigError(GONE.format(what=what, fix=fix)) from None


def absolute(path: Path, what: str) -> Path:
    """``path`` as SQLite resolves it: as it is when absolute, else against the working folder (``..`` left to the
    OS: ``os.path.abspath`` would take it off the text, and ``link/../l.db`` is then another file)."""
    if path.is_absolute():
        return path
    return working_folder(what, fix=", or give it as an absolute path") / path
