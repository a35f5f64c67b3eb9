"""The MCP tools: each one parses its arguments, calls one service method and shapes the answer.

Failures the caller can act on (a :class:`~magsag_mcp.errors.MagsagError`: unknown skill, invalid
payload, policy denied, budget exceeded, every target failed, a bad catalog) come back as a tool
error (``isError``) whose text says what went wrong and whose ``structuredContent.error`` is
``err.to_dict()``; so do arguments that fail the tool's input schema (type ``invalid_arguments``).
Anything else is a bug: the client gets a generic message and the traceback goes to the server's log
(stderr), never to the client. How a result and an error are shaped: :mod:`.tool_results`; how a tool is made on the
SDK from its models: :mod:`.tool_making`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel

from ..call_ids import new_run_id
from ..errors import MagsagError, redact, redacting_logger
from ..invoke_result import shown_answer
from ..summary_top import TOP_DEFAULT
from . import models as M
from .budget_results import BudgetResult
from .call_log import failed_fields, log_answered, log_cancelled
from .progress import ProgressBridge, logs_requested, progress_requested
from .search_hits import cut_event_data
from .skill_arguments import call_context, with_model_config
from .tool_making import make_tool
from .tool_results import error_result, internal_error, ok_result
from .tool_schemas import pin_agent_arguments, stored

if TYPE_CHECKING:  # (annotations alone: the server's start need not import the ledger's usage dicts)
    from ..invoke_result import InvokeResult
    from ..result_dicts import InvokeResultDict, RouteExplanationDict
    from ..service import Service
    from ..usage_dicts import RunsPageDict
    from .state import ServerState

logger = redacting_logger("magsag_mcp.mcp")



def _reads(title: str) -> ToolAnnotations:
    """A tool that changes nothing (the catalog, the ledger, a budget) and reaches no vendor: explain_route asks a
    local target's server where it runs the model (POST /api/show), as the call would, and sends it no prompt."""
    return ToolAnnotations(title=title, read_only_hint=True, idempotent_hint=True, open_world_hint=False)


#: invoke_skill sends the prompt to a vendor (open world) and spends: each call is a new run, recorded in the ledger
#: and counted against the budgets (not idempotent: a second call is paid again), which it adds to and never
#: overwrites or deletes (not destructive)
INVOKES = ToolAnnotations(
    title="Invoke a skill", read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


#: continue_paused goes on with a paused turn: sent to the vendor and paid, as invoke_skill's call is
CONTINUES = ToolAnnotations(
    title="Continue a paused call",
    read_only_hint=False,
    destructive_hint=False,
    idempotent_hint=False,
    open_world_hint=True,
)
#: the tools whose result carries a vendor's answer (looked at for keys: see ok_result)
_ANSWERING = frozenset({"invoke_skill", "continue_paused"})


class MagsagTools:
    """The tool functions, bound to the server's state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def _agent(self, named: str | None) -> str | None:
        """The agent a call is recorded (or explained, or read) under: the one it is held to (its client token's, in
        ``MAGSAG_MCP_TOKENS_FILE``; else the server's, ``magsag-mcp --agent``) when there is one, which a call may
        repeat but not change (its limits would no longer bind the client), else the call's own: "" names none, as
        the service records it (a line saying "agent ," was of a call the ledger holds under no agent)."""
        from ..ledger_reads import held_agent

        pinned = self.state.call_agent
        if pinned is None:
            return named or None
        if self.state.reads_own_agent_only:
            return held_agent(named, pinned)
        return held_agent(named, pinned, "every call", "magsag-mcp --agent")

    @property
    def _own_agent(self) -> str | None:
        """The agent whose records alone a ledger read may read (a client with a token of its own: see
        ServerState.reads_own_agent_only), which the service keeps the read to; else None."""
        return self.state.call_agent if self.state.reads_own_agent_only else None

    def _progress(self, ctx: Context) -> ProgressBridge | None:
        """What a call's progress is told to: the client's progress notifications (and log messages), its log messages
        alone when it asked for no progress, or None when it asked for neither."""
        if progress_requested(ctx):
            return ProgressBridge(ctx, self.state.client_log)
        if logs_requested(ctx, self.state.client_log):  # (log messages asked for alone: no progress sent)
            return ProgressBridge(ctx, self.state.client_log, progress=False)
        return None

    async def _run(
        self,
        name: str,
        result_model: type[BaseModel],
        call: Callable[[Service], Awaitable[Any]],
        *,
        prices: bool = False,
        said: dict[str, Any] | None = None,
    ) -> CallToolResult:
        """``call(service)``'s result as the tool's; with ``prices``, for a tool whose call prices synchronously
        (explain_route), once genai-prices' data is loaded (see ServerState.pricing_service). ``said``: an
        invoke_skill call's skill, agent, run id and whether the service took it under way (``recorded``), which its
        failed or cancelled line names (:mod:`.call_log`). A call of any tool cancelled (its client's
        notifications/cancelled, a closed session, the server stopping) is one line: what it held (a ledger read, a
        wait on the service's open) is let go as the cancel unwinds it."""
        started = time.monotonic()
        try:
            service = await (self.state.pricing_service() if prices else self.state.service())
            model = result_model.model_validate(await call(service))
        except anyio.get_cancelled_exc_class():
            elapsed = (time.monotonic() - started) * 1000
            if said is None:
                log_cancelled(logger, name, elapsed)
            elif (answer := said.pop("answer", None)) is not None:
                # its answer's record handed to the ledger as ok before the cancel (a group commit's wait, the cache's
                # write, the heartbeat's stop): said answered, as the ledger will hold it, its client gone before it
                log_answered(logger, answer.to_dict(), said["agent"], cancelled=True, tool=name)
            else:  # (recorded by the service as it unwound, shielded, once under way: said after it is)
                log_cancelled(logger, name, elapsed, **said)
            raise
        except MagsagError as exc:
            fields = failed_fields(name, exc, **({"skill": said["skill"], "agent": said["agent"]} if said else {}))
            if said is None:
                logger.info("%s failed: %s: %s", name, exc.kind, exc.message, extra=fields)
            else:
                shown = {k: "(none)" if fields[k] is None else fields[k] for k in ("skill", "run_id", "agent")}
                logger.info(
                    "%s failed: %s: %s (skill %s, run %s, agent %s)",
                    name,
                    exc.kind,
                    exc.message,
                    *shown.values(),
                    extra=fields,
                )
            return error_result(exc)
        except Exception:
            logger.exception("%s raised an unexpected exception", name)
            return internal_error(name)
        return ok_result(model, answer=name in _ANSWERING)

    async def invoke_skill(
        self,
        ctx: Context,
        skill_id: str,
        payload: dict[str, Any],
        agent: str | None = None,
        run_id: str | None = None,
        model_config: M.ModelConfigArg | None = None,
        context: M.ContextArg | None = None,
    ) -> CallToolResult:
        payload = with_model_config(payload, model_config)
        declared = call_context(context)
        progress = self._progress(ctx)

        # the run named here when the call names none (as the service would): a cancelled call's line names it
        run = run_id or new_run_id()
        said: dict[str, Any] = {"skill": skill_id, "agent": self.state.call_agent or agent, "run_id": run}

        def under_way(_: str) -> None:
            said["recorded"] = True

        def recorded_ok(result: InvokeResult) -> None:
            said["answer"] = result

        async def invoke(svc: Service, who: str | None, own: bool) -> InvokeResult:
            try:
                return await svc.invoke_skill(
                    skill_id,
                    payload,
                    agent=who,
                    run_id=run,
                    context=declared,
                    progress=progress,
                    own_run=own,
                    under_way=under_way,
                    recorded_ok=recorded_ok,
                )
            except Exception:
                # its ok record refused (the ledger's error, or a bug of ours writing it): nothing is held as ok, so
                # a cancel landing as the call unwinds (the heartbeat's stop) says cancelled, not answered
                said.pop("answer", None)
                raise

        async def call(svc: Service) -> InvokeResultDict | dict[str, Any]:
            who = said["agent"] = self._agent(agent)
            # a pinned client's run id is refused when its calls are another agent's (an unpinned server's agents may
            # share a run: an orchestrator and its sub-agents); one named here is new, no one's
            own = self.state.call_agent is not None and bool(run_id)
            if progress is None:
                result = await invoke(svc, who, own)
            else:
                async with progress.beating():
                    result = await invoke(svc, who, own)
            answered = result.to_dict()
            log_answered(logger, answered, who)
            # less the credentials the call gave itself, which it no longer knows (the process's: see ok_result)
            return shown_answer(answered, result.call_keys) if result.call_keys else answered

        return await self._run("invoke_skill", M.InvokeSkillResult, call, said=said)

    async def continue_paused(self, ctx: Context, paused_id: str, continuations: int | None = None) -> CallToolResult:
        """The service's continue_paused of the result ``paused_id`` names, held to this client's agent where it is
        pinned to one (another agent's paused call is unknown to it)."""
        progress = self._progress(ctx)
        said: dict[str, Any] = {"skill": None, "agent": self.state.call_agent, "run_id": None}

        def recorded_ok(result: InvokeResult) -> None:
            said["answer"] = result

        async def call(svc: Service) -> InvokeResultDict | dict[str, Any]:
            held = svc.held_paused(paused_id, self.state.call_agent)
            paused = held.paused_call
            if paused is not None:  # (the line of a failed or cancelled continuation names the call it continues)
                said.update(skill=paused.skill_id, agent=paused.agent, run_id=paused.run_id, recorded=True)
            going_on = svc.continue_paused(
                held,
                continuations=continuations,
                progress=progress,
                agent=self.state.call_agent,
                recorded_ok=recorded_ok,
            )
            if progress is None:
                result = await going_on
            else:
                async with progress.beating():
                    result = await going_on
            answered = result.to_dict()
            log_answered(logger, answered, said["agent"], tool="continue_paused")
            return shown_answer(answered, result.call_keys) if result.call_keys else answered

        return await self._run("continue_paused", M.InvokeSkillResult, call, said=said)

    async def explain_route(
        self,
        ctx: Context,
        skill_id: str,
        payload: dict[str, Any],
        agent: str | None = None,
        model_config: M.ModelConfigArg | None = None,
        context: M.ContextArg | None = None,
    ) -> CallToolResult:
        payload = with_model_config(payload, model_config)
        declared = call_context(context)
        # (a local target's server is asked where it runs the model, which may take its connect timeout: said as
        # invoke_skill says it, "starting" at once and a heartbeat while it waits)
        progress = self._progress(ctx)

        async def call(svc: Service) -> RouteExplanationDict:
            who = self._agent(agent)
            if progress is None:
                return await svc.explain_asking(skill_id, payload, context=declared, agent=who)
            async with progress.beating():
                return await svc.explain_asking(skill_id, payload, context=declared, agent=who, progress=progress)

        return await self._run("explain_route", M.ExplainRouteResult, call, prices=True)

    async def summarize_usage(
        self, filters: M.UsageFiltersArg, timezone: str | None = None, top: int = TOP_DEFAULT
    ) -> CallToolResult:
        async def call(svc: Service) -> Any:
            # (a model's context: each map's costliest, the rest counted; default 20, where mg.summarize's is all)
            return await svc.summarize_noted(_usage_filters(filters), timezone, own_agent=self._own_agent, top=top)

        return await self._run("summarize_usage", M.UsageSummaryResult, call)

    async def daily_usage(
        self, filters: M.UsageFiltersArg, limit: int, timezone: str | None = None, cursor: str | None = None
    ) -> CallToolResult:
        async def call(svc: Service) -> Any:
            usage = _usage_filters(filters)
            return await svc.daily_usage_noted(usage, timezone, limit, cursor, own_agent=self._own_agent)

        return await self._run("daily_usage", M.DailyUsageResult, call)

    async def query_runs(
        self,
        filters: M.UsageFiltersArg,
        limit: int,
        offset: int,
        cursor: str | None = None,
        attempts_per_run: int = 50,
        timezone: str | None = None,
    ) -> CallToolResult:
        async def call(svc: Service) -> RunsPageDict:
            usage = _usage_filters(filters, limit=limit, offset=offset, cursor=cursor, zone=timezone)
            return await svc.query_runs_noted(usage, attempts_per_run, own_agent=self._own_agent)

        return await self._run("query_runs", M.QueryRunsResult, call)

    async def search_usage(
        self, pattern: str, limit: int, since: str | None = None, cursor: str | None = None
    ) -> CallToolResult:
        async def call(svc: Service) -> dict[str, Any]:
            page = await svc.search_page(pattern, limit, since, cursor, own_agent=self._own_agent)
            # echoed redacted, as an error quoting it is: a pattern may be a key (looking for one in the ledger)
            return {"pattern": redact(pattern), **cut_event_data(page)}  # (a model's context: long data cut)

        return await self._run("search_usage", M.SearchUsageResult, call)

    async def check_budget(
        self,
        agent: str | None = None,
        run_id: str | None = None,
        skill: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        model_config: M.ModelConfigArg | None = None,
        context: M.ContextArg | None = None,
    ) -> CallToolResult:
        # as invoke_skill reads them: the call's model_config (as its payload's) and context, what was given alone
        settings = with_model_config({}, model_config).get("model_config")
        declared = call_context(context)

        async def call(svc: Service) -> Any:
            # the agent the call is held to when none is named ("" names none, as invoke_skill reads it): its limits
            # are the ones its client's calls meet (a client with a token of its own: the service refuses another)
            own = self._own_agent
            status = await svc.check_budget(
                agent=agent or self.state.call_agent,
                run_id=run_id,
                skill=skill,
                model=model,
                max_tokens=max_tokens,
                model_config=settings,
                context=declared,
                own_agent=own,
            )
            # an agent or run id the call named and no run has: the one it nearly names, as summarize_usage's notes
            # (and `magsag budget`) say it; the whole daily limit left for 'my-mga' said nothing of a misspelling.
            # Not the server's own agent, which a new server's first check reads before any call of it, left out or
            # named (as the server's refusal of another agent tells its client to name it)
            named = agent if agent and agent != self.state.call_agent else None
            unknown_agent, unknown_run = status.get("agent_recorded") is False, status.get("run_recorded") is False
            if own is not None or (not (unknown_agent and named) and not unknown_run):
                return status  # (a pinned client's: a run's note would name the ledger's other runs)
            try:  # (a name check_budget looks up but no filter takes, an older ledger's: no note, the answer stands)
                filters = _usage_filters(M.UsageFiltersArg(agent=named, run_id=run_id or None))
            except MagsagError:
                return status
            said = await svc.ledger.filter_notes(filters, agent=not unknown_agent, run=not unknown_run, names=True)
            return {**status, "notes": said + status.get("notes", [])} if said else status

        return await self._run("check_budget", BudgetResult, call)

    async def skill_fields(self, skill_id: Any) -> frozenset[str]:
        """The input fields of the catalog's skill ``skill_id`` (none for one it does not have, or a catalog that
        cannot be opened: its own call says so), for a rejected call's explanation: such a field written beside
        ``payload`` goes in it, however near an argument's name it is (``text``, ``context``)."""
        if not isinstance(skill_id, str):
            return frozenset()
        try:
            skills = (await self.state.service()).catalog.skills
        except MagsagError:
            return frozenset()
        skill = skills.get(skill_id)
        if skill is None:
            return frozenset()
        properties = (skill.input_schema or {}).get("properties")
        return frozenset(skill.field_names).union(properties if isinstance(properties, dict) else ())

    async def skill_ids(self) -> frozenset[str] | None:
        """The catalog's skill ids, which a rejected call's hint offers (None: a catalog that cannot be opened: its own
        call says so)."""
        try:
            return frozenset((await self.state.service()).catalog.skills)
        except MagsagError:
            return None

    async def list_skills(self) -> CallToolResult:
        async def call(svc: Service) -> dict[str, Any]:
            return {"skills": svc.list_skills()}

        return await self._run("list_skills", M.ListSkillsResult, call)

    def tools(self, *, fresh: bool = False) -> list[Tool]:
        """The tools, their schemas read from ``tool_schemas.json`` (``fresh``: generated from the models)."""
        known = {} if fresh else stored()
        # (a token per client: made on the first request, not as the HTTP app is built, whose start needs no tool)
        per_client = self.state.client_tokens
        return pin_agent_arguments(self.state.agent, per_client=per_client, tools=[
            make_tool(
                self.list_skills,
                M.ListSkillsArgs,
                M.ListSkillsResult,
                "The skills invoke_skill can run: each one's id, what it does, and the payload fields it takes.",
                _reads("List skills"),
                known,
            ),
            make_tool(
                self.invoke_skill,
                M.InvokeSkillArgs,
                M.InvokeSkillResult,
                "Run a skill (see list_skills), routed by policy with fallback, governance and cost tracking. "
                "Returns the output, the model that answered, usage, cost, the routing trace and warnings.",
                INVOKES,
                known,
                self.skill_fields,
                self.skill_ids,
            ),
            make_tool(
                self.explain_route,
                M.ExplainRouteArgs,
                M.ExplainRouteResult,
                "Show where invoke_skill would go (targets, policy checks, worst-case cost) without calling anything.",
                _reads("Explain a route"),
                known,
                self.skill_fields,
                self.skill_ids,
            ),
            make_tool(
                self.summarize_usage,
                M.SummarizeUsageArgs,
                M.UsageSummaryResult,
                "Usage per model, provider, agent and skill (calls, errors, tokens, cost; the top costliest of each) "
                "with totals, and the costliest call, run and day (largest_call, largest_run, largest_day).",
                _reads("Summarize usage"),
                known,
            ),
            make_tool(
                self.daily_usage,
                M.DailyUsageArgs,
                M.DailyUsageResult,
                "Each agent's spend on each day it spent (a day's report, a week's, a month's), by day then agent, in "
                "a timezone's days; next_cursor pages on.",
                _reads("Daily usage by agent"),
                known,
            ),
            make_tool(
                self.query_runs,
                M.QueryRunsArgs,
                M.QueryRunsResult,
                "Recent runs with their attempts, newest first; next_cursor pages on.",
                _reads("Query runs"),
                known,
            ),
            make_tool(
                self.check_budget,
                M.CheckBudgetArgs,
                BudgetResult,
                "Budget limits, spent, reserved and remaining for an agent and/or run (an attempt of unknown "
                "cost counts at its estimated worst case); with skill, whether a call of it fits what is left.",
                _reads("Check a budget"),
                known,
                skill_ids=self.skill_ids,
            ),
            make_tool(
                self.search_usage,
                M.SearchUsageArgs,
                M.SearchUsageResult,
                "Search the ledger (errors, warnings, models, logged events, run ids) with a regular expression, "
                "newest first; next_cursor pages on.",
                _reads("Search the ledger"),
                known,
            ),
            make_tool(
                self.continue_paused,
                M.ContinuePausedArgs,
                M.InvokeSkillResult,
                "Go on with a turn an invoke_skill call left paused (its paused_id), paying only for the rest: same "
                "run, target, policies and budgets. Returns the whole turn's answer, as invoke_skill does.",
                CONTINUES,
                known,
            ),
        ])


def _usage_filters(filters: M.UsageFiltersArg, **extra: Any) -> Any:
    from ..ledger import UsageFilters

    # a filter refused is named as this argument holds it (its refusal said "since=", "agent:", a Python keyword's name)
    names = {key: f"filters.{key}" for key in M.UsageFiltersArg.model_fields}
    return UsageFilters.build(filters.model_dump(exclude_none=True), names=names, **extra)
