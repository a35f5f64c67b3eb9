"""The bearer-token gate of the HTTP server: one token (``MAGSAG_MCP_TOKEN``, or the file ``MAGSAG_MCP_TOKEN_FILE``
names) or one per client (the file ``MAGSAG_MCP_TOKENS_FILE`` names, see :mod:`.client_tokens`), each pinned to an
agent. A request whose token is a client's carries that agent in its ASGI scope (:data:`AGENT_SCOPE_KEY`), which the
SDK hands a tool with the request (see :func:`request_agent`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from mcp_types import INVALID_REQUEST
from starlette.types import ASGIApp, Receive, Scope, Send

from .client_tokens import TOKENS_FILE_ENV, ClientToken
from .token_reload import ReloadedTokens, Tokens

#: the scope key the agent of a request's client token travels under (set by the middleware alone: a header cannot)
AGENT_SCOPE_KEY = "magsag.agent"

#: what every 401 says to send (the file too: a container's server takes its token from a secret's file)
SEND_THE_TOKEN = (
    "send 'Authorization: Bearer <token>' with the server's token (its MAGSAG_MCP_TOKEN, or what is in the file its "
    "MAGSAG_MCP_TOKEN_FILE names)"
)


#: what a 401 of a server with a token per client says to send
SEND_YOUR_TOKEN = (
    "send 'Authorization: Bearer <token>' with your client's own token (its line in the file the server's "
    f"{TOKENS_FILE_ENV} names)"
)


def refusal_body(message: str) -> bytes:
    """An HTTP refusal's body: a JSON-RPC error (id null: the request was not read), as the SDK's transport answers."""
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}).encode()


def unauthorized(header: str | None, per_client: bool = False) -> str:
    """What was wrong with a refused request's ``Authorization``, never quoting it. One 401 for all ("send
    'Authorization: Bearer <token>'") left a user whose client sent a token looking at a header it did send: the
    examples' placeholder (``Bearer your-MAGSAG_MCP_TOKEN``, VS Code's ``${input:...}`` where the client did not fill
    it in), the token without its scheme, or a stale token, each of which has its own fix."""
    from ..key_placeholders import not_a_whole_key  # (on a refusal only: the server's start does without it)

    scheme, _, credential = (header or "").strip().partition(" ")
    credential = credential.strip()
    if not scheme:
        return "the request has no Authorization header"
    if scheme.lower() != "bearer" or not credential:
        return "its Authorization header is not 'Bearer <token>' (the word Bearer, a space, then the token)"
    if not_a_whole_key(credential) or credential.startswith("${") or credential.startswith("<"):
        return (
            "its bearer token is a placeholder (an example's your-..., or a client's ${...} variable it did not "
            "fill in), not a token: put "
            + ("your client's own token" if per_client else "the server's MAGSAG_MCP_TOKEN")
            + " in the client's configuration"
        )
    if per_client:
        return (
            f"its bearer token is not one of the server's client tokens (the file its {TOKENS_FILE_ENV} names; a "
            "stale one, or another server's)"
        )
    return (
        "its bearer token is not the server's MAGSAG_MCP_TOKEN (or what is in its MAGSAG_MCP_TOKEN_FILE; a stale "
        "one, or another server's)"
    )


class BearerTokenMiddleware:
    """401 for any HTTP request without ``Authorization: Bearer <token>``; lifespan passes through. With ``clients``
    (a token each, see :mod:`.client_tokens`) a request whose token is a client's passes with that client's agent in
    its scope (:data:`AGENT_SCOPE_KEY`)."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None = None,
        clients: Sequence[ClientToken] = (),
        reloaded: ReloadedTokens | None = None,
    ) -> None:
        self.app = app
        self.per_client = bool(clients)
        #: the file the tokens came from, re-read as it changes (None: MAGSAG_MCP_TOKEN, which cannot)
        self.reloaded = reloaded
        self._take(reloaded.current if reloaded is not None else Tokens(token, tuple(clients)))

    def _take(self, tokens: Tokens) -> None:
        self._tokens = tokens
        pairs: list[tuple[str, str | None]] = [(tokens.token, None)] if tokens.token else []
        pairs += [(client.token, client.agent) for client in tokens.clients]
        # Compare digests, so neither the token's bytes nor its length leak through timing.
        self._entries = tuple((_digest(secret), agent) for secret, agent in pairs)

    def client(self, header: str | None) -> tuple[bool, str | None]:
        """Whether ``header`` carries a token of this server, and the agent that token is pinned to (None: the one
        token, pinned to none). Every entry is compared, the one that matched or not: stopping at a match would say
        through timing which entry a token is near."""
        scheme, _, credential = (header or "").strip().partition(" ")
        offered = _digest(credential.strip())
        found, agent = False, None
        for digest, owner in self._entries:
            same = hmac.compare_digest(offered, digest)
            found |= same
            agent = owner if same else agent
        return found and scheme.lower() == "bearer", agent

    def authorized(self, header: str | None) -> bool:
        return self.client(header)[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                header = value.decode("latin-1")
                break
        if self.reloaded is not None and (tokens := await self.reloaded.fresh()) is not self._tokens:
            self._take(tokens)  # (the file changed: its tokens from this request on)
        found, agent = self.client(header)
        if found:
            # a scope of this request's own (not the server's, which every request shares)
            await self.app(scope if agent is None else {**scope, AGENT_SCOPE_KEY: agent}, receive, send)
            return
        # a JSON-RPC error (id null: the body is not read), which MCP clients show; any other JSON they report as
        # "Server returned an error response", and a user without the token saw nothing naming it
        said = unauthorized(header, self.per_client)
        body = refusal_body(f"unauthorized: {said}; {SEND_YOUR_TOKEN if self.per_client else SEND_THE_TOKEN}")
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="magsag-mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def request_agent(context: Any) -> str | None:
    """The agent the token of the HTTP request a tool serves is pinned to (None: no such token, or no HTTP request:
    stdio, in memory). The SDK hands a tool its request (Starlette's, as the transport got it) in its context."""
    try:
        request = context.request_context.request
    except (AttributeError, ValueError):  # (ValueError: the SDK's "outside of a request")
        return None
    scope = getattr(request, "scope", None)
    agent = scope.get(AGENT_SCOPE_KEY) if isinstance(scope, dict) else None
    return agent if isinstance(agent, str) else None
