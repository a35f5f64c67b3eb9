"""The read timeout (MAGSAG_READ_TIMEOUT) kept by one timer a connection (magsag_mcp/read_timer.py): the same rule as
aiohttp's, a wait timed from the request's end or the last bytes, without two timers made and cancelled a request."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from contextvars import ContextVar
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp import read_timer
from magsag_mcp.resolver import BoundedConnector
from magsag_mcp.transport import Timeouts, Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

#: (loopback servers here must answer within read timeouts of 0.2 s: see no_collector_pause)
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_collector_pause")]

AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def read_timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    """The loop's armed timers that belong to a connection's protocol (aiohttp's read timer, or ours)."""
    return [
        h
        for h in loop._scheduled  # type: ignore[attr-defined]  # (the loop's timers)
        if not h.cancelled() and isinstance(getattr(h._callback, "__self__", None), ResponseHandler)
    ]


def recording_read_timer_delays(loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """How far ahead of the loop's clock each read timer is armed from now on (aiohttp's, by call_later, or ours): the
    timeout a wait is held to, read from the timer itself, not from how long the test took."""
    delays: list[float] = []
    real_call_at = loop.call_at

    def recording(when, callback, *args, **kwargs):
        if isinstance(getattr(callback, "__self__", None), ResponseHandler):
            delays.append(when - loop.time())
        return real_call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", recording)  # (call_later goes through it too)
    return delays


def test_the_installed_aiohttp_takes_the_one_timer_handler():
    """An aiohttp whose handler lacks what this replaces would get its own handler back, silently: this says so."""
    assert read_timer.FITS


async def test_requests_on_one_connection_arm_its_read_timer_once(fake_openai: FakeOpenAI, monkeypatch):
    """aiohttp armed a timer when a request was written and again when its answer came, and cancelled it at the
    answer's end: two handles made, pushed on the loop's heap and swept off it, every request."""
    loop = asyncio.get_running_loop()
    armed: list[object] = []
    real_call_at = loop.call_at

    def counting(when, callback, *args, **kwargs):
        if isinstance(getattr(callback, "__self__", None), ResponseHandler):
            armed.append(callback)
        return real_call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting)  # (call_later goes through it too)
    transport = Transport(env={})
    try:
        for _ in range(20):
            resp = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
            assert resp.status == 200
    finally:
        await transport.aclose()
    assert len(armed) == 1


async def test_a_wait_after_answers_on_the_same_connection_times_out_at_its_own_timeout(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """The timer, armed for the first request's 30 s, stays armed across the connection's requests: a wait under a
    shorter timeout (a probe's) arms it earlier, and a silence after answers is still timed from the request."""
    fake_openai.queue(R.reply("one"), R.reply("two"), R.Reply(hang=True))
    transport = Transport(timeouts=Timeouts(connect=2.0, read=30.0), env={})
    url = fake_openai.url + "/v1/chat/completions"
    try:
        await transport.post_json(url, CHAT, headers=AUTH)
        await transport.post_json(url, CHAT, headers=AUTH)
        delays = recording_read_timer_delays(asyncio.get_running_loop(), monkeypatch)
        async with asyncio.timeout(60):  # (a hang guard)
            with pytest.raises(E.ProviderTimeoutError) as info:
                await transport.post_json(url, CHAT, headers=AUTH, timeouts=Timeouts(connect=2.0, read=0.05))
    finally:
        await transport.aclose()
    assert delays and min(delays) <= 0.05  # armed for the probe's 0.05 s, not left at the 30 s it was armed for
    assert "the read timeout of 0.05s" in info.value.message
    assert [r.body["model"] for r in fake_openai.requests] == ["gpt-4o"] * 3


class SkewedLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock a test moves forward (:attr:`skew`) in place of waiting: its timers (the read timer's
    among them) come due as they would after that long, and no real wait decides the test."""

    skew = 0.0

    def time(self) -> float:
        return super().time() + self.skew


#: the read timeout of the streams below, and the silence after each event (the loop's clock moved on by it)
READ_S, GAP_S = 60.0, 30.0


def talked(chunks: int, *, then_silent: bool = False) -> tuple[list[str], BaseException | None, float]:
    """A stream of ``chunks`` events read through the transport on a :class:`SkewedLoop`, its clock moved on by
    :data:`GAP_S` after each event is read (a silence shorter than the read timeout); ``then_silent``: the server then
    says nothing more, and the clock moves past the read timeout. The events read, the call's failure (or None) and
    how far the clock was moved. No real wait: a gap of 50 ms under a 0.5 s timeout, which a loaded machine stretched
    past it, decided these tests before."""
    loop = SkewedLoop()

    async def read_it() -> tuple[list[str], BaseException | None]:
        read, release = asyncio.Event(), asyncio.Event()

        async def stream(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for n in range(chunks):
                await resp.write(f"data: {n}\n\n".encode())
                await read.wait()  # (the client has it: then the silence before the next one)
                read.clear()
                loop.skew += GAP_S
            if then_silent:
                loop.skew += READ_S  # (the silence of a server that stopped talking: past the read timeout)
                # a hang guard (the clock moved no more: 60 s of the machine's): a timeout that never came ends the
                # stream, and the test fails on its events, not on a hang
                guard = loop.call_later(60.0, release.set)
                await release.wait()
                guard.cancel()
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_post("/sse", stream)
        events: list[str] = []
        async with TestServer(app, host="127.0.0.1") as server:
            transport = Transport(timeouts=Timeouts(connect=READ_S, read=READ_S), env={})
            try:
                async with transport.stream_sse(str(server.make_url("/sse")), {}, headers={}) as resp:
                    async for event in resp.events():
                        events.append(event.data)
                        read.set()
            except E.ProviderTimeoutError as exc:
                return events, exc
            finally:
                release.set()
                await transport.aclose()
        return events, None

    try:
        events, failed = loop.run_until_complete(read_it())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return events, failed, loop.skew


def test_a_stream_that_keeps_talking_outlives_the_read_timeout():
    """The read timeout bounds each silence, not the answer: 15 events 30 s apart by the loop's clock take 7.5 minutes,
    longer than the 60 s timeout (the timer fires with the wait not yet due, and arms itself again at when it is due
    now): an answer timed out as a whole failed at its third event."""
    events, failed, moved = talked(15)
    assert failed is None and events == [str(n) for n in range(15)]
    assert moved == 15 * GAP_S > READ_S


def test_a_stream_that_falls_silent_after_talking_times_out():
    events, failed, _ = talked(3, then_silent=True)
    assert isinstance(failed, E.ProviderTimeoutError) and "idle" in failed.message, failed
    assert events == ["0", "1", "2"]


async def test_the_read_timer_keeps_no_calls_context(fake_openai: FakeOpenAI):
    """The timer outlives the request that armed it: it runs in a context of its own, not in the call's (whose
    credentials, a call's own key, it would keep for as long as it is armed)."""
    secret: ContextVar[str] = ContextVar("secret", default="")
    transport = Transport(env={})

    async def call() -> None:
        secret.set("sk-the-calls-own-key")
        await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)

    try:
        await asyncio.ensure_future(call())
        armed = read_timers(asyncio.get_running_loop())
        assert len(armed) == 1  # the pooled connection's timer, still armed with nothing due
        assert armed[0]._context.get(secret, "") == ""  # type: ignore[attr-defined]
    finally:
        await transport.aclose()


async def test_closing_the_transport_cancels_its_connections_read_timers(fake_openai: FakeOpenAI):
    """Left armed, a closed connection's timer would keep its protocol (and its buffers) until it fired."""
    transport = Transport(env={})
    await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    loop = asyncio.get_running_loop()
    assert read_timers(loop)
    await transport.aclose()
    assert read_timers(loop) == []


# An aiohttp that moved or renamed a part the one timer relies on (aiohttp>=3.10 is all pyproject pins): the connector
# keeps aiohttp's own handler, which times reads by the same sock_read, and nothing fails to import or to send.


class _Renamed(ResponseHandler):
    """A handler whose aiohttp renamed the method that cancels its timer."""

    _drop_timeout = None  # type: ignore[assignment]


class _WithoutTimerHandle(ResponseHandler):
    """A handler whose aiohttp keeps its timer under another attribute."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        del self._read_timeout_handle
        self._timeout_handle = None


def _connector(loop: asyncio.AbstractEventLoop, makes: type) -> SimpleNamespace:
    return SimpleNamespace(_loop=loop, _factory=functools.partial(makes, loop=loop))


async def test_the_fit_check_names_each_part_this_aiohttp_lacks():
    loop = asyncio.get_running_loop()
    assert read_timer.missing(ResponseHandler, _connector(loop, ResponseHandler)) == []
    assert read_timer.missing(None, _connector(loop, ResponseHandler)) == ["aiohttp.client_proto.ResponseHandler"]
    assert read_timer.missing(_Renamed, _connector(loop, _Renamed)) == ["ResponseHandler._drop_timeout()"]
    assert read_timer.missing(ResponseHandler, SimpleNamespace()) == [
        "the connector's _loop",
        "the connector's _factory",
    ]
    assert read_timer.missing(ResponseHandler, SimpleNamespace(_loop=loop, _factory=None)) == [
        "the connector's _factory"
    ]
    assert read_timer.missing(_WithoutTimerHandle, _connector(loop, _WithoutTimerHandle)) == [
        "ResponseHandler()._read_timeout_handle"
    ]
    # a connector making another protocol than the class this would extend: replacing it would lose what it does
    assert read_timer.missing(ResponseHandler, _connector(loop, _Renamed)) == [
        "the connector's _factory() making _Renamed, not ResponseHandler"
    ]
    # a factory wanting what aiohttp's does not
    needs_more = SimpleNamespace(_loop=loop, _factory=lambda: ResponseHandler())  # type: ignore[call-arg]
    assert read_timer.missing(ResponseHandler, needs_more) == ["the connector's _factory() (TypeError)"]
    assert read_timer.handler_factory(needs_more, ResponseHandler) is None


@pytest.mark.parametrize("handler", [None, _Renamed, _WithoutTimerHandle], ids=["moved", "renamed", "attribute"])
async def test_an_aiohttp_lacking_a_part_keeps_its_own_handler_and_the_same_read_timeout(
    fake_openai: FakeOpenAI, handler: type | None, monkeypatch: pytest.MonkeyPatch
):
    connectors: list[BoundedConnector] = []

    def session() -> aiohttp.ClientSession:
        connectors.append(BoundedConnector(handler=handler))
        return aiohttp.ClientSession(connector=connectors[-1])

    fake_openai.queue(R.reply("one"), R.Reply(hang=True))
    transport = Transport(session_factory=session, timeouts=Timeouts(connect=2.0, read=30.0), env={})
    url = fake_openai.url + "/v1/chat/completions"
    try:
        resp = await transport.post_json(url, CHAT, headers=AUTH)
        delays = recording_read_timer_delays(asyncio.get_running_loop(), monkeypatch)
        async with asyncio.timeout(60):  # (a hang guard)
            with pytest.raises(E.ProviderTimeoutError) as info:
                await transport.post_json(url, CHAT, headers=AUTH, timeouts=Timeouts(connect=2.0, read=0.05))
    finally:
        await transport.aclose()
    assert delays and min(delays) <= 0.05  # (the probe's timeout, not the 30 s of the first request)
    assert resp.status == 200 and "the read timeout of 0.05s" in info.value.message
    # aiohttp's own, as it comes
    assert connectors[0]._factory.func is ResponseHandler  # type: ignore[attr-defined]


def test_an_aiohttp_without_the_handler_class_where_it_was_still_imports_magsag():
    # Before: `from aiohttp.client_proto import ResponseHandler` at the module's top failed the import of the
    # transport (and so of magsag_mcp) on an aiohttp that had moved it. Run apart: the class is taken from aiohttp's
    # module there, which this process's other tests need.
    script = (
        "import asyncio, aiohttp.client_proto as proto\n"
        "del proto.ResponseHandler\n"
        "from magsag_mcp import read_timer\n"
        "from magsag_mcp.resolver import BoundedConnector\n"
        "async def main():\n"
        "    connector = BoundedConnector()\n"
        "    print(read_timer.AIOHTTP_HANDLER, read_timer.FITS, connector._factory.func.__name__)\n"
        "    await connector.close()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "False", "ResponseHandler"]
