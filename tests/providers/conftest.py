from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestServer

from .fakes import Fake


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Fake], object]]:
    servers: list[TestServer] = []

    async def start(fake: Fake) -> str:
        server = TestServer(fake.app())
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()
