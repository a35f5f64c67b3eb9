"""The MCP tools: each one parses its arguments, calls one service method and shapes the answer.

Failures the caller can act on (a :class:`~magsag_mcp.errors.MagsagError`: unknown skill, invalid
payload, policy denied, budget exceeded, every target failed, a bad catalog) come back as a tool
error (``isError``) whose text says what went wrong and whose ``structuredContent.error`` is
``err.to_dict()``; so do arguments that fail the tool's input schema (type ``invalid_arguments``).
Anything else is a bug: the client gets a generic message and the traceback goes to the server's log
(stderr), never to the client.
"""

from __future__ import annotations

import functools
import json
import time
import types
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from ..call_ids import new_run_id
from ..errors import MagsagError, redact, redacting_logger
from ..invoke_result import shown_answer
from ..redaction import redact_values
from ..text import has_surrogate, whole_characters
from . import models as M
from .arguments import explain, shown_place
from .budget_results import BudgetResult
from .call_log import failed_fields, log_answered, log_cancelled
from .progress import ProgressBridge, progress_requested
from .skill_arguments import call_context, with_model_config
from .tool_schemas import generated, pin_agent_arguments, stored

if TYPE_CHECKING:  # (annotations alone: the server's start need not import the ledger's usage dicts)
    from ..result_dicts import InvokeResultDict, RouteExplanationDict
    from ..service import Service
    from ..usage_dicts import RunsPageDict
    from .state import ServerState

logger = redacting_logger("magsag_mcp.mcp")

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def error_result(exc: MagsagError) -> CallToolResult:
    # every string redacted (errors are redacted when built; this is the backstop, and the paid answer an error may
    # carry is the vendor's): the CLI's print_error says it so too
    data = redact_values(exc.to_dict())
    details = {k: v for k, v in data.items() if k not in ("type", "message")}
    text = f"{data['type']}: {data['message']}"
    if details:
        text += "\n" + _compact(details)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content={"error": data}, is_error=True
    )


def _error_without_details(kind: str, message: str) -> CallToolResult:
    """An error that is no :class:`MagsagError`, shaped as :func:`error_result` shapes one that has no details."""
    return CallToolResult(
        content=[TextContent(type="text", text=f"{kind}: {message}")],
        structured_content={"error": {"type": kind, "message": message}},
        is_error=True,
    )


def invalid_arguments(message: str) -> CallToolResult:
    """Arguments that fail the tool's input schema (see :mod:`.arguments`), as :func:`error_result` shapes errors."""
    return _error_without_details("invalid_arguments", redact(message))


def internal_error(tool: str) -> CallToolResult:
    message = f"internal error in magsag-mcp while running {tool}; the details are in the server's log"
    return _error_without_details("internal_error", message)


def ok_result(model: BaseModel, *, answer: bool = False) -> CallToolResult:
    """``model`` as a tool's result; ``answer``: it carries a vendor's answer (invoke_skill's), looked at for keys."""
    data = model.model_dump(mode="json", by_alias=True)
    text = _compact(data)
    # Half of a UTF-16 surrogate pair in an answer (an emoji a vendor cut in two) cannot be written as UTF-8: the
    # whole result failed to serialize, and the client, its call paid for, got no answer at all. Looked for in
    # the text the result is sent as (one pass in C; a walk of the result cost 3.5% of an MCP call).
    if not text.isascii() and has_surrogate(text):
        data = whole_characters(data)
        text = _compact(data)
    # the answer less the keys this process sends, should the vendor quote one (see shown_answer; the CLI prints it so)
    if answer and (shown := shown_answer(data)) is not data:
        data = shown
        text = _compact(data)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


class MagsagTools:
    """The tool functions, bound to the server's state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def _agent(self, named: str | None) -> str | None:
        """The agent a call is recorded (or explained, or read) under: the one it is held to (its client token's, in
        ``MAGSAG_MCP_TOKENS_FILE``; else the server's, ``magsag-mcp --agent``) when there is one, which a call may
        repeat but not change (its limits would no longer bind the client), else the call's own."""
        from ..ledger_reads import held_agent

        pinned = self.state.call_agent
        if pinned is None:
            return named
        if self.state.reads_own_agent_only:
            return held_agent(named, pinned)
        return held_agent(named, pinned, "every call", "magsag-mcp --agent")

    @property
    def _own_agent(self) -> str | None:
        """The agent whose records alone a ledger read may read (a client with a token of its own: see
        ServerState.reads_own_agent_only), which the service keeps the read to; else None."""
        return self.state.call_agent if self.state.reads_own_agent_only else None

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
        (explain_route), once genai-prices' data is loaded (see ServerState.pricing_service). ``said``: a call's
        skill, agent, run id and start (monotonic), which its failed or cancelled line names (:mod:`.call_log`)."""
        try:
            service = await (self.state.pricing_service() if prices else self.state.service())
            model = result_model.model_validate(await call(service))
        except anyio.get_cancelled_exc_class():
            if said is not None:  # (recorded by the service as it unwound, shielded: said once it is)
                started = said["started"]
                log_cancelled(logger, said["skill"], said["run_id"], said["agent"], (time.monotonic() - started) * 1000)
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
        return ok_result(model, answer=name == "invoke_skill")

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
        progress = ProgressBridge(ctx, self.state.client_log) if progress_requested(ctx) else None

        # the run named here when the call names none (as the service would): a cancelled call's line names it
        run = run_id or new_run_id()
        said: dict[str, Any] = {
            "skill": skill_id,
            "agent": self.state.call_agent or agent,
            "run_id": run,
            "started": time.monotonic(),
        }

        async def call(svc: Service) -> InvokeResultDict:
            who = said["agent"] = self._agent(agent)
            # a pinned client's run id is refused when its calls are another agent's (an unpinned server's agents may
            # share a run: an orchestrator and its sub-agents); one named here is new, no one's
            own = self.state.call_agent is not None and bool(run_id)
            if progress is None:
                result = await svc.invoke_skill(skill_id, payload, agent=who, run_id=run, context=declared, own_run=own)
            else:
                async with progress.beating():
                    result = await svc.invoke_skill(
                        skill_id, payload, agent=who, run_id=run, context=declared, progress=progress, own_run=own
                    )
            answered = result.to_dict()
            log_answered(logger, answered, who)
            return answered

        return await self._run("invoke_skill", M.InvokeSkillResult, call, said=said)

    async def explain_route(
        self,
        skill_id: str,
        payload: dict[str, Any],
        agent: str | None = None,
        model_config: M.ModelConfigArg | None = None,
        context: M.ContextArg | None = None,
    ) -> CallToolResult:
        payload = with_model_config(payload, model_config)
        declared = call_context(context)

        async def call(svc: Service) -> RouteExplanationDict:
            return svc.explain(skill_id, payload, context=declared, agent=self._agent(agent))

        return await self._run("explain_route", M.ExplainRouteResult, call, prices=True)

    async def summarize_usage(self, filters: M.UsageFiltersArg, timezone: str | None = None) -> CallToolResult:
        async def call(svc: Service) -> Any:
            return await svc.summarize_noted(_usage_filters(filters), timezone, own_agent=self._own_agent)

        return await self._run("summarize_usage", M.UsageSummaryResult, call)

    async def daily_usage(
        self, filters: M.UsageFiltersArg, limit: int, timezone: str | None = None, cursor: str | None = None
    ) -> CallToolResult:
        async def call(svc: Service) -> Any:
            usage = _usage_filters(filters)
            return await svc.daily_usage_noted(usage, timezone, limit, cursor, own_agent=self._own_agent)

        return await self._run("daily_usage", M.DailyUsageResult, call)

    async def query_runs(
        self, filters: M.UsageFiltersArg, limit: int, offset: int, cursor: str | None = None, attempts_per_run: int = 50
    ) -> CallToolResult:
        async def call(svc: Service) -> RunsPageDict:
            usage = _usage_filters(filters, limit=limit, offset=offset, cursor=cursor)
            return await svc.query_runs_noted(usage, attempts_per_run, own_agent=self._own_agent)

        return await self._run("query_runs", M.QueryRunsResult, call)

    async def search_usage(
        self, pattern: str, limit: int, since: str | None = None, cursor: str | None = None
    ) -> CallToolResult:
        async def call(svc: Service) -> dict[str, Any]:
            page = await svc.search_page(pattern, limit, since, cursor, own_agent=self._own_agent)
            # echoed redacted, as an error quoting it is: a pattern may be a key (looking for one in the ledger)
            return {"pattern": redact(pattern), **page}

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

    async def list_skills(self) -> CallToolResult:
        async def call(svc: Service) -> dict[str, Any]:
            return {"skills": svc.list_skills()}

        return await self._run("list_skills", M.ListSkillsResult, call)

    def tools(self, *, fresh: bool = False) -> list[Tool]:
        """The tools, their schemas read from ``tool_schemas.json`` (``fresh``: generated from the models)."""
        known = {} if fresh else stored()
        return pin_agent_arguments(self.state.agent, [
            make_tool(
                self.list_skills,
                M.ListSkillsArgs,
                M.ListSkillsResult,
                "The skills invoke_skill can run: each one's id, what it does, and the payload fields it takes.",
                READ_ONLY,
                known,
            ),
            make_tool(
                self.invoke_skill,
                M.InvokeSkillArgs,
                M.InvokeSkillResult,
                "Run a skill (see list_skills), routed by policy with fallback, governance and cost tracking. "
                "Returns the output, the model that answered, usage, cost, the routing trace and warnings.",
                ToolAnnotations(
                    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
                ),
                known,
                self.skill_fields,
            ),
            make_tool(
                self.explain_route,
                M.ExplainRouteArgs,
                M.ExplainRouteResult,
                "Show where invoke_skill would go (targets, policy checks, worst-case cost) without calling anything.",
                READ_ONLY,
                known,
                self.skill_fields,
            ),
            make_tool(
                self.summarize_usage,
                M.SummarizeUsageArgs,
                M.UsageSummaryResult,
                "Usage per model, provider, agent and skill (calls, errors, tokens, cost) with totals, and the "
                "costliest call, run and day (largest_call, largest_run, largest_day), from the ledger.",
                READ_ONLY,
                known,
            ),
            make_tool(
                self.daily_usage,
                M.DailyUsageArgs,
                M.DailyUsageResult,
                "Each agent's spend on each day it spent (a day's report, a week's, a month's), by day then agent, in "
                "a timezone's days; next_cursor pages on.",
                READ_ONLY,
                known,
            ),
            make_tool(
                self.query_runs,
                M.QueryRunsArgs,
                M.QueryRunsResult,
                "Recent runs with their attempts, newest first; next_cursor pages on.",
                READ_ONLY,
                known,
            ),
            make_tool(
                self.check_budget,
                M.CheckBudgetArgs,
                BudgetResult,
                "Budget limits, spent, reserved and remaining for an agent and/or run (an attempt of unknown "
                "cost counts at its estimated worst case); with skill, whether a call of it fits what is left.",
                READ_ONLY,
                known,
            ),
            make_tool(
                self.search_usage,
                M.SearchUsageArgs,
                M.SearchUsageResult,
                "Search the ledger (errors, warnings, models, logged events, run ids) with a regular expression, "
                "newest first; next_cursor pages on.",
                READ_ONLY,
                known,
            ),
        ])


class ExplainedTool(Tool):
    """A tool whose rejected arguments are reported with the fix (see :mod:`.arguments`), not as
    pydantic's report of them."""

    #: for a skill call: the input fields of the skill its arguments name (see :meth:`MagsagTools.skill_fields`)
    skill_fields: Callable[[Any], Awaitable[frozenset[str]]] | None = Field(None, exclude=True)

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            # The SDK raises exactly ToolError, caused by the ValidationError, for arguments that fail
            # their model. Answered as every other failure the caller can fix is: raised, it reached the
            # client as text alone, with no structuredContent.error for a client to read its type from.
            if type(exc) is ToolError and isinstance(exc.__cause__, ValidationError):
                fields = sorted({shown_place([str(p) for p in err["loc"]]) for err in exc.__cause__.errors()})
                logger.info("%s rejected arguments: %r", self.name, fields)  # the fields, never the values
                own = await self.skill_fields(arguments.get("skill_id")) if self.skill_fields else frozenset()
                explained = explain(self.name, exc.__cause__, self.fn_metadata.arg_model, own)
                return invalid_arguments(explained.removeprefix("invalid_arguments: "))
            raise


class ArgumentsAsSent(FuncMetadata):
    """The SDK reads an argument sent as a JSON string as the JSON in it: clients send objects so (Claude
    Desktop's ``filters='{"agent": "a"}'``). It did that to text arguments too, whose JSON is the text itself:
    ``agent="null"`` became no agent (the call recorded under none, the budget read for none), and
    ``agent='["ops"]'`` was refused as "expected a string, got an array", though a string was sent and the
    published schema takes it. An argument that takes text is taken as sent."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        text = _text_arguments(self.arg_model)
        if not text.intersection(data):
            return super().pre_parse_json(data)
        parsed = super().pre_parse_json({k: v for k, v in data.items() if k not in text})
        return {k: data[k] if k in text else parsed[k] for k in data}


@functools.cache
def _text_arguments(args: type[BaseModel]) -> frozenset[str]:
    """The names (and aliases) of the arguments ``args`` takes text for."""

    def takes_text(annotation: Any) -> bool:  # str, or a union with str (not a dict's str keys)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return any(takes_text(arg) for arg in typing.get_args(annotation))
        return annotation is str

    return frozenset(
        name
        for field_name, f in args.model_fields.items()
        if takes_text(f.annotation)
        for name in (field_name, f.alias or field_name)
    )


def make_tool(
    fn: Callable[..., Awaitable[CallToolResult]],
    args: type[ArgModelBase],
    result: type[BaseModel],
    description: str,
    annotations: ToolAnnotations,
    stored: dict[str, dict[str, Any]],
    skill_fields: Callable[[Any], Awaitable[frozenset[str]]] | None = None,
) -> Tool:
    """A tool whose input and output schemas come from explicit models (as ``stored``, else generated).

    ``Tool.from_function`` derives the argument model from the signature, which cannot express a
    parameter named ``model_config`` (pydantic's own attribute) and emits a title for every field.
    """
    name = fn.__name__
    schemas = stored.get(name) or generated(args, result)
    return ExplainedTool(
        fn=fn,
        name=name,
        description=description,
        parameters=schemas["parameters"],
        fn_metadata=ArgumentsAsSent(arg_model=args, output_model=result, output_schema=schemas["output_schema"]),
        is_async=True,
        context_kwarg="ctx" if name == "invoke_skill" else None,
        annotations=annotations,
        skill_fields=skill_fields,
    )


def _usage_filters(filters: M.UsageFiltersArg, **extra: Any) -> Any:
    from ..ledger import UsageFilters

    # a filter refused is named as this argument holds it (its refusal said "since=", "agent:", a Python keyword's name)
    names = {key: f"filters.{key}" for key in M.UsageFiltersArg.model_fields}
    return UsageFilters.build(filters.model_dump(exclude_none=True), names=names, **extra)
