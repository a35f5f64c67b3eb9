from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from .raw_streams_helpers import CUT, PAUSE


@pytest.fixture
async def raw_stream() -> AsyncIterator[Callable[[list[bytes]], Any]]:
    """Starts a server that answers every POST with ``chunks`` as an event stream, and returns its base URL.
    A ``CUT`` among the chunks drops the connection there; a ``PAUSE`` holds the stream a while."""
    servers: list[TestServer] = []

    async def start(chunks: list[bytes], content_type: str = "text/event-stream") -> str:
        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            resp = web.StreamResponse(headers={"Content-Type": content_type})
            await resp.prepare(request)
            for c in chunks:
                if c is CUT:
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if c is PAUSE:
                    await asyncio.sleep(0.05)
                    continue
                await resp.write(c)
                await asyncio.sleep(0)
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}/v1"

    yield start
    for server in servers:
        await server.close()
