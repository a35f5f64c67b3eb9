"""The ledger's store: one SQLite file, WAL, a group-commit writer and a separate reader.

Writes are queued and applied by one writer task in batches (:mod:`.queued_writes`): each batch is one ``BEGIN
IMMEDIATE`` transaction (atomic across processes) with a SAVEPOINT per operation, so that concurrent calls share
one fsync instead of paying one each, and one failing operation rolls back only itself. The calls'
records in a batch are written together, one statement per table (:class:`~.writes.RecordWrite`). A write's
``await`` returns after its batch has committed: a call's attempts are durable before the call
returns (the -wal file synced after the COMMIT: :mod:`.log_sync`). The whole batch runs as one function on
aiosqlite's connection thread (one thread hop per batch, not one per statement). When the write lock is free and
nothing is queued, a reservation or a call's record is written inline on the event loop instead
(:meth:`Ledger.try_now`, here).

What is refused at open is :mod:`.opening`'s; at every write transaction, a file deleted or replaced since it was
opened, and a schema a newer magsag migrated since (:meth:`Ledger._check_write`).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio

from ..errors import LedgerError
from ..metrics import METRICS
from .connection import (
    BUSY_TIMEOUT_MS,
    SYNC_MODES,
    in_snapshot,
    stoppable,
)
from .copies import remove_copy
from .group_commit import SYNC_MODE_BY_CONNECTION, set_sync
from .log_sync import sync_log
from .migrations import unknown_migrations
from .opening import LedgerOpening, schema_version
from .problems import (
    file_identity,
    log_gone_error,
    moved_error,
    newer_error,
    no_ledger_error,
    use_error,
)
from .queued_writes import QueuedWrites
from .read_only import ReadOnlyMode
from .recording import LedgerRecording
from .reports import LedgerReports
from .sealed_spend import rolled_back

T = TypeVar("T")


class Ledger(LedgerOpening, QueuedWrites, LedgerRecording, LedgerReports, ReadOnlyMode):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        sync: str = "full",
        read_only: bool = False,
        create: bool = True,
        blank_is_absent: bool = False,
        reading: bool = False,
    ) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {sorted(SYNC_MODES)}, not {sync!r}")
        self.path = Path(path)
        #: opened for reading only: asked for, or the file (or its folder) cannot be written. Reads work
        #: (expired reservations are then left as they are, not recorded); a write raises a LedgerError.
        self.read_only = read_only
        #: asked for (``read_only=True``), not found out at open
        self.asked_read_only = read_only
        #: ``create`` False (what reading commands open): a file that holds no ledger (empty, a blank SQLite
        #: database) is refused and left as it is, and with no file at the path none is made: the ledger is
        #: then ``absent``, and a read or write says there is no ledger there.
        self.create = create
        #: with ``create`` False, a file that holds nothing is no ledger *yet*, as no file is, rather than refused:
        #: for what needs none (a plan) or says where it is (doctor), at a path the operator set (``MAGSAG_DB``,
        #: which an install may make an empty file of, for its owner and mode, before the first call)
        self.blank_is_absent = blank_is_absent
        #: opened to read (a report, a query, doctor): a ledger that cannot be written now for want of space (a full
        #: disk, a quota) is opened for reading only, as a file this user cannot write is, and a write says why;
        #: reading needs no space, and every reading command failed there: the report that shows what to prune too
        self.reading = reading
        #: reading a migrated copy of the file at this path, which an older process has open (see copies.py)
        self.copied_from: Path | None = None
        self.copy_behind: list[str] = []
        self.copy_folder: str | None = None
        #: reading a migrated copy of a ledger that cannot be migrated where it is: what a reader is told (see
        #: read_only_copy.py)
        self.copy_reason: str | None = None
        self.absent = False
        #: ``absent``, and the file there holds nothing (an empty file, a blank SQLite database)
        self.blank = False
        #: why the file could not be opened for writing, said with a refused write
        self._read_only_cause: BaseException | None = None
        #: read as immutable (no writer when opened): the -wal file whose appearance means one has begun
        self._writer_log: Path | None = None
        #: read as immutable: the file's version then (a writer come and gone since changed it)
        self._read_version: tuple[int, ...] | None = None
        self.busy_timeout_ms = busy_timeout_ms
        #: the synchronous mode of durable commits (see ledger_sync_from_env)
        self.durable_mode = SYNC_MODES[sync]
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        #: the inline connection's own cursor, for the statements :meth:`try_now` makes itself (see there)
        self._inline_cursor: sqlite3.Cursor | None = None
        #: queued operations: (operation, its caller's future, durable, what to do with its result and with its
        #: failure if its caller is gone, and the list the failed sync of its commit, if any, is said to: see submit)
        self._pending: list[
            tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], bool, Any, Any, list[str] | None]
        ] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._batch_in_flight = False
        self._closing = False
        #: the file opened (device, inode), its -wal file and its schema's version: each write transaction checks them
        self._identity: tuple[int, int] | None = None
        self._log_identity: tuple[int, int] | None = None
        #: the -wal file, opened to sync it after a durable commit (see log_sync.py); None: SQLite's own FULL does it
        self._log_fd: int | None = None
        #: the file opened, as text: os.stat of a Path converts it through two Python calls, on every write
        self._opened = str(self.path)
        self._schema_version: int | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    async def close(self) -> None:
        self._closing = True
        # Shielded: in a cancelled scope, awaiting the writer cancelled it (its queued writes lost) and the
        # connections, and their threads, stayed open.
        with anyio.CancelScope(shield=True):
            task, self._task = self._task, None
            # a writer cancelled with its loop's tasks, or of a loop that has closed since, has nothing left to write
            if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
                assert self._wake is not None
                self._wake.set()
                await task
            await self._close_connections()
            remove_copy(self)

    async def __aenter__(self) -> Ledger:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- what every write transaction checks, and inline writes ----------------------------------

    def _check_write(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor | None = None) -> None:
        """First in each write transaction. Deleted or replaced since it was opened (an ``rm`` to start
        afresh, a restore), the file SQLite writes is not the ledger at the path: what is recorded would
        be lost, and no other process's budget would count it (one stat). Migrated since by a newer
        version (running beside this one), it needs writes this version does not make, as at open (its
        schema version, from the file's header, tells; the migrations are read only when it changed). Its -wal
        file deleted since, SQLite writes to one that no other process reads (:func:`~.problems.log_gone_error`)."""
        if self._identity is not None and file_identity(self._opened) != self._identity:
            raise moved_error(self.path)
        if self._log_identity is not None and file_identity(self._opened + "-wal") != self._log_identity:
            raise log_gone_error(self.path)
        version = schema_version(cursor or conn)
        if version != self._schema_version:
            unknown = unknown_migrations(conn)
            if unknown:
                raise newer_error(self.path, unknown, reading=self.reading, pruning=not self.create)
            self._schema_version = version

    def try_now(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        durable: bool = False,
        taken: list[bool] | None = None,
        unsynced: list[str] | None = None,
    ) -> tuple[bool, T | None]:
        """Run ``fn`` right here on the event loop, if the write lock is free.

        A budget reservation is a few indexed reads and one insert (tens of microseconds); handing it to
        the writer thread and back costs more than doing it (here ~70 us of CPU per hop, most of it in
        the kernel waking threads). ``durable=True`` is on disk when this returns (by default, see
        :attr:`durable_mode`: the -wal file synced after the COMMIT, see log_sync.py): the fsync then
        happens on the event loop, so callers use it only when nothing else is waiting (see
        :meth:`record_call`). The inline connection never waits for a lock (busy timeout 0): when
        another writer holds it, this returns ``(False, None)`` and the caller queues the operation with
        :meth:`submit` instead, as it does when SQLite fails the write (a full disk: the queue tries it
        again, and a lasting failure is said there, with its cause). Other exceptions from ``fn`` propagate,
        as does the :class:`LedgerError` of a ledger that must not be written (see :meth:`_check_write`). An
        interpreter exit raised as the COMMIT or its sync returns (a SIGINT arriving during the fsync is raised then)
        leaves the write committed: ``taken`` (if given) is then appended to. ``unsynced``: as :meth:`submit`'s.
        """
        conn, cur = self._inline, self._inline_cursor
        if conn is None or cur is None:
            return False, None
        # The transaction's own statements go through one cursor kept for them: conn.execute makes (and
        # drops) a cursor per statement, a few thousand instructions each, and these are four a write.
        started = time.perf_counter()
        try:
            # (with the -wal file's descriptor, the ledger syncs a durable commit itself: see log_sync.py)
            _begin_immediate(conn, "NORMAL" if self._log_fd is not None or not durable else self.durable_mode, cur)
        except sqlite3.OperationalError:
            return False, None  # locked: take the queue
        committing = False
        begun = conn.total_changes
        try:
            self._check_write(conn, cur)
            value = fn(conn)
            committing = True
            cur.execute("COMMIT")
            if durable and self._log_fd is not None:
                warning = sync_log(self._log_fd, self._opened)
                if warning is not None and unsynced is not None:
                    unsynced.append(warning)
        except BaseException as exc:
            # SQLite may have rolled back itself (a full disk): a ROLLBACK then raised "no transaction is
            # active" in place of the cause, and a reservation made inline failed its call with that
            rolled_back(conn, begun)  # (a month's sums read after its undone writes: see sealed_spend)
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            elif committing and taken is not None and not isinstance(exc, sqlite3.Error):
                taken.append(True)  # committed: the exit came as the COMMIT returned
            if isinstance(exc, sqlite3.Error):
                return False, None  # nothing happened: the queue tries again, and says what a lasting failure is
            raise
        if METRICS.counting:
            METRICS.commit("inline", time.perf_counter() - started)
        return True, value

    # --- reads -----------------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = True) -> T:
        """``fn(conn)`` on the reader connection. With ``snapshot`` (the default) its statements run in
        one read transaction, so they all see the ledger as of one moment: a summary or a budget status
        is several statements, and in autocommit a call recorded meanwhile (by this process's writer or
        another process) counted in some of them and not in others. In WAL a reader blocks no writer.
        ``snapshot=False`` is for statements that cannot run in a transaction (VACUUM)."""
        if self._reader is None:
            if self.absent:
                raise no_ledger_error(self.path, blank=self.blank)
            raise LedgerError(f"the ledger at {self.path} is not open")
        if self._changed_under_immutable():
            await self._reopen_read_only()
        try:
            if self._writer_log is not None:  # read as immutable: made again if a writer changed the file meanwhile
                return await self._read_immutable(lambda: self._read_once(fn, snapshot))
            return await self._read_once(fn, snapshot)
        except sqlite3.Error as exc:
            raise use_error(exc, self.path, self.busy_timeout_ms) from None

    async def _read_once(self, fn: Callable[[sqlite3.Connection], T], snapshot: bool) -> T:
        assert self._reader is not None
        if snapshot:  # stoppable: cancelled, its statement ends then, not when it is done (a search, a VACUUM)
            return await stoppable(self._reader, in_snapshot, self._reader._conn, fn)
        return await stoppable(self._reader, fn, self._reader._conn)


def _begin_immediate(conn: sqlite3.Connection, mode: str, cursor: sqlite3.Cursor) -> None:
    """``BEGIN IMMEDIATE`` on ``cursor`` in synchronous ``mode`` (see :func:`set_sync`). A change of mode and the BEGIN
    go to SQLite in one call of the sqlite3 module (a script): through ``execute`` each statement is also looked up
    in its cache, reset and described, about 2,400 instructions more, and the calls made alone switch modes twice a
    call (a reservation's transaction, then the record's). Locked, it raises as the BEGIN alone does."""
    key = id(conn)
    if SYNC_MODE_BY_CONNECTION.get(key) == mode or conn.in_transaction:  # (in one, a script would commit it first)
        set_sync(conn, mode, cursor)
        cursor.execute("BEGIN IMMEDIATE")
        return
    SYNC_MODE_BY_CONNECTION.pop(key, None)  # not known should the script stop between its two statements
    cursor.executescript(f"PRAGMA synchronous = {mode}; BEGIN IMMEDIATE")
    SYNC_MODE_BY_CONNECTION[key] = mode
