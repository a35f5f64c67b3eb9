"""What went wrong with the ledger's file, said as its cause and its fix: a :class:`LedgerError`.

SQLite's own words name the symptom ("unable to open database file", "database disk image is
malformed"), not what the user can do: a directory given as the ledger, a file that is no database,
a damaged ledger and a read-only one each need something else done.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

from ..catalog_edits import UNKNOWN_PRICES_FILE
from ..durations import setting
from ..errors import LedgerError
from ..option_names import db_option, db_setting
from ..plurals import listed
from .ledger_files import _CANTOPEN, _CORRUPT, _IOERR, _NOTADB, _READONLY, sqlite_code
from .ledger_files import log_file as log_file
from .ledger_files import opened_file as opened_file
from .money import MAX_PUSD, from_pusd
from .room import _NEARLY_FULL_BYTES as _NEARLY_FULL_BYTES
from .room import file_size_limit as file_size_limit
from .room import no_room as no_room
from .room import no_room_cause, size_limited
from .room import out_of_space as out_of_space
from .room import past_size_limit as past_size_limit
from .room import too_large_fix as too_large_fix


def _writable(path: Path) -> bool:
    """Whether the ledger's file (if there) and its folder, where SQLite makes the -wal and -shm files,
    can be written."""
    return (not path.exists() or os.access(path, os.W_OK)) and os.access(opened_file(path).parent, os.W_OK)


def read_only_mount(path: Path) -> bool:
    """Whether the file system ``path`` is on is mounted read-only (a container's read-only root, a snapshot, a CD):
    no user may write there, root neither, and no chmod changes that; "this user cannot write" sent them to fix the
    folder's permissions. statvfs's ST_RDONLY, where there is one (not on Windows: False there)."""
    statvfs = getattr(os, "statvfs", None)
    if statvfs is None:
        return False
    try:
        return bool(statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:  # (none there: the caller asks of a folder that is)
        return False


def file_for_a_folder(path: Path) -> Path | None:
    """The file where ``path`` names a folder it would be made in (``ledger.db/ledger.db``, ``notes.txt/l.db``), or
    None: the nearest of its folders that is there is a folder. Opening it failed with the OS's words alone ("File
    exists", "Not a directory", from making its folders), which name no fix; ``magsag doctor`` says so too."""
    for folder in path.parents:
        if folder.exists():
            return None if folder.is_dir() else folder
    return None


def file_in_the_way(path: Path) -> str | None:
    """``cannot be made: notes.txt is a file, not a folder; give ...``: why the ledger at ``path`` can never be made
    and the fix, where one of its folders is a file (:func:`file_for_a_folder`), as a phrase that follows "it"; None
    otherwise. Said by opening it (:func:`cause`) and by the commands that read it, which found "no ledger yet"."""
    if (in_the_way := file_for_a_folder(path)) is None:
        return None
    return (
        f"cannot be made: {in_the_way} is a file, not a folder; give {db_setting()} a file's path in a folder "
        f"(such as {in_the_way.parent / 'ledger.db'}), or move {in_the_way} aside"
    )


def cause(exc: BaseException, path: Path) -> str | None:
    """The cause and the fix of ``exc`` met on the ledger at ``path``, where they can be told: a phrase
    that follows the ledger's name ("the ledger at PATH is damaged ...")."""
    code = sqlite_code(exc)
    os_errno = exc.errno if isinstance(exc, OSError) else None
    if path.is_dir():
        return (
            f"is a directory, and the ledger is a file: give a file's path with {db_setting()}, "
            f"such as {path / 'ledger.db'}"
        )
    if (in_the_way := file_in_the_way(path)) is not None:
        return in_the_way
    if code == _NOTADB:
        return (
            "is not a SQLite database, so it is not a magsag-mcp ledger: check the file that "
            f"{db_setting()} names (the ledger is created where they point, when none is there)"
        )
    if code == _CORRUPT:
        return (
            f"is damaged (SQLite: {exc}): restore it from a backup, or save what it "
            f"still holds with `sqlite3 {path} .recover | sqlite3 recovered.db` and use recovered.db; "
            f"meanwhile {db_setting()} can name a new ledger"
        )
    if code in (_READONLY, _CANTOPEN) or os_errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        if code == _READONLY or not _writable(path):
            return _read_only(exc, path)
    if (room := no_room_cause(exc, path)) is not None:
        return room
    if (code == _IOERR or os_errno == errno.EFBIG) and (limited := size_limited(path)) is not None:
        return limited
    return None


def _read_only(exc: BaseException | None, path: Path) -> str:
    said = f" ({exc})" if exc is not None else ""
    if not path.exists():
        # none there yet to copy: a first call's ledger (MAGSAG_DB naming a folder it cannot write in) was told to
        # "copy the ledger to a folder you can write", of a ledger there is not
        folder = opened_file(path).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if read_only_mount(folder):
            return (
                f"cannot be made: {folder} is on a read-only file system{said}, where the ledger and its -wal and "
                f"-shm files go; give {db_setting()} a file's path on a file system mounted read-write (in a "
                "container, a volume's)"
            )
        return (
            f"cannot be made: this user cannot write in {folder}{said}, where the ledger and its -wal and -shm files "
            f"go; give {db_setting()} a file's path in a folder this user can write to, or make the folder writable"
        )
    if read_only_mount(opened_file(path).parent):
        return (
            f"is on a read-only file system{said}: magsag-mcp writes the file and the -wal and -shm files beside it "
            "to record a call, a reservation or an event, which no user may do there; remount it read-write, or copy "
            f"the ledger (with its -wal file, if there is one) to a file system mounted read-write and pass the copy "
            f"with {db_option()}"
        )
    wal = log_file(path)
    if not wal.exists():
        return (
            f"is read-only, or its folder is{said}: magsag-mcp writes the file and the -wal and -shm files "
            "beside it to record a call, a reservation or an event (reading needs neither); make them writable, or "
            f"copy the ledger to a folder you can write and pass the copy with {db_option()}"
        )
    # A writer at work, or one that stopped without closing the ledger (killed, a crash), left a -wal file: its
    # latest records are there, not yet in the file, and reading them needs a -shm file, which SQLite makes
    # beside it. A copy of the file alone lost them (all of a ledger whose writer never checkpointed).
    return (
        f"is read-only, or its folder is{said}: magsag-mcp writes the file and the -wal and -shm files "
        "beside it to record a call, a reservation or an event, and a -shm file is needed to read the -wal file "
        "that is there; make them writable, or copy the ledger with its -wal file "
        f"({wal}, which holds its latest records) to a folder you can write and pass the copy with {db_option()}"
    )


def read_only_cause(exc: BaseException, path: Path) -> bool:
    """Whether opening the ledger at ``path`` for writing failed only because it cannot be written:
    the file is there, so it can still be opened for reading."""
    code = sqlite_code(exc)
    os_errno = exc.errno if isinstance(exc, OSError) else None
    if not path.is_file():
        return False
    if code == _READONLY:
        return True
    return (code == _CANTOPEN or os_errno in (errno.EACCES, errno.EPERM, errno.EROFS)) and not _writable(path)


def read_only_error(path: Path, exc: BaseException | None) -> LedgerError:
    """A write to the ledger at ``path``, opened for reading only (``exc``: why it could not be written: a file
    or folder this user cannot write, or a full disk)."""
    room = no_room_cause(exc, path) if exc is not None and path.is_file() else None
    why = room if room is not None else _read_only(exc, path)
    return LedgerError(f"the ledger at {path} {why}", db=str(path), read_only=True)


def open_error(exc: BaseException, path: Path) -> LedgerError:
    """The ledger at ``path`` could not be opened."""
    why = cause(exc, path)
    if why is not None:
        return LedgerError(f"cannot open the ledger at {path}: it {why}", db=str(path))
    return LedgerError(
        f"cannot open the ledger at {path}: {exc}; check the path and its permissions, "
        f"or choose another file with {db_setting()}",
        db=str(path),
    )


def in_memory_error() -> LedgerError:
    """``:memory:`` given as the ledger (as to sqlite3.connect, for a throwaway database)."""
    return LedgerError(
        "':memory:' names a SQLite database in memory, and the ledger is a file: the budgets' reservations and "
        "the records are shared by every connection and process that spends, and kept after they end; give "
        f"a file's path with {db_setting()}, for a throwaway ledger one in a temporary directory "
        "(Magsag(db=Path(tempfile.mkdtemp()) / 'ledger.db'))",
        db=":memory:",
    )


#: the running totals an UPSERT adds to (see :func:`~.money.checked_add`), as a user knows them
_TOTALS = {
    "runs": "a run's total",
    "agent_spend": "an agent's spend in one quarter-hour",
    "day_spend": "the spend of all calls in one quarter-hour",
    "usage_rollup": "one day's total for a model, agent and skill",
}
_TOTAL_REFUSED = re.compile(r"NOT NULL constraint failed: (\w+)\.(?:cost_pusd|cost_bound_pusd)")


def overflow_error(exc: BaseException, path: Path) -> LedgerError | None:
    """A cost too large for the ledger's integer pico-USD columns, or None if ``exc`` is something else:
    one attempt's cost, or a running total it adds to, past 2**63-1 pico-USD. Nothing was written (never
    a wrong number); the record cannot be written as it is, so retrying it cannot help."""
    text = str(exc)
    total = _TOTAL_REFUSED.search(text) if isinstance(exc, sqlite3.IntegrityError) else None
    if total is not None and total[1] in _TOTALS:
        what = f"cannot record this call: {_TOTALS[total[1]]} would pass"
    elif isinstance(exc, OverflowError) and "SQLite INTEGER" in text:
        what = "cannot record this call: a cost is above"
    elif isinstance(exc, sqlite3.OperationalError) and text == "integer overflow":
        what = "cannot add its costs up: a sum is above"  # (a prune rebuilding a day's usage totals)
    else:
        return None
    return LedgerError(
        f"the ledger at {path} {what} ${from_pusd(MAX_PUSD)}, the largest amount it stores (2**63-1 "
        "pico-USD, SQLite's largest integer), so nothing of it was written. A cost this large is most "
        f"likely a wrong price or token count: check the model's price in {UNKNOWN_PRICES_FILE}",
        db=str(path),
        overflow=True,
    )


#: what :func:`use_error` says of a ledger another process kept locked past the busy timeout (see :func:`kept_locked`)
STAYED_LOCKED = "stayed locked for"


def kept_locked(exc: LedgerError) -> bool:
    """Whether ``exc`` is :func:`use_error`'s for a ledger another process kept locked: a read that must write first
    (:meth:`~.store.Ledger.record_expired_reservations`) says why it needed the lock, which a read alone does not."""
    return STAYED_LOCKED in exc.message


def use_error(exc: BaseException, path: Path, busy_timeout_ms: float) -> LedgerError:
    """Reading or writing the open ledger at ``path`` failed."""
    if isinstance(exc, LedgerError):
        return exc
    overflow = overflow_error(exc, path)
    if overflow is not None:
        return overflow
    text = str(exc)
    if "locked" in text or "busy" in text:
        return LedgerError(
            f"the ledger at {path} {STAYED_LOCKED} {setting(busy_timeout_ms / 1000)} by another process; "
            "retry, or stop the process holding it",
            db=str(path),
        )
    if isinstance(exc, sqlite3.Error | OSError) and (why := cause(exc, path)) is not None:
        return LedgerError(f"the ledger at {path} {why}", db=str(path))
    return LedgerError(f"ledger error at {path}: {text}", db=str(path))


def file_identity(path: Path | str) -> tuple[int, int] | None:
    """Which file is at ``path`` now (device and inode), or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def moved_error(path: Path) -> LedgerError:
    """The file this process opened as its ledger is no longer the one at ``path``."""
    return LedgerError(
        f"the ledger at {path} was deleted or replaced while this process had it open (an rm, a move, a "
        "restore): what it recorded now would go to the old file, which no other process reads and which is "
        "lost when this process ends, so it records nothing more; restart this process to use the ledger "
        "that is at that path now",
        db=str(path),
    )


def log_gone_error(path: Path) -> LedgerError:
    """The -wal file of the ledger this process has open was deleted (or replaced) at its path."""
    return LedgerError(
        f"the ledger at {path} lost its -wal file ({path}-wal), deleted or replaced while this process had the "
        "ledger open (a cleanup of temporary files, a sync tool): SQLite writes to the one it opened, which no "
        "other process reads (a process opening the ledger now makes another, and the two damage the file), so "
        "this process records nothing more; restart this process (then check the ledger: sqlite3 "
        f"{path} 'PRAGMA integrity_check'), and never delete a ledger's -wal or -shm file while a process has "
        "the ledger open",
        db=str(path),
    )


def newer_error(path: Path, unknown: list[str], *, reading: bool = False, pruning: bool = False) -> LedgerError:
    """The ledger holds migrations this version does not know (see :func:`~.migrations.migrate`). ``reading``: what
    opened it only reads (a report, doctor; a ledger it cannot write), which records nothing that could escape a limit
    and has nothing to report on in a ledger of its own: its fix is the upgrade alone. ``pruning``: what opened it to
    write opened it not to record calls (``create`` False and not reading: a prune), which records nothing either and
    would prune nothing in a ledger of its own; what it deletes is what the newer version's tables may still count."""
    from .. import __version__

    if reading:
        why = "so its reports could be wrong (a newer migration may change what the ledger's rows mean)"
        fix = (
            "upgrade magsag-mcp in this environment (pip install -U magsag-mcp) to read it, or read it with the "
            "newer magsag that migrated it"
        )
    elif pruning:
        why = (
            "so what this version deletes from it could leave the newer one's own records of it wrong (a newer "
            "migration may keep what this version does not know to delete with it)"
        )
        fix = (
            "upgrade magsag-mcp in this environment (pip install -U magsag-mcp) to prune it, or prune it with the "
            "newer magsag that migrated it"
        )
    else:
        why = "so what this version records could escape the newer one's budget limits"
        fix = (
            "upgrade magsag-mcp in this environment (pip install -U magsag-mcp), or give this process a ledger of "
            f"its own with {db_setting()}"
        )
    return LedgerError(
        f"the ledger at {path} was migrated by a newer magsag-mcp than this one ({__version__}): "
        f"it has {listed('schema migration', unknown)} that this version does not know, {why}; {fix}",
        db=str(path),
        unknown_migrations=unknown,
    )


class NoLedger(LedgerError):
    """There is no ledger at a path a reading command was given (see :func:`no_ledger_error`): a path to check, which
    ``magsag doctor`` refuses as every reading command does, where a ledger there that cannot be opened is a problem
    of its report."""


def no_ledger_error(path: Path, *, blank: bool) -> LedgerError:
    """The ledger at ``path`` was opened not to be created (:class:`~.store.Ledger`'s ``create=False``, what
    reading commands open), and there is none: no file (``blank`` False) or one that holds nothing."""
    what = (
        "it is an empty file (or an empty SQLite database), left as it was"
        if blank
        else "there is no file there, and none was made"
    )
    return NoLedger(
        f"no ledger at {path}: {what}, so nothing has been recorded there; check the path (a ledger is made by "
        "the first call recorded to it: the --db or MAGSAG_DB that magsag-mcp or `magsag invoke` is given)",
        db=str(path),
    )
