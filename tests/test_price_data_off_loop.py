"""genai-prices' data is loaded off the event loop (magsag_mcp/price_data.py): in a thread of its own started when the
service opens, which the first call that prices awaits with the loop left to the other tasks. Loaded on the loop (the
first call's budget reservation, its price), it held every other task of the loop 100-200 ms, seconds under
``python -X dev``.

Each test makes the process's load a fresh one (:func:`fresh_load`): genai-prices' snapshot is the process's, and the
tests before this one loaded it. The loader is wrapped to record the thread of its first call (the one that loads),
and, when it runs off the loop, to have the loop run a coroutine meanwhile: the loop makes progress while it loads.
No test reads a clock: what is checked is which thread loads, and what the loop did in the meantime.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import data_snapshot
from genai_prices.types import ModelPrice

from magsag_mcp import price_data
from magsag_mcp.service import Service
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
PAYLOAD = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}
#: genai-prices' own loader of its bundled snapshot, before any test wraps it
BUNDLED = data_snapshot._bundled_snapshot
#: the fake's answer's usage (tests/fakes/openai_replies.py's TokenCounts): 11 in, 7 out
USAGE = (11, 7)


class Load:
    """What the wrapped loader saw: the thread of its first call, and whether the loop ran a coroutine while that
    call was loading (asked only when it ran off the loop: on it, the loop cannot, and the test would hang)."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.loop_thread: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_ran_meanwhile = False
        #: run in the loading thread as the load begins (a test's own step: a custom snapshot set mid-load)
        self.during: Callable[[], None] = lambda: None

    def watch(self) -> None:
        """Called on the test's loop before the service opens."""
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()


@pytest.fixture
def fresh_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """The process's load of genai-prices' data made a first one again: no load started (price_data's state), and
    the bundled snapshot's loader wrapped so that its first call is recorded (see :class:`Load`)."""
    real = BUNDLED
    seen = Load()

    def loading() -> Any:
        if seen.thread is None:
            seen.thread = threading.get_ident()
            if seen.thread != seen.loop_thread and seen.loop is not None:
                # the loop, while this thread loads, runs a coroutine of the test's: it is not held
                async def on_the_loop() -> None:
                    seen.loop_ran_meanwhile = True

                asyncio.run_coroutine_threadsafe(on_the_loop(), seen.loop).result()
            seen.during()
        return real()

    monkeypatch.setattr(data_snapshot, "_bundled_snapshot", loading)
    monkeypatch.setattr(price_data, "_loading", None)
    monkeypatch.setattr(price_data, "under_way", False)
    monkeypatch.setattr(price_data, "_thread", None)
    yield seen
    data_snapshot.set_custom_snapshot(None)


def custom_snapshot(input_rate: str, output_rate: str) -> data_snapshot.DataSnapshot:
    """The bundled snapshot with gpt-4o at other rates (per million tokens), as UpdatePrices would set one."""
    providers = copy.deepcopy(BUNDLED().providers)
    openai = next(p for p in providers if p.id == "openai")
    model = next(m for m in openai.models if m.id == "gpt-4o")
    model.prices = ModelPrice(input_mtok=Decimal(input_rate), output_mtok=Decimal(output_rate))
    model.price_variants = None
    return data_snapshot.DataSnapshot(providers=providers, from_auto_update=True)


async def open_service(tmp_path: Path, fake: FakeOpenAI) -> Service:
    env = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    return await Service.open(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)


async def first_call(seen: Load, tmp_path: Path, fake: FakeOpenAI) -> Any:
    """A service's first call, its loop watched by ``seen`` (see :class:`Load`), the service closed after it."""
    seen.watch()
    svc = await open_service(tmp_path, fake)
    try:
        return await svc.invoke_skill("skill.analysis", PAYLOAD)
    finally:
        await svc.aclose()


def recorded_cost(db: Path) -> Decimal:
    conn = sqlite3.connect(db)
    try:
        (pusd,) = conn.execute("SELECT cost_pusd FROM attempts WHERE outcome = 'ok'").fetchone()
    finally:
        conn.close()
    return Decimal(pusd) / 10**12


def cost_at(input_rate: str, output_rate: str) -> Decimal:
    return (USAGE[0] * Decimal(input_rate) + USAGE[1] * Decimal(output_rate)) / 1_000_000


async def test_the_first_call_prices_with_data_loaded_off_the_loop_while_the_loop_runs_on(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path
):
    result = await first_call(fresh_load, tmp_path, fake_openai)
    assert fresh_load.thread is not None, "the call priced nothing from genai-prices"
    assert fresh_load.thread != fresh_load.loop_thread, "genai-prices' data was loaded on the event loop"
    assert fresh_load.loop_ran_meanwhile
    assert result.cost_usd == cost_at("2.5", "10")  # genai-prices' gpt-4o, as before


async def test_a_service_that_only_reads_starts_no_load(fresh_load: Load, tmp_path: Path):
    fresh_load.watch()
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "ledger.db", env={}, reading=True)
    try:
        assert price_data._loading is None
        await svc.summarize()
    finally:
        await svc.aclose()
    assert fresh_load.thread is None  # nothing of genai-prices' data was loaded for a summary


async def test_a_custom_snapshot_set_before_the_open_prices_the_first_call(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path
):
    data_snapshot.set_custom_snapshot(custom_snapshot("7", "13"))
    result = await first_call(fresh_load, tmp_path, fake_openai)
    assert result.cost_usd == cost_at("7", "13")
    assert recorded_cost(tmp_path / "ledger.db") == cost_at("7", "13")


async def test_a_custom_snapshot_set_while_the_bundled_one_loads_prices_the_first_call(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path
):
    # UpdatePrices sets its snapshot from a thread of its own, at any time: here while the bundled one is loading.
    # Looked up in the load itself, the first call was priced at the bundled rates the load returned
    custom = custom_snapshot("7", "13")
    fresh_load.during = lambda: data_snapshot.set_custom_snapshot(custom)
    result = await first_call(fresh_load, tmp_path, fake_openai)
    assert result.cost_usd == cost_at("7", "13")
    assert recorded_cost(tmp_path / "ledger.db") == cost_at("7", "13")


async def test_check_budget_of_a_skill_prices_it_with_data_loaded_off_the_loop(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path
):
    fresh_load.watch()
    svc = await open_service(tmp_path, fake_openai)
    try:
        status = await svc.check_budget(skill="skill.analysis", model="openai:gpt-4o")
    finally:
        await svc.aclose()
    assert "call" in status
    assert fresh_load.thread is not None and fresh_load.thread != fresh_load.loop_thread
    assert fresh_load.loop_ran_meanwhile


@pytest.mark.parametrize(
    "ask",
    [
        pytest.param(
            lambda c: c.call_tool("explain_route", {"skill_id": "skill.analysis", "payload": PAYLOAD}),
            id="explain_route",
        ),
        pytest.param(lambda c: c.read_resource("magsag://catalog/prices"), id="prices resource"),
        pytest.param(lambda c: c.read_resource("magsag://skills/skill.analysis"), id="skill resource"),
    ],
)
async def test_the_mcp_servers_first_request_that_prices_loads_the_data_off_the_loop(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path, ask: Callable[[Any], Any]
):
    # the server opens its service at the first request that needs it, which starts the load: a request that prices
    # synchronously (a route's worst case, a model's rates) waits for it rather than loading it again on the loop
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    fresh_load.watch()
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)) as client:
        answer = await ask(client)
    assert not getattr(answer, "is_error", False), answer
    assert fresh_load.thread is not None, "the request priced nothing from genai-prices"
    assert fresh_load.thread != fresh_load.loop_thread, "genai-prices' data was loaded on the event loop"
    assert fresh_load.loop_ran_meanwhile


def _loading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "magsag price data"]


def test_a_load_whose_loop_closed_at_once_still_runs_and_lets_calls_on_another_loop_go(fresh_load: Load):
    # Started as a task of the opening loop's, a load that loop never ran (stopped or closed as its open returned: a
    # Magsag closed at once, an asyncio.run ending) never ran at all: it was given up, and the next call's lookup
    # loaded the data on its own loop, the stall the load is there to spare. Now its thread runs whatever becomes of
    # the loop that started it, and a call on another loop awaits it there
    loop = asyncio.new_event_loop()
    loop.call_soon(lambda: (price_data.start_loading(), loop.stop()))  # (stopped at once, then closed)
    loop.run_forever()
    loop.close()
    asyncio.run(price_data.loaded())
    assert fresh_load.thread is not None and fresh_load.thread != threading.get_ident()
    assert not price_data.under_way and price_data._loading is not None and price_data._loading.done()
    assert _loading_threads() == []  # (ended, and joined by the call that awaited it)


async def test_a_load_started_by_an_asyncio_run_that_ended_is_not_started_again_by_the_next_open(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path
):
    # asyncio.run ending as the open returns: the load runs on, once, and the next service's call prices off its loop
    def open_and_leave() -> None:
        async def open_only() -> None:
            price_data.start_loading()

        asyncio.run(open_only())

    await asyncio.to_thread(open_and_leave)
    first = price_data._loading
    await first_call(fresh_load, tmp_path, fake_openai)
    assert price_data._loading is first  # one load a process
    assert fresh_load.thread is not None and fresh_load.thread != fresh_load.loop_thread


def test_a_fork_while_the_load_runs_holds_no_call_of_the_child(tmp_path: Path):
    # The child of a fork has no thread but the one that forked: a load under way in the parent's loading thread never
    # ends there, and every call of the child's services (a pre-forking server's workers) awaited it for ever
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import asyncio, os, sys, threading
        from genai_prices import data_snapshot
        from magsag_mcp import price_data

        begun, release = threading.Event(), threading.Event()
        bundled = data_snapshot._bundled_snapshot

        def loading():
            begun.set()
            release.wait()
            return bundled()

        data_snapshot._bundled_snapshot = loading

        # the load started by a loop on a thread of its own: the fork is made from a thread that runs no loop
        home = asyncio.new_event_loop()
        threading.Thread(target=home.run_forever, daemon=True).start()

        async def start():
            price_data.start_loading()

        asyncio.run_coroutine_threadsafe(start(), home).result()
        begun.wait()  # the load is under way in its thread

        async def in_child():
            await price_data.loaded()  # hung: the parent's load, never to end here
            print("child's call went on; under way:", price_data.under_way, flush=True)
            price_data.start_loading()  # the child's own service opens: a load of its own
            await price_data.loaded()
            print("child loaded; under way:", price_data.under_way, flush=True)

        pid = os.fork()
        if pid == 0:
            release.set()  # (the child's own load is not held)
            asyncio.run(in_child())
            os._exit(0)
        release.set()
        asyncio.run(price_data.loaded())
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), flush=True)
        """
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=90,  # (a hang guard)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("child's call went on; under way: False\nchild loaded; under way: False\nchild exit 0\n"), (
        proc.stderr
    )


async def test_a_refused_loading_thread_fails_no_open_and_holds_no_call(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A thread refused (RuntimeError "can't start new thread": a limit on threads reached; from an exit hook on Python
    # 3.12+): the load is an open's head start, not what the open is for. Before: the open raised it, its ledger
    # left open, and the load stayed "under way" with no thread to end it, so that every later call of the process
    # awaited it for ever. Now the open succeeds and the call's own lookup loads the data
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "magsag price data":
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    svc = await open_service(tmp_path, fake_openai)
    try:
        assert not price_data.under_way and price_data._loading is None
        result = await svc.invoke_skill("skill.analysis", PAYLOAD)
    finally:
        await svc.aclose()
    assert result.cost_usd == cost_at("2.5", "10")
    assert fresh_load.thread == threading.get_ident()  # loaded by the call's lookup, on its loop


def test_a_load_that_fails_ends_with_its_error_set_so_no_call_waits_on_it(
    fresh_load: Load, monkeypatch: pytest.MonkeyPatch
):
    # a call that read under_way True awaits the load's future: a load that raised must still set it (with its
    # error, which the call's own lookup then meets where errors are converted), or that call waited for ever
    def unreadable() -> Any:
        raise RuntimeError("the snapshot could not be read")

    monkeypatch.setattr(data_snapshot, "get_snapshot", unreadable)
    price_data.start_loading()
    thread = price_data._thread
    assert thread is not None
    thread.join()  # (the load's own end: no time waited on)
    loading = price_data._loading
    assert loading is not None and loading.done() and not price_data.under_way
    assert isinstance(loading.exception(), RuntimeError)
    asyncio.run(price_data.loaded())  # returns: the failed load is the lookup's to retry, not the call's to await


def _runs(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT status, (SELECT count(*) FROM attempts a WHERE a.run_id = r.run_id),"
            " (SELECT count(*) FROM budget_reservations) FROM runs r"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("by", ["caller", "close"])
async def test_a_call_cancelled_while_the_data_loads_is_recorded_as_cancelled(
    fresh_load: Load, fake_openai: FakeOpenAI, tmp_path: Path, by: str
):
    # The first call of a process waits for genai-prices' data. Cancelled in that wait (by its caller, or by a close,
    # which cancels the calls in flight), it was recorded nowhere: the wait came before the call was counted in
    # flight. Like a call cancelled at any later step, it is a cancelled run now, holding nothing.
    release = threading.Event()
    fresh_load.during = lambda: release.wait(60)  # (the load held until the call is cancelled)
    fresh_load.watch()
    svc = await open_service(tmp_path, fake_openai)
    call = asyncio.ensure_future(svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-early"))
    try:
        for _ in range(10_000):  # until the load has begun and the call waits for it
            await asyncio.sleep(0)
            if fresh_load.thread is not None and svc._in_flight:
                break
        assert fresh_load.thread is not None and not call.done()
        if by == "caller":
            call.cancel()
        else:
            closing = asyncio.ensure_future(svc.aclose())
        with pytest.raises(asyncio.CancelledError):
            await call
        if by == "close":
            release.set()
            await closing
    finally:
        release.set()
        await svc.aclose()
    assert _runs(tmp_path / "ledger.db") == [("cancelled", 0, 0)]
    assert not fake_openai.requests


def test_a_loop_that_awaited_the_load_is_not_kept_alive_by_it(fresh_load: Load):
    # The load is the process's, kept once done (one load a process). A loop that awaited it while under way was kept by
    # it, with all the loop held (its sessions, servers, the connect watch's marks), as long as the process: the done
    # load kept the callback that woke the loop (concurrent.futures keeps a future's callbacks once called). A process
    # running a loop per call (asyncio.run in a sync caller) kept its first call's loop for good
    release = threading.Event()
    fresh_load.during = lambda: release.wait(60.0)  # (a hang guard: set as soon as the loop awaits the load)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def await_the_load() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        price_data.start_loading()
        waiting = asyncio.create_task(price_data.loaded())
        await asyncio.sleep(0)  # (one turn: the task runs up to its await of the load, which the loader holds)
        assert price_data.under_way and not waiting.done()
        release.set()
        await waiting

    asyncio.run(await_the_load())
    assert price_data._loading is not None and price_data._loading.done() and not price_data.under_way
    gc.collect()
    assert loops[0]() is None


@pytest.mark.parametrize("gone", ["cancelled", "its loop closed"])
def test_a_caller_gone_before_the_load_ends_is_woken_by_nothing(
    fresh_load: Load, caplog: pytest.LogCaptureFixture, gone: str
):
    # A caller of loaded() cancelled while the load runs, or whose loop closed since: the load's end wakes no one, and
    # says nothing. Setting the cancelled caller's future raised InvalidStateError in its loop's callback, and calling
    # into a closed loop raised RuntimeError in the loading thread (concurrent.futures logs a callback's error)
    release = threading.Event()
    fresh_load.during = lambda: release.wait(60.0)  # (a hang guard: set once the caller is gone)
    troubles: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: troubles.append(context))

    async def wait_then_go() -> None:
        price_data.start_loading()
        waiting = asyncio.create_task(price_data.loaded())
        await asyncio.sleep(0)  # (one turn: the task runs up to its await of the load, which the loader holds)
        assert price_data.under_way and not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        if gone == "cancelled":
            release.set()
            # woken as the load ends, after the cancelled caller's wake-up (the load's callbacks run in their order)
            await price_data.loaded()

    try:
        loop.run_until_complete(wait_then_go())
    finally:
        loop.close()
    release.set()
    asyncio.run(price_data.loaded())  # (the load's callbacks have all run once a later caller is woken)
    assert price_data._loading is not None and price_data._loading.done() and not price_data.under_way
    assert troubles == []
    assert [r.getMessage() for r in caplog.records if r.name == "concurrent.futures"] == []
    del loop  # (kept until here: a loop gone is not called into at all)
