"""The one seam between magsag-mcp and the network.

This module alone owns aiohttp (with its helpers: :mod:`.limits` for how much is read, :mod:`.proxies`,
:mod:`.read_timer`, :mod:`.resolver`, :mod:`.sse`, :mod:`.tls` and :mod:`.transport_failures`): client sessions (one
per event loop, created lazily so that no constructor does network I/O), connection limits, timeouts, and the
conversion of transport failures (refused, reset, timed out) into :mod:`magsag_mcp.errors`. Providers receive a
:class:`Transport` and call :meth:`Transport.post_json` or :meth:`Transport.stream_sse`; tests pass
a Transport of their own (e.g. with tiny timeouts) instead of patching anything.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError

from .errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderTimeoutError,
    UnexpectedStatusError,
    excerpt,
)
from .limits import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_STREAM_BYTES, read_body, too_large
from .proxies import Proxy, ProxySettings
from .resolver import BoundedConnector, BoundedResolver
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
    "ATTEMPT_SENDS",
    "MAX_BODY_BYTES",
    "MAX_STREAM_BYTES",
]


class Sends:
    """Whether an attempt has handed a request to the network yet. The cascade sets a fresh one in
    :data:`ATTEMPT_SENDS` around each attempt, and :meth:`Transport.post_json` and :meth:`Transport.stream_sse` mark it
    as they send: a bug of ours that ends an attempt before it was marked (while its body was built) sent nothing,
    and nothing can be billed for it."""

    __slots__ = ("began",)

    def __init__(self) -> None:
        self.began = False


#: the attempt under way in this task (None outside one: a probe, a caller of the transport's own)
ATTEMPT_SENDS: ContextVar[Sends | None] = ContextVar("magsag_attempt_sends", default=None)


def _sending() -> None:
    """Mark the attempt under way as sent: called just before a request is handed to aiohttp, which may write it."""
    sends = ATTEMPT_SENDS.get()
    if sends is not None:
        sends.began = True


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
        return f"the connect timeout of {self.connect:g}s{setting}"

    def read_described(self) -> str:
        setting = f" ({READ_TIMEOUT_ENV})" if self.from_settings else ""
        return f"the read timeout of {self.read:g}s{setting}"


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None, connect: float, read: float) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts, built once per setting: they are frozen, and every request passes them
    (building them took about 9,000 instructions a request, attrs' keyword __init__ included)."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


#: json.dumps' and json.loads' own settings (all their defaults), called without those functions' checks of every
#: keyword for one that is not (some 60 bytecodes a request and its answer)
_JSON_ENCODER, _JSON_DECODER = json.JSONEncoder(), json.JSONDecoder()
#: the decoder's own scanner, called at the object's first character: ``JSONDecoder.decode`` runs it between two
#: regular-expression matches of the whitespace around the value, in Python, some 5,000 instructions a body
_JSON_SCAN = _JSON_DECODER.scan_once
_JSON_SPACE = " \t\n\r"  # (what JSON calls whitespace: not every character str.isspace() takes)


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        body = self.body
        try:
            # A body beginning with "{" is UTF-8 to json.loads, which sniffs every body's encoding (a BOM, UTF-16's and
            # UTF-32's zero bytes) in Python before it decodes it so: decoded as it would be, without the sniffing
            if body[:1] == b"{" and body[1:2] != b"\0":
                text = body.decode("utf-8", "surrogatepass")  # (no BOM: it begins with "{")
                value, end = _JSON_SCAN(text, 0)  # (an object that breaks off raises as decode() would)
                if end == len(text) or not text[end:].strip(_JSON_SPACE):
                    return value
                return _JSON_DECODER.decode(text)  # more after the object: refused as decode() refuses it
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # (nested past the interpreter's depth: no answer either)
            snippet = excerpt(self.body, 200)
            content_type = next((v for k, v in self.headers.items() if k.lower() == "content-type"), None)
            raise MalformedResponseError(
                f"expected a JSON body (HTTP {self.status}), got: {snippet!r}{page_hint(content_type)}",
                status=self.status,
            ) from exc

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def page_hint(content_type: str | None) -> str:
    """Where an HTML page that came instead of the API's answer comes from, for the error's message."""
    if content_type and content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return (
            "; an HTML page is no answer of the API: a captive portal or a proxy's sign-in page, a gateway's "
            "error page, or a base URL that names a website rather than the API (check its path, e.g. /v1)"
        )
    return ""


class StreamResponse:
    """An open SSE response. Iterate :meth:`events`; a non-2xx status has its body read eagerly."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        error_body: bytes | None,
        timeouts: Timeouts,
        *,
        url: str = "",
        max_body: int = MAX_BODY_BYTES,
        max_stream: int = MAX_STREAM_BYTES,
    ) -> None:
        self._resp = resp
        self._url = url
        self._max_body = max_body
        self._max_stream = max_stream
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.error_body = error_body
        self.timeouts = timeouts
        #: the first bytes of the body, read to tell what it is (:meth:`is_event_stream`)
        self._head = b""

    @property
    def media_type(self) -> str | None:
        """The body's media type (``text/event-stream``, ``application/json``), or None when the server
        sent no Content-Type (aiohttp would say application/octet-stream)."""
        return self._resp.content_type if "Content-Type" in self.headers else None

    def as_http_response(self) -> HttpResponse:
        return HttpResponse(self.status, self.headers, self.error_body or b"")

    async def read(self) -> HttpResponse:
        """The whole body, for a server that answered with something other than an event stream."""
        try:
            return HttpResponse(
                self.status, self.headers, await read_body(self._resp, _host(self._url), self._max_body)
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeoutError(
                f"the answer went idle past {self.timeouts.read_described()}", timeout_s=self.timeouts.read
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"the answer broke off: {type(exc).__name__}") from exc

    async def is_event_stream(self) -> bool:
        """Whether the body is an event stream: labelled so (or not labelled at all); or, labelled as anything but
        JSON, beginning as one does (a field, ``data:``, ``event:``, ``id:``, ``retry:``, or a comment), as the
        streams of servers that frame them right and label them wrong do (``text/plain``, ``application/x-ndjson``).
        The bytes read to tell are the first :meth:`events` gives."""
        media_type = self.media_type
        if media_type is None or media_type == "text/event-stream":
            return True
        if media_type == "application/json" or media_type.endswith("+json"):
            return False
        head = bytearray()
        text = ""
        try:
            while len(head) < _SNIFF_BYTES and ":" not in text and len(text) < 6:
                chunk = await self._resp.content.readany()
                if not chunk:
                    break
                head += chunk
                text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ClientError) as exc:
            raise self._broken(exc) from exc
        self._head = bytes(head)
        return _EVENT_STREAM_START.match(text) is not None

    def _broken(self, exc: BaseException) -> ProviderConnectionError | ProviderTimeoutError:
        """A stream's read failure as the error it stands for."""
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            # Whether a cut stream may be billed is decided where a 2xx stream is read (HTTPProvider._stream).
            return ProviderTimeoutError(
                f"the stream went idle past {self.timeouts.read_described()}", timeout_s=self.timeouts.read
            )
        if isinstance(exc, aiohttp.ClientPayloadError):
            # aiohttp's text, "<TransferEncodingError: 400, message=...>", gives its parser's status: read as the
            # vendor's, a 400 is a request refused, which costs nothing, where this answer may be billed
            said = str(getattr(exc.__cause__, "message", "") or "").rstrip(".")
            cut = isinstance(exc.__cause__, TransferEncodingError | ContentLengthError)
            ended = " (the connection ended before the answer did)" if cut else ""
            return ProviderConnectionError(f"the stream broke mid-answer: {said or exc}{ended}")
        return ProviderConnectionError(f"the stream broke mid-answer: {type(exc).__name__}")

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Parse ``text/event-stream`` per the WHATWG spec (see :class:`SSEParser`)."""
        parser = SSEParser()
        received = len(self._head)
        try:
            for event in parser.feed(self._head):
                yield event
            # Raw chunks, not readline(): aiohttp caps a line at 512 KiB, and one Responses event carries the
            # whole answer (and the echoed instructions), so a long answer is a long line.
            async for chunk in self._resp.content.iter_any():
                received += len(chunk)
                if received > self._max_stream:
                    raise too_large(_host(self._url), self.status, self._max_stream, "stream")
                for event in parser.feed(chunk):
                    yield event
            for event in parser.close():
                yield event
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ClientError) as exc:
            raise self._broken(exc) from exc


#: the most of a body not labelled as an event stream read to tell whether it is one all the same
_SNIFF_BYTES = 1024
#: how an event stream begins: a field, or a comment (after any blank lines)
_EVENT_STREAM_START = re.compile(r"(?:data|event|id|retry)?:")


class Transport:
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
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        #: the default sessions' resolvers: the connector closes only a resolver it made itself
        self._resolvers: dict[asyncio.AbstractEventLoop, BoundedResolver] = {}

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
            self._sessions[loop] = session
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
        _sending()
        # try/except rather than `with _converted(...)`: a generator's context manager costs every
        # request some 2,000 instructions, an exception handler nothing until it catches
        try:
            return await self._session().post(
                url,
                data=data,
                headers=hdrs,
                params=params,
                timeout=timeouts.to_aiohttp(),
                allow_redirects=False,
                **_via(proxy, url, hdrs),
            )
        except FAILURES as exc:
            # from None: aiohttp's failure says the whole URL (a gateway's token in its path, a key in its query),
            # and as the cause it was printed with every traceback of ours; the message says what it told
            raise conversion(exc, url, timeouts, proxy, self.cas) from None

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
            async with resp:
                _refuse_redirect(url, resp)
                payload = await read_body(resp, _host(url), self.max_body_bytes)
        except FAILURES_ONCE_SENT as exc:  # (a ValueError here is no request aiohttp refused to build: ours)
            raise conversion(exc, url, timeouts, proxy, self.cas) from None
        return HttpResponse(resp.status, resp.headers, payload)

    async def get(self, url: str, *, headers: Mapping[str, str], timeouts: Timeouts | None = None) -> HttpResponse:
        timeouts = timeouts or self.timeouts
        proxy = self.proxies.for_url(url)
        hdrs = dict(headers)
        with _converted(url, timeouts, proxy, self.cas):
            async with self._session().get(
                url, headers=hdrs, timeout=timeouts.to_aiohttp(), allow_redirects=False, **_via(proxy, url, hdrs)
            ) as resp:
                _refuse_redirect(url, resp)
                return HttpResponse(resp.status, resp.headers, await read_body(resp, _host(url), self.max_body_bytes))

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

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        resolvers, self._resolvers = self._resolvers, {}
        for loop, session in sessions.items():
            if session.closed:
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                await _close(session, resolvers.get(loop))
            elif not loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(_close(session, resolvers.get(loop)), loop)
                await asyncio.wrap_future(fut)


async def _close(session: aiohttp.ClientSession, resolver: BoundedResolver | None) -> None:
    await session.close()
    if resolver is not None:
        await resolver.close()


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


@contextmanager
def _converted(
    url: str, timeouts: Timeouts | None = None, proxy: Proxy | None = None, cas: CABundles | None = None
) -> Iterator[None]:
    """:func:`~.transport_failures.conversion` as a context manager, for requests off the calls' path (a
    probe's GET)."""
    try:
        yield
    except FAILURES as exc:
        raise conversion(exc, url, timeouts or Timeouts(), proxy, cas) from None  # (see Transport.post_json)


def _with_json(headers: Mapping[str, str]) -> dict[str, str]:
    hdrs = dict(headers)
    hdrs.setdefault("Content-Type", "application/json")
    return hdrs
