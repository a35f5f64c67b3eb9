"""The one seam between magsag-mcp and the network.

This module alone owns aiohttp: client sessions (one per event loop, created lazily so that no
constructor does network I/O), connection limits, timeouts, and the conversion of transport
failures (refused, reset, timed out) into :mod:`magsag_mcp.errors`. Providers receive a
:class:`Transport` and call :meth:`Transport.post_json` or :meth:`Transport.stream_sse`; tests pass
a Transport of their own (e.g. with tiny timeouts) instead of patching anything.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import (
    ConfigError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderTimeoutError,
    UnexpectedStatusError,
    excerpt,
    redact,
)
from .proxies import Proxy, ProxySettings
from .settings import CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, READ_TIMEOUT_ENV

__all__ = ["Timeouts", "HttpResponse", "SSEEvent", "SSEParser", "Transport"]


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
        return aiohttp.ClientTimeout(total=self.total, sock_connect=self.connect, sock_read=self.read)

    def connect_described(self) -> str:
        setting = f" ({CONNECT_TIMEOUT_ENV})" if self.from_settings else ""
        return f"the connect timeout of {self.connect:g}s{setting}"

    def read_described(self) -> str:
        setting = f" ({READ_TIMEOUT_ENV})" if self.from_settings else ""
        return f"the read timeout of {self.read:g}s{setting}"


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            snippet = excerpt(self.body, 200)
            raise MalformedResponseError(
                f"expected a JSON body (HTTP {self.status}), got: {snippet!r}", status=self.status
            ) from exc

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise MalformedResponseError(f"stream event is not JSON: {excerpt(self.data, 200)!r}") from exc


class StreamResponse:
    """An open SSE response. Iterate :meth:`events`; a non-2xx status has its body read eagerly."""

    def __init__(self, resp: aiohttp.ClientResponse, error_body: bytes | None, timeouts: Timeouts) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.error_body = error_body
        self.timeouts = timeouts

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
            return HttpResponse(self.status, self.headers, await self._resp.read())
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeoutError(
                f"the answer went idle past {self.timeouts.read_described()}", timeout_s=self.timeouts.read
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"the answer broke off: {type(exc).__name__}") from exc

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Parse ``text/event-stream`` per the WHATWG spec (see :class:`SSEParser`)."""
        parser = SSEParser()
        try:
            # Raw chunks, not readline(): aiohttp caps a line at 512 KiB, and one Responses event carries the
            # whole answer (and the echoed instructions), so a long answer is a long line.
            async for chunk in self._resp.content.iter_any():
                for event in parser.feed(chunk):
                    yield event
            for event in parser.close():
                yield event
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            # Whether a cut stream may be billed is decided where a 2xx stream is read (HTTPProvider._stream).
            raise ProviderTimeoutError(
                f"the stream went idle past {self.timeouts.read_described()}", timeout_s=self.timeouts.read
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderConnectionError(f"the stream broke mid-answer: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"the stream broke mid-answer: {type(exc).__name__}") from exc


class SSEParser:
    """Incremental ``text/event-stream`` parser (WHATWG HTML, "Server-sent events", parsing an event stream).

    UTF-8 with replacement of invalid bytes, a leading BOM dropped, lines ended by CRLF, LF or CR (also when
    the break straddles two chunks), ``:`` comments ignored, ``data`` lines joined with ``\n``, an event
    dispatched at a blank line only when it has data. At the end of the stream an unterminated last line is
    dropped (it was cut off); data from complete lines is still dispatched, for servers that omit the final
    blank line after ``data: [DONE]``.
    """

    #: a line longer than this is not an event stream any vendor sends
    MAX_LINE_CHARS = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        #: the current line's text so far, in pieces (joined once, when it ends: long lines stay linear)
        self._partial: list[str] = []
        self._partial_len = 0
        #: the last chunk ended in CR: a LF starting the next one is the same line break
        self._skip_lf = False
        self._started = False
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._dispatch(self._split(self._decoder.decode(chunk)))

    def close(self) -> list[SSEEvent]:
        events = self._dispatch(self._split(self._decoder.decode(b"", final=True)))
        self._partial, self._partial_len = [], 0  # cut off mid-line: dropped
        if self._data:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
        self._event, self._data = None, []
        return events

    def _split(self, text: str) -> list[str]:
        """The lines that ``text`` completes; the unfinished rest is kept for the next chunk."""
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = text.endswith("\r")
        parts = _LINE_BREAK.split(text)
        rest = parts.pop()
        if parts:
            parts[0] = "".join(self._partial) + parts[0]
            self._partial, self._partial_len = [], 0
        if rest:
            self._partial.append(rest)
            self._partial_len += len(rest)
            if self._partial_len > self.MAX_LINE_CHARS:
                raise MalformedResponseError(f"an event-stream line exceeds {self.MAX_LINE_CHARS} characters")
        return parts

    def _dispatch(self, lines: list[str]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
        return events


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Transport:
    """HTTP for every provider: pooled aiohttp sessions with limits and timeouts.

    ``session_factory`` is the test seam: it receives the default connector settings and returns a
    session; by default a plain :class:`aiohttp.ClientSession`. ``env`` (by default the process's)
    names the proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``: see :mod:`magsag_mcp.proxies`).
    """

    def __init__(
        self,
        *,
        limit: int = 256,
        limit_per_host: int = 128,
        timeouts: Timeouts | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.proxies = ProxySettings(os.environ if env is None else env)
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.timeouts = timeouts or Timeouts()
        self._factory = session_factory
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            if self._factory is not None:
                session = self._factory()
            else:
                connector = aiohttp.TCPConnector(
                    limit=self.limit, limit_per_host=self.limit_per_host, ttl_dns_cache=300
                )
                # Responses are parsed by the providers; skip aiohttp's own cookie handling.
                session = aiohttp.ClientSession(
                    connector=connector,
                    cookie_jar=aiohttp.DummyCookieJar(),
                    json_serialize=json.dumps,
                )
            self._sessions[loop] = session
        return session

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
        with _converted(url, timeouts, proxy):
            async with self._session().post(
                url,
                data=json.dumps(body),
                headers=hdrs,
                params=params,
                timeout=timeouts.to_aiohttp(),
                allow_redirects=False,
                **_via(proxy, url, hdrs),
            ) as resp:
                _refuse_redirect(url, resp)
                payload = await resp.read()
                return HttpResponse(resp.status, resp.headers, payload)

    async def get(self, url: str, *, headers: Mapping[str, str], timeouts: Timeouts | None = None) -> HttpResponse:
        timeouts = timeouts or self.timeouts
        proxy = self.proxies.for_url(url)
        hdrs = dict(headers)
        with _converted(url, timeouts, proxy):
            async with self._session().get(
                url, headers=hdrs, timeout=timeouts.to_aiohttp(), allow_redirects=False, **_via(proxy, url, hdrs)
            ) as resp:
                _refuse_redirect(url, resp)
                return HttpResponse(resp.status, resp.headers, await resp.read())

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
        with _converted(url, timeouts, proxy):
            resp = await self._session().post(
                url,
                data=json.dumps(body),
                headers=hdrs,
                params=params,
                timeout=timeouts.to_aiohttp(),
                allow_redirects=False,
                **_via(proxy, url, hdrs),
            )
        try:
            _refuse_redirect(url, resp)
            error_body = None
            if resp.status >= 400:
                try:
                    error_body = await resp.read()
                except aiohttp.ClientError:
                    error_body = b""
            yield StreamResponse(resp, error_body, timeouts)
        finally:
            resp.release()

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for loop, session in sessions.items():
            if session.closed:
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                await session.close()
            elif not loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(session.close(), loop)
                await asyncio.wrap_future(fut)


def _refuse_redirect(url: str, resp: aiohttp.ClientResponse) -> None:
    """Redirects are not followed: aiohttp would carry ``x-api-key`` / ``api-key`` / ``x-goog-api-key``
    (it strips only ``Authorization``) to whatever host the redirect names. The redirect is an answer, and
    the same one next time: not retried (as a dropped connection would be), the next target is tried."""
    if 300 <= resp.status < 400:
        target = resp.headers.get("Location", "")
        raise UnexpectedStatusError(
            f"{_host(url)} answered HTTP {resp.status} redirecting to {_host(target) if target else 'elsewhere'}; "
            "redirects are not followed so that API keys never reach another host: set the base URL to the "
            "address the redirect names",
            status=resp.status,
        )


def _via(proxy: Proxy | None, url: str, headers: dict[str, str]) -> dict[str, Any]:
    return {} if proxy is None else proxy.request_options(url, headers)


@contextmanager
def _converted(url: str, timeouts: Timeouts | None = None, proxy: Proxy | None = None) -> Iterator[None]:
    """aiohttp's failures -> our tree, once, here at the boundary (the URL's path and query never shown).
    A timeout's message says which timeout fired, how long it was and the setting that changes it."""
    try:
        yield
    except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as exc:
        # the proxy itself failed or refused (407, 403, 502 to CONNECT): the vendor was never reached
        why = f"answered HTTP {exc.status}" if isinstance(exc, aiohttp.ClientHttpProxyError) else "could not be reached"
        via = f"the proxy {proxy.url} (from {proxy.source})" if proxy else "the proxy"
        check = proxy.source if proxy else "the proxy settings"
        raise ProviderConnectionError(
            f"could not reach {_host(url)}: {via} {why}; check {check} (its host, port and user:password@), "
            "or add the host to NO_PROXY to connect directly"
        ) from exc
    except aiohttp.ConnectionTimeoutError as exc:
        t = timeouts or Timeouts()
        raise ProviderTimeoutError(
            f"could not connect to {_host(url)} within {t.connect_described()}", timeout_s=t.connect
        ) from exc
    except aiohttp.ServerTimeoutError as exc:
        # Connected, then no answer in time: the model may be generating one the vendor bills.
        t = timeouts or Timeouts()
        raise ProviderTimeoutError(
            f"no answer from {_host(url)} within {t.read_described()}", maybe_billed=True, timeout_s=t.read
        ) from exc
    except TimeoutError as exc:
        # aiohttp's total timeout, when one is set
        t = timeouts or Timeouts()
        within = f"the total timeout of {t.total:g}s" if t.total is not None else "the timeout"
        raise ProviderTimeoutError(
            f"no complete answer from {_host(url)} within {within}", maybe_billed=True, timeout_s=t.total
        ) from exc
    except aiohttp.InvalidURL as exc:
        raise ConfigError(
            f"{_host(url) if '://' in url else 'a provider URL'} is not a usable URL ({type(exc).__name__}); "
            "set the provider's base URL (e.g. OPENAI_BASE_URL, or base_url in routing) to http(s)://host[:port]/path"
        ) from exc
    except aiohttp.ClientError as exc:
        raise ProviderConnectionError(
            f"could not reach {_host(url)}: {type(exc).__name__}: {_short(exc)}", maybe_billed=_reached_vendor(exc)
        ) from exc
    except ValueError as exc:
        # aiohttp checks a request as it builds it: a line break in a header value (a key or an
        # organisation id pasted with its newline), or credentials both in the URL and in a header.
        # Nothing was sent, so nothing is billed; the fix is in the configuration.
        raise ConfigError(
            f"cannot send a request to {_host(url)}: {redact(str(exc))[:200]}; check the provider's base URL "
            "(no user:password@ in it) and its key and organisation variables (no line breaks in them)"
        ) from exc


#: failures while opening the connection: the request was never sent, so nothing can be billed (a
#: connect timeout is converted on its own, before this is consulted)
_BEFORE_SENDING = (
    aiohttp.ClientConnectorError,  # refused, DNS, TLS handshake, proxy
    aiohttp.ServerFingerprintMismatch,
)


def _reached_vendor(exc: BaseException) -> bool:
    """Whether the request may have reached the vendor before ``exc``. aiohttp does not say whether the
    body was sent, so anything past connecting (a reset, a server that closed the connection) counts as
    reached: it may have come after the model started to generate."""
    return not isinstance(exc, _BEFORE_SENDING)


def _with_json(headers: Mapping[str, str]) -> dict[str, str]:
    hdrs = dict(headers)
    hdrs.setdefault("Content-Type", "application/json")
    return hdrs


def _host(url: str) -> str:
    # Only scheme://host:port: paths can carry deployment names, and query strings can carry keys.
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]  # never userinfo (user:password@)
    return f"{parts.scheme}://{netloc}"


def _short(exc: BaseException) -> str:
    return excerpt(str(exc), 200)
