"""The one seam between magsag-mcp and the network.

This module alone owns aiohttp: client sessions (one per event loop, created lazily so that no
constructor does network I/O), connection limits, timeouts, and the conversion of transport
failures (refused, reset, timed out) into :mod:`magsag_mcp.errors`. Providers receive a
:class:`Transport` and call :meth:`Transport.post_json` or :meth:`Transport.stream_sse`; tests pass
a Transport of their own (e.g. with tiny timeouts) instead of patching anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import MalformedResponseError, ProviderConnectionError, ProviderTimeoutError

__all__ = ["Timeouts", "HttpResponse", "SSEEvent", "Transport"]


@dataclass(slots=True, frozen=True)
class Timeouts:
    """Seconds. ``read`` bounds the wait for each chunk, so a slow stream that keeps talking lives."""

    connect: float = 10.0
    read: float = 120.0
    total: float | None = None

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.total, sock_connect=self.connect, sock_read=self.read)


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            snippet = self.body[:200].decode("utf-8", "replace")
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
            raise MalformedResponseError(f"stream event is not JSON: {self.data[:200]!r}") from exc


class StreamResponse:
    """An open SSE response. Iterate :meth:`events`; a non-2xx status has its body read eagerly."""

    def __init__(self, resp: aiohttp.ClientResponse, error_body: bytes | None) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.error_body = error_body

    def as_http_response(self) -> HttpResponse:
        return HttpResponse(self.status, self.headers, self.error_body or b"")

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Parse ``text/event-stream`` per the WHATWG spec (event/data fields, blank-line dispatch)."""
        event: str | None = None
        data: list[str] = []
        try:
            async for raw in self._resp.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        yield SSEEvent(event, "\n".join(data))
                    event, data = None, []
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "data":
                    data.append(value)
                elif name == "event":
                    event = value
            if data:
                yield SSEEvent(event, "\n".join(data))
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeoutError("the stream went idle past the read timeout") from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderConnectionError(f"the stream broke mid-answer: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"the stream broke mid-answer: {type(exc).__name__}") from exc


class Transport:
    """HTTP for every provider: pooled aiohttp sessions with limits and timeouts.

    ``session_factory`` is the test seam: it receives the default connector settings and returns a
    session; by default a plain :class:`aiohttp.ClientSession`.
    """

    def __init__(
        self,
        *,
        limit: int = 256,
        limit_per_host: int = 128,
        timeouts: Timeouts | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
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
        timeout = (timeouts or self.timeouts).to_aiohttp()
        with _converted(url):
            async with self._session().post(
                url, data=json.dumps(body), headers=_with_json(headers), params=params, timeout=timeout
            ) as resp:
                payload = await resp.read()
                return HttpResponse(resp.status, resp.headers, payload)

    async def get(self, url: str, *, headers: Mapping[str, str], timeouts: Timeouts | None = None) -> HttpResponse:
        timeout = (timeouts or self.timeouts).to_aiohttp()
        with _converted(url):
            async with self._session().get(url, headers=headers, timeout=timeout) as resp:
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
        timeout = (timeouts or self.timeouts).to_aiohttp()
        hdrs = _with_json(headers)
        hdrs["Accept"] = "text/event-stream"
        with _converted(url):
            resp = await self._session().post(url, data=json.dumps(body), headers=hdrs, params=params, timeout=timeout)
        try:
            error_body = None
            if resp.status >= 400:
                try:
                    error_body = await resp.read()
                except aiohttp.ClientError:
                    error_body = b""
            yield StreamResponse(resp, error_body)
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


@contextmanager
def _converted(url: str) -> Iterator[None]:
    """aiohttp's failures -> our tree, once, here at the boundary (the URL's path and query never shown)."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise ProviderTimeoutError(f"no answer from {_host(url)} within the timeout") from exc
    except aiohttp.ClientError as exc:
        raise ProviderConnectionError(f"could not reach {_host(url)}: {type(exc).__name__}: {_short(exc)}") from exc


def _with_json(headers: Mapping[str, str]) -> dict[str, str]:
    hdrs = dict(headers)
    hdrs.setdefault("Content-Type", "application/json")
    return hdrs


def _host(url: str) -> str:
    # Only scheme://host:port: paths can carry deployment names, and query strings can carry keys.
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text[:200]
