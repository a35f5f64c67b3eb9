"""How a call's end is written to the ledger: :class:`CallRecords`, mixed into the service. A record the ledger refuses
(locked, a full disk), or that a bug of ours keeps out of it, is kept and written with the next record or at close,
and the call's own error still reaches its caller, with the refusal in it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import InputError, LedgerError, MagsagError, redacting_logger
from .invoke_result import bug_error, call_failed, record_bug
from .kept_records import KeptRecords
from .metrics import METRICS
from .records import AttemptRecord, RunRecord

log = redacting_logger("magsag_mcp.service")


class CallRecords:
    """Mixed into :class:`~magsag_mcp.service.Service`, which holds the ledger, the records kept to write later and
    the count of its calls in flight."""

    ledger: Any
    _kept: KeptRecords
    _in_flight: int
    #: the service's own (bridge.LoopBound)
    _on_own_loop: Callable[[], None]
    #: the top run of a parent run's tree (Service's)
    _top_run: Callable[[str, str], Awaitable[str]]

    async def _bug(self, run: RunRecord, attempts: list[AttemptRecord], bug: Exception) -> MagsagError:
        """The error of a call that a bug of ours failed outside an attempt (the cascade's bookkeeping, the result's
        building), recorded with what the call spent; its traceback is logged, for the report its message asks for."""
        log.error("run %s: a bug in magsag-mcp failed the call", run.run_id, exc_info=bug)
        error = bug_error(bug)
        call_failed(error, run.run_id, attempts)
        await self._record_failed(run, attempts, "error", error)  # refused by the ledger: the bug's error goes on
        return error

    async def _record_failed(
        self, run: RunRecord, attempts: list[AttemptRecord], status: str, error: MagsagError | None = None
    ) -> None:
        """The record of a call that failed (or was cancelled). Refused by the ledger, or kept out of it by a bug of
        ours, it is kept (written with the next record, or at close) and the call's own error still reaches the
        caller, with the refusal in it (``record_error``): the ledger's error in its place said the ledger was
        locked, not what to fix (and a bug's bare TypeError took the place of the call's own error, or of its
        cancellation)."""
        try:
            unsynced = await self._record(run, attempts, status, error)
            if unsynced is not None and error is not None:  # recorded, its sync failed (see log_sync.py)
                error.details["record_warning"] = unsynced
        except LedgerError as refused:
            log.warning("run %s ended %s and its record is not yet written: %s", run.run_id, status, refused.message)
            if error is not None:
                error.details["record_error"] = refused.to_dict()
        except Exception as bug:  # ours, writing the record (kept, to be tried again): the call's own error goes on
            log.error(
                "run %s ended %s and a bug in magsag-mcp kept its record out of the ledger",
                run.run_id,
                status,
                exc_info=bug,
            )
            if error is not None:
                error.details["record_error"] = record_bug(bug).to_dict()

    async def _record(
        self, run: RunRecord, attempts: list[AttemptRecord], status: str, error: MagsagError | None = None
    ) -> str | None:
        """Records the call; returns the warning of a commit whose -wal sync failed (see :meth:`KeptRecords.write`)."""
        # not before it began, should the wall clock have been stepped back meanwhile (NTP, a VM resumed): a reader's
        # ended_at - started_at is then 0, not a run of minus an hour (durations are the monotonic clock's: latency_ms)
        # (max() without the builtin's call: some 1,200 instructions, on every call: see deadline.py)
        now = time.time()
        run.ended_at = now if now > run.started_at else run.started_at
        run.status = status  # type: ignore[assignment]
        tokens_in = tokens_out = 0
        for a in attempts:  # one loop, not a generator per sum (a frame each)
            tokens_in += a.input_tokens
            tokens_out += a.output_tokens
        run.input_tokens, run.output_tokens = tokens_in, tokens_out
        if (continued := run.continues_paused_id) is not None:  # (a continuation's: every attempt links to its call)
            for a in attempts:
                a.continues_paused_id = continued
        # counted as it happened, before the write: a record the ledger refuses is kept and written later, once
        if METRICS.counting:  # (off until something will read it: see metrics.py)
            METRICS.observe(run, attempts)
        return await self._kept.write((run, attempts, error), alone=self._in_flight == 1)

    async def record_agent_failure(
        self,
        run_id: str,
        agent: str,
        parent_run_id: str | None,
        started_at: float,
        status: str,
        error: MagsagError | None,
    ) -> None:
        """The end of an agent's run whose entrypoint raised (see :mod:`.agent_failures`): the run recorded ``status``
        (failed, or cancelled) with ``error``, whatever its calls made of it, and made so where it made no call. A
        record of no call: its calls' rows and spend stay as each recorded them, and its skill as they made it. Placed
        under ``parent_run_id``'s top run, as its calls are; refused by the ledger, it is kept and logged, as a failed
        call's record is. Only a run that raised costs this write."""
        self._on_own_loop()
        if self.ledger.read_only:
            return  # its calls were refused: nothing of the run is recorded
        parent = parent_run_id if parent_run_id and parent_run_id != run_id else None
        if parent is not None:
            try:
                parent = await self._top_run(run_id, parent)
            except InputError:  # recorded elsewhere already, where its row stays whatever this one names
                parent = None
        run = RunRecord(run_id, agent, None, started_at, None if parent == run_id else parent)
        run.calls = 0
        await self._record_failed(run, [], status, error)
