"""How ``post_json`` lets an answer go: one read to its end is closed already (aiohttp gave its connection back to the
pool at the body's end), and is not released again; one not read to its end (an error's body cut at the limit, a
read that failed) is released, its connection closed rather than given back half read."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.transport import Timeouts, Transport

#: (loopback servers here must answer within read timeouts of 0.2 s: see no_collector_pause)
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_collector_pause")]


@pytest.fixture
async def server():
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})

    async def long_error(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"error": {"message": "x" * 2_000_000, "type": "server_error"}}, status=500)

    async def stalled(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 100
        await resp.prepare(request)
        await resp.write(b'{"id": ')
        await asyncio.sleep(30)  # the rest never comes (the client's read timeout ends the wait)
        return resp

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/long-error", long_error)
    app.router.add_post("/stalled", stalled)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


def _traced(connections: list[str]) -> aiohttp.ClientSession:
    """A session that notes each connection it opens ("new") and each it takes from its pool ("reused")."""
    trace = aiohttp.TraceConfig()

    async def new(*_: Any) -> None:
        connections.append("new")

    async def reused(*_: Any) -> None:
        connections.append("reused")

    trace.on_connection_create_end.append(new)
    trace.on_connection_reuseconn.append(reused)
    return aiohttp.ClientSession(trace_configs=[trace])


@pytest.fixture
def releases(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each ClientResponse.release, with whether its answer had been closed already (``wait_for_close`` releases an
    answer once more after ``async with``'s release)."""
    seen: list[bool] = []
    release = aiohttp.ClientResponse.release

    def noted(self: aiohttp.ClientResponse) -> Any:
        seen.append(self.closed)
        return release(self)

    monkeypatch.setattr(aiohttp.ClientResponse, "release", noted)
    return seen


async def test_an_answer_read_to_its_end_is_not_released_again_and_its_connection_is_reused(
    server: TestServer, releases: list[bool]
):
    # Before: `async with resp:` released every answer, read to its end or not: its reader marked as cut off through
    # aiohttp's set_exception, whose asyncio.isfuture made and cleared an AttributeError, on every answer
    connections: list[str] = []
    transport = Transport(session_factory=lambda: _traced(connections))
    try:
        first = await transport.post_json(str(server.make_url("/ok")), {"n": 1}, headers={})
        second = await transport.post_json(str(server.make_url("/ok")), {"n": 2}, headers={})
    finally:
        await transport.aclose()
    assert first.status == second.status == 200 and second.json()["id"] == "chatcmpl-1"
    assert releases == []
    assert connections == ["new", "reused"]


async def test_an_error_whose_body_is_cut_at_the_limit_is_released_and_its_connection_not_reused(
    server: TestServer, releases: list[bool]
):
    connections: list[str] = []
    transport = Transport(session_factory=lambda: _traced(connections), max_body_bytes=1_000)
    try:
        cut = await transport.post_json(str(server.make_url("/long-error")), {}, headers={})
        after = await transport.post_json(str(server.make_url("/ok")), {}, headers={})
    finally:
        await transport.aclose()
    assert cut.status == 500 and len(cut.body) == 1_000 and after.status == 200
    # released unread to its end (wait_for_close releases it once more): the connection closed, not given back half read
    assert releases[:1] == [False]
    assert connections == ["new", "new"]


async def test_an_answer_whose_read_fails_is_released(server: TestServer, releases: list[bool]):
    transport = Transport(timeouts=Timeouts(read=0.2))
    try:
        with pytest.raises(E.MagsagError):
            await transport.post_json(str(server.make_url("/stalled")), {}, headers={})
    finally:
        await transport.aclose()
    assert releases[:1] == [False]
