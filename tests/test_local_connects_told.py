"""A host that vanishes (its packets dropped): calls connecting to it at once each waited their own connect timeout,
though the first to time out found it down (local_down) for callers connecting within as long. The others still
connecting are told (connect_watch, through the transport's seam) and stop, failing as their connect timeout would
have, saying so. Counted through a connector whose connects never open until the test times one out, never by a
clock; a regression hangs, which the hang guard turns into a failure."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anyio
import pytest

from magsag_mcp import connect_watch
from magsag_mcp.errors import ProviderTimeoutError
from magsag_mcp.providers import local_down, local_reach
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

#: how long a test waits for what would never come in a regression (a hang guard, not a timing assertion)
HANG_GUARD_S = 60.0


class _DropsPackets(aiohttp.TCPConnector):
    """A connector whose connects never open: each times out (as aiohttp's sock_connect does) when the test sets its
    event, its connect timeout come; the others wait on."""

    def __init__(self) -> None:
        super().__init__(force_close=True)
        self.connecting: list[asyncio.Event] = []

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        timed_out = asyncio.Event()
        self.connecting.append(timed_out)
        await timed_out.wait()
        raise aiohttp.ConnectionTimeoutError("Connection timeout to host")


async def _all_connecting(connector: _DropsPackets, count: int) -> None:
    with anyio.fail_after(HANG_GUARD_S):
        while len(connector.connecting) < count:
            await asyncio.sleep(0)


async def test_connects_in_flight_to_a_host_found_down_stop_with_it():
    url = "http://192.0.2.1:11434"  # (TEST-NET-1: the connector never connects anywhere)
    connector = _DropsPackets()
    provider = LocalProvider(
        {"OLLAMA_BASE_URL": url}, Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    )
    calls = [asyncio.create_task(provider.complete(ask(), Target("local", f"model-{n}"))) for n in range(3)]
    await _all_connecting(connector, 3)
    connector.connecting[0].set()  # (the first call's connect timeout come: the host is found down)
    with anyio.fail_after(HANG_GUARD_S):
        failed = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(exc, ProviderTimeoutError) for exc in failed), failed
    assert len(connector.connecting) == 3  # (none connected again)
    first, *told = failed
    assert "stopped before" not in str(first)
    for exc in told:
        said = str(exc)
        # (it says the timeout was not waited out, not that it connected "within" it)
        assert said.startswith(
            "could not connect to http://192.0.2.1:11434: stopped before the connect timeout of 5s "
            "(MAGSAG_CONNECT_TIMEOUT) ran out, as another call connecting to it timed out within as long or longer"
        ), said
        assert "within the connect timeout" not in said, said
        assert local_reach.found_slowly(exc) and not exc.reached  # (a connect timeout's: nothing was sent)
    assert not connect_watch._CONNECTING  # (nothing left marked as connecting)


async def test_a_connect_allowing_itself_longer_is_not_told():
    # the verdict holds for callers connecting within as long as the one that found it, or shorter: a service waiting
    # longer may connect, and goes on
    url = "http://192.0.2.1:11434"
    connector = _DropsPackets()
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    hasty = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "1"}, transport)
    patient = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "5"}, transport)
    first = asyncio.create_task(hasty.complete(ask(), Target("local", "model-a")))
    await _all_connecting(connector, 1)
    second = asyncio.create_task(patient.complete(ask(), Target("local", "model-b")))
    await _all_connecting(connector, 2)
    connector.connecting[0].set()
    with anyio.fail_after(HANG_GUARD_S):
        with pytest.raises(ProviderTimeoutError):
            await first
    for _ in range(100):  # (were it told, it would have failed by now: its cancel is delivered at its next step)
        await asyncio.sleep(0)
    assert not second.done()
    connector.connecting[1].set()  # (its own connect timeout come)
    with anyio.fail_after(HANG_GUARD_S):
        with pytest.raises(ProviderTimeoutError) as second_failed:
            await second
    assert "stopped before" not in str(second_failed.value)


async def test_a_call_cancelled_while_connecting_is_cancelled_not_told():
    # the caller's own cancel, with no verdict, stays a cancel (the seam takes back only the cancels it made)
    connector = _DropsPackets()
    provider = LocalProvider(
        {"OLLAMA_BASE_URL": "http://192.0.2.1:11434"},
        Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector)),
    )
    call = asyncio.create_task(provider.complete(ask(), Target("local", "model-a")))
    await _all_connecting(connector, 1)
    call.cancel()
    with anyio.fail_after(HANG_GUARD_S):
        with pytest.raises(asyncio.CancelledError):
            await call
    assert not connect_watch._CONNECTING


async def test_a_call_cancelled_then_told_in_the_same_step_stays_cancelled():
    # the caller's cancel and a verdict's both pending on one connect: the seam takes back only its own, and the
    # caller's cancel is what the call ends with
    url = "http://192.0.2.1:11434"
    connector = _DropsPackets()
    provider = LocalProvider(
        {"OLLAMA_BASE_URL": url}, Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    )
    call = asyncio.create_task(provider.complete(ask(), Target("local", "model-a")))
    await _all_connecting(connector, 1)
    call.cancel()
    # (told before the cancelled call has run again: both cancels pending on it)
    assert connect_watch.give_up(url, 5.0, "another call connecting to it timed out") == 1
    with anyio.fail_after(HANG_GUARD_S):
        with pytest.raises(asyncio.CancelledError):
            await call
    assert not connect_watch._CONNECTING


async def test_the_verdict_a_told_connect_repeats_keeps_the_words_of_the_call_that_found_it():
    # a told call fails as a connect timeout, so it too says the host went down; its words (stopped, never waited out)
    # are not what was found, and the calls refused meanwhile were told those instead of the wait that found it down
    url = "http://192.0.2.1:11434"
    connector = _DropsPackets()
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    patient = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "5"}, transport)
    hasty = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "1"}, transport)
    first = asyncio.create_task(patient.complete(ask(), Target("local", "model-a")))
    await _all_connecting(connector, 1)
    told = asyncio.create_task(hasty.complete(ask(), Target("local", "model-b")))
    await _all_connecting(connector, 2)
    connector.connecting[0].set()  # (the patient call's 5 s come: found down for callers waiting as long or less)
    with anyio.fail_after(HANG_GUARD_S):
        failed = await asyncio.gather(first, told, return_exceptions=True)
    assert "stopped before" in str(failed[1]), failed
    said = local_down.down_why(url, 5.0)  # (what a call refused meanwhile is told)
    assert said is not None and "within the connect timeout of 5s" in said and "stopped before" not in said, said
