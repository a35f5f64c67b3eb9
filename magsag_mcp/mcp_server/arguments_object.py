"""A ``tools/call`` whose ``arguments`` is no object, answered as a tool's own rejected arguments are.

The SDK checks a request's params against the spec's shapes before any handler runs, and answered ``arguments`` sent
as an array (the values without their names), as the object's JSON in a string (a client that encoded it once too
often) or as a number with a bare JSON-RPC error, "Invalid request parameters": no word of which argument, what was
sent, or the fix, which every argument a tool rejects is told (:mod:`.arguments`). :class:`ArgumentsObjectMiddleware`
sits before that check and answers such a call of a known tool with the tool error ``invalid_arguments`` (its type in
``structuredContent.error``), which a client's model reads and corrects; a call of a tool the server does not have
is left to the server, whose answer names the tools there are (:meth:`.server.MagsagServer.call_tool`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

from ..errors import redacting_logger

logger = redacting_logger("magsag_mcp.mcp")


class ArgumentsObjectMiddleware:
    """Server middleware (the SDK's ``ServerMiddleware``) of ``server``: see the module."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self.server = server

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params
        if ctx.method != "tools/call" or not isinstance(params, Mapping) or "arguments" not in params:
            return await call_next(ctx)
        arguments, name = params["arguments"], params.get("name")
        if arguments is None or isinstance(arguments, dict) or not isinstance(name, str):
            return await call_next(ctx)
        tool = self.server._tool_manager.get_tool(name)
        if tool is None:  # the server's own answer: an unknown tool, and the tools it has
            return await call_next(dataclasses.replace(ctx, params={**params, "arguments": {}}))
        # (imported here: a server's start, which a desktop client waits on, imports neither)
        from .arguments import explain_not_an_object
        from .tool_results import invalid_arguments

        logger.info("%s rejected arguments: not an object", tool.name)  # (what was sent is not quoted)
        return invalid_arguments(explain_not_an_object(tool.name, arguments, tool.fn_metadata.arg_model))


def answer_arguments_not_an_object(server: MCPServer[Any]) -> None:
    """Put :class:`ArgumentsObjectMiddleware` in ``server``'s middleware, innermost (the SDK's OpenTelemetry span,
    and the trace an HTTP request's headers name, around it), once."""
    chain = server.middleware
    if not any(isinstance(m, ArgumentsObjectMiddleware) for m in chain):
        chain.append(ArgumentsObjectMiddleware(server))
