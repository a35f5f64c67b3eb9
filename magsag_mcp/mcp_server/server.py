"""``build_server()``: the magsag MCP server (tools, resources, completion, logging) over one Service."""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, EmptyResult, SetLevelRequestParams

from .. import __version__
from ..errors import redact
from .resources import register_resources
from .state import ServerState
from .tools import MagsagTools

#: each built server's state, for the entry point that must close it on a signal (see stdio.py)
_STATES: weakref.WeakKeyDictionary[MCPServer[Any], ServerState] = weakref.WeakKeyDictionary()

INSTRUCTIONS = (
    "Routes LLM calls by skill across providers, with fallback, governance and a cost ledger. "
    "Skill ids and inputs: list_skills (or resource magsag://catalog/skills). explain_route previews a call; "
    "invoke_skill runs it; summarize_usage, query_runs, search_usage and check_budget read the ledger."
)


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
        return await super().call_tool(name, arguments, context)

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        """A prompt this server does not have is a bad name (-32602), as the spec has it: the SDK answered code 0
        (-32603 to a 2026-era client) and logged a traceback at ERROR, as if it had crashed."""
        if self._prompt_manager.get_prompt(name) is None:
            prompts = [prompt.name for prompt in self._prompt_manager.list_prompts()]
            offered = f"the prompts are: {', '.join(prompts)}" if prompts else "this server has no prompts"
            message = (
                f"unknown prompt {name[:100]!r}; {offered}: its tools do the work (list_skills names the skills, "
                "invoke_skill runs one)"
            )
            raise MCPError(INVALID_PARAMS, redact(message))
        return await super().get_prompt(name, arguments, context)

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
) -> MCPServer[ServerState]:
    """The MCP server. Nothing is opened here: the service opens on the first call that needs it and
    closes when the server's lifespan ends (the stdio connection closes, the HTTP app shuts down).

    ``catalog``, ``db`` and ``env`` are passed to :meth:`Service.open` (``None``: ``$MAGSAG_CATALOG`` /
    ``$MAGSAG_DB`` / ``os.environ``); ``transport`` is a :class:`magsag_mcp.transport.Transport`. ``agent``:
    the agent every call is recorded under, whose limits (``max_cost_per_agent_daily_usd``) then bind the client;
    a call naming another is refused.
    """
    if agent is not None:
        from ..text import check_name

        check_name(agent, "agent")
    state = ServerState(catalog=catalog, db=db, env=env, transport=transport, agent=agent)

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        async with state.running():
            yield state

    server: MCPServer[ServerState] = MagsagServer(
        "magsag-mcp",
        title="magsag",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=MagsagTools(state).tools(),
        lifespan=lifespan,
    )
    register_resources(server, state)

    async def set_level(ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
        state.client_log.set_level(params.level, ctx.session)
        return EmptyResult()

    # `logging/setLevel` is a handshake-era method (the 2026-07-28 revision replaced it with a
    # per-request opt-in that the SDK handles itself); MCPServer has no decorator for it, so it is
    # registered on the low-level server, as the SDK's extension docs direct.
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    _STATES[server] = state
    return server


def server_state(server: MCPServer[Any]) -> ServerState:
    """The state of a server that :func:`build_server` built."""
    return _STATES[server]
