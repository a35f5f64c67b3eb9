"""A bearer token sent to an HTTP server that checks none (no ``MAGSAG_MCP_TOKEN``, ``MAGSAG_MCP_TOKEN_FILE`` or
``MAGSAG_MCP_TOKENS_FILE``: a loopback server, as one beyond it is refused a start without a token).

The request is served, as any on loopback is: refusing it would lock out a client configured for a token the
operator has not set yet, and the token proves nothing where none is known. But it was accepted without a word, and a
user who had given the client a token believed the server held to it, while any program on the machine could spend
through it. The first such request logs a warning saying so, and the fix; the token itself is never read."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import redacting_logger

logger = redacting_logger("magsag_mcp.mcp")

UNCHECKED = (
    "a client sent an Authorization header, but this server checks no token (MAGSAG_MCP_TOKEN, "
    "MAGSAG_MCP_TOKEN_FILE and MAGSAG_MCP_TOKENS_FILE are unset), so it serves every request from this machine "
    "without one, that client's too; to require it, set MAGSAG_MCP_TOKEN to the token the client sends and restart "
    "the server, or remove the header from the client's configuration (said once)"
)


class UncheckedTokenNote:
    """Serves every request, and warns once, on the first carrying ``Authorization``, that no token is checked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.said = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.said and scope["type"] == "http":
            # (the header's presence alone: its value is not read, so it cannot reach a log)
            if any(name == b"authorization" for name, _ in scope.get("headers", ())):
                self.said = True
                logger.warning(UNCHECKED)
        await self.app(scope, receive, send)
