"""A request sent before ``initialize``, answered saying to send ``initialize`` first.

The SDK answers a request of a method it serves that comes before the handshake (a client that skipped it, or sent its
first call before ``initialize``'s answer came) with its bare -32602 "Invalid request parameters", the error it gives
params that are wrong: the client was sent looking for a fault in params that had none. The code stays -32602 (the
SDK's, which a client may key off); the message names the method and the fix. A ``ping`` (which MCP allows before it)
and a method the server does not serve (-32601, as ever) pass on to the SDK."""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

#: the requests MCP takes before the handshake, besides initialize itself (the SDK's own exemption)
_BEFORE_HANDSHAKE = frozenset({"initialize", "ping"})


class BeforeInitializeMiddleware:
    """Server middleware (the SDK's ``ServerMiddleware``): see the module. It runs before the SDK's own check."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self.server = server

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        method = ctx.method
        if method not in _BEFORE_HANDSHAKE and not _initialized(ctx):
            if self.server._lowlevel_server.get_request_handler(method) is not None:
                raise MCPError(
                    INVALID_PARAMS,
                    f"Invalid request parameters: {method} was sent before initialize; send initialize first (then "
                    "notifications/initialized) and this request after its answer, as MCP's lifecycle has it",
                )
        return await call_next(ctx)


def _initialized(ctx: ServerRequestContext[Any, Any]) -> bool:
    # the connection's handshake state, as the SDK's own gate reads it (the session holds no public view of it); where
    # a version of the SDK keeps it elsewhere, the SDK's own answer stands
    connection = getattr(ctx.session, "_connection", None)
    accepted = getattr(connection, "initialize_accepted", True)
    return accepted is not False


def answer_before_initialize(server: MCPServer[Any]) -> None:
    """Put :class:`BeforeInitializeMiddleware` in ``server``'s middleware, innermost, once."""
    chain = server.middleware
    if not any(isinstance(m, BeforeInitializeMiddleware) for m in chain):
        chain.append(BeforeInitializeMiddleware(server))
