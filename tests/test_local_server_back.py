"""A local server taken as down (local_down) is not refused past what was found: asked again cheaply once
REPROBE_AFTER_S has passed, learnt from by the calls waiting on the first ask, scoped to callers connecting within the
timeout that found it, and never in the way of a retry the cascade chose to make. Counted through the transport's
session seam (each connection its connector opens) and the test server's own count; time moved, never waited for."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp.deadline import Deadline
from magsag_mcp.errors import AllTargetsFailed, ProviderConnectionError, ProviderError, ProviderTimeoutError
from magsag_mcp.providers import local_down, local_reach
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

pytestmark = pytest.mark.anyio

#: how long a test waits for what would never come in a regression (a hang guard, not a timing assertion)
HANG_GUARD_S = 60.0


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, noting each connection's URL as it is opened, and failing those ``times_out(url)`` says
    with a connect timeout, as aiohttp gives one (a host that drops the packets)."""

    def __init__(self, opened: list[str], times_out: Any) -> None:
        super().__init__(force_close=True)
        self.opened = opened
        self.times_out = times_out

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        self.opened.append(str(req.url))
        if self.times_out(str(req.url)):
            for _ in range(100):  # (a timeout takes a while: the other calls' tasks run meanwhile, as they would)
                await asyncio.sleep(0)
            raise aiohttp.ConnectionTimeoutError("Connection timeout to host")
        return await super()._create_connection(req, traces, timeout)


def _transport(opened: list[str], times_out: Any = lambda url: False) -> Transport:
    # (no keep-alive: each request opens its own connection, which the connector counts)
    return Transport(
        session_factory=lambda: aiohttp.ClientSession(connector=_Connector(opened, times_out)),
    )


class _Clock:
    """local_down's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    moved = _Clock()
    monkeypatch.setattr(local_down, "_clock", moved)
    return moved


async def _server(hits: list[str], *, show: Any = None) -> TestServer:
    """A local server answering its root ("Ollama is running") and /api/show (``show``: the handler, else {})."""

    async def root(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="Ollama is running")

    async def shown(request: web.Request) -> web.Response:
        hits.append(request.path)
        return await show(request) if show is not None else web.json_response({})

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_post("/api/show", shown)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_server_back_within_the_10s_is_asked_again_after_a_second(clock: _Clock):
    # found down (its connect timed out), it was refused for the whole DOWN_FOR_S whatever it did meanwhile: a server
    # restarted, a laptop woken, a VPN back were used only 10 s later, unless something else had it answer
    hits: list[str] = []
    server = await _server(hits)
    try:
        url = str(server.make_url("")).rstrip("/")
        opened: list[str] = []
        provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport(opened))
        target = Target("local", "llama3.1:70b")
        local_reach.went_down(url, "could not be asked: could not connect within 5s", 5.0)
        await provider.learn_where_it_runs(target)
        assert opened == [] and isinstance(provider.unreached(target), local_reach.UnreachedSlowly)  # (too soon)
        clock.now += local_down.REPROBE_AFTER_S
        await provider.learn_where_it_runs(target)
        assert hits == ["/", "/api/show"], hits  # asked again cheaply, then where it runs the model
        assert provider.unreached(target) is None and local_reach.down(url) is None
    finally:
        await server.close()


async def test_a_server_still_down_is_asked_again_once_a_second_at_most(clock: _Clock):
    opened: list[str] = []
    url = "http://192.0.2.1:11434"  # (TEST-NET-1: never connected to, the connector times out first)
    provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport(opened, lambda u: True))
    target = Target("local", "llama3.1:70b")
    await provider.learn_where_it_runs(target)
    assert opened == [url + "/api/show"]
    clock.now += local_down.REPROBE_AFTER_S
    await asyncio.gather(*(provider.learn_where_it_runs(target) for _ in range(5)))
    assert opened == [url + "/api/show", url + "/"], opened  # one ask again for the five calls, which failed
    await provider.learn_where_it_runs(target)
    assert len(opened) == 2, opened  # (not again within the second)
    assert isinstance(provider.unreached(target), local_reach.UnreachedSlowly)


async def test_the_first_failure_reaches_the_calls_for_other_models_waiting_on_it():
    # 200 calls at once for many models on one server that does not answer: each name's /api/show connected (and
    # waited its connect timeout) before the first of them found the server down
    opened: list[str] = []
    url = "http://192.0.2.1:11434"
    provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport(opened, lambda u: True))
    targets = [Target("local", f"model-{n}") for n in range(200)]
    await asyncio.gather(*(provider.learn_where_it_runs(t) for t in targets))
    assert opened == [url + "/api/show"], len(opened)
    assert all(isinstance(provider.unreached(t), local_reach.UnreachedSlowly) for t in targets)


async def test_a_server_that_answers_is_asked_by_all_at_once():
    # the first ask of a server not yet seen answering goes alone; once it answered, the others are not queued
    # behind one another: counted as the asks the server holds at once (it holds each until all have come)
    hits: list[str] = []
    held: list[int] = []
    rest = 49
    all_came = asyncio.Event()

    async def show(request: web.Request) -> web.Response:
        if len(hits) > 1:  # (the first answered at once)
            held.append(1)
            if len(held) == rest:
                all_came.set()
            await all_came.wait()
        return web.json_response({})

    server = await _server(hits, show=show)
    try:
        url = str(server.make_url("")).rstrip("/")
        provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport([]))
        asks = [provider.learn_where_it_runs(Target("local", f"model-{n}")) for n in range(rest + 1)]
        # a hang guard, not a timing assertion: asks queued again behind one another never all come, and the server
        # holds the first of them for ever (the test hung rather than failed)
        with anyio.fail_after(HANG_GUARD_S):
            await asyncio.gather(*asks)
    finally:
        all_came.set()  # (the asks it holds let go, so that the server closes)
        await server.close()
    assert len(hits) == rest + 1 and len(held) == rest  # every name asked, the 49 after the first held at once
    assert all(local_reach.known(url, f"model-{n}") and not local_reach.unsure(url, f"model-{n}") for n in range(50))


async def test_a_tiny_connect_timeout_does_not_refuse_another_services_calls():
    # MAGSAG_CONNECT_TIMEOUT=0.01 in one service (or a test's): the server it could not connect to in 10 ms was
    # refused to every service of the process for 10 s, those waiting 5 s included, which would have connected
    hits: list[str] = []
    server = await _server(hits)
    try:
        url = str(server.make_url("")).rstrip("/")
        target = Target("local", "llama3.1:70b")
        hasty = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "0.01"}, _transport([], bool))
        await hasty.learn_where_it_runs(target)
        assert isinstance(hasty.unreached(target), local_reach.UnreachedSlowly)
        as_hasty = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "0.005"}, _transport([]))
        assert isinstance(as_hasty.unreached(target), local_reach.UnreachedSlowly)  # (waiting less: refused too)
        patient = LocalProvider({"OLLAMA_BASE_URL": url}, _transport([]))
        assert patient.unreached(target) is None
        await patient.learn_where_it_runs(target)
        assert hits == ["/api/show"], hits  # asked, and answered
        assert patient.unreached(target) is None and hasty.unreached(target) is None  # (any answer ends it)
    finally:
        await server.close()


async def test_the_last_targets_retry_after_a_connect_timeout_is_made(catalog_copy: Path, tmp_path: Path):
    # its server answers /api/show, then its call's connect times out: the retry the cascade chose (no other target
    # left) failed at once with "not tried again for 10s", nothing sent
    hits: list[str] = []
    server = await _server(hits)
    try:
        url = str(server.make_url("")).rstrip("/")
        opened: list[str] = []
        env = {
            "OLLAMA_BASE_URL": url,
            "MAGSAG_PROVIDER": "local",
            "MAGSAG_MODEL": "llama3.1:70b",
            "MAGSAG_MAX_RETRIES": "2",
            "MAGSAG_RETRY_BASE_DELAY": "0.001",
        }
        transport = _transport(opened, lambda u: u.endswith("/v1/responses"))
        async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env, transport=transport) as svc:
            with pytest.raises(ProviderTimeoutError) as raised:
                await svc.invoke_skill("skill.analysis", {"data": "Q3"})
            runs = await svc.query_runs()
    finally:
        await server.close()
    assert "not tried again" not in raised.value.message, raised.value.message
    assert opened.count(url + "/v1/responses") == 3, opened  # the try and its two retries, each sent
    tries = [a for run in runs for a in run["attempts"]]
    assert [a["outcome"] for a in tries] == ["error"] * 3, tries
    # and the next call, its first try, is skipped as the server down (the memory still saves the other calls' wait)
    assert isinstance(local_reach.down(url, 5.0), local_reach.UnreachedSlowly)


async def test_a_probe_the_server_answers_ends_its_names_kept_failures_too(clock: _Clock):
    # a server's answer ended its being taken as down, but its names' asks kept their failure to reach it (the
    # policies judge by it: a glob of local models does not admit a model where it runs is not known)
    opened: list[str] = []
    url = "http://192.0.2.1:11434"
    provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport(opened, lambda u: True))
    await provider.learn_where_it_runs(Target("local", "llama3.1:70b"))
    assert isinstance(local_reach.unsure(url, "llama3.1:70b"), local_reach.UnreachedSlowly)
    local_reach.answered(url + "/v1")
    assert local_reach.unsure(url, "llama3.1:70b") is None and local_reach.down(url) is None


@pytest.mark.usefixtures("fake_scripts")
async def test_a_target_come_back_to_after_a_connect_timeout_is_sent(catalog_copy: Path, tmp_path: Path):
    # its connect timed out with another target left, which could not be sent: the cascade came back to it for its
    # retry, which was skipped as the server its own first try found down ("not tried again for 10s"), nothing sent
    def refused() -> ProviderConnectionError:
        error = ProviderConnectionError("connection refused", provider="fake", model="b")
        error.reached = False  # (nothing sent: the target left for it is come back to)
        return error

    script("b", refused(), refused(), refused())
    hits: list[str] = []
    server = await _server(hits)
    try:
        url = str(server.make_url("")).rstrip("/")
        opened: list[str] = []
        env = {"OLLAMA_BASE_URL": url, "MAGSAG_MAX_RETRIES": "1", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
        config = {"provider": "local", "model": "llama3.1:70b", "fallbacks": ["fake:b"]}
        transport = _transport(opened, lambda u: u.endswith("/v1/responses"))
        async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env, transport=transport) as svc:
            with pytest.raises(AllTargetsFailed):
                await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": config})
            runs = await svc.query_runs()
    finally:
        await server.close()
    tries = [(a["provider"], a["outcome"], a["error_message"]) for run in runs for a in run["attempts"]]
    assert opened.count(url + "/v1/responses") == 2, tries  # its first try, and the come-back's
    assert tries[-1][:2] == ("local", "error") and "not tried again" not in tries[-1][2], tries


async def test_the_ask_again_ends_within_half_what_is_left_of_a_deadline(clock: _Clock):
    # a server that connects and then says nothing: the ask again, bounded only by its own timeouts, ran the call's
    # deadline out (the call failed with it, a TimeoutError), where the server was still to be taken as down
    hits: list[str] = []
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hits.append(request.path)
        await never.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport([]))
        target = Target("local", "llama3.1:70b")
        local_reach.went_down(url, "could not be asked: could not connect within 5s", 5.0)
        clock.now += local_down.REPROBE_AFTER_S
        async with Deadline(0.2):  # (the call's: the ask again gets half of it)
            await provider.learn_where_it_runs(target)
        assert hits == ["/"], hits  # asked again, not answered in time
        assert isinstance(provider.unreached(target), local_reach.UnreachedSlowly)  # (still down, as it was)
    finally:
        never.set()
        await server.close()


async def test_the_first_ask_cancelled_hands_it_to_one_of_the_waiting_calls():
    # the first ask of a server not seen answering, its call cancelled (a client gone, its own deadline) while it
    # connected: the calls waiting on it each asked at once, every one paying a connect timeout of its own
    opened: list[str] = []
    url = "http://192.0.2.1:11434"
    provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport(opened, lambda u: True))
    tasks = [asyncio.create_task(provider.learn_where_it_runs(Target("local", f"model-{n}"))) for n in range(20)]
    while not opened:  # (the first call's ask is connecting)
        await asyncio.sleep(0)
    tasks[0].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError) and done[1:] == [None] * 19, done
    assert opened == [url + "/api/show"] * 2, len(opened)  # the cancelled ask, and the one made in its stead
    assert all(
        isinstance(provider.unreached(Target("local", f"model-{n}")), local_reach.UnreachedSlowly) for n in range(1, 20)
    )


class _NeverConnects(aiohttp.TCPConnector):
    """A connector whose connections never open (a host dropping the packets, its connect timeout not yet come)."""

    def __init__(self) -> None:
        super().__init__(force_close=True)
        self.never = asyncio.Event()

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        await self.never.wait()
        raise AssertionError("never connects")


async def test_an_ask_cut_by_our_own_deadline_leaves_the_server_taken_as_down():
    # found down by a caller connecting within 1s; a caller allowing 5s asks /api/show, and its call's deadline cuts
    # the ask while it still connects: that cut, ours, was taken as the server's answer, ending its being taken as
    # down (and marking it seen answering), where nothing had been heard from it
    url = "http://192.0.2.1:11434"
    local_reach.went_down(url, "could not be asked: could not connect within 1s", 1.0)
    provider = LocalProvider(
        {"OLLAMA_BASE_URL": url}, Transport(session_factory=lambda: aiohttp.ClientSession(connector=_NeverConnects()))
    )
    target = Target("local", "llama3.1:70b")
    assert local_reach.down(url, provider.endpoint.timeouts.connect) is None  # (it waits longer: it asks)
    async with Deadline(0.2):  # (the call's: the ask gets half of it)
        await provider.learn_where_it_runs(target)
    assert isinstance(local_reach.unsure(url, target.model), local_reach.Unsure)  # (cut: not known where it runs)
    assert isinstance(local_reach.down(url, 1.0), local_reach.UnreachedSlowly)  # still down, as it was
    assert local_down.server_root(url) not in local_down._SEEN_UP  # (nor taken as seen answering)


async def test_a_cascades_ask_where_it_runs_gets_half_its_call_deadline(catalog_copy: Path, tmp_path: Path):
    # /api/show that connects and says nothing, in a call whose only deadline is the cascade's (MAGSAG_CALL_DEADLINE,
    # no Deadline of a caller's around it): the ask took its own bound (LIST_WAIT_S, 5s), the call's whole deadline,
    # and the call itself was then skipped as out of time, never sent
    hits: list[str] = []
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hits.append(request.path)
        await never.wait()
        return web.json_response({})

    async def responses(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"error": {"message": "overloaded", "type": "server_error"}}, status=503)

    app = web.Application()
    app.router.add_post("/api/show", hang)
    app.router.add_post("/v1/responses", responses)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        env = {
            "OLLAMA_BASE_URL": url,
            "MAGSAG_PROVIDER": "local",
            "MAGSAG_MODEL": "llama3.1:70b",
            "MAGSAG_MAX_RETRIES": "0",
            "MAGSAG_CALL_DEADLINE": "2",
        }
        async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env, transport=_transport([])) as svc:
            with anyio.fail_after(HANG_GUARD_S), pytest.raises(ProviderError):
                await svc.invoke_skill("skill.analysis", {"data": "Q3"})
            runs = await svc.query_runs()
    finally:
        never.set()
        await server.close()
    assert hits == ["/api/show", "/v1/responses"], hits  # asked, cut at half the deadline, and the call sent
    tries = [(a["outcome"], a["error_class"]) for run in runs for a in run["attempts"]]
    assert tries == [("error", "overloaded")], tries  # (sent, and its 503 recorded)


class _HeldConnects(aiohttp.TCPConnector):
    """A connector noting each connection's connect timeout (the request's sock_connect) as it is opened, and never
    opening one (a host dropping the packets, its connect timeout not yet come)."""

    def __init__(self, connect_timeouts: list[float | None]) -> None:
        super().__init__(force_close=True)
        self.connect_timeouts = connect_timeouts
        self.never = asyncio.Event()

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        self.connect_timeouts.append(timeout.sock_connect)
        await self.never.wait()
        raise AssertionError("never connects")


async def test_a_call_that_waited_for_another_ask_connects_within_what_is_left_of_its_timeout():
    # the first ask of a server not seen answering, cancelled while it connected (its client gone): the call that
    # waited for it then asked with a whole connect timeout of its own, having paid most of one already waiting
    connect_timeouts: list[float | None] = []
    url = "http://192.0.2.1:11434"
    connector = _HeldConnects(connect_timeouts)
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    provider = LocalProvider({"OLLAMA_BASE_URL": url}, transport)
    first = asyncio.create_task(provider.learn_where_it_runs(Target("local", "model-a")))
    with anyio.fail_after(HANG_GUARD_S):
        while not connect_timeouts:  # (the first call's ask is connecting)
            await asyncio.sleep(0)
    waiter = asyncio.create_task(provider.learn_where_it_runs(Target("local", "model-b")))
    waited = 0.3
    await asyncio.sleep(waited)  # (the waiter waits at least this long: a lower bound, whatever the machine's load)
    first.cancel()
    with anyio.fail_after(HANG_GUARD_S):
        while len(connect_timeouts) < 2:  # (the waiter's own ask, in the cancelled one's stead)
            await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(first, waiter, return_exceptions=True)
    whole = min(provider.endpoint.timeouts.connect, 3.0)  # (an ask's connect: the call's own, at most the list's 3s)
    assert connect_timeouts[0] == whole, connect_timeouts
    assert connect_timeouts[1] is not None and connect_timeouts[1] <= whole - waited, connect_timeouts


async def test_a_call_that_waited_out_its_connect_timeout_is_not_refused_for_a_minute_for_it():
    # its connect timeout spent waiting for another call's ask (cancelled, no word of the server), the call is not
    # asked: it says nothing of the server, and was kept a minute, in which a glob refused every call of the name
    # unasked
    connect_timeouts: list[float | None] = []
    url = "http://192.0.2.1:11434"
    connector = _HeldConnects(connect_timeouts)
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    provider = LocalProvider({"OLLAMA_BASE_URL": url, "MAGSAG_CONNECT_TIMEOUT": "0.2"}, transport)
    first = asyncio.create_task(provider.learn_where_it_runs(Target("local", "model-a")))
    with anyio.fail_after(HANG_GUARD_S):
        while not connect_timeouts:  # (the first call's ask is connecting)
            await asyncio.sleep(0)
    waiter = asyncio.create_task(provider.learn_where_it_runs(Target("local", "model-b")))
    await asyncio.sleep(0.3)  # (longer than the waiter's connect timeout: a lower bound, whatever the machine's load)
    first.cancel()
    with anyio.fail_after(HANG_GUARD_S):
        await waiter
    await asyncio.gather(first, return_exceptions=True)
    assert len(connect_timeouts) == 1, connect_timeouts  # (the waiter did not connect: no time left for it)
    why = local_reach.unsure(url, "model-b")
    assert isinstance(why, local_reach.CallOutOfTime), why
    assert why.startswith("was not asked: this call waited ") and "connect timeout (0.2s)" in why, why
    assert not local_reach.known(url, "model-b")  # (asked again by the next call)


async def test_a_first_ask_cut_by_its_calls_deadline_hands_the_ask_on_to_one_waiting_call():
    # the first ask of a server not seen answering, cut by its call's deadline while it connected: no word of the
    # server, as a cancelled one has none, yet the calls waiting for it were let go all at once, each connecting to a
    # server that may not answer; one of them asks alone in its stead, the others waiting for its word
    connect_timeouts: list[float | None] = []
    url = "http://192.0.2.1:11434"
    connector = _HeldConnects(connect_timeouts)
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=connector))
    provider = LocalProvider({"OLLAMA_BASE_URL": url}, transport)

    async def first_call() -> None:
        async with Deadline(0.2):  # (its call's: the ask gets half of it)
            await provider.learn_where_it_runs(Target("local", "model-a"))

    first = asyncio.create_task(first_call())
    with anyio.fail_after(HANG_GUARD_S):
        while not connect_timeouts:  # (the first call's ask is connecting)
            await asyncio.sleep(0)
    waiting = [asyncio.create_task(provider.learn_where_it_runs(Target("local", f"model-{n}"))) for n in "bc"]
    with anyio.fail_after(HANG_GUARD_S):
        await first
        while len(connect_timeouts) < 2:  # (a waiting call's own ask, in the cut one's stead)
            await asyncio.sleep(0)
    try:
        assert isinstance(local_reach.unsure(url, "model-a"), local_reach.CallOutOfTime)
        assert local_down.being_asked(url)  # (the one asking holds the first ask: the other waits for its word)
        assert len(connect_timeouts) == 2, connect_timeouts
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


async def test_calls_waiting_for_an_ask_the_first_calls_deadline_cut_are_not_asked_one_after_another():
    # an /api/show that connects and says nothing, asked for one name by calls at once with little time each: the
    # first one's ask is cut by its deadline, which says nothing of the server, and is not kept for later calls; the
    # calls that waited for it take it for theirs rather than each asking again in turn, the later ones waiting
    # through every earlier one's half of its deadline (their own running out, their attempts never sent)
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
        provider = LocalProvider({"OLLAMA_BASE_URL": url}, _transport([]))
        mybot = Target("local", "mybot")

        async def call() -> None:
            async with Deadline(0.4):  # (each call's: an ask gets half what is left of it)
                await provider.learn_where_it_runs(mybot)

        with anyio.fail_after(HANG_GUARD_S):
            await asyncio.gather(*(call() for _ in range(3)))
        assert hits == ["/api/show"], hits  # (asked once: the two waiting took its cut)
        assert isinstance(local_reach.unsure(url, "mybot"), local_reach.CallOutOfTime)
        assert not local_reach.known(url, "mybot")  # (a later call asks again)
    finally:
        never.set()
        await server.close()
