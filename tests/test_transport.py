"""The transport: aiohttp failures become magsag errors once, and the SSE parser follows the WHATWG spec."""

from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.transport import SSEEvent, Timeouts, Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

#: (loopback servers here must answer within read timeouts of 0.2 s: see no_collector_pause)
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_collector_pause")]

AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
#: for servers that never answer: any read timeout expires, so keep it short
TINY = Timeouts(connect=2.0, read=0.05)
#: for a stream that delivers some events, then goes silent: long enough for the first events to arrive
IDLE = Timeouts(connect=2.0, read=0.25)


class RawSSE:
    """Writes exactly the bytes a test gives it, chunk by chunk, so the parser sees real TCP reads."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.status = 200
        self.abort = False
        self.release = asyncio.Event()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=self.status, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in self.chunks:
            await resp.write(chunk)
            await asyncio.sleep(0)  # give each chunk its own read on the client side
        if self.abort:
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    async def hang(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(text="too late")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sse", self.stream)
        app.router.add_get("/hang", self.hang)
        return app


@pytest.fixture
async def raw() -> AsyncIterator[tuple[RawSSE, str]]:
    server_state = RawSSE()
    server = TestServer(server_state.app(), host="127.0.0.1")
    await server.start_server()
    yield server_state, str(server.make_url("")).rstrip("/")
    server_state.release.set()
    await server.close()


async def read_stream(transport: Transport, url: str) -> list[SSEEvent]:
    async with transport.stream_sse(url, {}, headers={}) as resp:
        return [event async for event in resp.events()]


# --- failures become magsag errors -------------------------------------------------------------------


async def test_connection_refused(transport: Transport, refused_port: int):
    port = refused_port
    url = f"http://127.0.0.1:{port}/v1/secret-deployment/chat?key=sk-querykey-0123456789"
    with pytest.raises(E.ProviderConnectionError) as info:
        await transport.post_json(url, CHAT, headers=AUTH)
    err = info.value
    # changed on purpose (back to retryable): refused on loopback, retried on the last target left only (a5eb4ff
    # made it not retried at all); tests/test_loopback_refusals.py
    assert err.retryable and err.retried_only_on_last_target and err.moves_on
    assert not err.maybe_billed  # never sent: nothing to bill
    assert f"127.0.0.1:{port}" in err.message
    # paths can name deployments and queries can carry keys: neither is shown
    assert "secret-deployment" not in err.message and "querykey" not in err.message


async def test_connection_refused_on_a_stream(transport: Transport, refused_port: int):
    with pytest.raises(E.ProviderConnectionError) as info:
        async with transport.stream_sse(f"http://127.0.0.1:{refused_port}/sse", {}, headers={}):
            pass
    assert not info.value.maybe_billed


async def test_read_timeout_on_post(fake_openai: FakeOpenAI):
    fake_openai.queue(R.Reply(hang=True))
    transport = Transport(timeouts=TINY)
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    assert info.value.retryable and info.value.moves_on
    assert info.value.maybe_billed  # the request was sent: the model may be generating a billed answer
    assert fake_openai.url in info.value.message and "/v1/chat" not in info.value.message


async def test_per_call_timeouts_override_the_default(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.queue(R.Reply(hang=True))
    with pytest.raises(E.ProviderTimeoutError):
        await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH, timeouts=TINY)


async def test_read_timeout_on_get(raw: tuple[RawSSE, str]):
    _, url = raw
    transport = Transport(timeouts=TINY)
    try:
        with pytest.raises(E.ProviderTimeoutError):
            await transport.get(url + "/hang", headers={})
    finally:
        await transport.aclose()


async def test_a_stream_that_goes_idle_times_out(fake_openai: FakeOpenAI):
    fake_openai.queue(R.reply("one two three", stall_after=2))
    transport = Transport(timeouts=IDLE)
    events: list[SSEEvent] = []
    try:
        with pytest.raises(E.ProviderTimeoutError, match="idle"):
            async with transport.stream_sse(
                fake_openai.url + "/v1/chat/completions", {**CHAT, "stream": True}, headers=AUTH
            ) as resp:
                async for event in resp.events():
                    events.append(event)
    finally:
        await transport.aclose()
    assert len(events) == 2  # what came before the silence was delivered


async def test_a_dropped_stream_is_a_connection_error(raw: tuple[RawSSE, str], transport: Transport):
    server, url = raw
    server.chunks = [b"data: one\n\n", b"data: tw"]
    server.abort = True
    seen: list[str] = []
    with pytest.raises(E.ProviderConnectionError, match="mid-answer") as info:
        async with transport.stream_sse(url + "/sse", {}, headers={}) as resp:
            async for event in resp.events():
                seen.append(event.data)
    assert seen == ["one"]
    # Whether it may be billed is decided where a 2xx stream is read (HTTPProvider._stream), for every
    # way a begun answer can stop: tests/test_attempt_cost.py.
    assert not info.value.maybe_billed


@pytest.mark.parametrize(
    "url",
    [
        "https://gateway.example.com/v1/acct-7f3a9c/gw-prod/openai/chat/completions?api-version=2024-10-21",
        "https://user:pw@[2001:db8::1]:8443/openai/deployments/prod-gpt4o/chat/completions",
    ],
)
def test_a_failure_that_quotes_the_whole_url_is_shown_with_its_host_alone(url: str):
    # Before: "could not reach https://gateway.example.com: ClientOSError: [Errno None] Can not write request body for
    # https://gateway.example.com/v1/acct-7f3a9c/gw-prod/...?api-version=...": aiohttp's text (a pooled connection the
    # server had closed) carried the path a gateway's account and token are in, into the error, the ledger and logs
    from magsag_mcp.transport_failures import conversion

    with pytest.raises(E.ProviderConnectionError) as info:
        raise conversion(aiohttp.ClientOSError(None, f"Can not write request body for {url}"), url, Timeouts())
    message = info.value.message
    origin = url.split("://")[0] + "://" + url.split("://")[1].split("/")[0].rpartition("@")[2]
    assert message.endswith(f"Can not write request body for {origin}")
    for part in ("acct-7f3a9c", "gw-prod", "api-version", "prod-gpt4o", "pw@"):
        assert part not in message


@pytest.mark.parametrize(
    ("quoted", "shown"),
    [
        ("http://[::1:8080/v1/chat/completions?key=sk-q1", "http://[::1:8080"),  # an unclosed [
        ("https://u:pw@gw]1.example/acct-7f3a/x", "https://gw]1.example"),  # a ] with no [
    ],
)
def test_a_failure_quoting_a_url_with_an_unbalanced_bracket_is_still_converted(quoted: str, shown: str):
    # Before: urlsplit's IPv6 check raised ValueError("Invalid IPv6 URL") from inside the converter, and the
    # failure of the call left as that ValueError instead of the connection error it was
    from magsag_mcp.transport_failures import conversion

    with pytest.raises(E.ProviderConnectionError) as info:
        failure = aiohttp.ClientOSError(None, f"Can not write request body for {quoted}")
        raise conversion(failure, "https://api.example.com/v1/chat/completions", Timeouts())
    message = info.value.message
    assert message.endswith(f"Can not write request body for {shown}")
    for part in ("acct-7f3a", "key=", "sk-q1", "pw@", "/v1/chat"):
        assert part not in message.split("request body for")[1]


@pytest.mark.parametrize(
    ("failure", "cls", "maybe_billed"),
    [
        (aiohttp.ConnectionTimeoutError(), E.ProviderTimeoutError, False),  # never connected
        (aiohttp.SocketTimeoutError(), E.ProviderTimeoutError, True),  # sent, then no answer in time
        (TimeoutError(), E.ProviderTimeoutError, True),  # the total timeout
        (aiohttp.ServerDisconnectedError(), E.ProviderConnectionError, True),  # closed after the request
    ],
)
def test_a_failure_says_whether_the_vendor_may_bill_it(failure: Exception, cls: type, maybe_billed: bool):
    from magsag_mcp.transport_failures import conversion

    with pytest.raises(cls) as info:
        raise conversion(failure, "http://127.0.0.1:1/v1/chat", Timeouts())
    assert info.value.maybe_billed is maybe_billed


async def test_a_request_that_cannot_be_built_is_a_config_error_and_is_never_sent(fake_openai: FakeOpenAI):
    # aiohttp refuses these before sending: not a connection problem to retry, and nothing to bill
    transport = Transport()
    creds = fake_openai.url.replace("http://", "http://user:pw@") + "/v1/chat/completions"
    cases = [
        (creds, {"Authorization": f"Bearer {DEFAULT_KEY}"}, "(no user:password@ in it)"),
        (fake_openai.url + "/v1/chat/completions", {"Authorization": "Bearer sk-abc\r\ndef"}, "no line breaks"),
        ("not-a-url/chat/completions", {}, "is not a usable URL (InvalidUrlClientError); set the provider's base URL"),
    ]
    try:
        for url, headers, needle in cases:
            with pytest.raises(E.ConfigError, match=re.escape(needle)) as info:
                await transport.post_json(url, {"model": "gpt-4o"}, headers=headers)
            assert "sk-abc" not in info.value.message and "pw@" not in info.value.message
    finally:
        await transport.aclose()
    assert fake_openai.requests == []


async def test_a_body_that_cannot_be_serialized_is_our_bug_not_a_config_error(fake_openai: FakeOpenAI):
    # Before: json.dumps's ValueError (a cycle in the body) was converted with aiohttp's, into a config_error telling
    # the user to check the base URL and the key; nothing of theirs was wrong. Raised as it is, the cascade names the
    # bug (internal_error, tests/test_our_bugs.py).
    transport = Transport()
    body: dict = {"model": "gpt-4o"}
    body["tools"] = [body]
    try:
        with pytest.raises(ValueError, match="Circular reference") as info:
            await transport.post_json(fake_openai.url + "/v1/chat/completions", body, headers=AUTH)
        assert not isinstance(info.value, E.MagsagError)
        with pytest.raises(ValueError, match="Circular reference"):
            async with transport.stream_sse(fake_openai.url + "/v1/chat/completions", body, headers=AUTH):
                pass
    finally:
        await transport.aclose()
    assert fake_openai.requests == []


class _AnswerReadWithABug(aiohttp.ClientResponse):
    """A response whose reading raises a ValueError, as a bug in code of ours reading the answer would."""

    @property
    def content_length(self) -> int | None:  # (read_body's first look at the answer)
        raise ValueError("invalid literal for int() with base 10: 'x'")


async def test_a_value_error_once_the_request_was_sent_is_not_a_config_error(fake_openai: FakeOpenAI):
    # Before: any ValueError inside the request's block was a config_error, "cannot send a request ... check the
    # provider's base URL", and so nothing billed, although the request had gone out and been answered
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(response_class=_AnswerReadWithABug))
    try:
        with pytest.raises(ValueError, match="invalid literal") as info:
            await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
        assert not isinstance(info.value, E.MagsagError)
    finally:
        await transport.aclose()
    assert len(fake_openai.requests) == 1


async def test_a_control_character_in_a_key_is_a_config_error_naming_it(fake_openai: FakeOpenAI):
    # an escape pasted with the key: aiohttp refuses the header as it builds the request; nothing is sent
    transport = Transport()
    try:
        with pytest.raises(E.ConfigError, match="no line breaks or other control characters"):
            await transport.post_json(
                fake_openai.url + "/v1/chat/completions", CHAT, headers={"Authorization": "Bearer sk-abc\x1bdef"}
            )
    finally:
        await transport.aclose()
    assert fake_openai.requests == []


async def test_http_errors_are_returned_not_raised(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.queue(R.server_error(), R.rate_limited(retry_after="3"))
    resp = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    assert resp.status == 500 and resp.json()["error"]["type"] == "server_error"
    body = {**CHAT, "stream": True}
    async with transport.stream_sse(fake_openai.url + "/v1/chat/completions", body, headers=AUTH) as stream:
        assert stream.status == 429 and stream.headers["Retry-After"] == "3"
        error = stream.as_http_response()  # the body was read eagerly
        assert error.json()["error"]["code"] == "rate_limit_exceeded"


async def test_a_body_that_is_not_json_is_malformed(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.queue(R.error(502, raw="<html>Bad Gateway</html>", content_type="text/html"))
    resp = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    with pytest.raises(E.MalformedResponseError, match="Bad Gateway"):
        resp.json()
    assert resp.text() == "<html>Bad Gateway</html>"


async def test_json_headers_and_query_parameters(fake_openai: FakeOpenAI, transport: Transport):
    await transport.post_json(
        fake_openai.url + "/v1/chat/completions", CHAT, headers={**AUTH, "X-Extra": "1"}, params={"trace": "on"}
    )
    req = fake_openai.requests[0]
    assert req.headers["Content-Type"] == "application/json" and req.headers["X-Extra"] == "1"
    assert req.query == {"trace": "on"} and req.body == CHAT


async def test_one_session_per_loop_and_aclose(fake_openai: FakeOpenAI):
    made: list[aiohttp.ClientSession] = []

    def factory() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    transport = Transport(session_factory=factory)
    for _ in range(3):
        await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    assert len(made) == 1
    await transport.aclose()
    assert made[0].closed
    await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)  # a fresh session
    assert len(made) == 2
    await transport.aclose()


async def test_redirects_are_not_followed_so_keys_stay_home(transport: Transport):
    # aiohttp strips only Authorization on a cross-origin redirect; x-api-key would follow it.
    seen: list[dict[str, str]] = []

    async def collector(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({})

    other_app = web.Application()
    other_app.router.add_route("*", "/{tail:.*}", collector)
    other = TestServer(other_app, host="127.0.0.1")
    await other.start_server()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://user:pw@127.0.0.1:{other.port}/steal")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(E.UnexpectedStatusError, match="redirects are not followed") as info:
            await transport.post_json(base + "/v1/messages", CHAT, headers={"x-api-key": "sk-ant-secret"})
        assert "pw" not in info.value.message and "user" not in info.value.message
        # the same redirect would come back: not retried on this target (3 tries, with waits), the next one is tried
        assert info.value.status == 307 and not info.value.retryable and info.value.moves_on
        assert not info.value.maybe_billed
        with pytest.raises(E.UnexpectedStatusError, match="HTTP 307"):
            async with transport.stream_sse(base + "/v1/messages", CHAT, headers={"x-api-key": "sk-ant-secret"}):
                pass
        with pytest.raises(E.UnexpectedStatusError):
            await transport.get(base + "/models", headers={"api-key": "azure-secret"})
        assert seen == []
    finally:
        await server.close()
        await other.close()


@pytest.mark.parametrize("location", ["http://[bad/v1/chat/completions", "https://[::1:8443/v1"])
async def test_a_redirect_to_an_unreadable_location_is_still_a_refused_redirect(transport: Transport, location: str):
    # A gateway or captive portal answering 302 with a Location no URL parser takes: reading its host raised
    # ValueError, which the transport took for a request aiohttp refused to build, a ConfigError blaming the
    # provider's base URL and its key variables ("no user:password@ in it"), which ended the call instead of
    # moving on to the next target. It is a redirect refused like any other.
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(E.UnexpectedStatusError, match="redirects are not followed") as info:
            await transport.post_json(base + "/v1/chat/completions", CHAT, headers=AUTH)
        assert info.value.status == 302 and info.value.moves_on and "redirecting to elsewhere" in info.value.message
    finally:
        await server.close()


@pytest.mark.parametrize("answer", ["bad-status-line", "unusable-host"])
async def test_a_failures_traceback_shows_no_more_of_the_url_than_its_message(transport: Transport, answer: str):
    # The converted error kept aiohttp's as its cause, whose text is the whole URL (a gateway's token in the path,
    # a key in the query): a script's uncaught error (a host pasted with an invisible character) printed it with
    # the traceback, as did any logger.exception of the error
    async def bad_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 2x0 WHAT\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(bad_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    host = f"127.0.0.1:{port}" if answer == "bad-status-line" else "exam\u200bple.com"
    url = f"http://{host}/Gw7TokenAb3Cd9Ef2Gh/v1/chat/completions?key=QueryKey8Hj4Kl6Mn"
    try:
        with pytest.raises(E.MagsagError) as info:
            await transport.post_json(url, CHAT, headers=AUTH)
    finally:
        server.close()
        await server.wait_closed()
    told = "".join(traceback.format_exception(info.value))
    assert "Gw7TokenAb3Cd9Ef2Gh" not in told and "QueryKey8Hj4Kl6Mn" not in told
    assert info.value.message in told


@pytest.mark.parametrize(
    ("framing", "cut"),
    [
        (b"Content-Length: 500\r\n\r\n", b'{"id": "chatcmpl-1", "choices": ['),
        (b"Transfer-Encoding: chunked\r\n\r\n20\r\n", b'{"id": "chatcmpl-1", "choices": '),
    ],
    ids=["content-length", "chunked"],
)
async def test_an_answer_cut_mid_body_says_it_broke_off_not_that_the_host_was_not_reached(
    transport: Transport, framing: bytes, cut: bytes
):
    # b91868e made a stream cut mid-answer say so without aiohttp's parser status; an answer's body cut the same way
    # (not streamed) still read "could not reach http://HOST: ClientPayloadError: Response payload is not completed:
    # <ContentLengthError: 400, message=...>": the host was reached and answering, and a 400 reads as a request the
    # vendor refused at no cost, where this answer may be billed
    async def cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + framing + cut)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut_off, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json(f"http://127.0.0.1:{port}/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        server.close()
        await server.wait_closed()
    message = info.value.message
    said = f"the answer from http://127.0.0.1:{port} broke off: Not enough data to satisfy "
    assert message.startswith(said), message
    assert message.endswith("(the connection ended before the answer did)"), message
    # (what follows the host: the loopback port itself may hold "400", as 40087 did)
    words = message.removeprefix(f"the answer from http://127.0.0.1:{port}")
    assert "400" not in words and "Error" not in words and "could not reach" not in message
    assert info.value.maybe_billed and info.value.retryable and info.value.moves_on


def test_a_stream_cut_without_the_parsers_words_names_the_host_alone_as_a_cut_body_does():
    # The stream's wording had a copy of the body's (transport_failures.broke_off) that fell back to aiohttp's whole
    # text where its parser gave no words: a URL in it kept its path and query, which the body's cuts to the host
    import aiohttp

    from magsag_mcp.http_responses import StreamResponse

    exc = aiohttp.ClientPayloadError("Response payload is not completed: https://api.example.com/v1/chat?sig=abc")
    err = StreamResponse._broken(StreamResponse.__new__(StreamResponse), exc)
    assert isinstance(err, E.ProviderConnectionError)
    assert err.message == "the stream broke mid-answer: Response payload is not completed: https://api.example.com"
