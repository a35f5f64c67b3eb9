"""Calls' records the ledger refused, kept in memory and written again: :class:`KeptRecords`.

A record refused for a passing cause (the ledger locked past its timeout, a full disk) is kept and written
before the next record and at close, so that a paid call's spend is not lost with the error. A record that
can never be written (a running total past what the ledger stores) is not kept: it would fail every next one.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .errors import LedgerError, MagsagError, redacting_logger
from .records import AttemptRecord, RunRecord

if TYPE_CHECKING:
    from .ledger import Ledger

log = redacting_logger("magsag_mcp.service")

#: a call's record: its run, its attempts and the error it ended with
Kept = tuple[RunRecord, list[AttemptRecord], MagsagError | None]


class KeptRecords:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        #: records the ledger refused, oldest first
        self.pending: list[Kept] = []

    async def write(self, *records: Kept, alone: bool = False) -> None:
        """The records the ledger refused earlier, oldest first, then ``records``: one transaction. They
        leave the kept list once handed over (a queued write runs even if its caller is cancelled, and
        two calls recording at once must not both write one), and go back only if the ledger refuses."""
        pending, self.pending = [*self.pending, *records], []
        if pending:
            *earlier, (run, attempts, error) = pending
            try:
                gone = partial(self._gone, pending)  # the write's failure, should the caller be cancelled first
                await self.ledger.record_call(run, attempts, error=error, alone=alone, earlier=earlier, refused=gone)
            except LedgerError as exc:
                if not exc.details.get("overflow"):
                    self.pending[:0] = pending
                elif earlier:  # which record can never fit, the error does not say: kept, it would fail every next
                    await self._write_apart(pending)
                    return
                raise

    def _gone(self, pending: list[Kept], exc: BaseException) -> None:
        """``pending``'s write failed after its caller was cancelled (a client's cancel while the record waited
        for a locked ledger): they are kept as if it had heard, rather than lost with nobody told. Records too
        large to fit are kept only with others, which the next write then tries one at a time."""
        kept = isinstance(exc, LedgerError) and (not exc.details.get("overflow") or len(pending) > 1)
        if kept:
            self.pending[:0] = pending
        what = "kept, to be written with the next record or at close" if kept else "lost"
        run_id = pending[-1][0].run_id
        log.warning("run %s: its record was refused after its caller was cancelled, and %s: %s", run_id, what, exc)

    async def _write_apart(self, pending: list[Kept]) -> None:
        """``pending`` refused as too large for the ledger, each tried alone, oldest first: one that cannot fit
        is dropped (the caller's own raises), one refused for another reason is kept with those after it."""
        for i, (run, attempts, error) in enumerate(pending):
            try:
                await self.ledger.record_call(run, attempts, error=error)
            except LedgerError as exc:
                if not exc.details.get("overflow"):
                    self.pending[:0] = pending[i:]
                    raise
                if i == len(pending) - 1:
                    raise
                log.warning("run %s is not recorded, and not kept: %s", run.run_id, exc.message)
