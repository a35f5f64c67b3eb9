"""Calls' records the ledger refused, kept in memory and written again: :class:`KeptRecords`.

A record refused for a passing cause (the ledger locked past its timeout, a full disk) is kept and written
before the next record and at close, so that a paid call's spend is not lost with the error. A record that
can never be written (a running total past what the ledger stores) is not kept: it would fail every next one.
A record a bug of ours keeps out of the ledger (a row SQLite cannot bind, a TypeError building it) is kept too,
but tried apart from the others, so that it fails none of them: its spend is not forgotten (its budget reservation
stays counted until it lands), and the close names it if it never does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from .errors import LedgerError, MagsagError, excerpt, redacting_logger, said_without_keys
from .invoke_result import call_cost
from .records import AttemptRecord, RunRecord

if TYPE_CHECKING:
    from .ledger import Ledger

log = redacting_logger("magsag_mcp.service")

#: a call's record: its run, its attempts and the error it ended with
Kept = tuple[RunRecord, list[AttemptRecord], MagsagError | None]


class KeptRecords:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        #: records the ledger refused (or a bug of ours kept out of it), oldest first
        self.pending: list[Kept] = []
        #: the runs of kept records whose bug's traceback is logged: tried again with every next record, each
        #: failure logged it again (a traceback for every call the service made after it)
        self._bug_logged: set[str] = set()

    async def write(self, *records: Kept, alone: bool = False) -> str | None:
        """The records the ledger refused earlier, oldest first, then ``records``: one transaction. They
        leave the kept list once handed over (a queued write runs even if its caller is cancelled, and
        two calls recording at once must not both write one), and go back only if the ledger refuses or a bug of ours
        fails the write (then each is tried apart: one bad record keeps only itself out). Returns the warning of a
        commit whose sync failed (see :meth:`~.ledger.recording.LedgerRecording.record_call`), else None."""
        pending, self.pending = [*self.pending, *records], []
        if pending:
            *earlier, (run, attempts, error) = pending
            #: appended to once the ledger has the records (committed, or queued: written, or handed to ``gone``)
            taken: list[bool] = []
            try:
                gone = partial(self._gone, pending)  # the write's failure, should the caller be cancelled first
                return await self.ledger.record_call(
                    run, attempts, error=error, alone=alone, earlier=earlier, refused=gone, taken=taken
                )
            except LedgerError as exc:
                if not exc.details.get("overflow"):
                    self.pending[:0] = pending
                elif earlier:  # which record can never fit, the error does not say: kept, it would fail every next
                    return await self._write_apart(pending)
                raise
            except Exception:  # a bug of ours writing a record, not the ledger refusing it: which, it does not say
                if not earlier:
                    self.pending[:0] = pending  # kept, as the service says: tried again, and named at close
                    self._bug_logged.add(run.run_id)  # (by the service, which raises it)
                    raise
                log.warning(
                    "a bug in magsag-mcp failed the write of %d calls' records: each is written apart", len(pending)
                )
                return await self._write_apart(pending)
            except BaseException as exc:
                # An interpreter exit (Ctrl-C raised on the loop's thread, sys.exit) while the records were built or
                # handed over: dropped here they were lost, a paid call's reservation left to be swept at its worst
                # case. Kept, the close writes them. Not once the ledger has them: a SIGINT arriving during the
                # COMMIT (its fsync) is raised as it returns, and kept then, the close wrote them again (each call's
                # cost counted twice). A cancellation comes only once the write is queued, which then runs anyway.
                if not taken and not isinstance(exc, anyio.get_cancelled_exc_class()):
                    self.pending[:0] = pending
                raise
        return None

    async def write_at_close(self) -> None:
        """The kept records' last write, as the service closes. Refused again, they are lost with the service:
        the error says which runs and what they cost (the ledger's own said only "free some space there, then
        retry", and nothing of the paid calls it would never count), and each is logged whole."""
        try:
            await self.write()
        except LedgerError as exc:
            if not self.pending:
                raise
            lost, self.pending = self.pending, []
            raise lost_error(exc, lost) from None
        except Exception as bug:
            if not self.pending:
                raise
            log.error("a bug in magsag-mcp kept calls' records out of the ledger as the service closes", exc_info=bug)
            lost, self.pending = self.pending, []
            unwritten = MagsagError(
                f"unexpected {type(bug).__name__} in magsag-mcp (a bug) writing a call's record: "
                f"{excerpt(str(bug), 300)}",
                exception=type(bug).__name__,
            )
            raise lost_error(unwritten, lost, _KEPT_OUT) from said_without_keys(bug)
        if self.pending:  # kept out by a bug, and tried apart from a later record, which was written: quietly lost
            lost, self.pending = self.pending, []
            unwritten = MagsagError(
                "a bug in magsag-mcp kept calls' records out of the ledger (its traceback is logged under "
                "magsag_mcp.service)"
            )
            raise lost_error(unwritten, lost, _KEPT_OUT)

    def _gone(self, pending: list[Kept], exc: BaseException) -> None:
        """``pending``'s write failed after its caller was cancelled (a client's cancel while the record waited
        for a locked ledger): they are kept as if it had heard, rather than lost with nobody told. Records too
        large to fit are kept only with others, which the next write then tries one at a time."""
        # a bug of ours writing one (not the ledger refusing it) keeps them too: the next write tries them apart
        kept = not (isinstance(exc, LedgerError) and exc.details.get("overflow")) or len(pending) > 1
        if kept:
            self.pending[:0] = pending
        what = "kept, to be written with the next record or at close" if kept else "lost"
        run_id = pending[-1][0].run_id
        bug = None if isinstance(exc, LedgerError) else exc  # its traceback, to report
        log.warning(
            "run %s: its record was refused after its caller was cancelled, and %s: %s", run_id, what, exc, exc_info=bug
        )

    async def _write_apart(self, pending: list[Kept]) -> str | None:
        """``pending``, whose write together failed for one of them (too large for the ledger, or a bug of ours:
        which, the error does not say), each tried alone, oldest first. One that cannot fit is dropped; one a bug
        fails is kept, to be tried again; one refused for another reason is kept with those after it. The last one's
        own failure is raised (the caller's). Shielded: a caller cancelled midway lost the records not yet tried.
        Returns the last one's sync warning (the caller's: see :meth:`write`)."""
        failed: list[Kept] = []
        said: str | None = None
        last = len(pending) - 1
        with anyio.CancelScope(shield=True):
            try:
                for i, (run, attempts, error) in enumerate(pending):
                    try:
                        said = await self.ledger.record_call(run, attempts, error=error)
                        self._bug_logged.discard(run.run_id)
                    except LedgerError as exc:
                        if not exc.details.get("overflow"):
                            failed += pending[i:]
                            raise
                        if i == last:
                            raise
                        log.warning("run %s is not recorded, and not kept: %s", run.run_id, exc.message)
                    except Exception as bug:
                        failed.append(pending[i])
                        if i == last:
                            self._bug_logged.add(run.run_id)  # (by the service, which raises it)
                            raise
                        logged = run.run_id in self._bug_logged
                        self._bug_logged.add(run.run_id)
                        log.error(
                            "run %s: a bug in magsag-mcp keeps its record out of the ledger (%s); kept, to be tried "
                            "again",
                            run.run_id,
                            type(bug).__name__,
                            exc_info=None if logged else bug,
                        )
            finally:
                self.pending[:0] = failed
        return said


#: what the close says of the records a bug kept out of the ledger (see :func:`lost_error`)
_KEPT_OUT = "a bug of magsag-mcp's kept out of the ledger, and kept out again"


def lost_error(exc: MagsagError, lost: list[Kept], why: str = "the ledger had refused, refused again") -> MagsagError:
    """``exc``, the ledger's refusal at close (or a bug of ours writing a record then), with the records it leaves
    unwritten: each run, what it cost. The error is of ``exc``'s class."""
    runs: list[dict[str, Any]] = []
    for run, attempts, _ in lost:
        cost = call_cost(attempts)
        runs.append(
            {
                "run_id": run.run_id,
                "agent": run.agent,
                "skill": run.skill,
                "status": run.status,
                "attempts": len(attempts),
                "cost_usd": None if cost is None else format(cost, "f"),
            }
        )
        if attempts:  # a call refused before any attempt (the ledger refused its budget reservation) spent nothing
            log.error(
                "run %s is not recorded, and is lost as the service closes: %s",
                run.run_id,
                json.dumps({**runs[-1], "attempts": [a.to_dict() for a in attempts]}, default=str),
            )
    # the calls that reached a provider first (what they cost is what the ledger misses), ten at most
    named = sorted(runs, key=lambda r: r["attempts"] == 0)[:10]
    costs = ("cost unknown" if r["cost_usd"] is None else "$" + r["cost_usd"] for r in named)
    shown = ", ".join(f"{r['run_id']} ({cost})" for r, cost in zip(named, costs, strict=True))
    n = len(runs)
    if n > len(named):
        shown += f", and {n - len(named)} more (lost_runs)"
    which = f"{n} call's record" if n == 1 else f"{n} calls' records"
    return type(exc)(
        f"{exc.message}. The service closed holding {which} {why}: lost, so the "
        f"ledger's totals and budget limits do not count {'it' if n == 1 else 'them'}: {shown}; each that reached "
        "a provider is logged whole",
        **{**exc.details, "lost_runs": runs},
    )


@contextlib.contextmanager
def closing_after(error: BaseException | None) -> Iterator[None]:
    """Around the close that ends a ``with`` block that raised ``error`` (``__exit__``'s): a close that fails
    raised its error in place of the block's, which was lost with what it carries (the answer a call paid
    for, whose record the ledger refused: retried, it was paid twice). ``error`` goes on, with the close's
    in it (``closing_error``); with no error, the close's is raised."""
    try:
        yield
    except MagsagError as closing:
        if error is None:
            raise
        if isinstance(error, MagsagError):
            error.details["closing_error"] = closing.to_dict()
        else:
            log.error("closing the service failed too: %s", closing.message)
