"""The reads a user makes of the ledger (:class:`LedgerReports`, which :class:`~.store.Ledger` is): a run's
spend, the summary, runs, search, and pruning. Each records the calls whose process died with a request in
flight first (:meth:`~.store.Ledger.record_expired_reservations`), so that it reports their spend; the
queries themselves live in :mod:`.queries`, :mod:`.run_scope` and :mod:`.prune`, and what is said beside a read (a
filter that matched nothing, calls in flight or pruned) in :mod:`.read_notes`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from ..redaction import redact
from .read_notes import RECENT_RUNS as RECENT_RUNS
from .read_notes import ReadNotes, future_since, page_matched, since_as_seconds_span, summary_matched
from .run_scope import RunSpend, run_spend_in

if TYPE_CHECKING:
    from .prune import PruneProgress
    from .times import Since

__all__ = ["RECENT_RUNS", "LedgerReports", "page_matched", "summary_matched"]

T = TypeVar("T")


class LedgerReports(ReadNotes):
    if TYPE_CHECKING:  # what the store provides besides what the notes read (ReadNotes')

        async def record_expired_reservations(self) -> int: ...

        #: (what prune needs besides)
        async def submit(
            self,
            fn: Callable[[sqlite3.Connection], T],
            *,
            durable: bool = True,
            orphaned: Callable[[T], object] | None = None,
        ) -> T: ...

    async def run_cost(self, run_id: str) -> tuple[Decimal, bool]:
        """Spend recorded for a run and its child runs (delegations), and whether any cost was unknown."""
        spend = await self.run_spend(run_id)
        return spend.known_usd, not spend.cost_complete

    async def run_spend(self, run_id: str) -> RunSpend:
        """A run's scope (as :meth:`run_cost`), with its attempts of unknown cost counted apart. Of a read-only ledger,
        its calls of dead processes, which it cannot record, counted as a writable read records them (see
        dead_runs.py)."""
        await self.record_expired_reservations()
        if not self.read_only:
            return await self.read(lambda conn: run_spend_in(conn, run_id))

        def read(conn: sqlite3.Connection) -> RunSpend:
            from .dead_runs import dead_in_scope

            return dead_in_scope(conn, run_spend_in(conn, run_id), run_id, time.time())

        return await self.read(read)

    async def summarize(self, filters: Any = None, timezone: str | None = None) -> dict[str, Any]:
        """``timezone``: the zone whose days ``largest_day`` and ``by_agent[A].largest_day`` are (default UTC)."""
        from .queries import summarize

        await self.record_expired_reservations()
        return await summarize(self, filters, timezone)

    async def agent_days(self, filters: Any = None, timezone: str | None = None) -> list[dict[str, Any]]:
        """Each agent's spend on each day it spent, by day then agent (``magsag flow daily``): days of ``timezone``
        (UTC by default), counted as a summary's ``by_agent[A].largest_day`` is (see :func:`.peaks.agent_days`)."""
        from .filters import UsageFilters, parse_since
        from .peaks import agent_days, known_zone
        from .spaced_names import refuse_spaced_names

        await self.record_expired_reservations()
        zone = known_zone(timezone)
        f = UsageFilters.build(filters if isinstance(filters, dict | UsageFilters) else None, zone=zone)
        fixed = f.model_copy(update={"since": parse_since(f.since), "until": parse_since(f.until, field="until")})
        now = time.time()

        def q(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            from .dead_runs import errored_runs, runs_as_recorded
            from .unrecorded import dead_calls

            refuse_spaced_names(conn, f)
            if not self.read_only:
                return agent_days(conn, fixed, zone)
            # a read-only ledger's calls of dead processes, on their days, as a writable read records them, and a
            # status filter reading the runs they turn to 'error' as errors
            dead = dead_calls(conn, fixed, now)
            errored = errored_runs(runs_as_recorded(conn, dead.calls)) if dead.calls else ()
            return agent_days(conn, fixed.with_dead_calls(errored) if errored else fixed, zone, dead)

        return await self.read(q)

    async def query_runs(self, filters: Any = None) -> list[dict[str, Any]]:
        return (await self.query_runs_page(filters))["runs"]

    async def query_runs_page(
        self,
        filters: Any = None,
        attempts_per_run: int | None = None,
        *,
        inline: int | None = None,
        inline_page: int | None = None,
    ) -> dict[str, Any]:
        from .run_pages import query_runs_page

        await self.record_expired_reservations()
        return await query_runs_page(self, filters, attempts_per_run, inline=inline, inline_page=inline_page)

    async def run_attempt_ids(self, run_id: str, bound: int) -> list[int]:
        """An exported run's attempt ids, in order (see :mod:`.exports`)."""
        from .exports import run_attempt_ids

        return await run_attempt_ids(self, run_id, bound)

    async def attempts_by_id(self, ids: list[int]) -> list[dict[str, Any]]:
        """An exported run's attempts, a piece of its ids at a time (see :mod:`.exports`)."""
        from .exports import attempts_by_id

        return await attempts_by_id(self, ids)

    async def run_models(self, run_ids: list[str]) -> dict[str, list[str]]:
        """The models each run called, in the order it first called them (its attempts are not read)."""
        from .run_pages import run_models

        return await run_models(self, run_ids)

    async def search(self, pattern: str, limit: int = 50, since: Since = None) -> list[dict[str, Any]]:
        return (await self.search_page(pattern, limit, since))["hits"]

    async def search_page(
        self, pattern: str, limit: int = 50, since: Since = None, cursor: str | None = None
    ) -> dict[str, Any]:
        from .search import search_page

        await self.record_expired_reservations()
        page = await search_page(self, pattern, limit, since, cursor)
        # no hits for a since ahead of now (a year mistyped) is said here, for `data search` and search_usage alike:
        # [] alone reads as "no such error"
        future = None if page["hits"] else future_since(since)
        notes = [note for note in (future, since_as_seconds_span(since)) if note]
        # a read-only ledger's calls of dead processes, whose stand-ins (errors) a writable read records and finds
        if (expired := await self.expired_unrecorded_note()) is not None:
            notes.append(expired)
        return {**page, "notes": [redact(note) for note in notes]}

    async def prune(
        self, older_than_seconds: float, *, vacuum: bool = True, progress: PruneProgress | None = None
    ) -> dict[str, int]:
        from .prune import prune

        return await prune(self, older_than_seconds, vacuum=vacuum, progress=progress)
