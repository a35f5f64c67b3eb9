"""What the tests of the HTTP transport share: a raw ``initialize`` request and the headers streamable HTTP asks a
client to send with it, whether this machine has IPv6's loopback (the IPv6 cases are skipped where it has not), and
an ASGI app served by uvicorn in the test's own process."""

from __future__ import annotations

import functools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@asynccontextmanager
async def uvicorn_on(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """``app`` served by uvicorn in this process (its lifespan on) on the bound ``sock``, from when it serves until the
    block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(server.serve, sockets=[sock]))
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield
        finally:
            server.should_exit = True
