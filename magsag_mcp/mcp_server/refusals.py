"""What the HTTP server answers to a request the SDK (or Starlette) refuses with a bare status: a ``Host`` or ``Origin``
not on the allow-lists (``421``/``403``), a body past the limit (``413``) and a path it does not serve (``404``), each
rewritten into a JSON-RPC error that names the fix (:class:`RefusalHintMiddleware` says why), as is the SDK's ``400``
to a request that named no session."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ConfigError, excerpt, redact, redacting_logger
from .bearer import refusal_body
from .server_settings import MCP_PATH, host_authority

logger = redacting_logger("magsag_mcp.mcp")


#: the SDK's answers to a Host or Origin not on the allow-lists (and what each header is called), to a body past its
#: limit, and Starlette's to a path it does not serve
_REFUSALS = {
    (421, b"Invalid Host header"): "host",
    (403, b"Invalid Origin header"): "origin",
    (413, b"Request body too large"): "body",
    (404, b"Not Found"): "path",
}
#: the SDK's words (in its JSON-RPC error, 400) for a request that named no session where one is kept: any request but
#: `initialize` sent first, as a script or a hand-made client does; they name no fix
_NO_SESSION = "Bad Request: Missing session ID"
_REFUSED_STATUSES = frozenset([*(status for status, _ in _REFUSALS), 400])
#: the header naming a client's session (ASGI's header names are lower case bytes)
_SESSION_HEADER = b"mcp-session-id"
#: a Host header that can be shown as the address of the server's URL
_SHOWN_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,200}")
#: the most a request's body may be (the SDK's default, given to it explicitly: the refusal names it)
MAX_REQUEST_BODY = DEFAULT_MAX_REQUEST_BODY_SIZE
#: distinct refused values whose fix is logged (each refusal is logged by the SDK anyway; this bounds a flood)
_HINTS_LOGGED_MAX = 20


def allow_host_hint(header: str, value: str) -> str:
    """What to tell a client whose ``Host`` or ``Origin`` the transport security refused: the value, and
    the ``--allow-host`` that admits it (when the value is one that option could take)."""
    shown = repr(excerpt(value, 200))  # redacted before the cut, which left a piece of a key too short to be known
    authority = value.partition("://")[2] if header == "origin" else value
    if ":" not in authority.rpartition("]")[2]:  # the scheme's default port: :80 and :443 both admit the bare name
        authority += ":443"
    try:
        host_authority(authority, 0)
    except ConfigError:
        suggestion = "give the name clients use to reach it with --allow-host NAME[:PORT]"
    else:
        suggestion = f"if that is how clients reach it, start it with --allow-host {authority}"
    # redacted whole, as a wrong path's answer is: the --allow-host suggested quotes the value uncut, and the answer is
    # sent as it is (a key pasted into the Host header was sent back in it)
    if header == "origin":
        said = f"Invalid Origin header: this server does not accept requests from pages at {shown}; {suggestion}"
        return redact(said)
    return redact(f"Invalid Host header: this server does not answer to {shown}; {suggestion}")


def too_large_answer(limit: int = MAX_REQUEST_BODY) -> bytes:
    """The JSON-RPC error answering a request whose body is past ``limit`` (its id unread: null, as the SDK answers)."""
    message = (
        f"Request body too large: this server takes at most {limit / 2**20:g} MiB in one request over HTTP, a tool "
        "call's arguments included; send less in one call (split a large payload across calls, or send an excerpt)"
    )
    return refusal_body(message)


def no_session_answer(request: bytes = b"") -> bytes:
    """The JSON-RPC error answering a request that named no session (no ``Mcp-Session-Id`` header) to a server that
    keeps them, as the stdio server answers a request sent before ``initialize``: under the id of ``request`` (its
    body) where one can be read, as stdio's is (the SDK's id null left a client matching answers by id with none for
    its request), else null (a GET, a body that is no request)."""
    message = (
        f"{_NO_SESSION}: this request named no session (an Mcp-Session-Id header), and only an `initialize` request "
        "begins one: send `initialize` first, then give each request after it the Mcp-Session-Id header that "
        "initialize's answer carries (an MCP client does both itself)"
    )
    answer = json.loads(refusal_body(message))
    answer["id"] = _request_id(request)
    return json.dumps(answer).encode()


def _request_id(body: bytes) -> int | str | None:
    """The id of the JSON-RPC request ``body`` where an answer can carry it (a string or an integer), else None."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    request_id = request.get("id") if isinstance(request, dict) else None
    return request_id if isinstance(request_id, int | str) and not isinstance(request_id, bool) else None


def _is_no_session_refusal(body: bytes) -> bool:
    """Whether ``body`` is the SDK's JSON-RPC error for a request that named no session (its other 400s pass)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("message") == _NO_SESSION


def wrong_path_answer(scope: Scope, path: str) -> bytes:
    """The JSON-RPC error answering a request to a path other than ``path``, the one the server serves MCP at: a
    client given the server's address alone (http://127.0.0.1:8765) or an older transport's /sse."""
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
    url = f"{scope.get('scheme', 'http')}://{host}{path}" if _SHOWN_HOST.fullmatch(host) else f"its {path} path"
    asked = scope.get("path", "")
    message = (
        f"Not Found: this server serves MCP (Streamable HTTP) at the path {path!r}, not at {excerpt(asked, 200)!r}; "
        f"point the client at {url}"
    )
    return refusal_body(redact(message))  # the path as asked: a key pasted into the URL is not sent back


async def send_refusal(send: Send, start: Mapping[str, Any], body: bytes) -> None:
    """The refusal ``start`` began (its status kept), with ``body``, a JSON-RPC error, in place of the SDK's."""
    replaced = (b"content-length", b"content-type")
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in replaced]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RefusalHintMiddleware:
    """The SDK refuses a Host or Origin it was not told of with a bare ``421 Invalid Host header`` (or
    ``403 Invalid Origin header``), and logs no more: an operator who bound ``0.0.0.0`` and forgot
    ``--allow-host`` saw every client on the network refused with nothing naming the fix. This says it,
    to the client and (once per value) in the log. To the client in a JSON-RPC error (the status kept): in
    plain text, as the SDK answers, its client (and any that reads a JSON-RPC error from a non-2xx answer)
    showed "Server returned an error response", and only the operator's log named the fix.

    It refuses a body past its limit with a bare ``413 Request body too large`` in plain text, which its client
    reports as "Server returned an error response": a call with a 5 MB payload failed saying neither that it was
    too large nor what the limit is. That refusal is answered as a JSON-RPC error naming both, which clients show.

    A path it does not serve (a client given the server's address without ``/mcp``, or an older transport's
    ``/sse``) got Starlette's bare ``404 Not Found``, which the SDK's client reports as -32601 "Not Found" (a method
    the server lacks): it is answered with the path the server serves. A 404 of that path (an ended session) is the
    SDK's own, a JSON-RPC error already, and passes as it is."""

    def __init__(self, app: ASGIApp, path: str = MCP_PATH) -> None:
        self.app = app
        self.path = path
        self._logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] | None = None
        # the body of a POST that names no session, which the SDK reads whole before it refuses one that is not
        # `initialize`: its refusal is answered under the request's id (past the SDK's limit, it refuses with 413)
        unnamed = scope.get("method") == "POST" and scope.get("path") == self.path
        unnamed = unnamed and not any(k.lower() == _SESSION_HEADER for k, _ in scope["headers"])
        request = bytearray()

        async def keeping_receive() -> Message:
            message = await receive()
            if unnamed and message["type"] == "http.request" and len(request) <= MAX_REQUEST_BODY:
                request.extend(message.get("body", b""))
            return message

        async def hinting_send(message: Any) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] in _REFUSED_STATUSES and held is None:
                held = message  # wait for the body: only the SDK's own refusals are rewritten
                return
            if held is None:
                await send(message)
                return
            start, held = held, None
            body = message.get("body", b"")
            if start["status"] == 400:  # only the SDK's refusal of a request that named no session is rewritten
                if not message.get("more_body", False) and _is_no_session_refusal(body):
                    # without the SDK's Mcp-Session-Id header: it named the session opened for this request and
                    # discarded with its refusal, which a request given it is answered 404 for
                    kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != _SESSION_HEADER]
                    await send_refusal(send, {**start, "headers": kept}, no_session_answer(bytes(request)))
                else:
                    await send(start)
                    await send(message)
                return
            header = _REFUSALS.get((start["status"], body))
            if header == "path" and scope.get("path") == self.path:
                header = None  # the MCP path's own: not a path the server does not serve
            if header is None or message.get("more_body", False):
                await send(start)
                await send(message)
                return
            if header == "body":
                await send_refusal(send, start, too_large_answer())
                return
            if header == "path":
                await send_refusal(send, start, wrong_path_answer(scope, self.path))
                return
            value = next((v.decode("latin-1") for k, v in scope["headers"] if k.decode("latin-1") == header), "")
            hint = allow_host_hint(header, value)
            if value not in self._logged and len(self._logged) < _HINTS_LOGGED_MAX:
                self._logged.add(value)
                logger.warning("refused a request: %s", hint)
            await send_refusal(send, start, refusal_body(hint))

        await self.app(scope, keeping_receive, hinting_send)
