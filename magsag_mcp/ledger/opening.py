"""Opening the ledger's file, and what is refused there, each with its cause and fix (:mod:`.problems`): a path that
is a directory, a file that is no database, a damaged one, another program's SQLite database (left untouched) and a
ledger a newer magsag has migrated. A ledger that cannot be written is opened for reading only (its writes refused,
:attr:`~.store.Ledger.read_only`; :mod:`.read_only`). Opened for writing, the ledger has three connections (the
writer thread's, the reader's, and the inline one on the event loop) and notes the file's identity and schema version
that each write transaction checks (:meth:`~.store.Ledger._check_write`)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio

from ..errors import LedgerError
from ..option_names import db_setting
from ..redaction import redacting_logger
from .connection import (
    _configure,
    _connect,
    _create_private,
    look_through_the_log,
    truncate_log,
    where_ledger_is,
)
from .copies import read_a_copy_if_in_use, remove_copy
from .log_sync import close_log, open_log
from .migrations import BlankFile, NewerSchema, NotALedger, migrate, unknown_migrations
from .problems import (
    file_identity,
    log_file,
    newer_error,
    no_ledger_error,
    no_room,
    open_error,
    out_of_space,
    read_only_cause,
    use_error,
)
from .sealed_spend import forget_connection

log = redacting_logger("magsag_mcp.ledger")


class LedgerOpening:
    """The :class:`~.store.Ledger`'s opening and the closing of its connections (a mixin: the ledger holds the state
    it names)."""

    path: Path
    read_only: bool
    create: bool
    blank_is_absent: bool
    reading: bool
    absent: bool
    blank: bool
    busy_timeout_ms: int
    _read_only_cause: BaseException | None
    _opened: str
    _writer: Any
    _reader: Any
    _inline: sqlite3.Connection | None
    _inline_cursor: sqlite3.Cursor | None
    _identity: tuple[int, int] | None
    _log_identity: tuple[int, int] | None
    durable_mode: str
    _log_fd: int | None
    _schema_version: int | None
    _wake: asyncio.Event | None
    _task: asyncio.Task[None] | None

    if TYPE_CHECKING:  # what the store and its read-only mode provide

        async def _open_read_only(self) -> None: ...

        async def _write_loop(self, *, until_idle: bool = False) -> None: ...

    async def open(self) -> Self:
        try:
            return await self._open()
        except BaseException:
            remove_copy(self)  # a copy made to read (see copies.py): no close follows a failed open
            raise

    async def _open(self) -> Self:
        if not self.create and not self.path.exists():  # a dangling link too: nothing made through it
            self.absent = True
            return self
        if not self.read_only and (self.reading or not self.create):  # a report, a prune: not the calls' writer
            await read_a_copy_if_in_use(self)
        if self.reading and self.path.is_file() and (full := no_room(self.path)) is not None:
            # not tried for writing first: SQLite left an empty -wal and a -shm file it could not grow beside the
            # ledger, and every later read, a read-only one too, failed on them until they were deleted by hand
            self.read_only, self._read_only_cause = True, full
            await self._open_read_only()
            return self
        if self.read_only or (self.path.is_file() and not file_writable(self.path)):
            # not tried for writing first: SQLite would open the file for reading by itself and leave -wal
            # and -shm files of this user's beside it (in a folder it can write), in the owner's way
            self.read_only = True
            await self._open_read_only()
            return self
        try:
            # as SQLite resolves it: a later chdir moves nothing, and ".." is left to the OS (os.path.abspath
            # would take it off the text, and "link/../l.db" is then another file than the one SQLite opens)
            self._opened = str(where_ledger_is(self.path))
            in_use = log_file(self.path).exists()  # (another process has it open, or one was killed)
            if in_use:  # a writer's log: refused, the file and the log are left as they are
                await anyio.to_thread.run_sync(look_through_the_log, self.path, self.busy_timeout_ms)
            _create_private(self.path)
            self._writer = await _connect(self.path)
            await self._writer._execute(
                _configure, self._writer._conn, self.busy_timeout_ms, first=True, blank_ok=self.create
            )
            if applied := await self._writer._execute(migrate, self._writer._conn):
                _migrated(self._opened, applied, in_use)
                # an upgrade's migrations may rewrite much of the ledger (0014 rebuilt its usage rollup: 112 MB of
                # -wal for a year's ledger), kept beside it for as long as this process ran
                await self._writer._execute(truncate_log, self._writer._conn)
            self._identity = file_identity(self._opened)
            self._schema_version = await self._writer._execute(known_schema_version, self._writer._conn)
            self._reader = await _connect(self.path)
            await self._reader._execute(_configure, self._reader._conn, self.busy_timeout_ms)
            self._inline = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            _configure(self._inline, 0)
            self._inline_cursor = self._inline.cursor()
            # the -wal file SQLite opened beside it (None: elsewhere, by a link to the file), which lives as long
            # as a connection has the ledger open
            self._log_identity = file_identity(self._opened + "-wal")
            if self.durable_mode == "FULL" and self._log_identity is not None:
                # durable commits synced by the ledger, the connections left in NORMAL (see log_sync.py)
                self._log_fd = open_log(self._opened + "-wal", self._log_identity)
        except NewerSchema as exc:
            await self._close_connections()
            # (what does not create the ledger and does not read it is no calls' writer: a prune)
            raise newer_error(self.path, exc.unknown, reading=self.reading, pruning=not self.create) from None
        except BlankFile:
            await self._close_connections()
            if not self.blank_is_absent:
                raise no_ledger_error(self.path, blank=True) from None
            self.absent = self.blank = True
            return self
        except NotALedger as exc:
            await self._close_connections()
            raise LedgerError(
                f"cannot open the ledger at {self.path}: it is a SQLite database with other tables ({exc}), "
                f"not a magsag-mcp ledger, and was left as it was; check the file that {db_setting()} names",
                db=str(self.path),
            ) from None
        except (sqlite3.Error, OSError) as exc:
            await self._close_connections()
            if "locked" in str(exc) or "busy" in str(exc):
                raise use_error(exc, self.path, self.busy_timeout_ms) from None
            if not read_only_cause(exc, self.path) and not (self.reading and out_of_space(exc, self.path)):
                raise open_error(exc, self.path) from None
            # a ledger to audit that this user cannot write (a copy, a 0444 file, a read-only folder or
            # mount): opened for reading, and a write says why it cannot be made
            self.read_only, self._read_only_cause = True, exc
            await self._open_read_only()
            return self
        except BaseException:  # cancelled midway (a client cancelling the call that opens the service)
            with anyio.CancelScope(shield=True):
                await self._close_connections()
            raise
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="magsag-ledger-writer")
        return self

    async def _close_connections(self) -> None:
        # first: on Windows a descriptor left open kept the last connection's close from deleting the -wal file
        close_log(self._log_fd)
        self._log_fd = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                forget_connection(conn._connection)  # (its month sums kept, and the connection they hold)
                try:
                    await conn.close()
                except Exception:
                    pass
        self._writer = self._reader = None
        if self._inline is not None:
            forget_connection(self._inline)
            self._inline.close()
            self._inline = None
            self._inline_cursor = None


def file_writable(path: Path) -> bool:
    """Whether this user may write the ledger's file (root may write any)."""
    return os.access(path, os.W_OK)


def schema_version(conn: sqlite3.Connection | sqlite3.Cursor) -> int:
    return int(conn.execute("PRAGMA schema_version").fetchone()[0])


def known_schema_version(conn: sqlite3.Connection) -> int:
    """The schema's version, which each write checks (:meth:`~.store.Ledger._check_write`), read before a last look
    for a newer version's migrations (:class:`NewerSchema`). :func:`~.migrations.migrate` looked before applying
    this version's own: a newer magsag opening the ledger at the same moment (an MCP client starts its servers
    together) migrated it in between, and the version noted after took its migration in unseen, so that no write
    ever looked again. Read in this order, a migration after the look changes the version the writes check."""
    version = schema_version(conn)
    unknown = unknown_migrations(conn)
    if unknown:
        raise NewerSchema(unknown)
    return version


def _migrated(path: str, applied: list[str], in_use: bool) -> None:
    """Say in the log that the ledger at ``path`` was migrated (an upgrade): an older magsag-mcp that has it open
    refuses to record its calls from its next write on ("migrated by a newer magsag-mcp"), and the operator of a
    rolling upgrade, two servers on one ledger, read nothing of why the one not yet restarted began failing every
    call. ``in_use``: its -wal file was there as it was opened (another process has it open, or one was killed)."""
    from ..plurals import counted
    from .migrations import MIGRATIONS

    if len(applied) == len(MIGRATIONS):  # made now, not upgraded: nothing had it open
        return
    done = f"ledger {path} migrated: {counted(len(applied), 'schema migration')} applied ({', '.join(applied)})"
    if not in_use:
        log.info("%s", done)
        return
    log.warning(
        "%s while another process may have it open (its -wal file was there): a magsag-mcp of an older version on "
        "it now refuses to record its calls (ledger_error: migrated by a newer magsag-mcp); restart it with this "
        "version",
        done,
    )
