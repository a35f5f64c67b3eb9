from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.request_check import read_checked

from .raw_streams_helpers import CUT, PAUSE


@pytest.fixture
async def raw_stream() -> AsyncIterator[Callable[[list[bytes]], Any]]:
    """Starts a server that answers every POST with ``chunks`` as an event stream, and returns its base URL.
    A ``CUT`` among the chunks drops the connection there; a ``PAUSE`` holds the stream a while. Each request it
    was sent is checked against its vendor's spec (:mod:`tests.fakes.request_check`): the test fails on one that
    is not valid, whatever it answered."""
    servers: list[TestServer] = []
    violations: list[str] = []

    async def start(chunks: list[bytes], content_type: str = "text/event-stream") -> str:
        async def handle(request: web.Request) -> web.StreamResponse:
            await read_checked(request, violations)
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
    assert violations == [], "requests that are not valid by their vendor's spec were sent"
