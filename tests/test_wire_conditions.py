"""What real networks send: bodies too large to hold, compressed bodies, pages from gateways and portals.
Every server here is a loopback aiohttp server."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.transport import Timeouts, Transport
from tests.fakes import openai_replies as R

pytestmark = pytest.mark.anyio

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
SHORT = Timeouts(connect=2.0, read=5.0, from_settings=False)
LIMIT = 64 * 1024


class Wire:
    """Answers as the test says: ``size`` bytes of a body, with or without Content-Length, maybe gzipped."""

    def __init__(self) -> None:
        self.status = 200
        self.size = 0
        self.declare_length = True
        self.content_type = "application/json"
        self.encoding: str | None = None
        self.body: bytes | None = None
        self.headers: dict[str, str] = {}

    async def answer(self, request: web.Request) -> web.StreamResponse:
        body = self.body if self.body is not None else b"x" * self.size
        headers = {"Content-Type": self.content_type, **self.headers}
        if self.encoding == "gzip":
            body = gzip.compress(body)
        elif self.encoding == "deflate":
            body = zlib.compress(body)
        if self.encoding:
            headers["Content-Encoding"] = self.encoding
        if self.declare_length:
            return web.Response(status=self.status, body=body, headers=headers)
        resp = web.StreamResponse(status=self.status, headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 8192):
            await resp.write(body[i : i + 8192])
        await resp.write_eof()
        return resp

    async def sse(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        event = b'data: {"choices": [{"delta": {"content": "' + b"y" * 1000 + b'"}}]}\n\n'
        for _ in range(self.size // len(event) + 1):
            await resp.write(event)
        await resp.write_eof()
        return resp


@pytest.fixture
async def wire() -> AsyncIterator[tuple[Wire, str]]:
    state = Wire()
    app = web.Application()
    app.router.add_post("/v1/sse", state.sse)
    app.router.add_route("*", "/v1/{tail:.*}", state.answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, f"http://127.0.0.1:{server.port}/v1"
    await server.close()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport(timeouts=SHORT, max_body_bytes=LIMIT)
    yield t
    await t.aclose()


# --- a body too large to hold ---------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False])
@pytest.mark.parametrize("encoding", [None, "gzip"])
async def test_a_body_beyond_the_limit_is_refused_not_held(wire, transport: Transport, declare_length, encoding):
    state, base = wire
    state.size, state.declare_length, state.encoding = LIMIT * 8, declare_length, encoding
    with pytest.raises(E.MalformedResponseError, match=r"more than 64 KiB.*base URL") as info:
        await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert info.value.status == 200 and info.value.maybe_billed  # a 2xx: the vendor may bill what it sent
    assert "127.0.0.1" in info.value.message and "/chat/completions" not in info.value.message
    with pytest.raises(E.MalformedResponseError, match="more than 64 KiB"):
        await transport.get(base + "/models", headers={})


async def test_a_body_within_the_limit_is_read_whole(wire, transport: Transport):
    state, base = wire
    state.size, state.declare_length = LIMIT, False
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert resp.status == 200 and len(resp.body) == LIMIT


async def test_an_error_body_beyond_the_limit_is_cut_and_its_status_kept(wire, transport: Transport):
    state, base = wire
    state.status, state.size, state.declare_length = 503, LIMIT * 8, False
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert resp.status == 503 and len(resp.body) == LIMIT
    async with transport.stream_sse(base + "/chat/completions", CHAT, headers={}) as stream:
        assert stream.status == 503 and len(stream.as_http_response().body) == LIMIT


async def test_a_body_whose_declared_length_is_the_limit_is_read_whole(wire, transport: Transport):
    # (read_body's first look, at Content-Length: one of exactly the limit is within it)
    state, base = wire
    state.size, state.declare_length = LIMIT, True
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert resp.status == 200 and len(resp.body) == LIMIT


async def test_an_error_body_declared_beyond_the_limit_is_cut_and_its_status_kept(wire, transport: Transport):
    # its Content-Length past the limit: an error status is read up to the limit all the same (its status says what
    # happened: a 503 retried, a 429's wait), not refused as a runaway answer before it is read
    state, base = wire
    state.status, state.size, state.declare_length = 503, LIMIT * 8, True
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert resp.status == 503 and len(resp.body) == LIMIT


async def test_a_stream_beyond_the_limit_is_cut(wire):
    state, base = wire
    state.size = LIMIT * 8
    transport = Transport(timeouts=SHORT, max_body_bytes=LIMIT, max_stream_bytes=LIMIT * 2)
    try:
        with pytest.raises(E.MalformedResponseError, match=r"more than 128 KiB"):
            async with transport.stream_sse(base + "/sse", CHAT, headers={}) as stream:
                async for _ in stream.events():
                    pass
    finally:
        await transport.aclose()


async def test_a_streamed_request_answered_with_a_huge_json_body_is_refused(wire, transport: Transport):
    state, base = wire
    state.size, state.declare_length = LIMIT * 8, False
    with pytest.raises(E.MalformedResponseError, match="more than 64 KiB"):
        async with transport.stream_sse(base + "/chat/completions", CHAT, headers={}) as stream:
            await stream.read()


def test_the_default_limits_leave_room_for_any_documented_answer():
    t = Transport()
    assert t.max_body_bytes >= 64 * 1024 * 1024 and t.max_stream_bytes >= t.max_body_bytes


# --- bodies that stop short -------------------------------------------------------------------------


@pytest.fixture
async def short_body() -> AsyncIterator[tuple[dict[str, str], str]]:
    """Promises 1000 bytes, sends 10, then stalls (``mode`` "stall") or drops the connection ("cut")."""
    state = {"mode": "stall"}
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json", "Content-Length": "1000"})
        await resp.prepare(request)
        await resp.write(b'{"id": "x"')
        if state["mode"] == "cut":
            assert request.transport is not None
            request.transport.close()
        else:
            await release.wait()
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, f"http://127.0.0.1:{server.port}/v1"
    release.set()
    await server.close()


async def test_headers_then_silence_is_a_read_timeout_that_may_be_billed(short_body):
    _, base = short_body
    transport = Transport(timeouts=Timeouts(connect=2.0, read=0.05, from_settings=False))
    try:
        with pytest.raises(E.ProviderTimeoutError, match="read timeout") as info:
            await transport.post_json(base + "/chat/completions", CHAT, headers={})
    finally:
        await transport.aclose()
    assert info.value.maybe_billed


async def test_a_body_cut_midway_is_a_connection_error_that_may_be_billed(short_body, transport: Transport):
    state, base = short_body
    state["mode"] = "cut"
    with pytest.raises(E.ProviderConnectionError) as info:
        await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert info.value.maybe_billed and info.value.retryable


# --- answers that are not HTTP ----------------------------------------------------------------------


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 200 OK\r\nno colon in this header\r\n\r\n"])
async def test_an_answer_that_is_not_http_is_named_without_the_path_or_query(transport: Transport, answer: bytes):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            url = f"http://127.0.0.1:{port}/openai/deployments/secret-deployment/chat?api-version=2024-10-21"
            await transport.post_json(url, CHAT, headers={})
    finally:
        server.close()
        await server.wait_closed()
    message = info.value.message
    assert message.startswith(f"could not reach http://127.0.0.1:{port}: its answer is not valid HTTP (")
    assert "secret-deployment" not in message and "api-version" not in message


async def test_a_long_header_from_a_gateway_does_not_lose_the_answer(wire, transport: Transport):
    # a load balancer's session cookie, a long Content-Security-Policy: aiohttp stops at 8190 bytes by default
    state, base = wire
    state.body = b'{"ok": true}'
    state.headers = {"Set-Cookie": "AWSALB=" + "x" * 12_000, "Content-Security-Policy": "default-src " + "y" * 20_000}
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert resp.status == 200 and resp.json() == {"ok": True}


# --- a page where the API's JSON was expected ---------------------------------------------------------


async def test_an_html_page_instead_of_json_says_where_such_pages_come_from(wire, transport: Transport):
    state, base = wire
    state.body, state.content_type = b"<html><body>Sign in to continue</body></html>", "text/html"
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    with pytest.raises(E.MalformedResponseError) as info:
        resp.json()
    message = info.value.message
    assert "expected a JSON body (HTTP 200), got: '<html>" in message
    assert "captive portal" in message and "base URL" in message
    state.content_type = "text/plain"  # not a page: no guess
    with pytest.raises(E.MalformedResponseError) as info:
        (await transport.post_json(base + "/chat/completions", CHAT, headers={})).json()
    assert "captive portal" not in info.value.message


# --- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("/v1/chat/completions/", "redirecting to another path on http://127.0.0.1:{port}; "),
        ("chat/completions/", "redirecting to another path on http://127.0.0.1:{port}; "),
        ("https://127.0.0.1:{port}/v1/chat/completions", "redirecting to https://127.0.0.1:{port}; "),
        ("http://login.portal.example/?next=secret-path", "redirecting to http://login.portal.example; "),
    ],
)
async def test_a_redirect_names_where_it_points_even_when_relative(wire, transport: Transport, location, says):
    state, base = wire
    port = base.split(":")[2].split("/")[0]
    state.status, state.headers, state.body = 307, {"Location": location.format(port=port)}, b""
    with pytest.raises(E.UnexpectedStatusError) as info:
        await transport.post_json(base + "/chat/completions", CHAT, headers={"x-api-key": "k"})
    message = info.value.message
    assert says.format(port=port) in message and "://;" not in message
    assert "secret-path" not in message and "/chat/completions" not in message


# --- a whole JSON answer whose chunked encoding never ends ------------------------------------------------------


@pytest.fixture
async def whole_then() -> AsyncIterator[tuple[dict[str, str], str]]:
    """Sends a whole chat completion, chunked (no Content-Length), then drops the connection before the encoding's
    last chunk ("cut") or holds it open, silent ("hold"), until the test ends."""
    state = {"mode": "cut", "held": ""}
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(json.dumps(R.chat_completion("gpt-4o", R.reply("whole answer"))).encode() + b"\n")
        assert request.transport is not None
        if state["mode"] == "cut":
            request.transport.close()
        elif state["mode"] == "keepalive":  # whitespace every 50 ms, far longer than the wait for the end lasts
            state["held"] = "sending"
            for _ in range(400):
                if release.is_set():
                    break
                await resp.write(b"\n")
                await asyncio.sleep(0.05)
            state["held"] = "silent"
            await release.wait()
        else:
            state["held"] = "yes"
            await release.wait()
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, f"http://127.0.0.1:{server.port}/v1"
    release.set()
    await server.close()


async def test_a_whole_json_answer_whose_encoding_is_cut_before_its_end_is_the_answer(whole_then, transport):
    # A proxy that drops the chunked encoding's last chunk: the whole, billed answer failed as "response payload is
    # not completed", a dropped connection, and was asked for again, up to three times, each one billed.
    _, base = whole_then
    resp = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    assert resp.status == 200 and resp.json()["choices"][0]["message"]["content"] == "whole answer"


async def test_a_whole_json_answer_held_open_is_the_answer_before_the_read_timeout(whole_then, tmp_path):
    # The same answer with the connection held open after it: it waited for the read timeout and, when the call's
    # deadline came first, failed as "no complete answer within the call's deadline", its cost unknown.
    from magsag_mcp.service import Service

    state, base = whole_then
    state["mode"] = "hold"
    env = {
        "OPENAI_BASE_URL": base,
        "OPENAI_API_KEY": "sk-test-0123456789",
        "MAGSAG_READ_TIMEOUT": "600",
        "MAGSAG_CALL_DEADLINE": "30",
    }
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        model = {"model": "gpt-4o", "params": {"api": "chat"}}
        out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
    assert out.result.text == "whole answer" and [a.outcome for a in out.attempts] == ["ok"]
    assert state["held"] == "yes"


async def test_a_whole_json_answer_held_open_near_the_calls_deadline_is_the_answer(whole_then, tmp_path, monkeypatch):
    # The end of a whole JSON answer is waited for a while (the usual chunked end still comes, and the connection is
    # reused). When the call's deadline came during that wait, it cut the whole, billed answer: "no complete answer
    # within the call's deadline", its cost unknown. (The wait made long here, so that any deadline falls inside it.)
    from magsag_mcp import limits
    from magsag_mcp.service import Service

    monkeypatch.setattr(limits, "HELD_END_SECONDS", 600.0)
    state, base = whole_then
    state["mode"] = "hold"
    env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test-0123456789", "MAGSAG_CALL_DEADLINE": "2"}
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        model = {"model": "gpt-4o", "params": {"api": "chat"}}
        out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
    assert out.result.text == "whole answer" and [a.outcome for a in out.attempts] == ["ok"]
    assert state["held"] == "yes"


async def test_a_whole_json_answer_followed_by_keep_alive_whitespace_is_the_answer_at_once(
    whole_then, tmp_path, monkeypatch
):
    # A gateway that keeps a held connection alive by writing whitespace after the whole JSON answer, each byte well
    # within a second of the last: each restarted the wait for the body's end, so the whole, billed answer was held
    # until the call's deadline (300 s by default). Whitespace adds nothing to a whole document: the wait for the
    # end runs on through it.
    from magsag_mcp import limits
    from magsag_mcp.service import Service

    monkeypatch.setattr(limits, "HELD_END_SECONDS", 0.3)
    state, base = whole_then
    state["mode"] = "keepalive"
    env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test-0123456789", "MAGSAG_CALL_DEADLINE": "600"}
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        model = {"model": "gpt-4o", "params": {"api": "chat"}}
        out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
        answered_while_sending = state["held"] == "sending"
    assert out.result.text == "whole answer" and [a.outcome for a in out.attempts] == ["ok"]
    assert answered_while_sending


@pytest.mark.parametrize("mode", ["cut", "stall"])
async def test_an_error_status_whose_body_stops_short_is_that_error(mode: str):
    # A 429 (or a 503, a 400) whose body was cut or stalled: the status that says what happened was thrown away for
    # a dropped connection or a read timeout, "maybe billed" at its worst case, retried at once (a 429's Retry-After
    # unread), and a bad request sent again to every target. The body is only quoted: what came of it is kept.
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        headers = {"Content-Type": "application/json", "Content-Length": "1000", "Retry-After": "42"}
        resp = web.StreamResponse(status=429, headers=headers)
        await resp.prepare(request)
        await resp.write(b'{"error": {"message": "Rate limit reached for gpt-4o", "type": "requests"')
        assert request.transport is not None
        if mode == "cut":
            request.transport.close()
        else:
            await release.wait()
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = Transport(timeouts=Timeouts(connect=2.0, read=0.2, from_settings=False))
    try:
        resp = await transport.post_json(f"http://127.0.0.1:{server.port}/v1/chat/completions", CHAT, headers={})
    finally:
        release.set()
        await transport.aclose()
        await server.close()
    assert resp.status == 429 and resp.headers["Retry-After"] == "42"
    assert resp.body.startswith(b'{"error": {"message": "Rate limit reached')
