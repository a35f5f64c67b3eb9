"""What a :class:`~magsag_mcp.api.Magsag` reads of its ledger: the MCP server's read tools (``summarize_usage``,
``daily_usage``, ``query_runs``, ``search_usage``, ``check_budget``) for Python code, each in a sync and an ``a*`` form.

Each method only parses its arguments and hands them to the service, on its home loop through the bridge, as the
tools and the CLI do: what a read means (its filters, notes and exact money) is the service's and the ledger's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bridge import Bridge
    from .budget_dicts import BudgetStatusDict
    from .service import Service
    from .usage_dicts import DailyUsageDict, RunsPageDict, SearchPageDict, UsageSummaryDict

#: a time as :meth:`LedgerReads.search` takes it: text ("24h", an ISO time), seconds since the epoch, or Python's own
Since = str | float | datetime | date | timedelta | None


class LedgerReads:
    """The ledger's reads, for :class:`~magsag_mcp.api.Magsag` (whose ``service``, ``bridge``, ``agent`` and
    ``run_id`` they use). Each read's result is a plain dict, typed for the caller's type checker as
    :class:`~.usage_dicts.UsageSummaryDict`, :class:`~.usage_dicts.RunsPageDict`,
    :class:`~.usage_dicts.SearchPageDict` or :class:`~.budget_dicts.BudgetStatusDict`."""

    service: Service
    bridge: Bridge
    agent: str | None
    run_id: str

    def summarize(self, *, timezone: str | None = None, top: int | None = None, **filters: Any) -> UsageSummaryDict:
        """Usage as ``summarize_usage`` reports it, with ``notes``; filters ``agent``, ``run_id``, ``skill``,
        ``model``, ``provider``, ``status``, ``since`` and ``until`` (``"7d"``, an ISO date, or a ``datetime``,
        ``date`` or ``timedelta``; a naive ``datetime`` is local time, as Python reads it). ``timezone``: the IANA
        zone (``"Europe/Berlin"``) whose days ``largest_day`` and ``by_agent[A].largest_day`` are, default UTC, in
        which a ``since`` or ``until`` date or ISO time without an offset is read (as ``flow summarize --timezone``).
        ``top``: as the ``summarize_usage`` tool's, the most entries each of ``model_stats``, ``by_provider``,
        ``by_agent`` and ``by_skill`` lists (1 to 10000), costliest first, ``omitted`` counting the rest;
        default all."""
        from .ledger import UsageFilters

        built = UsageFilters.build(filters, paged=False)
        return self.bridge.run(lambda: self.service.summarize_noted(built, timezone, top=top))

    async def asummarize(
        self, *, timezone: str | None = None, top: int | None = None, **filters: Any
    ) -> UsageSummaryDict:
        """:meth:`summarize` from async code, on any event loop, without holding it while the ledger is read."""
        from .ledger import UsageFilters

        built = UsageFilters.build(filters, paged=False)
        return await self.bridge.call(lambda: self.service.summarize_noted(built, timezone, top=top))

    def daily(
        self, *, timezone: str | None = None, limit: int | None = None, cursor: str | None = None, **filters: Any
    ) -> DailyUsageDict:
        """Each agent's spend on each day it spent, by day then agent, as ``magsag flow daily`` and the
        ``daily_usage`` tool report it: ``days`` (``date``, ``agent``, ``known_cost_usd``, ``unknown_cost_bound_usd``,
        ``at_most_usd``, None where the day holds an attempt of no known price, and ``unbounded_attempts``),
        ``has_more``, ``next_cursor``, ``timezone`` and ``notes``. Filters and ``timezone`` as :meth:`summarize`'s;
        ``limit``: the most rows (default all of them), ``cursor`` the previous page's ``next_cursor``."""
        from .ledger import UsageFilters

        built = UsageFilters.build(filters, paged=False)
        return self.bridge.run(lambda: self.service.daily_usage_noted(built, timezone, limit, cursor))

    async def adaily(
        self, *, timezone: str | None = None, limit: int | None = None, cursor: str | None = None, **filters: Any
    ) -> DailyUsageDict:
        """:meth:`daily` from async code, on any event loop, without holding it while the ledger is read."""
        from .ledger import UsageFilters

        built = UsageFilters.build(filters, paged=False)
        return await self.bridge.call(lambda: self.service.daily_usage_noted(built, timezone, limit, cursor))

    def query_runs(self, *, attempts_per_run: int | None = 50, **filters: Any) -> RunsPageDict:
        """Runs, newest first, each with its latest ``attempts_per_run`` attempts (``None``: all of them), as the
        ``query_runs`` tool lists them: ``runs``, ``has_more``, ``next_cursor`` (pass it as ``cursor=``, with the same
        filters, for the next page) and ``notes``. Filters as :meth:`summarize`'s, and ``limit`` (default 50),
        ``offset`` and ``cursor``."""
        from .ledger import UsageFilters

        built = UsageFilters.build(filters)
        return self.bridge.run(lambda: self.service.query_runs_noted(built, attempts_per_run))

    async def aquery_runs(self, *, attempts_per_run: int | None = 50, **filters: Any) -> RunsPageDict:
        """:meth:`query_runs` from async code, on any event loop, without holding it while the ledger is read."""
        from .ledger import UsageFilters

        built = UsageFilters.build(filters)
        return await self.bridge.call(lambda: self.service.query_runs_noted(built, attempts_per_run))

    def search(
        self, pattern: str, *, limit: int = 50, since: Since = None, cursor: str | None = None
    ) -> SearchPageDict:
        """The attempts, logged events and runs whose text (provider, model, outcome, error, skill, agent, run id
        and an attempt's warnings; an event's data) matches the regular expression ``pattern`` (RE2,
        case-insensitive), newest first, as ``magsag data search`` and the ``search_usage`` tool find them: ``hits``,
        ``has_more``, ``next_cursor`` (the next page's ``cursor``) and ``notes``; ``limit`` 1 to 10000; ``since`` as
        :meth:`summarize`'s."""
        return self.bridge.run(lambda: self.service.search_page(pattern, limit, since, cursor))

    async def asearch(
        self, pattern: str, *, limit: int = 50, since: Since = None, cursor: str | None = None
    ) -> SearchPageDict:
        """:meth:`search` from async code, on any event loop, without holding it while the ledger is read."""
        return await self.bridge.call(lambda: self.service.search_page(pattern, limit, since, cursor))

    def _budget_args(self, agent: str | None, run_id: str | None, **call: Any) -> dict[str, Any]:
        # None is "not given", as in skills.invoke: the agent and run whose limits this Magsag's calls spend
        agent, run_id = self.agent if agent is None else agent, self.run_id if run_id is None else run_id
        return {"agent": agent, "run_id": run_id, **call}

    def check_budget(
        self,
        agent: str | None = None,
        run_id: str | None = None,
        *,
        skill: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        model_config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> BudgetStatusDict:
        """Each limit the agent's and run's calls meet, by default this Magsag's (``""`` leaves one out). With
        ``skill`` (and the ``model`` and ``max_tokens`` the call would name), ``call`` says whether the least a
        call of it reserves fits what is left: a limit's remaining is not what one call may spend. ``model_config`` (a
        payload's) and ``context`` (``tier``, ``data_class``, ``preferred_model``, ``llm_overrides``) are those the call
        would give ``skills.invoke``: ``call`` then names the target the router picks for it, whether the policies
        allow it (``allowed``, its ``data_classes`` held to) and its worst-case reservation."""
        names = self._budget_args(
            agent, run_id, skill=skill, model=model, max_tokens=max_tokens, model_config=model_config, context=context
        )
        return self.bridge.run(lambda: self.service.check_budget(**names))

    async def acheck_budget(
        self,
        agent: str | None = None,
        run_id: str | None = None,
        *,
        skill: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        model_config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> BudgetStatusDict:
        """:meth:`check_budget` from async code, on any event loop, without holding it while the ledger is read."""
        names = self._budget_args(
            agent, run_id, skill=skill, model=model, max_tokens=max_tokens, model_config=model_config, context=context
        )
        return await self.bridge.call(lambda: self.service.check_budget(**names))
