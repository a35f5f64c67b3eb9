"""A closed event loop leaves nothing behind in connect_watch: a process that runs a loop per call (a sync caller's
``asyncio.run`` or ``anyio.run``, a test runner) kept every loop that made a connection, with all it held, in the
marks of connections made (up to 4,096 of them) before the marks were keyed weakly by loop."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import connect_watch
from magsag_mcp.transport import Transport


async def one_call(loops: list[weakref.ref[asyncio.AbstractEventLoop]]) -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", ok)
    loops.append(weakref.ref(asyncio.get_running_loop()))
    async with TestServer(app, host="127.0.0.1") as server:
        transport = Transport()
        url = str(server.make_url("/v1/chat/completions"))
        try:
            resp = await transport.post_json(url, {"model": "m"}, headers={})
            assert resp.status == 200
            assert connect_watch.connected_since(url, 0.0)  # (marked while its loop runs)
        finally:
            await transport.aclose()


def test_a_closed_loop_leaves_no_mark_and_is_not_kept_alive():
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []
    for _ in range(5):
        asyncio.run(one_call(loops))
    gc.collect()
    # (no loop kept alive by its mark, so none of them is among the marks; loops of other tests that still run may be)
    assert [ref() for ref in loops] == [None] * 5


@pytest.mark.anyio
async def test_a_running_loop_keeps_its_marks_per_origin():
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/", ok)
    async with TestServer(app, host="127.0.0.1") as first, TestServer(app, host="127.0.0.1") as second:
        transport = Transport()
        try:
            loop = asyncio.get_running_loop()
            before = loop.time()
            await transport.post_json(str(first.make_url("/")), {}, headers={})
            assert connect_watch.connected_since(str(first.make_url("/")), before)
            assert not connect_watch.connected_since(str(second.make_url("/")), before)
            await transport.post_json(str(second.make_url("/")), {}, headers={})
            assert connect_watch.connected_since(str(second.make_url("/")), before)
            assert not connect_watch.connected_since(str(first.make_url("/")), loop.time() + 1)
        finally:
            await transport.aclose()
