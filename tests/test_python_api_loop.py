"""A Magsag and its own event loop thread: the async forms awaited on another loop or on its own, a closed
Magsag, one closed under a call in another thread, one a forked process inherited, and a timeout around arun.
(The async forms awaited on the caller's own loop are in test_python_api_async.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import ConfigError, Magsag

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None):
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester") as handle:
        yield handle


def _spy_on_threads(mg: Magsag) -> list[tuple[str, int]]:
    """Record (method, thread) for each service call the API makes: the home loop has its own thread."""
    import threading

    seen: list[tuple[str, int]] = []
    for name in ("invoke_skill", "log_event", "run_spend"):
        original = getattr(mg.service, name)

        async def spy(*args, _original=original, _name=name, **kwargs):
            seen.append((_name, threading.get_ident()))
            return await _original(*args, **kwargs)

        setattr(mg.service, name, spy)
    return seen


def test_async_forms_awaited_on_another_loop_run_on_magsags_loop_and_close_completes(
    tmp_path: Path, fake_scripts: None
):
    # A Magsag used inside asyncio.run: before, `await mg.skills.ainvoke(...)` ran the service on the
    # caller's loop although its HTTP sessions and ledger connection belong to Magsag's own loop; the
    # next ledger call hung, and so did mg.close().
    import asyncio

    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester")
    seen = _spy_on_threads(mg)

    async def main() -> dict:
        result = await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
        assert seen == [("invoke_skill", mg.bridge.loop_thread)]  # before: the caller's thread (and loop)
        await mg.obs.alog("async_event", {"n": 1})
        assert await mg.obs.acurrent_cost() == 0
        assert (await mg.obs.acost_detail())["cost_complete"] is True
        # a sync agent run from async code: its skill calls also go to Magsag's loop
        await mg.runner.arun("data-analysis-sag", {"data": "y"})
        return result

    result = asyncio.run(main())
    assert result["model"] == "echo" and result["run_id"] == mg.run_id
    assert {name for name, _ in seen} == {"invoke_skill", "log_event", "run_spend"}
    assert {thread for _, thread in seen} == {mg.bridge.loop_thread}
    mg.close()  # returned: before the fix it never did
    import sqlite3

    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM events WHERE event = 'async_event'").fetchone()[0] == 1


def test_a_magsags_summary_and_budget_have_async_forms_run_on_its_loop(tmp_path: Path, fake_scripts: None):
    # An async agent had ainvoke, alog, acurrent_cost and arun, but its budget check and usage summary only in
    # the sync form, which holds the caller's event loop while the ledger is read (and waits out another
    # process's write lock, up to 30 s); the service itself, on the Magsag's loop, refuses calls from another.
    import asyncio
    import threading

    env = {"MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester") as mg:
        mg.skills.invoke("skill.analysis", {"data": "x"})
        seen: list[int] = []
        for name in ("summarize", "check_budget"):
            original = getattr(mg.service, name)

            async def spy(*args, _original=original, **kwargs):
                seen.append(threading.get_ident())
                return await _original(*args, **kwargs)

            setattr(mg.service, name, spy)

        async def main() -> tuple[dict, dict]:
            return await mg.asummarize(agent="tester"), await mg.acheck_budget(run_id=mg.run_id)

        summary, budget = asyncio.run(main())
        assert seen == [mg.bridge.loop_thread, mg.bridge.loop_thread]
        assert summary == mg.summarize(agent="tester") and summary["totals"]["calls"] == 1
        assert budget == mg.check_budget(run_id=mg.run_id)
        assert any(limit["limit"] == "run" for limit in budget["limits"])


def test_async_forms_awaited_on_magsags_own_loop_run_in_place(mg: Magsag):
    seen = _spy_on_threads(mg)

    async def on_home_loop() -> dict:
        await mg.obs.alog("home_event", {})
        return await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})

    assert mg.bridge.run(on_home_loop)["model"] == "echo"
    assert [name for name, _ in seen] == ["log_event", "invoke_skill"]
    assert {thread for _, thread in seen} == {mg.bridge.loop_thread}


@pytest.mark.anyio
async def test_the_async_services_result_has_the_fields_the_docs_name(tmp_path: Path, fake_scripts: None):
    # Before: result.model, result.provider and result.usage were AttributeErrors (only result.result.model).
    from magsag_mcp import Service

    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
    as_dict = result.to_dict()
    assert (result.provider, result.model) == (as_dict["provider"], as_dict["model"]) == ("fake", "echo")
    assert result.usage.to_dict() == as_dict["usage"] and result.usage.total_tokens > 0
    assert result.output == as_dict["output"] and result.run_id == as_dict["run_id"]


def test_a_closed_magsag_says_so_when_used(tmp_path: Path, fake_scripts: None):
    # Before: anyio's RunFinishedError, or (from a thread that got the loop thread's old id) "a
    # synchronous magsag call was made on the event loop's own thread"; the async forms raised
    # RuntimeError('Event loop is closed') and left a never-awaited coroutine behind.
    import asyncio
    import threading

    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    mg.close()
    uses = {
        "invoke": lambda: mg.skills.invoke("skill.analysis", {"data": "x"}),
        "obs.log": lambda: mg.obs.log("late", {}),
        "get_current_cost": mg.obs.get_current_cost,
        "run_agent": lambda: mg.runner.run_agent("data-analysis-sag", {"data": "x"}),
        "summarize": mg.summarize,
    }
    seen: dict[str, str] = {}
    for name, use in uses.items():
        worker = threading.Thread(target=lambda n=name, u=use: seen.update({n: _error_of(u)}))
        worker.start()
        worker.join(60)  # (a hang guard)
    seen["ainvoke"] = _error_of(lambda: asyncio.run(mg.skills.ainvoke("skill.analysis", {"data": "x"})))
    assert set(seen) == {*uses, "ainvoke"}
    assert all(text.startswith("ConfigError: this Magsag is closed") for text in seen.values()), seen


def test_a_magsag_closed_just_as_an_async_call_is_scheduled_says_so(tmp_path: Path, fake_scripts: None, monkeypatch):
    # Before: RuntimeError('Event loop is closed') from scheduling the call on the closed loop, where a Magsag
    # closed a moment earlier (or a sync call, see Bridge.run) said "this Magsag is closed" with the fix.
    import asyncio

    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    check_open = mg.bridge.check_open

    def passed_then_closed() -> None:  # the window between the check and the scheduling, made deterministic
        check_open()
        monkeypatch.setattr(mg.bridge, "check_open", check_open)
        mg.close()

    monkeypatch.setattr(mg.bridge, "check_open", passed_then_closed)
    outcome = _error_of(lambda: asyncio.run(mg.skills.ainvoke("skill.analysis", {"data": "x"})))
    assert outcome.startswith("ConfigError: this Magsag is closed"), outcome


def test_closing_a_magsag_under_a_call_in_another_thread_says_why_it_stopped(tmp_path: Path, fake_scripts: None):
    # Before: the calling thread got a bare CancelledError('') from the event-loop machinery.
    import sqlite3
    import threading
    import time

    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    # (answering in a minute: the close, which cancels it, comes while it is in flight however loaded the machine)
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 60_000}}
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            _error_of(lambda: mg.skills.invoke("skill.analysis", {"data": "x", "model_config": slow}))
        )
    )
    worker.start()
    guard = time.monotonic() + 60  # (a hang guard)
    while not mg.service._calls and time.monotonic() < guard:
        time.sleep(0.01)
    mg.close()
    worker.join(60)
    assert outcome and outcome[0].startswith("ConfigError: this Magsag was closed while the call was in flight")
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]


def _error_of(use) -> str:
    try:
        use()
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
    return "returned"


def _use_inherited_magsag(mg: Magsag, results) -> None:  # runs in a forked child
    outcome = {}
    for name, use in (
        ("invoke", lambda: mg.skills.invoke("skill.analysis", {"data": "x"})),
        ("obs.log", lambda: mg.obs.log("from_child", {})),
        ("check_budget", mg.check_budget),
        ("close", mg.close),
    ):
        try:
            use()
            outcome[name] = "returned"
        except ConfigError as exc:
            outcome[name] = exc.message
        except BaseException as exc:
            outcome[name] = f"{type(exc).__name__}: {exc}"
    results.put(outcome)


def test_a_forked_process_using_its_parents_magsag_is_told_to_make_its_own(mg: Magsag):
    """A script that makes one Magsag and then forks workers (multiprocessing's default on Linux): the
    parent's event-loop thread does not exist in the child, so every call there waited for ever (and
    the pool with it). The child must get an error that says what to do instead."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_use_inherited_magsag, args=(mg, results))
    child.start()
    try:
        outcome = results.get(timeout=60)  # a hang guard: before, nothing ever came
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    made_in = "was made in process"
    assert made_in in outcome["invoke"] and "make a new Magsag() in each process" in outcome["invoke"]
    assert made_in in outcome["obs.log"] and made_in in outcome["check_budget"]
    assert outcome["close"] == "returned"  # closing the inherited copy leaves the parent's alone
    # the parent's Magsag is untouched and still works
    assert mg.skills.invoke("skill.analysis", {"data": "x"})["provider"] == "fake"


LOOPER = """
def run(payload, *, registry=None, skills=None, runner=None, obs=None):
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 3000}}
    try:
        return [skills.invoke("skill.analysis", {"data": str(i), "model_config": slow})["output"] for i in range(3)]
    finally:
        payload["ended"]()
"""


@pytest.mark.parametrize("timeout", ["asyncio.timeout", "anyio.move_on_after"])
def test_a_timeout_around_arun_stops_the_agents_calls_at_once(
    catalog_copy: Path, tmp_path: Path, fake_scripts: None, timeout: str, monkeypatch: pytest.MonkeyPatch
):
    """``runner.arun`` awaited on another loop than the Magsag's (inside ``asyncio.run``) runs the agent on
    a worker thread, its calls on the Magsag's loop. With asyncio's timeout, arun returned and the agent went
    on calling (and paying) in the background. With anyio's, anyio tied the agent's call to the caller's
    cancel scope and cancelled it from the caller's thread (asyncio is not thread-safe), which the Magsag's
    loop saw only when it next woke: here when the 3 s answer came, although the timeout was 0.5 s. (How soon
    the call is cut is a matter of time, which a unit test does not measure; what it checks is that the call
    was cut in flight, recorded, and followed by no other.) The timeout expires once the first call is in flight,
    not 0.5 s after arun began: on a loaded machine the agent's thread could start its first call later than that,
    and the call was then cut before it was made (no attempt recorded)."""
    import asyncio
    import sqlite3
    import threading

    import anyio

    from magsag_mcp.providers.fake import FakeProvider

    in_flight, ended = threading.Event(), threading.Event()
    begun: list[object] = []
    complete = FakeProvider.complete

    async def completing(self, request, target, **kwargs):
        begun.append(request)
        in_flight.set()
        return await complete(self, request, target, **kwargs)

    monkeypatch.setattr(FakeProvider, "complete", completing)

    async def expire_once_in_flight(expire) -> None:
        await asyncio.to_thread(in_flight.wait, 60)  # (a hang guard: the call is in flight long before)
        expire()

    (catalog_copy / "agents" / "looper.py").write_text(LOOPER)
    (catalog_copy / "agents" / "looper.yaml").write_text(
        "id: looper\nkind: sag\ndescription: Calls a slow skill three times.\nentrypoint: looper:run\n"
        "skills: [skill.analysis]\n"
    )
    mg = Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={}, agent="a")

    def ledger() -> tuple[list[tuple[str]], list[tuple[str | None, int]]]:
        db = sqlite3.connect(tmp_path / "l.db")
        try:
            runs = db.execute("SELECT status FROM runs").fetchall()
            return runs, db.execute("SELECT error_class, output_tokens FROM attempts").fetchall()
        finally:
            db.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if timeout == "asyncio.timeout":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(None) as cm:
                    expiry = loop.create_task(expire_once_in_flight(lambda: cm.reschedule(loop.time())))
                    await mg.runner.arun("looper", {"ended": ended.set})
        else:
            with anyio.move_on_after(None) as scope:
                expiry = loop.create_task(
                    expire_once_in_flight(lambda: setattr(scope, "deadline", anyio.current_time()))
                )
                await mg.runner.arun("looper", {"ended": ended.set})
            assert scope.cancelled_caught
        await expiry
        # the agent's own end, waited for (not a sleep guessed long enough for a second call to begin, had it gone
        # on: an agent left running ends only after its three 3 s calls); then the cut call's record, which may land
        # just after arun returns (recorded on the Magsag's loop)
        assert await asyncio.to_thread(ended.wait, 60)  # (a hang guard)
        guard = loop.time() + 60  # (a hang guard)
        while not ledger()[1] and loop.time() < guard:
            await asyncio.sleep(0.01)

    try:
        asyncio.run(main())
        runs, attempts = ledger()
    finally:
        mg.close()
    assert len(begun) == 1  # no second call
    assert runs == [("cancelled",)]  # recorded before close, and no second call
    assert attempts == [("cancelled", 0)]  # cut in flight at the timeout: the 3 s answer never came
