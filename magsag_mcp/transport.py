"""The one seam between magsag-mcp and the network.

This module alone owns aiohttp (with its helpers: :mod:`.http_responses` for what a server answered, :mod:`.limits`
for how much is read, :mod:`.loop_sessions` for closing the sessions with their event loops, :mod:`.proxies`,
:mod:`.read_timer`, :mod:`.resolver`, :mod:`.sse`, :mod:`.tls` and :mod:`.transport_failures`): client sessions (one
per event loop, created lazily so that no constructor does network I/O), connection limits, timeouts, and the
conversion of transport failures (refused, reset, timed out) into :mod:`magsag_mcp.errors`. Providers receive a
:class:`Transport` and call :meth:`Transport.post_json` or :meth:`Transport.stream_sse`; tests pass a Transport of
their own (e.g. with tiny timeouts) instead of patching anything.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp

from . import connect_watch
from .content_encodings import ACCEPT_ENCODING
from .durations import setting as said_as_set
from .errors import UnexpectedStatusError
from .http_responses import HttpResponse, StreamResponse
from .limits import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_STREAM_BYTES, read_body
from .loop_sessions import LoopSessions
from .proxies import Proxy, ProxySettings
from .resolver import BoundedConnector, BoundedResolver
from .sends import Sends, sending
from .settings import CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, READ_TIMEOUT_ENV
from .sse import SSEEvent, SSEParser
from .tls import CABundles
from .transport_failures import FAILURES, FAILURES_ONCE_SENT, conversion
from .transport_failures import host as _host

__all__ = [
    "Timeouts",
    "HttpResponse",
    "SSEEvent",
    "SSEParser",
    "Transport",
    "Sends",
    "MAX_BODY_BYTES",
    "MAX_STREAM_BYTES",
]


@dataclass(slots=True, frozen=True)
class Timeouts:
    """Seconds. ``read`` bounds the wait for each chunk, so a slow stream that keeps talking lives."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    total: float | None = None
    #: whether MAGSAG_CONNECT_TIMEOUT / MAGSAG_READ_TIMEOUT change these (not a probe's fixed ones): a
    #: timeout's message then names the setting to change
    from_settings: bool = True

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return _client_timeout(self.total, self.connect, self.read)

    def connect_described(self) -> str:
        setting = f" ({CONNECT_TIMEOUT_ENV})" if self.from_settings else ""
        return f"the connect timeout of {said_as_set(self.connect)}{setting}"

    def read_described(self) -> str:
        setting = f" ({READ_TIMEOUT_ENV})" if self.from_settings else ""
        return f"the read timeout of {said_as_set(self.read)}{setting}"


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None, connect: float, read: float) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts, built once per setting: they are frozen, and every request passes them
    (building them took about 9,000 instructions a request, attrs' keyword __init__ included)."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


#: json.dumps' own settings (all its defaults), called without its check of every keyword for one that is not
_JSON_ENCODER = json.JSONEncoder()

#: aiohttp's own ``ClientSession.post``, and the coroutine function it wraps (None in an aiohttp that renamed it)
_AIOHTTP_POST = aiohttp.ClientSession.post
_AIOHTTP_REQUEST = getattr(aiohttp.ClientSession, "_request", None)
if not inspect.iscoroutinefunction(_AIOHTTP_REQUEST):
    _AIOHTTP_REQUEST = None


def _sender(session: aiohttp.ClientSession) -> Callable[..., Awaitable[aiohttp.ClientResponse]]:
    """What sends a request on ``session``, called as ``(method, url, **options)`` and awaited at once.

    aiohttp's ``post`` returns ``_RequestContextManager(self._request(...))``, where that name is a generic alias
    (``_BaseRequestContextManager[ClientResponse]``): calling it makes the wrapper, then tries to set its
    ``__orig_class__``, which its ``__slots__`` refuse, so an AttributeError with its message is made and dropped on
    every request; with the wrapper's frames and the keywords packed twice, some 12,000 instructions a request.
    Awaiting the wrapper awaits the coroutine it holds, and nothing here uses it as a context manager, so a session
    whose ``post`` is aiohttp's own is sent through the coroutine ``post`` would have wrapped. ``_request`` is
    aiohttp's private name: an aiohttp without it, or a session of a class with a ``post`` of its own (a test's),
    is sent through ``post`` as before."""
    if _AIOHTTP_REQUEST is not None and type(session).post is _AIOHTTP_POST:
        return session._request
    return functools.partial(_through_post, session)


def _through_post(
    session: aiohttp.ClientSession, method: str, url: str, **options: Any
) -> Awaitable[aiohttp.ClientResponse]:
    return session.post(url, **options)  # (method is POST: the only one _sender's callers send)


class Transport(LoopSessions):
    """HTTP for every provider: pooled aiohttp sessions with limits and timeouts.

    ``session_factory`` is the test seam: it receives the default connector settings and returns a
    session; by default a plain :class:`aiohttp.ClientSession`. ``env`` (by default the process's)
    names the proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``: see :mod:`magsag_mcp.proxies`) and
    the CA bundles trusted beside the system's (``SSL_CERT_FILE``, ``SSL_CERT_DIR``: :mod:`magsag_mcp.tls`).
    """

    def __init__(
        self,
        *,
        limit: int = 256,
        limit_per_host: int = 128,
        timeouts: Timeouts | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        env: Mapping[str, str] | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_stream_bytes: int = MAX_STREAM_BYTES,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_stream_bytes = max_stream_bytes
        self._env = os.environ if env is None else env
        self.proxies = ProxySettings(self._env)
        self.cas = CABundles(self._env)
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.timeouts = timeouts or Timeouts()
        self._factory = session_factory
        LoopSessions.__init__(self)

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            if self._factory is not None:
                session = self._factory()
            else:
                resolver = self._resolvers[loop] = BoundedResolver(
                    self.timeouts.connect, self.timeouts.connect_described()
                )
                connector = BoundedConnector(
                    limit=self.limit,
                    limit_per_host=self.limit_per_host,
                    ttl_dns_cache=300,
                    ssl=self.cas.context(),
                    resolver=resolver,
                )
                # Responses are parsed by the providers; skip aiohttp's own cookie handling.
                session = aiohttp.ClientSession(
                    connector=connector,
                    cookie_jar=aiohttp.DummyCookieJar(),
                    json_serialize=json.dumps,
                    # aiohttp's 8190 bytes is below what CDNs and gateways send (a load balancer's cookie, a
                    # long policy header): the answer, already generated and billed, failed as bad HTTP
                    max_line_size=MAX_HEADER_BYTES,
                    max_field_size=MAX_HEADER_BYTES,
                )
            connect_watch.watch(session)
            self._sessions[loop] = session
            if loop not in self._closers:
                self._close_with(loop)
        return session

    async def _post(
        self,
        url: str,
        body: Any,
        hdrs: dict[str, str],
        params: Mapping[str, str] | None,
        timeouts: Timeouts,
        proxy: Proxy | None,
    ) -> aiohttp.ClientResponse:
        """Send ``body`` as JSON, the attempt marked as sent; a failure before the answer's status came is converted
        once. The answer, its body unread, is the caller's to release (:meth:`post_json`, :meth:`stream_sse`)."""
        # serialized here, outside the conversion: a body that cannot be (a cycle's ValueError) is a bug of ours, not
        # a configuration to check, and nothing was sent
        data = _JSON_ENCODER.encode(body)  # json.dumps(body)
        sending(body)
        # try/except rather than a context manager: a generator's costs every
        # request some 2,000 instructions, an exception handler nothing until it catches
        try:
            return await _sender(self._session())(
                "POST",
                url,
                data=data,
                headers=hdrs,
                params=params,
                timeout=timeouts.to_aiohttp(),
                allow_redirects=False,
                auto_decompress=False,  # (read_body decodes: see content_encodings)
                **_via(proxy, url, hdrs),
            )
        except FAILURES as exc:
            failure = conversion(exc, url, timeouts, proxy, self.cas)
        # raised here, not in the handler: aiohttp's failure (the whole URL, a gateway's token in its path, a key in
        # its query) would be its context (see transport_failures.converted_from)
        raise failure

    async def post_json(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> HttpResponse:
        timeouts = timeouts or self.timeouts
        proxy = self.proxies.for_url(url)
        hdrs = _with_json(headers)
        resp = await self._post(url, body, hdrs, params, timeouts, proxy)
        try:
            try:
                _refuse_redirect(url, resp)
                payload = await read_body(resp, _host(url), self.max_body_bytes)
            except BaseException:
                await _let_go(resp)
                raise
            if not resp.closed:  # (see _let_go)
                await _let_go(resp)
        except FAILURES_ONCE_SENT as exc:  # (a ValueError here is no request aiohttp refused to build: ours)
            failure = conversion(exc, url, timeouts, proxy, self.cas)
        else:
            return HttpResponse(resp.status, resp.headers, payload)
        raise failure  # (outside the handler: see _post)

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        timeouts: Timeouts | None = None,
        max_body_bytes: int | None = None,
    ) -> HttpResponse:
        """A GET off the calls' path (a probe, a server's model list); ``max_body_bytes``: the most of its body read
        (this transport's limit by default), past which it fails as too large."""
        timeouts = timeouts or self.timeouts
        limit = self.max_body_bytes if max_body_bytes is None else min(max_body_bytes, self.max_body_bytes)
        proxy = self.proxies.for_url(url)
        hdrs = dict(headers)
        hdrs.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        try:
            async with self._session().get(
                url,
                headers=hdrs,
                timeout=timeouts.to_aiohttp(),
                allow_redirects=False,
                auto_decompress=False,
                **_via(proxy, url, hdrs),
            ) as resp:
                _refuse_redirect(url, resp)
                return HttpResponse(resp.status, resp.headers, await read_body(resp, _host(url), limit))
        except FAILURES as exc:
            failure = conversion(exc, url, timeouts, proxy, self.cas)
        raise failure  # (outside the handler: see _post)

    @asynccontextmanager
    async def stream_sse(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> AsyncIterator[StreamResponse]:
        timeouts = timeouts or self.timeouts
        hdrs = _with_json(headers)
        hdrs["Accept"] = "text/event-stream"
        proxy = self.proxies.for_url(url)
        resp = await self._post(url, body, hdrs, params, timeouts, proxy)
        try:
            _refuse_redirect(url, resp)
            error_body = None
            if resp.status >= 400:
                try:
                    error_body = await read_body(resp, _host(url), self.max_body_bytes)
                except aiohttp.ClientError:
                    error_body = b""
            yield StreamResponse(
                resp, error_body, timeouts, url=url, max_body=self.max_body_bytes, max_stream=self.max_stream_bytes
            )
        finally:
            resp.release()

    def describe(self) -> dict[str, Any]:
        """The network settings ``magsag doctor`` shows: proxies (never their credentials) and CA bundles."""
        return {
            "proxies": self.proxies.describe(),
            "ca": self.cas.describe(),
        }


async def _let_go(resp: aiohttp.ClientResponse) -> None:
    """What leaving ``async with resp:`` does: the connection given back to the pool (or closed, when the body was
    not read to its end), the request's writer awaited.

    An answer whose body was read to its end is closed already (``resp.closed``): aiohttp gave its connection back
    and cancelled its writer at the body's end. ``post_json`` lets such an answer go without this: its ``release``
    would only mark the reader, read to its end, as cut off, through ``helpers.set_exception``, whose
    ``asyncio.isfuture`` of the reader makes and clears an AttributeError (some 2,050 instructions), and the frames
    of ``__aexit__``, ``release`` and ``wait_for_close`` around it, on every answer."""
    resp.release()
    await resp.wait_for_close()


def _refuse_redirect(url: str, resp: aiohttp.ClientResponse) -> None:
    """Redirects are not followed: aiohttp would carry ``x-api-key`` / ``api-key`` / ``x-goog-api-key``
    (it strips only ``Authorization``) to whatever host the redirect names. The redirect is an answer, and
    the same one next time: not retried (as a dropped connection would be), the next target is tried."""
    if 300 <= resp.status < 400:
        location = resp.headers.get("Location", "")
        # a Location may be relative ("/v1/chat/completions/"): it names a place on the same server
        try:
            target = _host(urljoin(url, location)) if location else None
        except ValueError:  # no URL at all ("http://[bad"): a redirect all the same, not a request we could not build
            target = None
        if target == _host(url):
            where = f"another path on {target}"
            fix = "check the base URL's path (a missing /v1, or one too many)"
        else:
            where = target or "elsewhere"
            fix = "set the base URL to the address the redirect names"
        raise UnexpectedStatusError(
            f"{_host(url)} answered HTTP {resp.status} redirecting to {where}; redirects are not followed so "
            f"that API keys never reach another host: {fix}",
            status=resp.status,
        )


def _via(proxy: Proxy | None, url: str, headers: dict[str, str]) -> dict[str, Any]:
    return {} if proxy is None else proxy.request_options(url, headers)


def _with_json(headers: Mapping[str, str]) -> dict[str, str]:
    hdrs = dict(headers)
    hdrs.setdefault("Content-Type", "application/json")
    # only what read_body decodes with a bound (aiohttp's default adds deflate, and br where Brotli is installed)
    hdrs.setdefault("Accept-Encoding", ACCEPT_ENCODING)
    return hdrs
