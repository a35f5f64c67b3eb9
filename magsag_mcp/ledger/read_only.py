"""A ledger opened for reading only (asked for, or a file or folder this user cannot write): the reader
connection alone, and, when SQLite read the file as immutable (no writer was at work), what tells that a
writer has come since, so that the next read reopens it instead of trusting the pages it kept."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import LedgerError
from .connection import file_version, open_read_only, where_ledger_is
from .migrations import OlderSchema
from .problems import file_identity, log_file, read_only_error
from .read_only_copy import log_unreadable_here, read_a_copy
from .sealed_spend import forget_connection

T = TypeVar("T")

#: how many times a read of a file read as immutable is made while writers that come and go change it under it
IMMUTABLE_READ_TRIES = 3


class ReadOnlyMode:
    """The :class:`~.store.Ledger`'s read-only opening and its immutable reads (a mixin: the ledger holds the
    state it names)."""

    path: Path
    busy_timeout_ms: int
    reading: bool
    create: bool
    _opened: str
    _reader: Any
    _identity: tuple[int, int] | None
    _read_only_cause: BaseException | None
    _writer_log: Path | None
    _read_version: tuple[int, ...] | None

    async def _open_read_only(self) -> None:
        """The reader connection alone, opened with SQLite's read-only URI (:func:`.connection.open_read_only`);
        for a ledger an older version made, or one whose -wal file cannot be read where it is, on a migrated copy of
        it (:mod:`.read_only_copy`), unless the ledger is opened to be written by what does not record calls (a
        prune: refused, as it would be after a copy)."""
        self._opened = str(where_ledger_is(self.path))
        version = file_version(self.path)  # before SQLite reads a page: a write meanwhile is then seen
        copy_ok = self.reading or self.create
        if copy_ok and log_unreadable_here(self.path):
            await read_a_copy(self, None)
            return
        try:
            self._reader, immutable = await open_read_only(
                self.path, self.busy_timeout_ms, self._read_only_cause, older_ok=copy_ok
            )
        except OlderSchema as exc:
            await read_a_copy(self, exc.pending)
            return
        self._identity = file_identity(self._opened)
        self._read_as_immutable(immutable, version)

    def _read_as_immutable(self, immutable: bool, version: tuple[int, ...] | None) -> None:
        """Note what tells that the file read as ``immutable`` has changed: a -wal file, or its version."""
        self._writer_log = log_file(self.path) if immutable else None
        self._read_version = version if immutable else None

    def _changed_under_immutable(self) -> bool:
        """Whether the file read as immutable was written since: a writer is at work (its -wal file), or came
        and went (its checkpoint changed the file)."""
        log = self._writer_log
        return log is not None and (log.exists() or file_version(self.path) != self._read_version)

    async def _read_immutable(self, read: Callable[[], Awaitable[T]]) -> T:
        """``read()`` of the file read as immutable, made again (the connection reopened) when the file changed while
        it ran: SQLite trusts an immutable file not to change and takes no lock on it, so a writer that began and
        checkpointed meanwhile (the owner's `magsag invoke` run to its end) left it reading pages of two versions of
        the ledger. Its result then mixed two moments, or it failed with "database disk image is malformed", said as
        a damaged ledger to restore from a backup. Once reopened with a writer at work, SQLite reads through its log,
        under its locks, and the read is made once."""
        for _ in range(IMMUTABLE_READ_TRIES):
            try:
                result = await read()
            except sqlite3.Error:
                if not self._changed_under_immutable():
                    raise
            else:
                if not self._changed_under_immutable():
                    return result
            await self._reopen_read_only()
            if self._writer_log is None:
                return await read()
        raise LedgerError(
            f"the ledger at {self.path} was written by another process during each of the {IMMUTABLE_READ_TRIES} "
            "reads made of it (read without SQLite's locks, as this user cannot write beside it, each may have mixed "
            "two versions of it, and none was used); retry, or copy the ledger to a folder you can write and pass "
            "the copy with --db",
            db=str(self.path),
        )

    async def _reopen_read_only(self) -> None:
        """Read as immutable, and a writer has begun since (or come and gone): reopened to read its log, or the
        file anew (reads queued on the old connection end first: aiosqlite runs them in order, then the close).
        SQLite trusts an immutable file not to change and keeps the pages it read."""
        log, version, self._writer_log = self._writer_log, file_version(self.path), None  # one reopen at a time
        try:
            new, immutable = await open_read_only(self.path, self.busy_timeout_ms, None)
        except BaseException:
            self._writer_log = log  # the next read tries again, not the pages kept
            raise
        old, self._reader = self._reader, new
        self._read_as_immutable(immutable, version)
        forget_connection(old._connection)
        await old.close()

    def read_only_error(self) -> LedgerError:
        """What a write to a ledger opened for reading only raises."""
        return read_only_error(self.path, self._read_only_cause)
