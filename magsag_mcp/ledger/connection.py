"""Where the ledger is (``MAGSAG_DB``), how durable its commits are (``MAGSAG_LEDGER_SYNC``), and how a
connection to it is made and configured (a private new file, WAL, the busy timeout, ``synchronous``)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import aiosqlite
import anyio

from ..errors import LedgerError
from ..option_names import db_option, db_setting
from ..plurals import listed
from ..settings import SYNC_MODES, ledger_path_setting, ledger_sync_from_env
from ..working_folder import absolute
from .group_commit import SYNC_MODE_BY_CONNECTION
from .ledger_files import has_log_file
from .migrations import (
    MIGRATIONS,
    NewerSchema,
    NotALedger,
    OlderSchema,
    check_is_ledger,
    pending_migrations,
    unknown_migrations,
)
from .problems import (
    file_for_a_folder,
    file_size_limit,
    in_memory_error,
    newer_error,
    open_error,
    out_of_space,
    read_only_mount,
)

T = TypeVar("T")

__all__ = [
    "BUSY_TIMEOUT_MS",
    "JOURNAL_SIZE_LIMIT",
    "SYNC_MODES",
    "default_db_path",
    "ledger_sync_from_env",
    "relative_ledger_note",
    "where_ledger_is",
]

BUSY_TIMEOUT_MS = 30_000
#: the most a -wal file keeps once SQLite begins it again (after a checkpoint took all of it in): SQLite
#: checkpoints at about 4 MB, but a burst (a large batch, or writes while a long read held its snapshot) grows
#: the file past that, and SQLite reused it at that size, never shrinking it until the last connection closed
JOURNAL_SIZE_LIMIT = 8 * 1024 * 1024


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    given_path = ledger_path_setting(os.environ if env is None else env)
    if given_path:
        return Path(given_path).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("magsag-mcp", appauthor=False)) / "ledger.db"


def where_ledger_is(path: Path) -> Path:
    """``path`` made absolute as SQLite resolves it (against the folder this process runs in, ``..`` left to the
    OS): the file a relative ``MAGSAG_DB`` or ``--db`` names from here, and no other process's unless it runs
    here too."""
    return absolute(path, f"the ledger {path}")


def unmakeable_ledger_problem(path: Path, env: Mapping[str, str]) -> str | None:
    """What ``magsag doctor`` says of a ledger that is not there yet and that the first call cannot make: a folder on
    its path is a file, or the nearest folder that exists cannot be written. ``doctor`` said "the first call makes it"
    and passed, while every call then failed before it was sent (``ledger_error``: "Not a directory")."""
    if str(path) == ":memory:":  # sqlite3's name for a database in memory, which every call refuses as the ledger
        from .problems import in_memory_error

        return in_memory_error().message
    given = env.get("MAGSAG_DB")
    source = "MAGSAG_DB" if given and Path(given).expanduser() == path else f"{db_option()} (or MAGSAG_DB)"
    fix = f"give {source} a file's path in a folder this user can write to"
    where = where_ledger_is(path)
    if (in_the_way := file_for_a_folder(where)) is not None:
        return (
            f"the ledger at {where} cannot be made: {in_the_way} is a file, not a folder, so every call fails before "
            f"it is sent (ledger_error); {fix}"
        )
    folder = where.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if read_only_mount(folder):
        return (
            f"the ledger at {where} cannot be made: {folder} is on a read-only file system, where no user may write, "
            f"so every call fails before it is sent (ledger_error); give {source} a file's path on a file system "
            "mounted read-write (in a container, a volume's)"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"the ledger at {where} cannot be made: this user cannot write in {folder}, so every call fails before it "
            f"is sent (ledger_error); {fix}, or make the folder writable"
        )
    return None


def relative_ledger_note(path: Path, env: Mapping[str, str]) -> str | None:
    """What ``magsag doctor`` says of a ledger given by a relative path: it names the file of that name in
    whatever folder a process runs in, and magsag-mcp runs in the folder its MCP client starts it in. ``doctor``
    showed the path as written (``ledger.db``), while the server recorded to another ledger, elsewhere."""
    if path.is_absolute():
        return None
    given = env.get("MAGSAG_DB")
    source = "MAGSAG_DB" if given and Path(given).expanduser() == path else db_option()
    shown = f"{source}{str(path)!r}" if source.endswith("=") else f"{source}={path}"  # (db='ledger.db' from Python)
    return (
        f"the ledger's path {shown} is relative: from this folder it is {where_ledger_is(path)}, and a "
        f"process started in another folder (magsag-mcp, which an MCP client starts in a folder of its choosing, "
        f"a cron job) reads and records another ledger; give {source} as an absolute path"
    )


def _configure(
    conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, first: bool = False, blank_ok: bool = True
) -> None:
    """``first``: the process's first connection, which checks that the file is a ledger (or blank, if
    ``blank_ok``) before the switch to WAL changes it."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if first:
        check_is_ledger(conn, blank_ok=blank_ok)
    mode = _wal(conn, busy_timeout_ms)
    if mode.lower() != "wal":
        raise LedgerError(f"the ledger needs WAL journaling but SQLite chose {mode!r}; use a local file system")
    # FULL: a commit is on disk when it returns (group commit keeps this cheap).
    conn.execute("PRAGMA synchronous = FULL")
    SYNC_MODE_BY_CONNECTION[id(conn)] = "FULL"
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    sort_in_memory_if_size_limited(conn)


def sort_in_memory_if_size_limited(conn: sqlite3.Connection) -> None:
    """Under a file size limit (``ulimit -f``, RLIMIT_FSIZE: a CI runner's, a container's), SQLite's temporary files
    in memory. A summary's GROUP BY over more than SQLite's cache (2 MB: some 20,000 usage_rollup rows, a large
    team's quarter) spills into a temporary file, which the limit cut short: `flow summarize` of a 100 MB ledger
    under a 100 KB limit failed ("disk I/O error", told as the ledger's being unable to grow), though a report
    writes nothing. In memory that sort costs what its file would have held: +16 MB of peak memory for the all-time
    summary of 200,000 attempts (176,000 rollup rows), +23 MB for a status-filtered one (200,000 attempts grouped),
    in proportion to the rows sorted. Without a limit the file stays the cheaper place, and nothing changes: a
    long-lived server keeps no sort's memory it does not need. (A vacuum's copy of the whole ledger is not made
    in memory: see :func:`~.prune._vacuum`.)"""
    if file_size_limit() is not None:
        conn.execute("PRAGMA temp_store = MEMORY")


def _wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> str:
    """Switch to WAL (a new ledger is created in rollback mode) and return the journal mode SQLite chose.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once, without its
    busy handler, when another connection holds the write lock meanwhile (waiting could deadlock): two
    processes opening a new ledger together (two MCP servers started at once) failed so, one run in
    tens. The switch is tried again until the busy timeout, as a wait for the lock would have been."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.005)  # a thread of its own (aiosqlite's), or a timeout of 0 (the inline connection)


def _create_private(path: Path) -> None:
    """A new ledger's folder and file are its owner's alone (0700, 0600): the ledger holds providers'
    error text, agents' logged events and what was spent. SQLite gives its -wal and -shm files the
    database file's mode. An existing folder or file keeps the mode its owner gave it."""
    if str(path) == ":memory:":  # sqlite3's name for a database in memory; made here, a file of that name
        raise in_memory_error()
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def read_only_uri(path: Path) -> tuple[str, bool]:
    """The SQLite URI that opens the ledger at ``path`` for reading only, writing nothing beside it, and
    whether it reads the file as ``immutable``.

    Without a -wal file no connection has the ledger open (the last one to close removes it), so all of
    it is in the file: ``immutable`` then reads it without the -shm file, which a read-only folder could
    not hold (the ledger reopens the connection if a writer begins, see :meth:`Ledger.read`). With one,
    a writer may be at work: SQLite reads the log too (it needs the -shm file there)."""
    uri = absolute(path, f"the ledger {path}").as_uri() + "?mode=ro"  # "?", "#" and "%" in a name: percent-encoded
    return (uri, False) if has_log_file(path) else (uri + "&immutable=1", True)


def file_version(path: Path) -> tuple[int, ...] | None:
    """What changes when the file is written (inode, size, times), or None if it is gone: SQLite trusts a
    file read as ``immutable`` not to change, and would go on reading the pages it kept."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _configure_read_only(conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> list[str]:
    """A read-only connection: the busy timeout, and nothing that writes. Returns the migrations the
    ledger lacks (its reads need them: it cannot be migrated); raises as the first connection's check does
    for a file that is no ledger, or one a newer magsag migrated."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA query_only = ON")
    sort_in_memory_if_size_limited(conn)
    check_is_ledger(conn)
    pending = pending_migrations(conn)
    if len(pending) < len(MIGRATIONS):  # a ledger: a newer version's migrations refuse it, as at a writable open
        unknown = unknown_migrations(conn)
        if unknown:
            raise NewerSchema(unknown)
    return pending


def look_through_the_log(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """Raise as the first connection's check does (:class:`NotALedger`, :class:`NewerSchema`) for the file at ``path``
    read with the -wal file beside it, through a read-only connection, which writes nothing there when it closes.
    The log may be a writer's that died (a newer magsag's server killed, another program's): the writable
    connection, refused and closed as the last one, checkpointed it into the file and deleted it."""
    conn = sqlite3.connect(read_only_uri(path)[0], uri=True, isolation_level=None, check_same_thread=False)
    try:
        _configure_read_only(conn, busy_timeout_ms)
    finally:
        conn.close()


async def _connect(path: Path | str, *, uri: bool = False) -> aiosqlite.Connection:
    conn = aiosqlite.connect(path, isolation_level=None, check_same_thread=False, uri=uri)
    # A daemon thread, as the threads of a Magsag's loop are: a script whose service was never closed (an
    # error raised before `await service.aclose()`) hung at exit, waiting for a thread only a close stops.
    # Every record is committed before its call returns, so nothing is lost with the thread.
    thread = getattr(conn, "_thread", conn)  # aiosqlite before 0.21: the connection is the thread
    if isinstance(thread, threading.Thread):
        thread.daemon = True
    try:
        return await conn
    except BaseException:
        # A failed connect tells aiosqlite's thread to stop and leaves the answer to no one: joined
        # here, the thread cannot report to an event loop that has closed by then (a traceback
        # printed after the clean error, in about one run of six).
        thread = getattr(conn, "_thread", None)
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, 5.0)
        raise


async def open_read_only(
    path: Path, busy_timeout_ms: int, cause: BaseException | None, *, older_ok: bool = False
) -> tuple[aiosqlite.Connection, bool]:
    """A connection that reads the ledger at ``path`` and cannot write it (no migration, no WAL switch,
    nothing left beside it), and whether it reads the file as immutable (:func:`read_only_uri`). The
    ledger must already have every migration its reads need: one an older version made is refused, or with
    ``older_ok`` raises :class:`~.migrations.OlderSchema` (for its caller to read a migrated copy of it).
    ``cause``: why it could not be opened for writing (said if this fails too)."""
    conn: aiosqlite.Connection | None = None
    uri, immutable = read_only_uri(path)
    try:
        conn = await _connect(uri, uri=True)
        pending = await conn._execute(_configure_read_only, conn._conn, busy_timeout_ms)
    except BaseException as exc:
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()
        if isinstance(exc, NewerSchema):  # (opened to read only: nothing it could record escapes a limit)
            raise newer_error(path, exc.unknown, reading=True) from None
        if isinstance(exc, NotALedger):
            raise LedgerError(
                f"cannot open the ledger at {path}: it is a SQLite database with other tables ({exc}), "
                f"not a magsag-mcp ledger; check the file that {db_setting()} names",
                db=str(path),
            ) from None
        if isinstance(exc, sqlite3.Error | OSError):
            raise open_error(cause or exc, path) from None
        raise
    if pending:
        await conn.close()
        blank = len(pending) == len(MIGRATIONS)
        if older_ok and not blank:
            raise OlderSchema(pending)
        what = "holds no ledger yet" if blank else "was made by an older magsag-mcp"
        lacks = f"(it lacks {listed('schema migration', pending)}, which this version's reads need)"
        if cause is not None and out_of_space(cause, path):  # read for reading only for want of room, not of rights
            raise LedgerError(
                f"cannot open the ledger at {path} for reading: it {what} {lacks}, which cannot be made while it "
                f"is on a full disk ({cause}); free some space there, then retry (the migrations are made as it opens)",
                db=str(path),
            )
        raise LedgerError(
            f"cannot open the ledger at {path} for reading: it cannot be written here and {what} {lacks}; open it "
            f"once where it can be written, or copy it to a folder you can write and pass the copy with {db_option()}",
            db=str(path),
        )
    return conn, immutable


#: how long :func:`truncate_log` waits for readers to leave the write-ahead log before leaving it as it is
TRUNCATE_WAIT_MS = 2000


def truncate_log(conn: sqlite3.Connection) -> None:
    """Checkpoint the write-ahead log into the ledger and truncate it to nothing, after a write of much of the
    ledger (a prune's VACUUM, the migrations of an upgrade). SQLite truncates the -wal file only when the last
    connection closes: beside a running magsag-mcp (or in it) it stayed that large. Waiting on readers holds
    off writers, so the wait is short; a log still in use is left for SQLite to reuse (and to cut back to
    :data:`JOURNAL_SIZE_LIMIT` when it begins it again)."""
    busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {min(int(busy), TRUNCATE_WAIT_MS)}")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.OperationalError:  # busy past the wait: the log stays, reused as before
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy)}")


def in_snapshot(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` in one read transaction: every read it makes sees the ledger as of the same moment."""
    conn.execute("BEGIN")  # deferred: the snapshot is taken by the first read and held to the end
    try:
        return fn(conn)
    finally:
        if conn.in_transaction:  # read only: nothing to keep or undo
            conn.execute("COMMIT")


async def stoppable(reader: aiosqlite.Connection, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on ``reader``'s thread, stopped where it stands if its caller is cancelled.

    Cancelled (Ctrl-C, SIGTERM, a deadline), the caller stopped waiting, but the statement ran on to its end in the
    reader's thread, and the ledger's close waited behind it: ``data search`` over a large ledger took up to its
    10 s bound to stop, a ``data prune``'s VACUUM (a copy of the whole ledger) minutes. SQLite's interrupt stops the
    statement at its next step (a read changes nothing; an interrupted VACUUM leaves the file as it was), but only
    while this ``fn`` runs: the reader serves other callers' reads after it, which must not be stopped. One that
    has not begun when its caller leaves is not run at all."""
    conn = reader._conn
    gate = threading.Lock()
    running = abandoned = False

    def run() -> T:
        nonlocal running
        with gate:
            if abandoned:
                raise sqlite3.OperationalError("interrupted")  # its caller has gone: nobody wants what it reads
            running = True
        try:
            return fn(*args)
        finally:
            with gate:
                running = False

    def interrupt_while_running() -> None:
        # SQLite's interrupt reaches only a statement that is running: one cancelled as fn began, before its statement
        # started, was not stopped (the statement then ran to its end), so the interrupt is said again until fn ends
        while True:
            with gate:
                if not running:
                    return
                conn.interrupt()
            time.sleep(_INTERRUPT_AGAIN_SECONDS)

    try:
        return await reader._execute(run)
    except asyncio.CancelledError:
        with gate:
            abandoned = True
            if running:
                conn.interrupt()
                threading.Thread(target=interrupt_while_running, name="magsag-ledger-interrupt", daemon=True).start()
        raise


#: how often a cancelled read's interrupt is said again while its function still runs (see :func:`stoppable`)
_INTERRUPT_AGAIN_SECONDS = 0.005
