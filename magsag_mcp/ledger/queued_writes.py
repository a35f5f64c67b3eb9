"""The ledger's group-commit writer (:class:`QueuedWrites`, which :class:`~.store.Ledger` is): writes queued and
applied by one writer task in batches, each one ``BEGIN IMMEDIATE`` transaction with a SAVEPOINT per operation
(:func:`~.group_commit.apply_batch`), so that concurrent calls share one fsync and one failing operation rolls back only
itself; a write's ``await`` returns once its batch has committed. A queued write's outcome is handed back to its caller,
or, its caller gone, to what it left for it (``orphaned``, ``refused``).

(Split from store.py, unchanged. What every write transaction checks, and the writes made inline, are the store's; a
test that swaps the metrics' registry swaps it here too, where a batch's commit is timed.)"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import LedgerError
from ..metrics import METRICS
from ..redaction import redacting_logger
from .group_commit import apply_batch
from .log_sync import sync_log
from .problems import no_ledger_error, overflow_error, use_error

T = TypeVar("T")

log = redacting_logger("magsag_mcp.ledger")


class QueuedWrites:
    """The queue of writes and its writer task (a mixin: the ledger holds the state it names)."""

    path: Path
    read_only: bool
    absent: bool
    blank: bool
    busy_timeout_ms: int
    durable_mode: str
    _opened: str
    _writer: Any
    _log_fd: int | None
    _pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], bool, Any, Any, list[str] | None]]
    _wake: asyncio.Event | None
    _task: asyncio.Task[None] | None
    _batch_in_flight: bool
    _closing: bool

    if TYPE_CHECKING:  # what the store and its read-only mode provide

        def read_only_error(self) -> LedgerError: ...

        def _check_write(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor | None = None) -> None: ...

    async def submit(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        durable: bool = True,
        orphaned: Callable[[T], object] | None = None,
        refused: Callable[[BaseException], object] | None = None,
        taken: list[bool] | None = None,
        unsynced: list[str] | None = None,
    ) -> T:
        """Run ``fn(conn)`` inside the next group-commit transaction; return its result once committed.

        ``durable=False`` is for state that only has to be atomic and visible to other processes, not to
        survive a power cut (a budget reservation: a lost one frees budget, it never spends it). A batch
        made only of such operations commits without an fsync.

        A queued operation runs even if its caller is cancelled while it waits. ``orphaned`` then
        receives its result, so that the caller's side can undo what nobody will use, and ``refused`` the
        error it failed with (the lock held past the busy timeout, a full disk), so that what was to be
        written (a paid call's record) is not lost with nobody told. So too when an interpreter exit (Ctrl-C raised
        on the loop's thread) leaves this task once the operation is queued: ``taken`` (if given) is then appended to,
        for a caller that would otherwise keep what it wrote to write it again. ``unsynced`` (if given) is appended the
        warning of a durable commit whose -wal sync failed (see log_sync.py): committed, not sure to be on disk.
        """
        if self.read_only:
            raise self.read_only_error()
        self._ensure_writer()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queued = (fn, fut, durable, orphaned, refused, unsynced)
        try:
            self._pending.append(queued)
            self._wake.set()  # type: ignore[union-attr]
            return await fut
        except Exception:
            raise  # the write's own failure, which its caller hears
        except BaseException:  # cancelled, or an interpreter exit
            if not fut.done() and not any(q is queued for q in self._pending):
                raise  # an interpreter exit before it was queued: the ledger never had it
            if taken is not None:
                taken.append(True)
            if not fut.done():  # an exit once it was queued: it runs anyway, its outcome handed back as a cancelled
                fut.cancel()  # caller's is (a record the ledger refuses is then kept, not lost with the future)
            elif not fut.cancelled():
                # Set by the writer before this task resumed (cancelled, or an exit raised as it resumed): the writer
                # saw a live future, so the hand-back is ours to make (a cancelled future is the writer's).
                error = fut.exception()
                hand_back = orphaned if error is None else refused
                if hand_back is not None:  # (its own failure logged: the cancellation goes on, not replaced by it)
                    exit_ = _hand_back(hand_back, fut.result() if error is None else error)
                    if exit_ is not None:
                        raise exit_  # noqa: B904  (an interpreter exit goes on in the cancellation's place)
            raise

    def enqueue(self, fn: Callable[[sqlite3.Connection], Any], *, durable: bool = True, failed: Any = None) -> None:
        """``fn(conn)`` in the next group commit, not waited for: an orphaned reservation's drop, which must
        not need a task of its own (one made while the loop ends would be destroyed before it ran). Its failure is no
        one's to report: ``failed`` receives it (the lock held past the busy timeout), to try again later."""
        self._ensure_writer()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: f.cancelled() or (e := f.exception()) is None or failed is None or failed(e))
        self._pending.append((fn, fut, durable, None, None, None))
        self._wake.set()  # type: ignore[union-attr]

    def _ensure_writer(self) -> None:
        """Refuse a write once closing; start a writer if the last stopped with its loop's other tasks (asyncio.run
        ending with calls in flight, the service not closed): those calls record themselves as they stop."""
        if self.absent:
            raise no_ledger_error(self.path, blank=self.blank)
        if self._task is None or self._closing:
            raise LedgerError(f"the ledger at {self.path} is not open")
        if self._task.done():
            loop = asyncio.get_running_loop()
            if self._task.get_loop() is not loop:  # its loop has closed (the service checks before this)
                raise LedgerError(f"the ledger at {self.path} is not open on this event loop")
            self._task = loop.create_task(self._write_loop(until_idle=True), name="magsag-ledger-writer")  # ends idle

    async def _write_loop(self, *, until_idle: bool = False) -> None:
        assert self._wake is not None and self._writer is not None
        while True:
            if (self._closing or until_idle) and not self._pending:
                return
            try:
                await self._wake.wait()
            except asyncio.CancelledError:  # the loop is ending: what is queued is written, then this stops
                until_idle = True
            self._wake.clear()
            if self._pending:
                until_idle = await self._write_batch(until_idle)

    async def _write_batch(self, until_idle: bool) -> bool:
        """What is queued, as one batch; ``until_idle`` comes back True if the loop is ending. A method of its own so
        that the batch (its operations, their rows, futures and results) is freed as it returns, not held while the
        loop waits for the next one: at 200 callers the young collections walked and promoted it meanwhile."""
        assert self._writer is not None
        batch, self._pending = self._pending, []
        durable = any(d for _, _, d, _, _, _ in batch)
        self._batch_in_flight = True
        outcome: list[Any] = []
        unsynced: list[str] = []  # the warning of the batch's -wal sync, should it fail
        started = time.perf_counter()
        try:
            try:
                results = await self._writer._execute(
                    self._apply_batch,
                    self._writer._conn,
                    [fn for fn, _, _, _, _, _ in batch],
                    durable,
                    outcome,
                    unsynced,
                )
            except asyncio.CancelledError:
                # The loop is ending. The batch runs to its end in the writer's thread anyway: told it
                # failed, a reservation it made was held until it expired, a record kept to write again
                # (its cost counted twice). Cancelled again meanwhile, it is still waited for.
                until_idle = True
                while not outcome:
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._writer._execute(lambda: None)  # queued behind it: the batch is done
                results = outcome[0]
                if isinstance(results, BaseException):
                    raise results from None
        except BaseException as exc:  # the whole transaction failed (disk full, locked too long)
            err = use_error(exc, self.path, self.busy_timeout_ms)
            exit_ = None
            for _, fut, _, _, refused, _ in batch:
                if not fut.done():
                    fut.set_exception(err)
                elif refused is not None:  # its caller was cancelled while it waited
                    exit_ = _hand_back(refused, err) or exit_
            if exit_ is not None:
                raise exit_ from None
            if isinstance(exc, asyncio.CancelledError):
                raise
            return until_idle
        finally:
            self._batch_in_flight = False
        if METRICS.counting:
            METRICS.commit("queued", time.perf_counter() - started)
        exit_ = None
        for (_, fut, lasting, orphaned, refused, told), (ok, value) in zip(batch, results, strict=True):
            if not ok:  # a cost past what SQLite holds says so
                value = overflow_error(value, self.path) or value
            if fut.done():  # its caller was cancelled while it waited
                hand_back = orphaned if ok else refused
                if hand_back is not None:
                    exit_ = _hand_back(hand_back, value) or exit_
            elif ok:
                if unsynced and lasting and told is not None:  # committed, its sync failed: told once, its caller
                    told.append(unsynced[0])
                fut.set_result(value)
            else:
                fut.set_exception(value)
        results.clear()  # (aiosqlite's thread holds it too, as the result of the function it ran last)
        if exit_ is not None:  # once every caller of the batch has its outcome
            raise exit_
        return until_idle

    def _apply_batch(
        self, conn: sqlite3.Connection, fns: list[Any], durable: bool, outcome: list[Any], unsynced: list[str]
    ) -> Any:
        """The batch, its results (or its failure) kept in ``outcome`` too, for a writer cancelled meanwhile; the
        warning of its -wal sync, should that fail, in ``unsynced``."""
        try:
            mode = "NORMAL" if self._log_fd is not None or not durable else self.durable_mode
            results = apply_batch(conn, fns, mode, check=self._check_write)
            if durable and self._log_fd is not None:
                warning = sync_log(self._log_fd, self._opened)
                if warning is not None:
                    unsynced.append(warning)
        except BaseException as exc:
            outcome.append(exc)
            raise
        finally:
            # aiosqlite's thread holds the function it ran last (and with it this list) until the next one comes: the
            # batch's operations, their rows with them, are freed now, not once the next batch is queued
            fns.clear()
        outcome.append(results)
        return results

    @property
    def queued_writes(self) -> int:
        """Writes waiting for the next group commit (read by /metrics)."""
        return len(self._pending)

    def writer_idle(self) -> bool:
        """Nothing queued and no batch on the writer thread: an inline write cannot overtake another."""
        return not self._pending and not self._batch_in_flight

    async def settled(self) -> None:
        """Wait until the writes queued so far have ended and their outcomes are handed over, to callers gone
        too (a record refused after its caller was cancelled is then kept: see :meth:`submit`'s ``refused``)."""
        while not self.writer_idle():
            task = self._task  # (a writer of a loop that has closed since has nothing left to write)
            if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
                return
            await asyncio.sleep(0.01)


def _hand_back(hand_back: Callable[[Any], object], value: Any) -> BaseException | None:
    """``hand_back(value)``: a write's ``orphaned`` or ``refused`` (see :meth:`QueuedWrites.submit`), its caller gone.
    What it raises is logged, redacted, and not raised: raised in the writer, it ended the writer's task with its batch
    half handed out, and the callers after it in the batch waited for ever on writes committed. An interpreter exit
    (KeyboardInterrupt, SystemExit) is returned instead, for the writer to raise once the batch is handed out."""
    try:
        hand_back(value)
    except Exception as exc:
        log.error(
            "the ledger could not hand a write's outcome back for its caller, cancelled while it waited (%s): what "
            "it was for is not done (a budget reservation then holds until it expires, a refused record is lost)",
            type(exc).__name__,
            exc_info=exc,
        )
    except BaseException as exc:
        return exc
    return None
