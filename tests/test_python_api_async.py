"""The async forms of the Python API awaited on the caller's own event loop (a Magsag inside asyncio.run,
a web server's handler): what the caller hands in runs on the caller's loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import anyio
import pytest

from magsag_mcp import Magsag

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def test_ainvokes_progress_callbacks_run_on_the_callers_loop(tmp_path: Path, fake_scripts: None):
    # Streaming a call's progress to a client (an SSE response, a websocket, an asyncio.Queue) from a
    # callback. Before: the callback ran on the Magsag's own loop, in its thread: an asyncio object of the
    # caller's loop used there raised "bound to a different event loop" (or, not being thread-safe, woke
    # its waiter late or never).
    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    seen: list[tuple[str, object, int]] = []

    async def main() -> tuple[dict, list[str]]:
        caller = asyncio.get_running_loop()
        gate = asyncio.Event()  # of the caller's loop, as a response's or a queue's waiters are
        gate.set()
        events: asyncio.Queue[str | None] = asyncio.Queue()

        async def on_progress(event: str, data: dict) -> None:
            seen.append(("async", asyncio.get_running_loop(), threading.get_ident()))
            await gate.wait()
            await events.put(event)

        def on_progress_sync(event: str, data: dict) -> None:
            seen.append(("sync", asyncio.get_running_loop(), threading.get_ident()))

        payload = {"data": "x", "model_config": {"model": "fake:echo", "stream": True}}
        result = await mg.skills.ainvoke("skill.analysis", payload, progress=on_progress)
        await mg.skills.ainvoke("skill.analysis", payload, progress=on_progress_sync)
        await events.put(None)
        got = [e async for e in _drain(events)]
        assert {(loop, thread) for _, loop, thread in seen} == {(caller, threading.get_ident())}
        return result, got

    try:
        result, events = asyncio.run(main())
    finally:
        mg.close()
    assert result["model"] == "echo" and "attempt" in events and "delta" in events
    assert {kind for kind, _, _ in seen} == {"async", "sync"}


async def _drain(queue: asyncio.Queue[str | None]):
    while (item := await queue.get()) is not None:
        yield item


def test_service_open_is_an_async_context_manager_as_well_as_awaitable(tmp_path: Path, fake_scripts: None):
    # Before: `async with Service.open(...) as svc:` (as aiohttp.ClientSession or aiosqlite.connect read)
    # raised TypeError: 'coroutine' object does not support the asynchronous context manager protocol,
    # leaving a never-awaited coroutine; only `async with await Service.open(...)` worked.
    from magsag_mcp import Service

    async def main() -> None:
        env = {"MAGSAG_PROVIDER": "fake"}
        async with Service.open(catalog=CATALOG, db=tmp_path / "a.db", env=env) as svc:
            result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
            assert result.model == "echo"
        assert svc._closing  # closed on leaving the block
        async with await Service.open(catalog=CATALOG, db=tmp_path / "b.db", env=env) as svc:  # as before
            assert isinstance(svc, Service)
        svc = await Service.open(catalog=CATALOG, db=tmp_path / "c.db", env=env)
        await svc.aclose()
        svc = await asyncio.create_task(Service.open(catalog=CATALOG, db=tmp_path / "d.db", env=env))  # a coroutine
        await svc.aclose()

    asyncio.run(main())


def test_service_open_used_without_await_says_to_await_it(tmp_path: Path):
    # Sync code, or a missing await. Before: `with Service.open() as svc:` was "TypeError: 'Opening' object does
    # not support the context manager protocol", and `svc = Service.open(); svc.invoke_skill(...)` was
    # "AttributeError: 'Opening' object has no attribute 'invoke_skill'": neither said what to write.
    import pytest

    from magsag_mcp import ConfigError, Service

    opening = Service.open(catalog=CATALOG, db=tmp_path / "l.db")
    with pytest.raises(ConfigError, match=r"`with` cannot open it: Service.open\(\) opens the service asynchronously"):
        with opening:
            pass
    with pytest.raises(AttributeError, match=r"'invoke_skill' is the opened object's, and it has not been opened: .*"):
        opening.invoke_skill("skill.analysis", {"data": "x"})
    message = str(pytest.raises(AttributeError, getattr, opening, "summarize").value)
    assert "`service = await Service.open(...)`" in message and "from sync code use Magsag()" in message
    assert not hasattr(opening, "cr_frame") and not hasattr(opening, "_private")
    assert not (tmp_path / "l.db").exists()  # nothing was opened


def test_the_services_result_has_every_field_the_docs_name_as_an_attribute(tmp_path: Path, fake_scripts: None):
    # docs/model-choice.md: a result carries output, tool_calls, finish_reason, usage, cost_usd, provider, model,
    # run_id, trace and warnings. Before: result.tool_calls and result.finish_reason were AttributeErrors on the
    # async service's InvokeResult (only result.result.tool_calls), so function calling from async code
    # could not read the calls the way the dict of skills.invoke gives them.
    from magsag_mcp import Service

    tool = {"type": "function", "function": {"name": "get_metric", "parameters": {"type": "object"}}}
    payload = {"data": "x", "model_config": {"model": "fake:echo", "tools": [tool]}}

    async def main():
        async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={}) as svc:
            return await svc.invoke_skill("skill.analysis", payload)

    result = asyncio.run(main())
    as_dict = result.to_dict()
    assert [call.to_dict() for call in result.tool_calls] == as_dict["tool_calls"] and result.tool_calls
    assert result.tool_calls[0].name == "get_metric"
    assert result.finish_reason == as_dict["finish_reason"] == "tool_calls"
    assert result.text == as_dict["text"]


def test_a_magsag_closes_from_async_code_without_blocking_the_callers_loop(tmp_path: Path, fake_scripts: None):
    # Before: `async with Magsag() as mg:` was a TypeError, and the only close was the blocking mg.close(),
    # which held the caller's loop (a web server's) while the calls in flight were cancelled and recorded.
    seen_while_closing: list[bool] = []

    async def main() -> Magsag:
        caller_ran = threading.Event()
        async with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
            await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
            close_service = mg.service.aclose

            async def closing_while_the_caller_runs() -> None:  # on the Magsag's loop, while it closes
                seen_while_closing.append(await asyncio.to_thread(caller_ran.wait, 30))
                await close_service()

            mg.service.aclose = closing_while_the_caller_runs  # type: ignore[method-assign]
            asyncio.get_running_loop().call_later(0, caller_ran.set)  # runs only if the loop is not blocked
        return mg

    mg = asyncio.run(main())
    assert seen_while_closing == [True]
    assert mg.bridge.closed


def test_a_service_used_from_another_event_loop_than_its_own_is_refused_with_the_fix(tmp_path: Path):
    # `service = asyncio.run(Service.open())` and then `asyncio.run(main(service))`: each asyncio.run is a new
    # loop, and the ledger's writer was a task of the first, gone with it. Before: calls made together, or an
    # obs-style log_event alone, waited for that writer for ever (a silent hang); a lone call worked, so the
    # script looked fine until it ran two at once. Now each use from another loop is refused, before anything
    # is sent, saying how to fix it, and the service still closes from the later loop.
    import pytest

    from magsag_mcp import ConfigError, Service

    service = asyncio.run(Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}))
    payload = {"data": "x", "model_config": {"model": "fake:echo"}}

    async def use() -> list[BaseException | object]:
        uses = [service.invoke_skill("skill.analysis", payload) for _ in range(3)]
        uses.append(service.log_event("run-1", None, "model_success", {"model": "echo"}))
        return await asyncio.wait_for(asyncio.gather(*uses, return_exceptions=True), 60)  # a hang guard

    outcomes = asyncio.run(use())
    assert all(isinstance(o, ConfigError) for o in outcomes), outcomes
    assert "opened on another event loop, which has closed since" in str(outcomes[0])
    assert "async with Service.open() as service:" in str(outcomes[0])
    asyncio.run(service.aclose())
    assert service.ledger._writer is None and service.ledger._reader is None

    # a loop still running in another thread: refused too (its writer would be raced from this thread)
    home = asyncio.new_event_loop()
    thread = threading.Thread(target=home.run_forever, daemon=True)
    thread.start()
    try:
        opening = Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
        other = asyncio.run_coroutine_threadsafe(opening, home).result(60)
        with pytest.raises(ConfigError, match="opened on another event loop, which runs elsewhere"):
            asyncio.run(other.invoke_skill("skill.analysis", payload))
        asyncio.run_coroutine_threadsafe(other.aclose(), home).result(60)
    finally:
        home.call_soon_threadsafe(home.stop)
        thread.join(60)
        home.close()
    import sqlite3

    assert sqlite3.connect(tmp_path / "l.db").execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)


def _frozen(mg: Magsag) -> tuple[threading.Event, threading.Event]:
    """Hold the Magsag's own loop (its thread blocks) until the second event is set: what the caller does meanwhile
    reaches that loop only then, in order."""
    frozen, thaw = threading.Event(), threading.Event()

    def hold() -> None:
        frozen.set()
        thaw.wait(60)

    mg.bridge.token.native_token.call_soon_threadsafe(hold)
    assert frozen.wait(60)
    return frozen, thaw


def _runs(db: Path) -> list[tuple[str, str]]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status, coalesce(error_class, '') FROM runs").fetchall()
    finally:
        conn.close()


def test_an_ainvoke_its_caller_gave_up_on_before_it_began_is_not_started(tmp_path: Path, fake_scripts: None):
    # asyncio.run ending (Ctrl-C, a script's end) or a timeout cancels an ainvoke scheduled on the Magsag's loop before
    # that loop took it up. Before, the call started there all the same, ran to its first progress event, and the
    # caller's loop being closed by then, failed with "RuntimeError: Event loop is closed": recorded as an error, with
    # "coroutine '_called' was never awaited" printed at exit. As a sync call's, it is not started: nothing is sent.
    import gc
    import warnings

    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    payload = {"data": "x", "model_config": {"model": "fake:echo"}}

    async def main() -> None:
        asyncio.get_running_loop().create_task(mg.skills.ainvoke("skill.analysis", payload, progress=lambda e, d: None))
        await asyncio.sleep(0)  # the call is scheduled on the Magsag's loop; asyncio.run then cancels it and ends

    try:
        _, thaw = _frozen(mg)
        try:
            asyncio.run(main())
        finally:
            thaw.set()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mg.close()
            gc.collect()
    finally:
        mg.close()
    assert _runs(tmp_path / "l.db") == []
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_an_ainvoke_whose_callers_loop_closed_mid_call_stops_as_cancelled(tmp_path: Path, fake_scripts: None):
    # The caller's loop closed while its call ran on the Magsag's loop (its progress still to come): before, the next
    # progress event failed the call with "RuntimeError: Event loop is closed", recorded as an error of the caller's
    # callback. Nobody awaits the call any more: it stops as a cancelled one, and is recorded so.
    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    payload = {"data": "x", "model_config": {"model": "fake:echo"}}
    caller = asyncio.new_event_loop()
    thaw, ended = threading.Event(), threading.Event()
    invoke = mg.service.invoke_skill

    async def invoke_then_say_so(*args, **kwargs):
        try:
            return await invoke(*args, **kwargs)
        finally:
            ended.set()

    mg.service.invoke_skill = invoke_then_say_so  # type: ignore[method-assign]

    async def main() -> None:
        first = asyncio.Event()

        def on_progress(event: str, data: dict) -> None:
            if not first.is_set():
                _frozen_on_return(mg, thaw)  # the call goes on only once the caller's loop has closed
                first.set()

        pending.append(caller.create_task(mg.skills.ainvoke("skill.analysis", payload, progress=on_progress)))
        await first.wait()

    pending: list[asyncio.Task] = []

    try:
        caller.run_until_complete(main())
        caller.close()  # with the call in flight (a framework closing its loop, a loop made by hand)
        thaw.set()
        assert ended.wait(60)
        pending[0]._log_destroy_pending = False  # left pending with its loop, as the caller left it: said, not logged
    finally:
        thaw.set()
        mg.close()
    assert _runs(tmp_path / "l.db") == [("cancelled", "")]


def _frozen_on_return(mg: Magsag, thaw: threading.Event) -> None:
    """Hold the Magsag's loop from its next step on (the progress callback's return comes after) until ``thaw``."""
    mg.bridge.token.native_token.call_soon_threadsafe(lambda: thaw.wait(60))


def test_an_a_method_awaited_where_no_asyncio_loop_runs_says_what_to_do(tmp_path: Path, fake_scripts: None):
    # Under trio (or anyio on trio's backend) no asyncio loop runs where ainvoke is awaited. Before: asyncio's own
    # "RuntimeError: no running event loop", no MagsagError and no word of a way out. Now a ConfigError says the a*
    # methods need asyncio and how to call the sync form from a worker thread. (Driven here as trio drives a
    # coroutine: by hand, with no asyncio loop running; trio itself is no dependency of the suite.)
    from magsag_mcp import ConfigError

    def driven(coro) -> BaseException:
        try:
            coro.send(None)
        except BaseException as exc:  # (what the awaiting code would get)
            return exc
        coro.close()
        raise AssertionError("the coroutine went on without an asyncio loop")

    payload = {"data": "x", "model_config": {"model": "fake:echo"}}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        for coro in (
            mg.skills.ainvoke("skill.analysis", payload),
            mg.skills.ainvoke("skill.analysis", payload, progress=lambda event, data: None),
            mg.obs.alog("model_success", {"model": "echo"}),
            mg.asummarize(since="1d"),
            mg.acheck_budget(),
        ):
            error = driven(coro)
            assert isinstance(error, ConfigError), repr(error)
            said = "the a* methods (ainvoke, alog, asummarize, acheck_budget, ...) are awaited on an asyncio event loop"
            assert error.message.startswith(f"{said}, and none runs here (trio, or anyio on trio's backend)")
            assert "anyio.to_thread.run_sync(lambda: mg.skills.invoke(skill_id, payload))" in error.message
        # the sync form, on a thread as the message says, works
        assert mg.skills.invoke("skill.analysis", payload)["model"] == "echo"
        assert mg.summarize(since="1d")["totals"]["calls"] == 1


@pytest.mark.parametrize("how", ["task", "scope"])
def test_an_ainvoke_cancelled_mid_call_returns_once_the_call_is_recorded_and_its_reservation_released(
    tmp_path: Path, catalog_copy: Path, fake_scripts: None, how: str
):
    # A caller on its own loop cancelling an ainvoke in flight (a timeout, a client gone away): the CancelledError
    # reached it at once, while the call still unwound on the Magsag's loop. Right after it, the call was still
    # "running" in the ledger and its worst case still reserved (12 such calls cancelled together: 5 still held
    # $0.076 when check_budget was asked next), where a Service's call, cancelled on its own loop, has been recorded.
    import sqlite3

    from tests.governance_helpers import prices

    prices(catalog_copy, '"fake:*": {input: 100, output: 100}\n')  # priced: its worst case is reserved
    mg = Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    slow = {"model": "fake:slow", "params": {"latency_ms": 600_000}, "stream": True}

    async def main() -> None:
        began = asyncio.Event()
        scope = anyio.CancelScope()

        async def invoke() -> None:
            # (an anyio scope, as an MCP server's or a web framework's, delivers its cancellation again and again)
            with scope:
                payload = {"data": "x", "model_config": slow}
                await mg.skills.ainvoke("skill.analysis", payload, run_id="r-1", progress=lambda e, d: began.set())

        call = asyncio.ensure_future(invoke())
        await began.wait()  # the attempt has begun: its reservation is held
        _, thaw = _frozen(mg)  # the Magsag's loop takes the cancellation up only a moment later
        threading.Timer(0.2, thaw.set).start()
        scope.cancel() if how == "scope" else call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            assert how == "task"
        conn = sqlite3.connect(tmp_path / "l.db")
        try:
            runs = conn.execute("SELECT status FROM runs").fetchall()
            held = conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0]
        finally:
            conn.close()
        assert runs == [("cancelled",)] and held == 0

    try:
        asyncio.run(main())
    finally:
        mg.close()
