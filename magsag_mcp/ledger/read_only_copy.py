"""A read-only ledger that cannot be read where it is (an older version's, or one whose -wal file SQLite cannot
read there), read from a migrated copy.

An older version's ledger (recorded before this version's latest migrations: before 0017, say, which renames
Google's ``models/gemini-...`` rows) that this user cannot write (an auditor's read-only copy of last quarter's
ledger, a CI artifact mounted read-only, a file opened with ``read_only=True``), or that is on a full disk, was
refused for reading: its reads need the tables and columns the migrations add, and migrating it means writing it.
It is now read from a copy made in a temporary folder (``TMPDIR``) and migrated there: the ledger itself is left
as it is, byte for byte, and the copy is removed when the ledger closes (or its open fails, or is stopped). The
copy is a snapshot: calls recorded to the ledger afterwards (by its owner's older magsag-mcp) are not read. Its
writes are refused as any read-only ledger's are (:meth:`~.read_only.ReadOnlyMode.read_only_error`).

So is one whose -wal file (its latest records, left by a writer that was killed, or kept by a copy that left out
the -shm file) SQLite cannot read where it is: reading it needs a -shm file beside it, which a folder this user
cannot write cannot hold. The two files are copied as they are (no process has them open: there is no -shm file)
and read there, as the error said to do by hand.

Copying costs what the ledger weighs (its -wal file too): a ledger too large for the temporary folder's free
space is refused, naming both, before anything is written. A ledger a newer version migrated is never copied:
it is refused with the fix (upgrade magsag-mcp), as at every open.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from ..errors import LedgerError
from ..option_names import db_setting
from ..plurals import listed
from . import room
from .connection import file_version, open_read_only, read_only_uri
from .copies import _copy
from .migrations import MIGRATIONS, NewerSchema, NotALedger, check_is_ledger, migrate, pending_migrations
from .problems import _NEARLY_FULL_BYTES, log_file, newer_error, opened_file, out_of_space


def ledger_bytes(path: Path) -> int:
    """What a copy of the ledger at ``path`` weighs at most: its file and its -wal file, whose pages it holds."""
    total = 0
    for file in (opened_file(path), log_file(path)):
        try:
            total += file.stat().st_size
        except OSError:
            pass
    return total


def size_text(n: int) -> str:
    """``n`` bytes as a person reads them."""
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def cannot_migrate(ledger: Any) -> tuple[str, str]:
    """Why the ledger cannot be migrated where it is, and what lets it be read in place."""
    cause = ledger._read_only_cause
    if cause is not None and out_of_space(cause, ledger.path):
        return f"is on a full disk ({cause})", "free some space beside it (the migrations are made as it opens)"
    why = "cannot be written here" if cause is not None or not ledger.asked_read_only else "was opened read-only"
    return why, "open it once with this version where it can be written, which migrates it"


#: how many times a ledger is copied while a writer keeps changing it under the copy (see _copy_as_of_one_moment)
COPY_TRIES = 3


class _KeptChanging(Exception):
    """The ledger was written while each copy of it was made."""


def shm_file(path: Path) -> Path:
    """The -shm file of the ledger at ``path`` (the index SQLite reads its -wal file through)."""
    return Path(f"{opened_file(path)}-shm")


def log_unreadable_here(path: Path) -> bool:
    """Whether the ledger at ``path`` has a -wal file that SQLite cannot read where it is: reading it needs a -shm file,
    and there is none (no process has the ledger open: a copy that left it out, a writer killed and its -shm file
    removed) and none can be made (a folder this user cannot write, a read-only mount)."""
    folder = opened_file(path).parent
    return log_file(path).exists() and not shm_file(path).exists() and not os.access(folder, os.W_OK)


def _copy_files(path: Path, folder: str) -> Path:
    """The ledger's file and its -wal file copied as they are into ``folder``, where SQLite reads the -wal file as at
    a crash's recovery (no process has them open: there is no -shm file, see :func:`log_unreadable_here`)."""
    copy = Path(folder) / "ledger.db"
    shutil.copyfile(opened_file(path), copy)
    shutil.copyfile(log_file(path), f"{copy}-wal")
    return copy


def _migrated(copy: Path) -> list[str]:
    """Migrate the ``copy``; returns the migrations it lacked. A newer version's ledger raises
    :class:`~.migrations.NewerSchema`, and is not changed."""
    conn = sqlite3.connect(copy, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a copy thrown away after: a power cut loses nothing
        check_is_ledger(conn)
        pending = pending_migrations(conn)
        if pending and len(pending) < len(MIGRATIONS):  # (a blank file: the read-only open that follows refuses it)
            migrate(conn)
        return pending
    finally:
        conn.close()  # the last connection: the copy's -wal file is taken into it, and removed


def _copy_as_of_one_moment(
    path: Path, busy_timeout_ms: int, folder: str, abandoned: threading.Event, with_log: bool
) -> tuple[Path, list[str]]:
    """The ledger at ``path`` copied into ``folder`` and migrated there, and the migrations it lacked: through SQLite
    (:func:`~.copies._copy`), or ``with_log`` its files as they are (:func:`_copy_files`). With no -wal file (no
    writer at work) SQLite reads the file as immutable, trusting it not to change: a writer that began meanwhile
    (its owner's older magsag-mcp) and checkpointed into it could leave a copy that mixes pages of two moments, as
    a writer could of files copied as they are: so the copy is made again when what it was made of changed."""
    try:
        for _ in range(COPY_TRIES):
            immutable = with_log or read_only_uri(path)[1]
            versions = (file_version(path), file_version(log_file(path)))
            copy = _copy_files(path, folder) if with_log else _copy(path, busy_timeout_ms, folder, abandoned)
            if not immutable or (
                (file_version(path), file_version(log_file(path))) == versions and not shm_file(path).exists()
            ):
                return copy, _migrated(copy)
            for made in Path(folder).iterdir():
                made.unlink()
        raise _KeptChanging()
    finally:
        if abandoned.is_set():  # its caller stopped meanwhile (Ctrl-C): nobody else removes it
            shutil.rmtree(folder, ignore_errors=True)


async def read_a_copy(ledger: Any, pending: list[str] | None) -> None:
    """Open ``ledger`` (read-only) on a migrated copy of its file (see the module's docstring): one an older version
    made (it lacks ``pending``), or (``pending`` None) one whose -wal file cannot be read where it is
    (:func:`log_unreadable_here`). Its :attr:`copied_from` is then its path, which stays the ledger's."""
    path = ledger.path
    with_log = pending is None
    if pending is None:
        what = (
            f"cannot be written here, and its -wal file ({log_file(path)}, which holds its latest records) is read "
            "with a -shm file beside it, which cannot be made there"
        )
        fix = "make its folder writable, or copy the ledger with its -wal file to a folder you can write"
    else:
        why, fix = cannot_migrate(ledger)
        what = f"{why} and lacks {listed('schema migration', pending)} of this magsag-mcp, which its reads need"
    size, temp = ledger_bytes(path), tempfile.gettempdir()
    free = room.free_bytes(Path(temp))  # (through its module: what a full disk is, told in one place)
    if free is not None and free < size + _NEARLY_FULL_BYTES:
        raise LedgerError(
            f"cannot read the ledger at {path}: it {what}, so it is read from a copy, made in {temp}, which needs "
            f"about {size_text(size)} and has {size_text(free)} free; free some space there or set TMPDIR to a "
            f"folder with room, or {fix}",
            db=str(path),
        )
    abandoned = threading.Event()
    folder = None
    try:
        folder = ledger.copy_folder = tempfile.mkdtemp(prefix="magsag-ledger-copy-")  # removed if the open fails
        copy, lacked = await anyio.to_thread.run_sync(
            _copy_as_of_one_moment, path, ledger.busy_timeout_ms, folder, abandoned, with_log
        )
    except BaseException as exc:
        abandoned.set()  # stopped meanwhile (Ctrl-C): the copy's thread removes what it wrote when it ends
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, NewerSchema):  # (its -wal file held a newer version's migration)
            raise newer_error(path, exc.unknown, reading=True) from None
        if isinstance(exc, NotALedger):  # (read at last, with its -wal file: another program's database)
            raise LedgerError(
                f"cannot open the ledger at {path}: it is a SQLite database with other tables ({exc}), not a "
                f"magsag-mcp ledger, and was left as it was; check the file that {db_setting()} names",
                db=str(path),
            ) from None
        if isinstance(exc, _KeptChanging):
            raise LedgerError(
                f"cannot read the ledger at {path}: it {what}, so it is read from a copy, and a process wrote it "
                f"while it was copied, {COPY_TRIES} times over; retry once that process is done, or {fix}",
                db=str(path),
            ) from None
        if not isinstance(exc, sqlite3.Error | OSError):
            raise
        raise LedgerError(
            f"cannot read the ledger at {path}: it {what}, so it is read from a copy, which could not be made in "
            f"{temp} ({exc}; the copy needs about {size_text(size)}); free some space there or set TMPDIR to a "
            f"folder with room, or {fix}",
            db=str(path),
        ) from None
    ledger._reader, _ = await open_read_only(copy, ledger.busy_timeout_ms, None)
    # a snapshot: never reopened for a writer of the ledger come since (it would reopen the ledger, not the copy)
    ledger._writer_log = ledger._read_version = None
    ledger.copied_from, ledger.copy_behind = path, lacked
    copied = "a copy of it and its -wal file" if with_log else "a copy of it"
    migrated = ", migrated," if lacked else ""
    if lacked and with_log:  # (said above otherwise)
        migrated = f", migrated (it lacks {listed('schema migration', lacked)} of this magsag-mcp),"
    ledger.copy_reason = (
        f"the ledger at {path} {what}; so {copied}{migrated} was read ({size_text(copy.stat().st_size)} in {temp}, "
        f"made at {time.strftime('%H:%M:%S UTC', time.gmtime())}, removed when done: calls recorded to the ledger "
        f"since are not in it), and the ledger was left as it was; to read it in place, {fix}"
    )
