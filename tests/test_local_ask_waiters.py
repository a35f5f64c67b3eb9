"""Calls waiting for another call's ask of a local server not seen answering (local_down.first_ask): when that ask
found the server down with a shorter connect timeout than theirs, they all connected at once (one of them asks again
alone now, the others taking its word); and their wait counted against their own connect timeout even where the ask
waited for had connected (only a wait for a connect counts now). Counted through the connector and the test server,
never by a clock; a regression that hangs is turned into a failure by the hang guard."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp.deadline import Deadline
from magsag_mcp.providers import local_down, local_reach
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

pytestmark = pytest.mark.anyio

#: how long a test waits for what would never come in a regression (a hang guard, not a timing assertion)
HANG_GUARD_S = 60.0


class _DropsPackets(aiohttp.TCPConnector):
    """A connector whose connects never open: the first times out when the test sets ``first``, the others once it
    sets ``rest`` (each one's connect timeout come, as aiohttp's sock_connect ends it)."""

    def __init__(self) -> None:
        super().__init__(force_close=True)
        self.connect_timeouts: list[float | None] = []
        self.first = asyncio.Event()
        self.rest = asyncio.Event()

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        self.connect_timeouts.append(timeout.sock_connect)
        await (self.first if len(self.connect_timeouts) == 1 else self.rest).wait()
        raise aiohttp.ConnectionTimeoutError("Connection timeout to host")


async def test_calls_waiting_on_an_ask_that_found_it_down_sooner_than_they_would_do_not_all_connect():
    url = "http://192.0.2.1:11434"  # (TEST-NET-1: the connector never connects anywhere)
    connector = _DropsPackets()
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    hasty = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "1"}, transport)
    patient = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "2"}, transport)
    first = asyncio.create_task(hasty.learn_where_it_runs(Target("local", "model-a")))
    with anyio.fail_after(HANG_GUARD_S):
        while not connector.connect_timeouts:  # (the first ask is connecting)
            await asyncio.sleep(0)
    waiting = [asyncio.create_task(patient.learn_where_it_runs(Target("local", f"model-{n}"))) for n in "bcde"]
    asking = local_down._ASKING[(asyncio.get_running_loop(), local_down.server_root(url))]
    with anyio.fail_after(HANG_GUARD_S):
        while len(asking._waiters) < len(waiting):  # (each waits for the first ask's word)
            await asyncio.sleep(0)
    connector.first.set()  # (the hasty call's 1s come: found down for callers connecting within 1s)
    with anyio.fail_after(HANG_GUARD_S):
        await first
        while len(connector.connect_timeouts) < 2:  # (a waiting call asks again)
            await asyncio.sleep(0)
    connector.rest.set()  # (its 2s come too, and any other's)
    with anyio.fail_after(HANG_GUARD_S):
        await asyncio.gather(*waiting)
    assert len(connector.connect_timeouts) == 2, connector.connect_timeouts  # (one asked again, not all four)
    assert connector.connect_timeouts[0] == 1.0
    for n in "bcde":  # (each took that ask's word: down for a 2s connect timeout)
        assert isinstance(patient.unreached(Target("local", f"model-{n}")), local_reach.UnreachedSlowly)
    assert local_reach.down(url, 2.0) is not None


async def test_a_wait_for_an_ask_that_connected_does_not_count_against_the_callers_connect_timeout():
    # the first ask connects and its server says nothing; its call's deadline cuts it, which says nothing of the
    # server, and the call waiting for it asks in its stead: the wait (the first ask's half of its deadline) was
    # counted against its 0.05s connect timeout, wholly spent, and it was not asked at all ("this call waited ...
    # for another call's ask of the server, which had no word of it"), though the server connected at once
    hits: list[str] = []
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hits.append(request.path)
        await never.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/show", hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        env = {"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "0.05"}
        provider = LocalProvider(
            env,
            Transport(session_factory=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))),
        )

        async def call(model: str) -> None:
            async with Deadline(0.4):  # (each call's: its ask gets half of it, at least 0.2s, more than 0.05s)
                await provider.learn_where_it_runs(Target("local", model))

        first = asyncio.create_task(call("model-a"))
        with anyio.fail_after(HANG_GUARD_S):
            while not hits:  # (the first ask connected, and is waiting for its answer)
                await asyncio.sleep(0)
        with anyio.fail_after(HANG_GUARD_S):
            await asyncio.gather(first, call("model-b"))
        assert hits == ["/api/show"] * 2, (hits, local_reach.unsure(url, "model-b"))  # (the waiting call asked)
        why = local_reach.unsure(url, "model-b")
        assert isinstance(why, local_reach.CallOutOfTime) and not why.startswith("was not asked"), why
    finally:
        never.set()
        await server.close()
