"""The ledger's files as SQLite opens them, and SQLite's result codes: what :mod:`.problems` and :mod:`.room` both
read of a failure."""

from __future__ import annotations

import errno
import os
from pathlib import Path

# SQLite's primary result codes (an extended code carries one in its low byte)
_IOERR, _READONLY, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 10, 8, 11, 13, 14, 26
IOERR, CORRUPT, FULL = _IOERR, _CORRUPT, _FULL  # (the ones backup.py tells apart)


def sqlite_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of ``exc`` (None: no SQLite error)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def opened_file(path: Path) -> Path:
    """The file SQLite opens for the ledger at ``path``: the one a link points to. Its -wal and -shm files are
    beside that file, not beside the link (a ledger named by a link to a shared volume)."""
    return Path(os.path.realpath(path))


def log_file(path: Path) -> Path:
    """The -wal file of the ledger at ``path``, which is there while a process has it open (see :func:`opened_file`)."""
    return Path(f"{opened_file(path)}-wal")


def has_log_file(path: Path) -> bool:
    """Whether the ledger at ``path`` has its -wal file (a process has it open). False for a name too long to have
    one: a database named with 252 to 255 bytes is in rollback mode, its -wal's name past the 255 bytes a file
    system takes; Path.exists() raised "File name too long" of that name, and the second backup into such a FILE
    (the first made it) was refused as if FILE's own name were the cause."""
    try:
        return log_file(path).exists()
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        return False
