"""``magsag data backup FILE``: a consistent copy of the ledger, made while calls go on being recorded into it.

While any process has the ledger open it is two files: the database and its ``-wal`` log, which holds the latest
commits until a checkpoint moves them into the database. ``cp ledger.db`` under a running server copies the database
without the log's commits, or with a page a checkpoint was writing half-way (a copy SQLite may call malformed), and
nothing says so. SQLite's online backup reads the ledger as one read transaction sees it, the log's commits included,
while writers go on (a WAL reader blocks none); the copy is written beside FILE and renamed over it once whole and
checked, so FILE holds the last whole backup or the new one, never part of one. The copy is one file in rollback
mode, with no ``-wal`` to keep beside it: moved, mailed or restored, it is the whole ledger.

A backup and a ledger look alike (one is a copy of the other), so a swap (``--db`` naming a backup, FILE the live
ledger) would replace the ledger with an older copy and lose every call since. What tells them apart is time: a FILE
holding a record (attempt, run, event) newer than any in the ledger being backed up is no earlier backup of it, and is
refused. A ledger a server holds open is refused by its ``-wal`` file (there while any connection has it open, in
WAL mode); a write lock tried with no wait would not tell more: an idle server holds none (only a byte lock in
``-shm`` that SQLite gives no call to test).

A backup killed outright (SIGKILL, the OOM killer, a power cut) leaves its copy beside FILE, ``.FILE.<hex>.tmp``, as
large as the ledger. The next backup into that folder removes such copies, but only those it can tell are dead: each
backup holds an exclusive ``flock`` on its copy while it makes it, which the kernel lets go when the process dies,
however it dies; a copy whose lock can be taken is no backup's at work (another backup into the same folder, at work
beside this one, keeps its lock, and its copy). A backup of a version before that lock, at work in the same folder
(a cron job of the version still installed elsewhere, during an upgrade), holds none: its copy is told by SQLite's
own locks on it, held while it writes the copy and while it reads it back for its check (the moments between its
statements, a few microseconds, hold none). Where there is no ``flock`` (Windows) nothing is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import InputError, LedgerError
from . import room
from .backup_paths import copy_name, path_refused
from .connection import BUSY_TIMEOUT_MS, read_only_uri
from .ledger_files import CORRUPT, FULL, IOERR, has_log_file, sqlite_code
from .migrations import check_is_ledger
from .problems import file_size_limit, log_file

#: the first bytes of every SQLite database file
_SQLITE_HEADER = b"SQLite format 3\x00"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except (OSError, RuntimeError):  # (Python 3.11's resolve() raises RuntimeError on a symbolic link loop)
        return False


def check_target(source: Path, target: Path) -> float | None:
    """Refuse a ``target`` that would overwrite the ledger, its log, or a file that is no ledger (no earlier backup).
    Returns the time of the newest record an existing ``target`` holds (None: none, or no ``target``)."""
    for own in (source, log_file(source), source.with_name(source.name + "-shm")):
        if _same_file(own, target):
            raise InputError(
                f"{target} is the ledger's own file ({own.name}): give the backup another path, e.g. "
                f"{source.with_name(source.stem + '-backup.db')}"
            )
    if target.exists():
        if target.is_dir():  # (a backup is not written inside it under a name of ours, which a script would not find)
            raise InputError(
                f"{target} is a folder: give the backup a file's path, e.g. {target / (source.stem + '-backup.db')}"
            )
        if not target.is_file():
            raise InputError(f"{target} is not a regular file: give the backup a file's path")
        try:
            with open(target, "rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except OSError as exc:  # (a file of another user's, 0600: a traceback, PermissionError)
            raise InputError(
                f"{target} exists and cannot be read ({exc.strerror}), so whether it is an earlier backup is not "
                "known: it was left as it is; give the backup another path, or remove that file first"
            ) from None
        if head and head != _SQLITE_HEADER:
            raise InputError(
                f"{target} exists and is no SQLite database (no earlier backup): it was left as it is; give the "
                "backup a new path, or remove that file first"
            )
    if has_log_file(target):
        raise InputError(
            f"{target} is open in another process (its {log_file(target).name} file is there): a ledger in use, "
            "not a backup to replace; give the backup another path"
        )
    return _check_earlier_backup(target) if target.exists() and target.stat().st_size else None


def _newest_record(conn: sqlite3.Connection) -> float | None:
    """When the newest record of the ledger open on ``conn`` was written (unix seconds, as the ledger stores times):
    its newest attempt's start, run's start or end, or event; None for a ledger that holds none."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    parts = ["SELECT MAX(started_at) AS t FROM attempts"]
    if "runs" in tables:
        parts += ["SELECT MAX(started_at) FROM runs", "SELECT MAX(ended_at) FROM runs"]
    if "events" in tables:
        parts.append("SELECT MAX(at) FROM events")
    newest = conn.execute(f"SELECT MAX(t) FROM ({' UNION ALL '.join(parts)})").fetchone()[0]
    return None if newest is None else float(newest)


def _check_earlier_backup(target: Path) -> float | None:
    """Refuse a SQLite database ``target`` that is no ledger, so no earlier backup: another program's database (a
    browser's, an app's .sqlite) was taken as one and replaced. Returns when its newest record was written."""
    newest: float | None = None
    try:
        conn = sqlite3.connect(read_only_uri(target)[0], uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if {"attempts", "schema_migrations"} <= tables:
                newest = _newest_record(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        tables = set()
    if not {"attempts", "schema_migrations"} <= tables:
        raise InputError(
            f"{target} is a SQLite database but no ledger (no earlier backup): it was left as it is; give the backup "
            "another path, or remove that file first"
        )
    return newest


def _copy(source: Path, temp: Path, busy_timeout_ms: int) -> dict[str, Any]:
    """The ledger at ``source`` copied into ``temp`` as of one moment, checked; what it holds."""
    # a ledger this user cannot write (an audit copy, a read-only mount) is read as the ledger reads one
    writable = os.access(source, os.W_OK) and os.access(source.parent, os.W_OK)
    try:
        if writable:
            src = sqlite3.connect(source, isolation_level=None)
        else:
            src = sqlite3.connect(read_only_uri(source)[0], uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open the ledger at {source} to back it up: {exc}", db=str(source)) from None
    try:
        src.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        check_is_ledger(src, blank_ok=False)  # (before anything reads it as one: another program's file is refused)
        dst = sqlite3.connect(temp, isolation_level=None)
        try:
            src.backup(dst)
            # the header says WAL, as the ledger's does: in rollback mode the backup is its one file, with no
            # -wal made beside it by whatever reads it first (magsag switches a ledger it opens to WAL itself)
            dst.execute("PRAGMA journal_mode = DELETE")
            problems = [row[0] for row in dst.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise LedgerError(
                    f"the backup of {source} failed SQLite's check ({'; '.join(problems[:3])}); the ledger itself "
                    "may be damaged: run `sqlite3 LEDGER 'PRAGMA integrity_check'`",
                    db=str(source),
                )
            attempts, newest = dst.execute("SELECT COUNT(*), MAX(started_at) FROM attempts").fetchone()
            migrations = dst.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
            newest_record = _newest_record(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise LedgerError(
            f"the backup of the ledger at {source} failed: {exc}; nothing was replaced "
            f"({_what_failed(exc, source, temp)})",
            db=str(source),
        ) from None
    finally:
        src.close()
    return {
        "attempts": attempts,
        "newest_attempt_at": newest,
        "schema_migrations": migrations,
        "newest_record_at": newest_record,
    }


def _what_failed(exc: sqlite3.Error, source: Path, temp: Path) -> str:
    """The cause and fix of ``exc``, met backing up the ledger at ``source`` into ``temp``, where they can be told. A
    copy that would pass this process's file size limit (``ulimit -f``; SQLite says "disk I/O error"): raise it; this
    user's disk quota used up (the same words), or a full disk where the backup goes: free space there; a damaged
    ledger: check it. Each only for its own error: under a limit smaller than the ledger, every failure (a damaged
    ledger's "malformed", one kept locked) was told as the limit, and any failure at all as a full disk."""
    code = sqlite_code(exc)
    size = sum(f.stat().st_size for f in (source, log_file(source)) if f.exists())
    limit = file_size_limit()
    # (the copy's size at the failure tells nothing: SQLite's rollback truncated it)
    if code == IOERR and limit is not None and limit < size:
        return f"the backup is as large as the ledger, {size:,} bytes, and {room.past_size_limit(limit)}"
    if code in (IOERR, FULL):
        refused = room.write_refused(temp.parent)
        if refused is not None and refused == room.EDQUOT:
            return (
                f"this user's disk quota where the backup goes is used up (the OS refuses more: disk quota exceeded, "
                f"EDQUOT), though the disk may have room: the backup is as large as the ledger, {size:,} bytes; free "
                "some of this user's space there (`quota -s` shows the quota), have the quota raised, or give FILE on "
                "another file system"
            )
        free = room.free_bytes(temp.parent)
        if code == FULL or refused == errno.ENOSPC or (free is not None and free < size):
            return f"a full disk: free some space where the backup goes, as large as the ledger ({size:,} bytes)"
    if code == CORRUPT:
        return f"the ledger itself may be damaged: run `sqlite3 {source} 'PRAGMA integrity_check'`"
    return "retry; if it fails again, check the disks of the ledger and of the backup"


def _check_not_newer(source: Path, target: Path, target_newest: float | None, source_newest: float | None) -> None:
    """Refuse to replace a ``target`` holding records newer than any of the copy: it is no earlier backup of the
    ledger at ``source`` but, most likely, the live ledger, with ``source`` a backup (the two swapped)."""
    from .times import iso_time as _iso

    if target_newest is None or (source_newest is not None and target_newest <= source_newest):
        return
    held = f"its newest from {_iso(source_newest)}" if source_newest is not None else "which holds no records"
    raise InputError(
        f"{target} holds records up to {_iso(target_newest)}, after the newest in the ledger you are backing up "
        f"({source}, {held}): is {target.name} your live ledger and --db (or MAGSAG_DB) a backup? {target} was left "
        "as it is; check --db and MAGSAG_DB name the live ledger; to replace that file anyway, remove it first or "
        "give the backup another path"
    )


#: the name of a backup's copy while it is made (see :func:`backup`): a dot, FILE's name, 128 random bits in hex
_COPY_NAME = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
#: the files SQLite makes beside a database it writes, which a killed backup may leave beside its copy
_SIDECARS = ("-journal", "-wal", "-shm")


def _locked(fd: int, wait: bool) -> bool:
    """Whether an exclusive flock on ``fd`` was taken (``wait``: waiting for it); True where there is no flock."""
    try:
        import fcntl
    except ImportError:  # (Windows: no copy is taken for dead, see remove_dead_copies)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def _in_sqlite_use(fd: int) -> bool:
    """Whether another process holds one of SQLite's locks on the file open (for writing) on ``fd``: a backup of a
    version before the flock, at work on its copy (writing it, or reading it back for its check), holds none of
    ours, but SQLite's (POSIX record locks, apart from flock). A write lock over the whole file, let go at once, is
    refused while any of them is held."""
    import fcntl

    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    fcntl.lockf(fd, fcntl.LOCK_UN)
    return False


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open on ``fd`` (not removed, by a backup that took it for dead)."""
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def remove_dead_copies(folder: Path) -> list[str]:
    """Remove the copies (and SQLite's files beside them) that backups killed outright left in ``folder``: those
    whose flock can be taken, no backup at work holding it. The names removed."""
    try:
        import fcntl  # noqa: F401  (Windows: none, and no lock tells a dead copy from one being made)
    except ImportError:
        return []
    removed: list[str] = []
    for path in sorted(folder.glob(".*.tmp")):
        if not _COPY_NAME.fullmatch(path.name):
            continue
        try:  # (for writing: SQLite's locks are tested by taking a write lock, see _in_sqlite_use)
            fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # (gone meanwhile, or another user's)
            continue
        try:
            if not _locked(fd, wait=False) or _in_sqlite_use(fd) or not _names(path, fd):
                continue  # a backup at work holds it (an older version's, SQLite's lock); or another removed it
            for sidecar in _SIDECARS:
                with contextlib.suppress(OSError):
                    os.unlink(path.with_name(path.name + sidecar))
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(path.name)
        finally:
            os.close(fd)  # (the lock goes with it)
    return removed


def _claim(temp: Path) -> int:
    """Make the copy ``temp`` (0600, as a ledger is: it holds every call's agents, skills and errors) and hold its
    flock, the fd open until the backup is done; -1 where another backup took it for dead in the moment between the
    two, and removed it."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    if _locked(fd, wait=True) and _names(temp, fd):
        return fd
    os.close(fd)
    return -1


def backup(source: Path, target: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> dict[str, Any]:
    """Back up the ledger at ``source`` to ``target`` (see the module's docstring). Returns what the copy holds."""
    from .times import iso_time as _iso

    if not source.is_file() or source.stat().st_size == 0:
        raise InputError(f"no ledger at {source}: nothing has been recorded there, so there is nothing to back up")
    try:
        target_newest = check_target(source, target)
    except OSError as exc:  # (FILE's name too long, a folder on its way this user may not enter, a link loop)
        raise path_refused(exc, target) from None
    # The copy's name is chosen before the file is made, so that the finally below knows it whatever moment a signal
    # lands in: with mkstemp, a SIGTERM (or Ctrl-C) turned into an exception just after the file was made and before
    # its name was held left `.FILE.*.tmp` behind. 128 random bits: a name no other backup has.
    temp = target.parent / copy_name(target, secrets.token_hex(16))
    fd = -1
    try:
        try:
            removed = remove_dead_copies(target.parent)
            while (fd := _claim(temp)) < 0:  # (removed as dead by another backup before its lock was taken)
                temp = target.parent / copy_name(target, secrets.token_hex(16))
        except OSError as exc:
            raise path_refused(exc, target) from None
        held = _copy(source, temp, busy_timeout_ms)
        # (compared with the copy as made: the ledger's records as of the moment the backup holds)
        _check_not_newer(source, target, target_newest, held["newest_record_at"])
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if fd >= 0:
            os.close(fd)
    done: dict[str, Any] = {
        "backup": str(target),
        "ledger": str(source),
        "bytes": target.stat().st_size,
        "attempts": held["attempts"],
        "newest_attempt_at": _iso(held["newest_attempt_at"]),
        "schema_migrations": held["schema_migrations"],
    }
    if removed:  # (said: a file as large as the ledger gone from the folder, that was no backup's at work)
        done["removed_dead_copies"] = removed
    return done
