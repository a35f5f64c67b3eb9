"""What watching connects (connect_watch) costs a request that makes none: nothing. The transport's own session
carries no aiohttp trace config (one made aiohttp build traces and send signals for every request, every chunk of a
stream too, on every provider's hot path, for a feature only local servers need); its connector marks a connect
only while a new connection is made, so requests on a pooled connection pass it by."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import connect_watch
from magsag_mcp.transport import Transport

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_collector_pause")]


@pytest.fixture
async def server():
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", ok)
    async with TestServer(app, host="127.0.0.1") as srv:
        yield srv


async def test_requests_on_a_pooled_connection_are_not_traced_nor_marked(server, monkeypatch):
    made: list[connect_watch.Connect] = []

    class Counted(connect_watch.Connect):
        def __init__(self, url: str, connect_s: float) -> None:
            super().__init__(url, connect_s)
            made.append(self)

    monkeypatch.setattr(connect_watch, "Connect", Counted)
    transport = Transport()  # (its own session and connector, as every provider's call uses)
    url = str(server.make_url("/v1/chat/completions"))
    try:
        for _ in range(3):
            resp = await transport.post_json(url, {"model": "m"}, headers={})
            assert resp.status == 200
        session = transport._session()
        assert session.trace_configs == []  # (aiohttp then builds no trace per request and sends no signal)
        assert len(made) == 1  # (the one connection made was marked; the two requests reusing it paid nothing)
        assert connect_watch.connected_since(url, 0.0)  # (the transport's own connector is watched)
        assert not connect_watch._CONNECTING
    finally:
        await transport.aclose()
