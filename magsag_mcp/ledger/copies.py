"""A ledger that another process has open and that lacks this version's migrations, read from a migrated copy.

After an upgrade (``pip install -U magsag-mcp``), the magsag-mcp started before it goes on serving calls with the
older code, into the ledger. A reading command of the newer ``magsag`` (the cost report, the CI gate's summary,
``budget``, ``doctor``) migrated the ledger to its own schema as it opened it; the older server, still running, then
refused every record ("migrated by a newer magsag-mcp"), and the calls it was paid for went unrecorded, escaping the
budget, until it was restarted. What only reads the ledger (:class:`~.store.Ledger`'s ``reading``) now reads a copy,
migrated, and leaves the ledger as it is: the first process that writes it with this version (the server restarted)
migrates it.

Another process has the ledger open while its -wal file is there: SQLite removes it as the last connection closes.
One left by a process that was killed reads as one in use too: the copy is then made for nothing, and the note says
how to end it. A command that writes but is not the ledger's writer of calls (``data prune``) is refused instead.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

import anyio

from ..errors import LedgerError
from ..plurals import listed
from .connection import read_only_uri
from .migrations import MIGRATIONS, pending_migrations, unknown_migrations
from .problems import log_file


def behind_and_in_use(path: Path, busy_timeout_ms: int) -> list[str]:
    """The migrations this version makes that the ledger at ``path`` lacks, if another process has it open (its
    -wal file is there); none otherwise, or if that cannot be told (the open that follows says why)."""
    if not path.is_file() or not log_file(path).exists():
        return []
    try:
        conn = sqlite3.connect(read_only_uri(path)[0], uri=True, isolation_level=None)
    except sqlite3.Error:
        return []
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        pending = pending_migrations(conn)
        # a blank file, or a newer version's ledger: the open that follows refuses it
        if len(pending) == len(MIGRATIONS) or unknown_migrations(conn):
            return []
        return pending
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def _copy(path: Path, busy_timeout_ms: int, folder: str, abandoned: threading.Event) -> Path:
    """The ledger at ``path``, with what its -wal file holds, as of one moment, copied into ``folder``; removed
    with it should the caller be gone meanwhile (``abandoned``: stopped by Ctrl-C while this thread copied)."""
    copy = Path(folder) / "ledger.db"
    try:
        src = sqlite3.connect(read_only_uri(path)[0], uri=True)
        try:
            src.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    finally:
        if abandoned.is_set():
            shutil.rmtree(folder, ignore_errors=True)
    return copy


#: what ends it, for a ledger another process has open that lacks this version's migrations
_RESTART = (
    "restart that process (and any other on this ledger) with this version, which migrates it; if none is running "
    "(one was killed, leaving the -wal file), the next magsag-mcp or `magsag invoke` to open it migrates it"
)


async def read_a_copy_if_in_use(ledger: Any) -> None:
    """Point ``ledger`` (about to open, to read) at a copy of its file, if another process has the file open and it
    lacks migrations of this version: the copy is then the one migrated (:attr:`copied_from` is the ledger's path).
    A ledger opened by a command that writes but is not the ledger's own writer of calls (``create`` False: a
    prune) is refused instead: what it writes must be in the ledger, and migrating it would stop that process."""
    path = ledger.path
    pending = await anyio.to_thread.run_sync(behind_and_in_use, path, ledger.busy_timeout_ms)
    if not pending:
        return
    if not ledger.reading:
        raise LedgerError(
            f"the ledger at {path} lacks {listed('schema migration', pending)} of this magsag-mcp, and another "
            "process has it open (its -wal file is there): an older magsag-mcp still running, which would refuse to "
            f"record its calls once this version migrated it, so it was left as it is and nothing was changed; "
            f"{_RESTART}, then run this again",
            db=str(path),
            migrations=pending,
        )
    abandoned = threading.Event()
    folder = None
    try:
        folder = tempfile.mkdtemp(prefix="magsag-ledger-copy-")  # (a TMPDIR that is not there: said as below)
        copy = await anyio.to_thread.run_sync(_copy, path, ledger.busy_timeout_ms, folder, abandoned)
    except BaseException as exc:
        # also when stopped meanwhile (Ctrl-C, or SIGTERM taken for it, cancels this wait, not the copy's thread,
        # which then removes what it wrote): a whole copy of the ledger was left in the folder at every stop
        abandoned.set()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if not isinstance(exc, sqlite3.Error | OSError):
            raise
        raise LedgerError(
            f"cannot read the ledger at {path}: it lacks {listed('schema migration', pending)} of this "
            "magsag-mcp and another process has it open (an older magsag-mcp still running?), so it is read from a "
            f"migrated copy, which could not be made ({exc}); free some space in {tempfile.gettempdir()} (or set "
            "TMPDIR), or restart that process with this version, which migrates the ledger",
            db=str(path),
        ) from None
    ledger.copied_from, ledger.copy_behind, ledger.path = path, pending, copy
    ledger.copy_folder = folder


def remove_copy(ledger: Any) -> None:
    """The copy :func:`read_a_copy_if_in_use` made, removed once the ledger has closed."""
    folder, ledger.copy_folder = ledger.copy_folder, None
    if folder is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)


def copy_note(ledger: Any) -> str | None:
    """What a reading command says when it read a copy (see :func:`read_a_copy_if_in_use` and
    :mod:`.read_only_copy`)."""
    if ledger.copied_from is None:
        return None
    if ledger.copy_reason is not None:  # not in use: a ledger that cannot be migrated where it is
        return ledger.copy_reason
    return (
        f"the ledger at {ledger.copied_from} lacks {listed('schema migration', ledger.copy_behind)} of this "
        "magsag-mcp, and another process has it open (its -wal file is there): an older magsag-mcp still running, "
        "which would refuse to record its calls once this version migrated it; so a migrated copy of it was read, "
        f"and it was left as it is; to end this copying, {_RESTART}"
    )
