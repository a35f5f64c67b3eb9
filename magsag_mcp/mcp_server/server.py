"""``build_server()``: the magsag MCP server (tools, resources, completion, logging) over one Service."""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, UnexpectedResourceError
from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, EmptyResult, SetLevelRequestParams

from .. import __version__
from ..errors import excerpt, redact, redacting_logger
from ..redaction import register_env_secrets
from ..text import NAME_MAX
from .resources import register_resources
from .state import ServerState

#: each built server's state, for the entry point that must close it on a signal (see stdio.py)
_STATES: weakref.WeakKeyDictionary[MCPServer[Any], ServerState] = weakref.WeakKeyDictionary()
#: the longest part of a URI a resource error quotes (a client's URI may be a megabyte long): a name's cap
URI_QUOTED_AT_MOST = NAME_MAX

logger = redacting_logger("magsag_mcp.mcp")

INSTRUCTIONS = (
    "Routes LLM calls by skill across providers, with fallback, governance and a cost ledger. "
    "Skill ids and inputs: list_skills (or resource magsag://catalog/skills). explain_route previews a call; "
    "invoke_skill runs it (continue_paused goes on with a turn it left paused, by its paused_id); summarize_usage, "
    "daily_usage, query_runs, search_usage and check_budget read the ledger."
)


#: a resource's name in the catalog's own words: the policies are in catalog/policies/, served as governance
_RESOURCE_WORDS = {"policies": "governance", "policy": "governance", "model_governance": "governance"}


def meant_resource(uri: str, resources: list[str], templates: Sequence[str] = ()) -> str | None:
    """The resource an unknown URI was written for, judged by its last segment (``magsag://catalog/skill``,
    ``magsag://skills``, ``magsag://catalog/policies``), or None. Compared whole, every URI under
    ``magsag://catalog/`` shares that much with each resource that any name there (``nope``, ``budget``, ``x``) was
    offered one of them. A skill id in the wrong place (``magsag://catalog/skills/skill.analysis``) is the skill
    template's resource for it: the catalog's list, its nearest name, takes no id."""
    from ..suggest import nearest

    tail = uri.rstrip("/").rsplit("/", 1)[-1]
    if tail.startswith("skill.") and tail != uri:
        for template in templates:
            if template.endswith("/{skill_id}"):
                return template.replace("{skill_id}", tail)
    tails = {resource.rsplit("/", 1)[-1]: resource for resource in resources}
    tail = tail.lower()
    word = tail if tail in tails else _RESOURCE_WORDS.get(tail) or nearest(tail, tails)
    return tails.get(word) if word else None


class ToolsMadeOnFirstUse(ToolManager):
    """The SDK's tool manager, whose tools are made the first time any of them is asked for (``tools/list``,
    ``tools/call``, :meth:`ToolManager.get_tool`), not as the server is built: making them imports the tools' argument
    and result models (some sixty pydantic classes) and reads their stored schemas, which ``initialize`` needs none
    of, and which were about a tenth of our share of a start. The tools made are the same, in the same order."""

    def __init__(self, make: Callable[[], list[Tool]], *, warn_on_duplicate_tools: bool = True) -> None:
        # (the SDK's __init__ is not called: it would set ``_tools``, which is this class's to make on first use)
        self._make = make
        self.warn_on_duplicate_tools = warn_on_duplicate_tools

    def __getattr__(self, name: str) -> Any:
        # called only for an attribute the instance lacks: ``_tools`` until it is made, then never again for it
        if name != "_tools":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        try:
            made = ToolManager(self.warn_on_duplicate_tools, tools=self._make())._tools
        except Exception as err:
            # a bug of ours, met by a client's request (as the server is built, it failed the start): told as one, to
            # tools/list and tools/call alike (the SDK answered "Internal server error", or a tool result quoting the
            # exception, or "Invalid request parameters" for a pydantic error), and not kept: the next request tries
            # again. An AttributeError raised on here would also read as "no attribute _tools" to a hasattr.
            logger.error("making the tools failed", exc_info=err)
            raise MCPError(
                INTERNAL_ERROR,
                "internal error in magsag-mcp: magsag-mcp could not make its tools, so none was listed or run; the "
                "details are in the server's log (the next request tries again)",
            ) from None
        self._tools = made
        return made


class MagsagServer(MCPServer[ServerState]):
    """The SDK's server, serving stdio with the requests its reader cannot parse answered (see stdio.py),
    and an unknown tool answered with a protocol error, as the spec has it (the SDK answers a tool result)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self._tool_manager.get_tool(name) is None:
            from ..errors import redact
            from ..suggest import named

            tools = [tool.name for tool in self._tool_manager.list_tools()]
            message = f"unknown tool {named([name[:100]], tools)}; the tools are: {', '.join(tools)}"
            raise MCPError(INVALID_PARAMS, redact(message))
        from .bearer import request_agent
        from .state import client_agent

        # the agent of the request's client token, for the tool (see MagsagTools._agent): set per call, as each
        # request of a session may come with another token
        agent = request_agent(context)
        if agent is None and server_state(self).client_tokens:
            # fail closed: served as held to no agent, the call would read every agent's records and spend as any
            logger.error("tool call %s reached a server with a token per client carrying no client's agent", name[:100])
            raise MCPError(
                INTERNAL_ERROR,
                "internal error in magsag-mcp: the call came with no client token's agent (its request was not passed "
                "to the tool), so it was not run; the details are in the server's log",
            )
        held = client_agent.set(agent)
        try:
            return await super().call_tool(name, arguments, context)
        finally:
            client_agent.reset(held)

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        """A prompt this server does not have is a bad name (-32602), as the spec has it: the SDK answered code 0
        (-32603 to a 2026-era client) and logged a traceback at ERROR, as if it had crashed."""
        if self._prompt_manager.get_prompt(name) is None:
            prompts = [prompt.name for prompt in self._prompt_manager.list_prompts()]
            offered = f"the prompts are: {', '.join(prompts)}" if prompts else "this server has no prompts"
            message = (
                f"unknown prompt {excerpt(name, 100)!r}; {offered}: its tools do the work (list_skills names the "
                "skills, invoke_skill runs one)"
            )
            raise MCPError(INVALID_PARAMS, redact(message))
        return await super().get_prompt(name, arguments, context)

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        """A failed read is answered with what it quotes redacted, as every other error of the server is: the SDK
        echoed the URI as sent in the error's data (``{"uri": ...}``) and, for a URI no resource has, in its message
        ("Unknown resource: magsag://sk-..."), an API key pasted into it included, and logged it so. A URI no
        resource has is told the ones there are, as an unknown tool or prompt is."""
        try:
            return await super().read_resource(uri, context)
        except ResourceError as err:
            # redacted, then cut: a key the cut fell inside is no longer the key, and its first characters showed
            shown = redact(str(uri))[:URI_QUOTED_AT_MOST]
            if isinstance(err, UnexpectedResourceError):  # a bug of ours: the traceback to the log, not the client
                logger.error("reading resource %s raised an unexpected exception", shown, exc_info=err.__cause__)
                message = f"internal error in magsag-mcp while reading {shown}; the details are in the server's log"
                raise MCPError(INTERNAL_ERROR, message, data={"uri": shown}) from None
            message = str(err)
            if isinstance(err, ResourceNotFoundError) and not self._serves(str(uri)):
                message = self._unknown_resource(str(uri))
            logger.info("reading resource %s failed: %s", shown, message)
            code = INVALID_PARAMS if isinstance(err, ResourceNotFoundError) else INTERNAL_ERROR
            raise MCPError(code, redact(message), data={"uri": shown}) from None

    def _serves(self, uri: str) -> bool:
        """Whether a resource or a template of this server takes ``uri`` (its read then failed for another reason)."""
        manager = self._resource_manager
        if any(str(resource.uri) == uri for resource in manager.list_resources()):
            return True
        for template in manager.list_templates():
            try:
                if template.matches(uri) is not None:
                    return True
            except ValueError:  # the SDK's refusal of a parameter (a path traversal): no resource of ours
                return False
        return False

    def _unknown_resource(self, uri: str) -> str:
        resources = [str(resource.uri) for resource in self._resource_manager.list_resources()]
        templates = [template.uri_template for template in self._resource_manager.list_templates()]
        shown = redact(uri)[:URI_QUOTED_AT_MOST]
        meant = meant_resource(shown, resources, templates)
        return (
            f"unknown resource {shown!r}{f' (did you mean {meant!r}?)' if meant else ''}; the resources are: "
            f"{', '.join(resources)}, and {', '.join(templates)} (the skill ids: list_skills)"
        )

    async def run_stdio_async(self) -> None:
        from .stdio import run_stdio

        await run_stdio(self)


def build_server(
    *,
    catalog: str | os.PathLike[str] | Any | None = None,
    db: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    transport: Any | None = None,
    agent: str | None = None,
    variables_said: bool = False,
) -> MCPServer[ServerState]:
    """The MCP server. Nothing is opened here: the service opens on the first call that needs it and
    closes when the server's lifespan ends (the stdio connection closes, the HTTP app shuts down).

    ``catalog``, ``db`` and ``env`` are passed to :meth:`Service.open` (``None``: ``$MAGSAG_CATALOG`` /
    ``$MAGSAG_DB`` / ``os.environ``); ``transport`` is a :class:`magsag_mcp.transport.Transport`. ``agent``:
    the agent every call is recorded under, whose limits (``max_cost_per_agent_daily_usd``) then bind the client;
    a call naming another is refused. ``variables_said``: the unread ``MAGSAG_*`` variables were warned of as the
    command started (``magsag-mcp``), and are not again as the service opens.
    """
    if agent is not None:
        from ..text import check_name

        check_name(agent, "agent")
    # the keys known to redaction now, not once the service opens (on the first tool call that needs it): a request
    # before that (a resource read, a prompt) may quote a key pasted into it, of a shape no pattern knows
    register_env_secrets(os.environ if env is None else env)
    state = ServerState(catalog=catalog, db=db, env=env, transport=transport, agent=agent)
    state.variables_said = variables_said

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        async with state.running():
            yield state

    server: MCPServer[ServerState] = MagsagServer(
        "magsag-mcp",
        title="magsag",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
    )

    def make_tools() -> list[Tool]:
        from .tools import MagsagTools

        return MagsagTools(state).tools()

    server._tool_manager = ToolsMadeOnFirstUse(
        make_tools, warn_on_duplicate_tools=server.settings.warn_on_duplicate_tools
    )
    register_resources(server, state)

    async def set_level(ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
        state.client_log.set_level(params.level, ctx.session)
        return EmptyResult()

    # `logging/setLevel` is a handshake-era method (the 2026-07-28 revision replaced it with a
    # per-request opt-in that the SDK handles itself); MCPServer has no decorator for it, so it is
    # registered on the low-level server, as the SDK's extension docs direct.
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    from .arguments_object import answer_arguments_not_an_object
    from .before_initialize import answer_before_initialize
    from .request_meta import answer_bad_meta

    answer_arguments_not_an_object(server)
    answer_bad_meta(server)
    answer_before_initialize(server)
    _STATES[server] = state
    return server


def server_state(server: MCPServer[Any]) -> ServerState:
    """The state of a server that :func:`build_server` built."""
    return _STATES[server]
