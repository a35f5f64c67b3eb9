"""A ``tools/call`` whose ``arguments`` is no object, answered as a tool's own rejected arguments are.

The SDK checks a request's params against the spec's shapes before any handler runs, and answered ``arguments`` sent
as an array (the values without their names), as the object's JSON in a string (a client that encoded it once too
often) or as a number with a bare JSON-RPC error, "Invalid request parameters": no word of which argument, what was
sent, or the fix, which every argument a tool rejects is told (:mod:`.arguments`). :class:`ArgumentsObjectMiddleware`
sits before that check and answers such a call of a known tool with the tool error ``invalid_arguments`` (its type in
``structuredContent.error``), which a client's model reads and corrects; a call of a tool the server does not have
is left to the server, whose answer names the tools there are (:meth:`.server.MagsagServer.call_tool`).

A call whose ``name`` is no string (a number, null, an object) or is missing got the same bare error: it is answered
with a JSON-RPC error (-32602) saying what was sent, that ``name`` is a tool's name as a string, and the tools there
are (:func:`name_not_a_string`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from ..errors import redacting_logger

logger = redacting_logger("magsag_mcp.mcp")


class ArgumentsObjectMiddleware:
    """Server middleware (the SDK's ``ServerMiddleware``) of ``server``: see the module."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self.server = server

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params
        if ctx.method != "tools/call" or not isinstance(params, Mapping):
            return await call_next(ctx)
        if not isinstance(params.get("name"), str):
            tools = [tool.name for tool in self.server._tool_manager.list_tools()]
            raise name_not_a_string(params, tools)
        if "arguments" not in params:
            return await call_next(ctx)
        arguments, name = params["arguments"], params["name"]
        if arguments is None or isinstance(arguments, dict):
            return await call_next(ctx)
        tool = self.server._tool_manager.get_tool(name)
        if tool is None:  # the server's own answer: an unknown tool, and the tools it has
            return await call_next(dataclasses.replace(ctx, params={**params, "arguments": {}}))
        # (imported here: a server's start, which a desktop client waits on, imports neither)
        from .arguments import explain_not_an_object
        from .tool_results import invalid_arguments

        logger.info("%s rejected arguments: not an object", tool.name)  # (what was sent is not quoted)
        return invalid_arguments(explain_not_an_object(tool.name, arguments, tool.fn_metadata.arg_model))


#: what a ``name`` that is no string is said to be, by its JSON type
_JSON_TYPES: dict[type, str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "an array",
    dict: "an object",
}


def name_not_a_string(params: Mapping[str, Any], tools: list[str]) -> MCPError:
    """The error answering a ``tools/call`` whose ``params.name`` is no string, or missing (``params``), naming
    ``tools``, the tools there are."""
    name = params.get("name")
    if "name" not in params:
        sent = "no name was sent"
    elif name is None:
        sent = "it was null"
    else:
        # (what was sent is not quoted: an object's may be long, and a key pasted into the wrong field)
        sent = f"it was {_JSON_TYPES.get(type(name), 'no string')}"
    logger.info("tools/call refused: params.name is no string (%s)", sent)
    return MCPError(
        INVALID_PARAMS,
        f"Invalid params: tools/call's params.name must be the name of the tool to call, as a string: {sent}; "
        f"the tools are: {', '.join(tools)} (tools/list gives each one's arguments); send "
        '{"name": "<tool>", "arguments": {...}}',
    )


def answer_arguments_not_an_object(server: MCPServer[Any]) -> None:
    """Put :class:`ArgumentsObjectMiddleware` in ``server``'s middleware, innermost (the SDK's OpenTelemetry span,
    and the trace an HTTP request's headers name, around it), once."""
    chain = server.middleware
    if not any(isinstance(m, ArgumentsObjectMiddleware) for m in chain):
        chain.append(ArgumentsObjectMiddleware(server))
