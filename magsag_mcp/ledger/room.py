"""Whether the ledger's disk has room, told with the fix: a full disk, this user's disk quota used up (EDQUOT), this
process's file size limit (``ulimit -f``). SQLite reports each as a bare "disk I/O error" (or SQLITE_FULL), so each
is told by what can be seen: the free space, a write tried again, the limit against the files' sizes."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from .ledger_files import _FULL, _IOERR, log_file, opened_file, sqlite_code

#: free space under which an I/O error is taken for a full disk: less than SQLite needs to map the ledger's
#: -shm file (32 KiB) and append a few pages to its -wal
_NEARLY_FULL_BYTES = 1 << 20
#: the OS's error for a write past this user's disk quota (none on Windows)
EDQUOT: int | None = getattr(errno, "EDQUOT", None)
_EDQUOT = EDQUOT
#: the most one write of SQLite's adds to a file: a page at its largest (64 KiB) with a -wal frame's header
_ONE_WRITE = 65_536 + 24


def free_bytes(folder: Path) -> int | None:
    """The space this user may still write in ``folder``'s file system, or None if it cannot be told (no such folder).
    ``shutil.disk_usage``: statvfs's f_bavail blocks where there is one, GetDiskFreeSpaceExW's space free to the caller
    on Windows, which has no statvfs (there a full disk was never told as one: the bare "disk I/O error" was)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _disk_full(code: int | None, os_errno: int | None, path: Path) -> bool:
    """Whether the failure is the disk's being full: SQLite's SQLITE_FULL, or an I/O error (SQLite reports the
    -shm file it cannot grow, at the first read of a ledger no process has open, as one) on a file system with
    no space left."""
    if code == _FULL or os_errno == errno.ENOSPC:
        return True
    if code != _IOERR:
        return False
    free = free_bytes(opened_file(path).parent)
    return free is not None and free < _NEARLY_FULL_BYTES


def write_refused(folder: Path) -> int | None:
    """The errno with which the OS refuses a write of one of SQLite's pages (:data:`_ONE_WRITE` bytes, synced) to a
    new file in ``folder``, or None where it takes it; the file is removed at once. SQLite reports a write the OS
    refused as a bare "disk I/O error" (SQLITE_IOERR_WRITE) whatever the errno, which Python does not give
    (sqlite3_system_errno): a quota used up (EDQUOT) is told from a failing disk by trying the write again."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".magsag-room-", suffix=".tmp")
    except OSError as exc:  # (a quota of files, inodes, refuses the file itself)
        return exc.errno
    refused = None
    try:
        left = memoryview(bytes(_ONE_WRITE))
        while left:  # (a write the quota cuts short returns its part; the next one fails)
            left = left[os.write(fd, left) :]
        os.fsync(fd)  # (a file system that allocates late, NFS's, says EDQUOT at the sync)
    except OSError as exc:
        refused = exc.errno
    finally:
        try:
            os.close(fd)  # (NFS may say a write it could not place here too: close(2)'s EDQUOT, ENOSPC)
        except OSError as exc:
            refused = refused or exc.errno  # (raised, it replaced the error being told, and left the file)
        with contextlib.suppress(OSError):
            os.unlink(name)
    return refused


def _over_quota(code: int | None, os_errno: int | None, path: Path) -> bool:
    """Whether the failure is this user's disk quota being used up (EDQUOT): a disk with room, where free space
    (statvfs) does not show the quota, and SQLite says "disk I/O error" (see :func:`write_refused`)."""
    if _EDQUOT is None:
        return False
    if os_errno == _EDQUOT:
        return True
    return code == _IOERR and write_refused(opened_file(path).parent) == _EDQUOT


def no_room_cause(exc: BaseException, path: Path) -> str | None:
    """Where ``exc``, met on the ledger at ``path``, is a want of room, its cause and fix as :func:`cause` says them:
    the disk full (:func:`_disk_full`), or this user's quota used up (:func:`_over_quota`). None otherwise."""
    code = sqlite_code(exc)
    os_errno = exc.errno if isinstance(exc, OSError) else None
    if _disk_full(code, os_errno, path):
        return _full(exc)
    if _over_quota(code, os_errno, path):
        return over_quota(exc)
    return None


def over_quota(exc: BaseException) -> str:
    """The cause and fix of a write refused for this user's disk quota (``exc`` what SQLite or the OS said)."""
    return (
        f"is on a file system where this user's disk quota is used up ({exc}; the OS refuses more: disk quota "
        "exceeded, EDQUOT), though the disk may have room: free some of this user's space there (`quota -s` shows "
        "the quota), or have the quota raised, then retry. Nothing recorded before was lost"
    )


def file_size_limit() -> int | None:
    """This process's limit on the size of a file it writes (RLIMIT_FSIZE: ``ulimit -f``, a container's or a CI
    runner's), in bytes; None where there is none (or no such limit: Windows). Past it, a write fails with EFBIG,
    which SQLite reports as a bare "disk I/O error" (Python ignores the SIGXFSZ that would end the process)."""
    try:
        import resource
    except ImportError:  # (Windows)
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def too_large_fix() -> str:
    """What to do where writing a file failed with EFBIG ("File too large"): past this process's file size limit
    (see :func:`file_size_limit`), raise it; with none, the file system takes no larger file (FAT32's 4 GiB)."""
    limit = file_size_limit()
    if limit is None:
        return "the file system takes no larger file (FAT32's is 4 GiB): write it on another disk"
    return past_size_limit(limit)


def past_size_limit(limit: int) -> str:
    """The file size limit of ``limit`` bytes, said with its fix: one sentence for every file that reached it (an
    output: :func:`too_large_fix`; the ledger or its -wal: :func:`size_limited`; a backup: backup._what_failed), which
    were three near-copies of it that a change of one left the others behind."""
    return (
        f"this process may write no file larger than {limit:,} bytes (a file size limit: ulimit -f, RLIMIT_FSIZE, "
        "set by the shell, the container or the CI runner that started it); raise the limit where magsag runs "
        "(ulimit -f unlimited), then retry"
    )


def size_limited(path: Path) -> str | None:
    """Where the ledger at ``path`` or its -wal file has grown to this process's file size limit (see
    :func:`file_size_limit`) so that a page more would pass it: the cause and the fix, as :func:`cause` says them."""
    limit = file_size_limit()
    if limit is None:
        return None
    sizes = []
    for file in (opened_file(path), log_file(path)):
        with contextlib.suppress(OSError):
            sizes.append((file.stat().st_size, file))
    if sizes:
        size, file = max(sizes)  # (a record grows the -wal; a checkpoint, a vacuum the file)
        if size + _ONE_WRITE > limit:
            said = past_size_limit(limit)
            return f"cannot grow: {file} is {size:,} bytes, and {said}. Nothing recorded before was lost"
    return None


def no_room(path: Path) -> OSError | None:
    """The error a writable open of the ledger at ``path`` would meet if its file system has no room left for the
    -wal and -shm files SQLite makes (see :data:`_NEARLY_FULL_BYTES`); None if there is room, or it cannot be told."""
    free = free_bytes(opened_file(path).parent)
    if free is None or free >= _NEARLY_FULL_BYTES:
        return None
    return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {free} bytes free")


def out_of_space(exc: BaseException, path: Path) -> bool:
    """Whether ``exc``, met on the ledger at ``path``, is a want of room: the disk's being full, or this user's
    quota used up (see :func:`no_room_cause`)."""
    return path.is_file() and no_room_cause(exc, path) is not None


def _full(exc: BaseException) -> str:
    return f"is on a full disk ({exc}): free some space there, then retry"
