"""What an error converted from aiohttp's failure keeps of it (transport_failures.converted_from): what aiohttp said,
its URLs cut to their hosts, as a TransportCause; never aiohttp's exception itself, as its cause or its context,
whose text held the request's whole URL (a gateway's token in its path, a key in its query) and, a proxy's refusal,
the request's headers."""

from __future__ import annotations

import io
import logging
import traceback
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from magsag_mcp import errors as E
from magsag_mcp.http_responses import StreamResponse
from magsag_mcp.transport import Timeouts, Transport

pytestmark = pytest.mark.anyio

KEY = "Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0"
TOKEN_URL = f"https://gw.example/v1/{KEY}/chat/completions?key={KEY}"


def _request_info() -> aiohttp.RequestInfo:
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {KEY}", "Proxy-Authorization": f"Basic {KEY}"}))
    return aiohttp.RequestInfo(URL(TOKEN_URL), "POST", headers, URL(TOKEN_URL))


def _failures() -> list[BaseException]:
    return [
        aiohttp.ConnectionTimeoutError(f"Connection timeout to host {TOKEN_URL}"),
        aiohttp.ClientOSError(None, f"Can not write request body for {TOKEN_URL}"),
        aiohttp.ClientHttpProxyError(_request_info(), (), status=407, message="Proxy Authentication Required"),
    ]


class _FailingSession:
    closed = False

    def __init__(self, failure: BaseException) -> None:
        self.failure = failure

    async def post(self, url: str, **options: Any) -> Any:
        raise self.failure

    def get(self, url: str, **options: Any) -> Any:
        raise self.failure

    async def close(self) -> None:
        pass


def _everything_said(err: BaseException) -> str:
    """The error's chain as tracebacks print it, and as a walker ignoring ``__suppress_context__`` finds it."""
    said = "".join(traceback.format_exception(err))
    link: BaseException | None = err
    while link is not None:
        said += repr(link) + str(getattr(link, "request_info", ""))
        link = link.__cause__ or link.__context__
    return said


def _assert_nothing_of_the_request(err: BaseException, failure: BaseException) -> None:
    assert isinstance(err.__cause__, E.TransportCause), repr(err.__cause__)
    assert err.__context__ is None or isinstance(err.__context__, E.MagsagError), repr(err.__context__)
    said = _everything_said(err)
    assert KEY not in said and "/chat/completions" not in said, said
    assert type(failure).__name__ in str(err.__cause__)  # what aiohttp said, for the one debugging it
    logged = io.StringIO()
    app = logging.getLogger("an_application_of_its_own")  # no redacting filter of magsag's
    handler = logging.StreamHandler(logged)
    app.addHandler(handler)
    try:
        app.error("the call failed", exc_info=err)
    finally:
        app.removeHandler(handler)
    assert "TransportCause" in logged.getvalue() and KEY not in logged.getvalue()


@pytest.mark.parametrize("failure", _failures(), ids=lambda f: type(f).__name__)
async def test_a_post_that_failed_keeps_nothing_of_aiohttps_exception(failure: BaseException):
    transport = Transport(session_factory=lambda: _FailingSession(failure))  # type: ignore[arg-type, return-value]
    with pytest.raises(E.MagsagError) as info:
        await transport.post_json(TOKEN_URL, {}, headers={"Authorization": f"Bearer {KEY}"})
    _assert_nothing_of_the_request(info.value, failure)


@pytest.mark.parametrize("failure", _failures(), ids=lambda f: type(f).__name__)
async def test_a_get_that_failed_keeps_nothing_of_aiohttps_exception(failure: BaseException):
    transport = Transport(session_factory=lambda: _FailingSession(failure))  # type: ignore[arg-type, return-value]
    with pytest.raises(E.MagsagError) as info:
        await transport.get(TOKEN_URL, headers={"Authorization": f"Bearer {KEY}"})
    _assert_nothing_of_the_request(info.value, failure)


class _BrokenContent:
    def __init__(self, failure: BaseException) -> None:
        self.failure = failure

    async def readany(self) -> bytes:
        raise self.failure

    async def iter_any(self) -> Any:
        raise self.failure
        yield b""  # (an async generator)


class _BrokenAnswer:
    status = 200
    content_length = None

    def __init__(self, failure: BaseException, content_type: str) -> None:
        self.headers = CIMultiDictProxy(CIMultiDict({"Content-Type": content_type}))
        self.content = _BrokenContent(failure)
        self.content_type = content_type


@pytest.mark.parametrize("content_type", ["text/event-stream", "text/plain", "application/json"])
async def test_a_stream_that_broke_keeps_nothing_of_aiohttps_exception(content_type: str):
    # aiohttp sets its writer's failure on the answer's reader: "Can not write request body for <the whole URL>"
    # came out of the stream's read, and was raised as the cause of ours, printed in each traceback of it
    failure = aiohttp.ClientOSError(None, f"Can not write request body for {TOKEN_URL}")
    stream = StreamResponse(_BrokenAnswer(failure, content_type), None, Timeouts(), url=TOKEN_URL)  # type: ignore[arg-type]
    with pytest.raises(E.ProviderError) as info:
        if content_type == "application/json":
            await stream.read()
        elif await stream.is_event_stream():
            async for _ in stream.events():
                pass
    _assert_nothing_of_the_request(info.value, failure)


#: a gateway's base URL whose path holds a token no key pattern knows (a tenant's deployment), and a key in its query
GATEWAY_URL = f"https://gw.example/t/tenant-4471-prod-routing/deployments/gpt/chat?key={KEY}"


@pytest.mark.parametrize("send", ["post_json", "get"])
async def test_a_request_aiohttp_would_not_build_is_said_by_its_host_alone(send: str):
    # A ValueError raised as the request is built (transport_failures' last path, a config_error) whose text quotes the
    # URL: its message said it redacted and not cut to the host, as every other path cuts it, the tenant's path and
    # what follows it kept
    failure = ValueError(f"Cannot build a request for {GATEWAY_URL} (credentials both in the URL and a header)")
    transport = Transport(session_factory=lambda: _FailingSession(failure))  # type: ignore[arg-type, return-value]
    with pytest.raises(E.ConfigError) as info:
        if send == "get":
            await transport.get(GATEWAY_URL, headers={})
        else:
            await transport.post_json(GATEWAY_URL, {}, headers={})
    err = info.value
    assert err.message.startswith("cannot send a request to https://gw.example: "), err.message
    assert "Cannot build a request for https://gw.example (credentials both" in err.message, err.message
    said = _everything_said(err) + str(err.to_dict())
    assert "tenant-4471" not in said and KEY not in said and "/deployments" not in said, said
