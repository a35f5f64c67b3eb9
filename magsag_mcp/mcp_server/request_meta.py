"""A request whose ``params._meta`` the SDK refuses, answered saying what was wrong and the fix.

A ``progressToken`` that is neither a string nor an integer (``1.5``, ``null``, an object, an array), or a ``_meta``
that is no object, got the SDK's bare -32602 "Invalid request parameters", naming neither the field nor what it takes:
a client that asked for progress with a token of the wrong type could not tell why its call (or its ``ping``) failed.
A boolean token was taken and no progress ever sent under it (the SDK reads a boolean as no token, as ``true`` would
alias ``1``): the call ran with no word of it, as if the client had asked for none. Each is answered -32602 naming
``params._meta.progressToken`` (or ``params._meta``), what was sent, and what to send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from ..errors import redacting_logger

logger = redacting_logger("magsag_mcp.mcp")

#: what a value of the wrong type is said to be, by its JSON type (what was sent is not quoted: an object's may be
#: long, and a key pasted into the wrong field)
_JSON_TYPES: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number that is no integer",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _sent(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


class RequestMetaMiddleware:
    """Server middleware (the SDK's ``ServerMiddleware``): see the module. It runs before the SDK checks the params."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params
        if isinstance(params, Mapping) and "_meta" in params:
            refused = meta_refused(ctx.method, params["_meta"])
            if refused is not None:
                raise refused
        return await call_next(ctx)


def meta_refused(method: str, meta: Any) -> MCPError | None:
    """The error answering a ``method`` request whose ``params._meta`` is ``meta``, or None where it is well formed."""
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        said = (
            f"Invalid params: {method}'s params._meta must be an object (it was {_sent(meta)}); send "
            '{"progressToken": "<token>"} for progress, or leave _meta out'
        )
    elif "progressToken" in meta and (isinstance(meta["progressToken"], bool) or not _is_token(meta["progressToken"])):
        said = (
            f"Invalid params: {method}'s params._meta.progressToken must be a string or an integer, which the "
            f"server's progress notifications name the request by (it was {_sent(meta['progressToken'])}); send "
            "one, unique among your requests in flight, or leave progressToken out for no progress"
        )
    else:
        return None
    logger.info("%s refused: %s", method, said.partition(": ")[2].partition(";")[0])
    return MCPError(INVALID_PARAMS, said)


def _is_token(value: Any) -> bool:
    return isinstance(value, str | int)


def answer_bad_meta(server: MCPServer[Any]) -> None:
    """Put :class:`RequestMetaMiddleware` in ``server``'s middleware, innermost (the SDK's OpenTelemetry span around
    it), once."""
    chain = server.middleware
    if not any(isinstance(m, RequestMetaMiddleware) for m in chain):
        chain.append(RequestMetaMiddleware())
