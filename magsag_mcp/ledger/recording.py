"""How a call, an event and the calls of a dead process get into the ledger (:class:`LedgerRecording`, which
:class:`~.store.Ledger` is): what each write is, and whether it is made inline or joins the group commit."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import LedgerError, MagsagError
from ..records import AttemptRecord, RunRecord
from .abandoned import DEAD_CALL, DEAD_CALLS, ENDED_CALL, ENDED_CALLS, calls_to_record, record_abandoned, to_record
from .events import INSERT_EVENT, event_row
from .problems import kept_locked
from .writes import RecordWrite

T = TypeVar("T")


class LedgerRecording:
    if TYPE_CHECKING:  # what the store provides
        path: Path
        busy_timeout_ms: int
        read_only: bool
        _closing: bool

        def writer_idle(self) -> bool: ...

        def try_now(
            self,
            fn: Callable[[sqlite3.Connection], T],
            *,
            durable: bool = False,
            taken: list[bool] | None = None,
            unsynced: list[str] | None = None,
        ) -> tuple[bool, T | None]: ...

        async def submit(
            self,
            fn: Callable[[sqlite3.Connection], T],
            *,
            durable: bool = True,
            orphaned: Callable[[T], object] | None = None,
            refused: Callable[[BaseException], object] | None = None,
            taken: list[bool] | None = None,
            unsynced: list[str] | None = None,
        ) -> T: ...

        async def read(self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = True) -> T: ...

    async def record_call(
        self,
        run: RunRecord,
        attempts: list[AttemptRecord],
        *,
        error: MagsagError | None = None,
        alone: bool = False,
        earlier: Sequence[tuple[RunRecord, list[AttemptRecord], MagsagError | None]] = (),
        refused: Callable[[BaseException], object] | None = None,
        taken: list[bool] | None = None,
    ) -> str | None:
        """A call's run row (created or added to) and all its attempts, in one durable step. Returns the warning for
        the call's result when the sync of the commit that wrote it failed (committed, not sure to survive a power
        loss: see log_sync.py), else None.

        ``alone`` says no other call is in flight in this process. Then there is nothing to group this
        commit with, and it is made inline on the event loop (one fsync, no thread hop) when the writer
        is idle; with company it joins the group commit, so concurrent calls share one fsync and the
        loop never waits on the disk while other calls could run.

        ``earlier``: other calls' records (run, attempts, error), written before this one in the same
        transaction: all of them or none. Once queued they are written even if the caller is cancelled;
        should the write then fail, ``refused`` receives the error (see :meth:`submit`). ``taken`` is appended to
        when an interpreter exit is raised here once the ledger has the records (committed inline, or queued: see
        :meth:`try_now` and :meth:`submit`), which then must not be written again.
        """
        record = RecordWrite.of(run, attempts, error)
        write: Callable[[sqlite3.Connection], Any] = record
        if earlier:
            writes = [*(RecordWrite.of(*rec) for rec in earlier), record]
            write = lambda conn: RecordWrite.apply_all(conn, writes)  # noqa: E731
        unsynced: list[str] = []
        if alone and self.writer_idle() and not self._closing:
            try:
                done, _ = self.try_now(write, durable=True, taken=taken, unsynced=unsynced)
            except (sqlite3.Error, OverflowError):  # OverflowError: a cost too large to bind (see problems.py)
                done = False  # rolled back; the queue retries it and reports a lasting failure properly
            if done:
                return unsynced[0] if unsynced else None
        await self.submit(write, refused=refused, taken=taken, unsynced=unsynced)
        return unsynced[0] if unsynced else None

    async def record_expired_reservations(self) -> int:
        """Record the calls whose process died (or hung past their deadline) with the request in flight:
        each expired reservation becomes the attempt it stood for (:func:`~.abandoned.record_abandoned`).
        Returns how many.

        The next budget reservation in any process does this too, but that may never come (the last
        call of a batch job, then ``flow summarize`` and ``flow gate`` in CI), so every read that reports
        spend does it first. A read with nothing expired costs one look at the reservations (the calls in
        flight: a handful of rows) and writes nothing.
        """
        if self.read_only:  # they cannot be recorded: counted as what they are, reservations
            return 0
        now = time.time()
        if not await self.read(lambda conn: to_record(conn, now)):
            return 0
        try:
            return await self.submit(lambda conn: record_abandoned(conn, now))
        except LedgerError as exc:
            if not kept_locked(exc):
                raise
            raise await self._locked_out_of_the_sweep(now) from None

    async def _locked_out_of_the_sweep(self, now: float) -> LedgerError:
        """The error of a read whose calls of a dead process (expired reservations) could not be recorded first: the
        lock's own ("stayed locked ...; retry, or stop the process holding it") read as if reads waited for writers,
        and told a `data query` to stop the server holding the lock. Reads wait for none: this one needed to write."""
        from ..durations import setting
        from ..plurals import counted

        calls, some_gone = await self.read(lambda conn: calls_to_record(conn, now))
        calls = calls or 1
        if some_gone:  # (a process seen gone: its reservation has not expired)
            them, dead = ("it", ENDED_CALL) if calls == 1 else ("them", ENDED_CALLS)
        else:
            them, dead = ("it", DEAD_CALL) if calls == 1 else ("them", DEAD_CALLS)
        return LedgerError(
            f"cannot read the ledger at {self.path} yet: {counted(calls, 'call')} {dead} must first be recorded as "
            f"{'the abandoned attempt it' if calls == 1 else 'the abandoned attempts they'} stood for, so that this "
            f"read counts {them}, a write, and another process kept the ledger's write lock for "
            f"{setting(self.busy_timeout_ms / 1000)} (a `data prune` vacuuming it, a long batch); retry once that "
            f"is done (`magsag budget` reads without recording {them}, as reserved_by.expired)",
            db=str(self.path),
        )

    async def log_event(self, run_id: str | None, agent: str | None, event: str, data: Mapping[str, Any]) -> None:
        row = event_row(run_id, agent, event, data)  # what cannot be stored is refused before anything is queued
        await self.submit(lambda conn: conn.execute(INSERT_EVENT, row))
