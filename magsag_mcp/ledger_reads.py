"""The service's reads of its ledger and budgets: :class:`LedgerReads`, what the MCP tools ``summarize_usage``,
``query_runs``, ``search_usage`` and ``check_budget``, the CLI's ``flow`` and ``data`` commands and the Python API
read. Each is checked to run on the service's own event loop; none calls a provider or spends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from . import price_data
from .call_fit import call_fit, floor_plan
from .errors import InputError
from .exact_money import exact_money
from .max_tokens_limit import max_tokens_refusal
from .text import check_name, said_number
from .zones import zone_notes

if TYPE_CHECKING:
    from .budget_dicts import BudgetStatusDict
    from .cascade import Cascade
    from .ledger.run_scope import RunSpend
    from .ledger.times import Since
    from .usage_dicts import DailyUsageDict, RunsPageDict, SearchPageDict, UsageSummaryDict


#: who a client with a token of its own is, and why (see :func:`held_agent`)
TOKEN_CLIENT = ("every call of your client", "the agent of its token, in the server's MAGSAG_MCP_TOKENS_FILE")


def held_agent(named: str | None, own_agent: str, whose: str = TOKEN_CLIENT[0], why: str = TOKEN_CLIENT[1]) -> str:
    """The agent a call (or read) held to ``own_agent`` is recorded or read under: ``own_agent``, which the call may
    repeat (or leave out: None or "") but not change, its limits no longer binding its client. ``whose`` calls are
    held and ``why`` (the server's ``--agent``, a client's token) say it in the refusal."""
    if named in (None, "", own_agent):
        return own_agent
    raise InputError(
        f"this server records {whose} as agent {own_agent!r} ({why}), whose limits apply to its "
        f"client: leave agent out, or give {own_agent!r}"
    )


def held_filters(filters: Any, own_agent: str | None) -> Any:
    """``filters`` (a UsageFilters, a dict of them or None) kept to ``own_agent``'s records when the reader may read
    that agent's alone (None: any agent's): an agent filter naming another is refused as a call naming it is."""
    from .ledger import UsageFilters

    if own_agent is None:
        return filters
    if isinstance(filters, UsageFilters):
        # (a copy keeps the names the caller gave the filters, which a refusal made in the read says)
        return filters.model_copy(update={"agent": held_agent(filters.agent, own_agent)})
    data = dict(filters or {})
    return UsageFilters.build({**data, "agent": held_agent(data.get("agent"), own_agent)})


class LedgerReads:
    """Mixed into :class:`~magsag_mcp.service.Service`, which holds the ledger and the governance.

    The reads the Python API returns (``summarize_noted``, ``query_runs_noted``, ``search_page``, ``check_budget``)
    are typed as the TypedDicts of :mod:`.usage_dicts` and :mod:`.budget_dicts`: the ledger and the governance build
    them piece by piece as plain dicts, so each is named here, once, by a cast, and tests/test_user_typing.py checks
    every key and value of real reads against them."""

    ledger: Any
    governance: Any
    cascade: Cascade

    #: the service's own (bridge.LoopBound): a ledger read from another event loop is refused, saying why
    _on_own_loop: Callable[[], None]

    @exact_money
    async def summarize(self, filters: Any = None, timezone: str | None = None) -> dict[str, Any]:
        """``timezone``: the IANA zone whose days ``largest_day`` and ``by_agent[A].largest_day`` are, and in which a
        ``since`` or ``until`` without an offset is read (default UTC), as ``flow summarize --timezone``."""
        self._on_own_loop()
        return await self.ledger.summarize(filters, timezone or None)

    async def query_runs(self, filters: Any = None) -> list[dict[str, Any]]:
        """The runs ``filters`` select (a :class:`~.ledger.UsageFilters` or a dict of them: their ``limit``, default
        50, ``offset`` and ``cursor`` page them), newest first, each with its attempts: :meth:`query_runs_page`'s
        ``runs``, without ``has_more`` and ``next_cursor``."""
        self._on_own_loop()
        return await self.ledger.query_runs(filters)

    async def query_runs_page(
        self, filters: Any = None, attempts_per_run: int | None = None, *, own_agent: str | None = None
    ) -> dict[str, Any]:
        """A page of :meth:`query_runs` with ``has_more`` and ``next_cursor`` (pass it as ``cursor``).

        ``own_agent``: the reader may read that agent's records alone (an MCP client with a token of its own). Its
        runs are filtered by their first agent, and a run may still hold another agent's calls (filed by a caller
        not held to an agent, whose agents may share a run, or a first call raced: see :mod:`.ledger.run_owner`):
        those attempts are not listed, ``attempts_of_other_agents`` counts them."""
        self._on_own_loop()
        page = await self.ledger.query_runs_page(filters, attempts_per_run)
        if own_agent is not None:
            for run in page["runs"]:
                own = [attempt for attempt in run["attempts"] if attempt["agent"] == own_agent]
                if len(own) != len(run["attempts"]):
                    run["attempts_of_other_agents"] = len(run["attempts"]) - len(own)
                    run["attempts"] = own
        return page

    async def query_runs_noted(
        self, filters: Any = None, attempts_per_run: int | None = None, *, own_agent: str | None = None
    ) -> RunsPageDict:
        """:meth:`query_runs_page` with ``notes``, as :meth:`summarize_noted` gives a summary's; ``own_agent`` as the
        module says."""
        from .ledger.reports import page_matched

        filters = held_filters(filters, own_agent)
        page = await self.query_runs_page(filters, attempts_per_run, own_agent=own_agent)
        if own_agent is not None:
            return cast("RunsPageDict", {**page, "notes": await self._held_notes(filters, page_matched(page))})
        return cast("RunsPageDict", {**page, "notes": await self.filter_notes(filters, page)})

    async def summarize_noted(
        self, filters: Any = None, timezone: str | None = None, *, own_agent: str | None = None, top: Any = None
    ) -> UsageSummaryDict:
        """:meth:`summarize` with ``notes``: for each filter naming what the ledger never recorded, what it
        may have meant (zeros for ``agent="reserch-bot"`` would otherwise read as "spent nothing"). ``timezone`` as
        :meth:`summarize`'s ("" is none, as an MCP client sends an optional name left out); a zone no day can be
        counted in is refused with ``flow summarize --timezone``'s words (:func:`~.ledger.peaks.known_zone`).
        ``own_agent`` as the module says. ``top``: the most entries each per-key map lists, costliest first, the rest
        counted in ``omitted`` (:func:`~.summary_top.top_entries`); None lists them all."""
        from .ledger.reports import summary_matched
        from .summary_top import checked_top, top_entries

        most = checked_top(top)  # (before the ledger is read: a wrong top costs no read)
        filters = self.zoned_filters(held_filters(filters, own_agent), timezone)  # the notes read dates as it does
        summary = await self.summarize(filters, timezone)
        if own_agent is not None:
            notes = await self._held_notes(filters, summary_matched(summary), summary)
        else:
            notes = await self.filter_notes(filters, summary)
        noted = {**summary, "notes": notes + zone_notes(timezone)}
        return cast("UsageSummaryDict", noted if most is None else top_entries(noted, most))

    @exact_money
    async def daily_usage(
        self, filters: Any = None, timezone: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> DailyUsageDict:
        """Each agent's spend on each day it spent, by day then agent, as ``magsag flow daily`` reads it (the ledger's
        ``agent_days``): ``days``, ``has_more``, ``next_cursor`` (pass it as ``cursor``), ``timezone`` and ``notes``,
        whose only note is of the days holding an attempt of no known price (the filters' notes are
        :meth:`daily_usage_noted`'s). ``limit``: the most rows a page holds (None: all); ``timezone`` as
        :meth:`summarize_noted`'s."""
        from .daily_pages import daily_page

        self._on_own_loop()
        rows = await self.ledger.agent_days(filters, timezone or None)
        return cast("DailyUsageDict", daily_page(rows, limit, cursor, timezone or None))

    async def daily_usage_noted(
        self,
        filters: Any = None,
        timezone: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        *,
        own_agent: str | None = None,
    ) -> DailyUsageDict:
        """:meth:`daily_usage` with the notes its filters get, as ``flow daily`` prints them (a mistyped agent);
        ``own_agent`` as the module says."""
        filters = held_filters(filters, own_agent)
        page = await self.daily_usage(filters, timezone, limit, cursor)
        # (a later page's rows matched on the first: its filters named what the ledger holds)
        matched = bool(page["days"]) or bool(cursor)
        zoned = self.zoned_filters(filters, timezone)  # the notes read the dates as the days are counted
        if own_agent is not None:
            notes = await self._held_notes(zoned, {"names": matched})
            return cast("DailyUsageDict", {**page, "notes": page["notes"] + notes + zone_notes(timezone)})
        said = await self.ledger.filter_notes(zoned, agent=matched, run=matched, names=matched)
        notes = said + page["notes"] + self.ledger_notes() + zone_notes(timezone)
        return cast("DailyUsageDict", {**page, "notes": notes})

    @staticmethod
    def zoned_filters(filters: Any, timezone: str | None) -> Any:
        """``filters`` with their dates read in ``timezone`` as :meth:`summarize` reads them, for the notes a summary's
        filters get (as the CLI's): unchanged without a zone."""
        if not timezone:
            return filters
        from .ledger import UsageFilters

        return UsageFilters.build(filters if isinstance(filters, dict | UsageFilters) else None, zone=timezone)

    async def filter_notes(self, filters: Any, result: Mapping[str, Any]) -> list[str]:
        """For each filter of a :meth:`summarize` or :meth:`query_runs_page` ``result`` that names what the
        ledger never recorded (a mistyped agent, run id, model or skill), what it may have meant."""
        from .ledger.reports import page_matched, summary_matched

        self._on_own_loop()
        if "runs" in result:
            return await self.ledger.filter_notes(filters, **page_matched(result)) + self.ledger_notes()
        notes = await self.ledger.filter_notes(filters, **summary_matched(result))
        unsent = await self.ledger.unsent_note(filters, result)  # calls that sent nothing: zeros with a reason
        return notes + ([] if unsent is None else [unsent]) + self.ledger_notes()

    async def _held_notes(
        self, filters: Any, matched: Mapping[str, bool], summary: Mapping[str, Any] | None = None
    ) -> list[str]:
        """The notes of a read held to an agent (``own_agent``): of its model, skill, provider and time filters, not
        of agents or runs, whose notes name the ledger's other agents and runs (what the read keeps from it); of a
        ``summary``, why its agent's calls sent nothing, as :meth:`filter_notes` says it."""
        self._on_own_loop()
        notes = await self.ledger.filter_notes(filters, **{**matched, "agent": True, "run": True})
        unsent = None if summary is None else await self.ledger.unsent_note(filters, summary)
        return notes + ([] if unsent is None else [unsent]) + self.ledger_notes()

    def ledger_notes(self) -> list[str]:
        """What every read says of the ledger itself: that a migrated copy of it was read, and why (see
        :mod:`.ledger.read_only_copy`), which a CLI command says once on stderr and a tool's result in its notes."""
        from .ledger.copies import copy_note

        note = copy_note(self.ledger)
        return [] if note is None else [note]

    async def search(self, pattern: str, limit: int = 50, since: Since = None) -> list[dict[str, Any]]:
        """The hits of :meth:`search_page`'s first page (at most ``limit``, newest first), without its paging."""
        self._on_own_loop()
        return await self.ledger.search(pattern, limit, since)

    async def search_page(
        self,
        pattern: str,
        limit: int = 50,
        since: Since = None,
        cursor: str | None = None,
        *,
        own_agent: str | None = None,
    ) -> SearchPageDict:
        """:meth:`search`'s hits after ``cursor``, with ``has_more`` and ``next_cursor`` (the next ``cursor``).
        ``own_agent`` (as the module says): refused, a search reading every agent's records (errors, logged events)
        and taking no agent to keep to."""
        if own_agent is not None:
            raise InputError(
                "search_usage reads every agent's records, and a client with a token of its own (the server's "
                "MAGSAG_MCP_TOKENS_FILE) reads its own agent's alone: use query_runs or summarize_usage, which "
                "keep to it"
            )
        self._on_own_loop()
        page = await self.ledger.search_page(pattern, limit, since, cursor)
        return cast("SearchPageDict", {**page, "notes": page["notes"] + self.ledger_notes()})

    @exact_money
    async def check_budget(
        self,
        agent: str | None = None,
        run_id: str | None = None,
        *,
        skill: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        model_config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        run_classes: tuple[str, ...] = (),
        own_run: bool = False,
        own_agent: str | None = None,
    ) -> BudgetStatusDict:
        """Each limit that applies, and with ``skill`` (``model``, ``max_tokens`` as a call's model_config names
        them) ``call``: whether the least a call of it reserves fits what is left (see :mod:`.call_fit`). The call is
        the one :meth:`invoke_skill` would make with ``model_config`` (the payload's), ``context`` (its ``tier``,
        ``data_class``, ``preferred_model``, ``llm_overrides``) and ``run_classes``: ``call`` then says the target
        the router picks for it, whether the policies allow it (its data classes' requirements too), what it
        reserves at worst and whether that fits. With
        ``own_run`` (a client held to ``agent``, which reads its agent's records alone), a ``run_id`` whose calls are
        another agent's is refused (see :meth:`refuse_others_run`). ``own_agent`` (as the module says): ``agent`` is
        held to it (left out: it; another: refused), and ``own_run`` with it."""
        if own_agent is not None:
            agent, own_run = held_agent(agent, own_agent), True
        # "" names none (what MCP clients and forms send for an optional name; Magsag.check_budget's way to leave
        # one out), as invoke_skill reads it: echoed as "", it answered for a run named "" where an agent "" was null;
        # and a skill "", which MCP's check_budget left out where Python's was an unknown skill ''
        agent, run_id, skill, model = agent or None, run_id or None, skill or None, model or None
        # looked up, not recorded: a name an older ledger holds (a trailing space) can still be asked about
        check_name(agent, "agent", recorded=False)
        check_name(run_id, "run_id", recorded=False)
        if skill is None and (model is not None or max_tokens is not None):
            raise InputError(
                "model and max_tokens say what a call of a skill would reserve: name the skill too (e.g. "
                "skill='skill.analysis'), or leave them out to see the limits alone"
            )
        model_config, context = _call_setting(model_config, "model_config"), _call_setting(context, "context")
        if isinstance(run_classes, str) or not all(isinstance(c, str) for c in run_classes):
            raise InputError(
                f"run_classes must be a tuple of data class names, e.g. ('pii_processing',), not {run_classes!r}"
            )
        if skill is None and (model_config or context or run_classes):
            settings = (("model_config", model_config), ("context", context), ("run_classes", run_classes))
            said = " and ".join(name for name, given in settings if given)
            raise InputError(
                f"{said} say what a call of a skill would be: name the skill too (e.g. skill='skill.analysis'), or "
                "leave them out to see the limits alone"
            )
        if max_tokens is not None and (refusal := max_tokens_refusal(max_tokens, "max_tokens")) is not None:
            raise InputError(refusal)
        for key, value in (("model", model), ("max_tokens", max_tokens)):
            if value is not None and model_config.get(key) not in (None, "", value):
                # (said_number: repr() of an int of 5,000 digits raised ValueError)
                raise InputError(
                    f"{key} is given twice, as {said_number(value)} and as model_config.{key} "
                    f"{said_number(model_config[key])}: give it once"
                )
        if skill is not None and price_data.under_way:  # (it prices the skill's call: see .price_data)
            await price_data.loaded()
        plan = (
            floor_plan(
                self, skill, model, max_tokens, model_config=model_config, context=context, run_classes=run_classes
            )
            if skill is not None
            else None
        )
        self._on_own_loop()
        if own_run and run_id is not None and agent is not None:
            await self.refuse_others_run(run_id, agent, "read")
        status = await self.governance.check_budget(agent=agent, run_id=run_id)
        if plan is not None:
            # (the targets the cascade would pass over, unsent, are passed over too)
            status = call_fit(self.governance, plan, status, agent=agent, skip=self.cascade.skip_reason)
        notes = self.ledger_notes() + list(status.get("notes", []))  # (the limits' own: a prune's counts)
        # a read-only ledger's calls of dead processes: counted as reserved_by.expired, not as the attempts a writable
        # read records them as, which the note says
        if (expired := await self.ledger.expired_unrecorded_note()) is not None:
            notes.append(expired)
        return cast("BudgetStatusDict", {**status, "notes": notes} if notes else status)

    async def refuse_others_run(self, run_id: str, agent: str, doing: str) -> None:
        """Refuse run ``run_id`` to a client held to ``agent`` when its calls are another agent's: filed there, its
        calls showed in the other team's run report and spent the run's limit; read, the run's spend was another
        team's. Whose it is is not said. A run with no calls yet is the caller's to start (see ledger.run_owner)."""
        from .ledger.run_owner import others_run

        if await self.ledger.read(lambda conn: others_run(conn, run_id, agent)):
            raise InputError(
                f"run {run_id!r} holds another agent's calls, and this server holds your client to agent {agent!r}: "
                f"its calls may not {doing} another agent's run. Use a run id of your own, or leave run_id out "
                + ("for a new one" if doing == "join" else "to see your agent's limits"),
                run_id=run_id,
            )

    @exact_money
    async def run_cost(self, run_id: str) -> tuple[Decimal, bool]:
        """What run ``run_id`` and the runs delegated from it spent, known (a ``Decimal``), and whether an attempt
        of unknown cost is among them (:meth:`run_spend` has the parts)."""
        self._on_own_loop()
        return await self.ledger.run_cost(run_id)

    @exact_money
    async def run_spend(self, run_id: str) -> RunSpend:
        """What run ``run_id`` and the runs delegated from it spent, its attempts of unknown cost counted apart (their
        bound, how many have none), as its run limit counts them."""
        self._on_own_loop()
        return await self.ledger.run_spend(run_id)


def _call_setting(given: Any, name: str) -> dict[str, Any]:
    """``check_budget``'s ``model_config`` or ``context``, as invoke_skill takes it: an object (None: none), else
    refused naming the shape."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        example = (
            "{'model': 'gpt-4o-mini', 'max_tokens': 500}"
            if name == "model_config"
            else "{'data_class': 'pii_processing', 'tier': 'economy'}"
        )
        raise InputError(
            f"{name} must be an object, as invoke_skill takes it (e.g. {example}), not {type(given).__name__}"
        )
    return dict(given)
