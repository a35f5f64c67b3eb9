"""A durable commit synced by the ledger itself: its connections stay in ``synchronous=NORMAL`` and, after a commit
that must survive a power cut, the ledger syncs the -wal file (:func:`sync_log`) through a descriptor of its own
(:func:`open_log`).

Why: in WAL mode SQLite's ``FULL`` differs from ``NORMAL`` only by one sync of the -wal file as a transaction commits
(NORMAL still syncs the log's header when the log starts over, and the log before each checkpoint). A call's budget
reservation commits unsynced and its record synced, so one connection in SQLite's own modes switched twice a call: a
``PRAGMA synchronous`` prepared again each time, some 18,000 instructions a call. Two connections, one per mode, each
dropped its page cache whenever the other wrote. With the sync made here, the connection never switches.

What it changes: the sync comes as the COMMIT returns rather than inside it, so another process may read a record in
the moment before it is on disk; a power cut in that moment loses it as it lost one whose commit had not returned
(the call had not returned either). A later commit that is synced (here or by another process) syncs it with
it: the log is one file, and a commit is valid only after every frame before it. A call still returns once its
record is on disk.

A ledger whose -wal file is not where this process looks (none found at the path beside the file it opened) keeps
SQLite's own ``FULL`` for its durable commits, as before.
"""

from __future__ import annotations

import os

from ..redaction import redacting_logger

log = redacting_logger("magsag_mcp.ledger")

#: SQLite syncs the log with fdatasync where there is one (its size is synced with its data); fsync elsewhere
_sync = getattr(os, "fdatasync", os.fsync)


def open_log(path: str, identity: tuple[int, int]) -> int | None:
    """A descriptor of the -wal file at ``path`` whose identity (device, inode) is ``identity``, the one each write
    transaction checks is still there (:meth:`~.store.Ledger._check_write`); None when the file there is another by
    now, or cannot be opened. Opened for writing: Windows syncs no file opened for reading alone. Not inherited by
    child processes (Python's default)."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or (st.st_dev, st.st_ino) != identity:
        os.close(fd)
        return None
    return fd


def sync_log(fd: int, ledger: str) -> str | None:
    """Sync the -wal file (``fd``) of the ledger at ``ledger`` after a durable commit. Failing, the commit is made all
    the same (SQLite has written it, other processes read it, and written again its calls would count twice): said
    at ERROR, with what it means, and returned as the warning each call whose record the sync covered carries
    (:func:`unsynced_warning`); None when synced."""
    try:
        _sync(fd)
    except OSError as exc:
        log.error(
            "the ledger's log %s-wal could not be synced to disk (%s): the calls just recorded are in the ledger but "
            "may not survive a power cut or an OS crash; check the disk (its free space, its errors in the system log)",
            ledger,
            exc,
        )
        return unsynced_warning(ledger, exc)
    return None


def unsynced_warning(ledger: str, exc: OSError) -> str:
    """What a call's result says when the sync of the commit holding its record failed: the call answered and its
    record is in the ledger, but a power cut or OS crash before the log is next synced may lose it. The ledger's file
    name alone, not its path (a result goes to a client, which is told no more of the server's disk than it needs),
    and the OSError's own words (``No space left on device``, ``Input/output error``)."""
    name = os.path.basename(ledger)
    return (
        f"this call's record may not survive a power loss: the ledger's log ({name}-wal) could not be synced to disk "
        f"({exc.strerror or type(exc).__name__}); it is in the ledger, but a power cut or an OS crash before the log "
        "is next synced may lose it (magsag's log says more, at ERROR; check the disk)"
    )


def close_log(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
