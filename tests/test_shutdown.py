"""Stopping mid-call loses nothing: closing the service, Ctrl-C in a script, SIGTERM on the CLI or server.

A call already sent may be billed, so however the process is stopped, the call in flight is cancelled,
recorded as ``cancelled`` with its cost unknown (bounded by its reservation), and its budget
reservation released. Each case runs against the spec-checking loopback OpenAI, which never answers.

Here: closing a service or a Magsag mid-call, a call made on a closed or closing service, and a close that is
cancelled, repeated or cut short. Signals are in test_shutdown_signals.py; the records a close keeps when the
ledger refuses them (or its writer is cancelled) in test_shutdown_records.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from magsag_mcp.api import Magsag
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.shutdown_helpers import CANCELLED, PAYLOAD, env_for, ledger_state, until_sent

pytestmark = pytest.mark.anyio


async def test_closing_the_service_cancels_and_records_the_calls_in_flight(fake_openai: FakeOpenAI, tmp_path: Path):
    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ended: list[str] = []

    async def caller(run_id: str) -> None:
        try:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id=run_id, agent="a")
        except anyio.get_cancelled_exc_class():
            ended.append(run_id)
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller, "r-1")
        tg.start_soon(caller, "r-2")
        await until_sent(fake_openai, 2)
        await svc.aclose()
    assert sorted(ended) == ["r-1", "r-2"]
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("cancelled",)] * 2 and attempts == [("error", "cancelled", None, 1)] * 2 and held == 0


async def test_closing_a_magsag_mid_call_records_the_call(fake_openai: FakeOpenAI, tmp_path: Path):
    """What Ctrl-C does to a script: the caller's thread is interrupted, and ``with Magsag()`` closes."""
    fake_openai.queue(R.Reply(hang=True))
    outcome: list[BaseException] = []

    def blocking() -> None:
        mg = Magsag(db=tmp_path / "l.db", env=env_for(fake_openai), agent="a")
        box.append(mg)
        try:
            mg.skills.invoke("skill.analysis", PAYLOAD)
        except BaseException as exc:  # whatever the interrupted call raised
            outcome.append(exc)

    box: list[Magsag] = []
    worker = threading.Thread(target=blocking)
    worker.start()
    await until_sent(fake_openai)
    await anyio.to_thread.run_sync(box[0].close)
    await anyio.to_thread.run_sync(worker.join, 60)
    assert len(outcome) == 1  # the call did not return an answer
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_second_close_of_a_magsag_waits_for_the_first(fake_openai: FakeOpenAI, tmp_path: Path):
    """docs/money-records-budgets.md: "a second close waits for the first". A Magsag's second close (another thread, a
    second task's aclose) returned at once while the first was still cancelling and recording the call in flight."""
    fake_openai.queue(R.Reply(hang=True))
    mg = await anyio.to_thread.run_sync(lambda: Magsag(db=tmp_path / "l.db", env=env_for(fake_openai), agent="a"))
    real_aclose = mg.service.aclose
    closing, go_on, finished = threading.Event(), threading.Event(), threading.Event()

    async def held_aclose(*args: object, **kwargs: object) -> None:
        closing.set()
        await anyio.to_thread.run_sync(go_on.wait)
        await real_aclose(*args, **kwargs)
        finished.set()

    outcome: list[BaseException] = []

    def call() -> None:
        try:
            mg.skills.invoke("skill.analysis", PAYLOAD)
        except BaseException as exc:  # whatever the cancelled call raised
            outcome.append(exc)

    mg.service.aclose = held_aclose  # type: ignore[method-assign]
    caller = threading.Thread(target=call)
    caller.start()
    await until_sent(fake_openai)
    first = threading.Thread(target=mg.close)
    first.start()
    assert await anyio.to_thread.run_sync(closing.wait, 60)  # a hang guard
    seen: list[bool] = []
    second = threading.Thread(target=lambda: (mg.close(), seen.append(finished.is_set())))
    second.start()
    # the first close goes on once the second returned (as it did at once before) or after this wait
    await anyio.to_thread.run_sync(second.join, 0.5)
    go_on.set()
    for thread in (second, first, caller):
        await anyio.to_thread.run_sync(thread.join, 60)
    assert seen == [True] and len(outcome) == 1
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_call_on_a_closed_service_is_refused_before_anything_is_sent(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    """Without a budget limit nothing asks the ledger before the request: the call was sent (and paid), a
    new HTTP session opened that nobody closes, and the record was kept 'for when the service closes',
    which had already happened."""
    from magsag_mcp.errors import ConfigError

    (catalog_copy / "policies" / "model_governance.yaml").unlink()  # no limit: no reservation to refuse it
    fake_openai.queue(R.reply("paid for nothing"))
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-late", agent="a")
    assert fake_openai.requests == []


async def test_a_probe_of_a_closed_service_is_refused_and_opens_no_http_session(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """Closing closed the service's HTTP sessions, and a probe made after it (``magsag doctor --probe``'s, a health
    check kept after its service) opened a new one, which nothing closed: asyncio's "Unclosed client session" and
    "Unclosed connector" warnings at exit, and a pooled connection left open. It is refused as a call is."""
    from magsag_mcp.errors import ConfigError

    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await svc.probe()
    assert svc.transport._sessions == {} and fake_openai.requests == []


async def test_a_delegated_call_that_finds_its_tree_while_the_service_closes_is_refused(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    """A delegated call first reads the ledger for its run's tree, before it counts as in flight. A close that
    began meanwhile neither cancelled nor waited for it: the call went on after the close, sent its request on a
    new HTTP session (and was billed), and its record met a closed ledger: the spend was never recorded."""
    from magsag_mcp.errors import ConfigError

    (catalog_copy / "policies" / "model_governance.yaml").unlink()  # no limit: nothing asks the ledger first
    fake_openai.queue(R.reply("paid after the close"))
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env_for(fake_openai))
    real, reading, go_on = svc._top_run, anyio.Event(), anyio.Event()

    async def top_run(run_id: str, parent_run_id: str) -> str:
        top = await real(run_id, parent_run_id)
        reading.set()  # the tree read; the close comes before the call goes on
        await go_on.wait()
        return top

    svc._top_run = top_run  # type: ignore[method-assign]
    refused: list[BaseException] = []

    async def delegated() -> None:
        try:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-child", parent_run_id="r-top")
        except Exception as exc:
            refused.append(exc)

    with anyio.fail_after(60):  # a hang guard
        async with anyio.create_task_group() as tg:
            tg.start_soon(delegated)
            await reading.wait()
            await svc.aclose()
            go_on.set()
    assert len(refused) == 1 and isinstance(refused[0], ConfigError) and "closed" in refused[0].message
    assert fake_openai.requests == []


async def test_a_call_started_while_the_service_closes_is_refused(fake_openai: FakeOpenAI, tmp_path: Path):
    """Closing cancels the calls in flight and waits for their records. A call that began meanwhile was
    not cancelled: it was sent (the vendor may bill it) and closing went on waiting for it, for the
    whole grace period, before closing the ledger under it."""
    from magsag_mcp.errors import ConfigError

    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    real = svc.ledger.record_call
    recording, go_on = anyio.Event(), anyio.Event()

    async def record_call(run, *args, **kw):
        if run.run_id == "r-1":  # closing waits here, for the cancelled call's record
            recording.set()
            await go_on.wait()
        await real(run, *args, **kw)

    svc.ledger.record_call = record_call  # type: ignore[method-assign]

    async def first() -> None:
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")

    late: list[BaseException] = []
    # (a hang guard: before, the late call was sent and hung there; a 2 s bound on it, as before, was a speed the
    # refusal had to meet on a loaded machine)
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await until_sent(fake_openai)
            tg.start_soon(svc.aclose, 60.0)
            await recording.wait()
            try:
                await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-2", agent="a")
            except ConfigError as exc:
                late.append(exc)
            go_on.set()
    assert len(late) == 1 and "closed" in late[0].message
    assert len(fake_openai.requests) == 1
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_service_closed_inside_a_cancelled_scope_still_closes_its_ledger(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """``with move_on_after(...): async with await Service.open() as svc: ...``: the timeout cancels the
    call, and then ``aclose`` runs inside the cancelled scope. Its first wait raised there, which cancelled
    the ledger's writer task and left both SQLite connections (and their threads) open."""
    fake_openai.queue(R.Reply(hang=True))
    before = set(threading.enumerate())

    async def time_out(scope: anyio.CancelScope) -> None:
        # the timeout, once the call is under way: a fixed 0.3 s could land in Service.open on a loaded machine
        await until_sent(fake_openai)
        scope.cancel()

    with anyio.fail_after(60):  # a hang guard
        with anyio.CancelScope() as scope:
            async with await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai)) as svc:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(time_out, scope)
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")
    assert scope.cancelled_caught
    assert ledger_state(tmp_path / "l.db") == CANCELLED
    left = [t for t in set(threading.enumerate()) - before if "connection_worker" in t.name]
    for thread in left:
        await anyio.to_thread.run_sync(thread.join, 60)  # (a hang guard: the pass waits only for the thread to end)
    assert [t for t in left if t.is_alive()] == []


async def test_a_server_closing_its_service_opens_no_other_meanwhile(fake_openai: FakeOpenAI, tmp_path: Path):
    """On SIGTERM the stdio server closes its service (the calls in flight cancelled, their records awaited)
    and then ends the process. A request arriving meanwhile opened a second service and sent its call, which
    the exit then cut: unrecorded, its reservation held until it expired."""
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.state import ServerState

    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    state = ServerState(db=tmp_path / "l.db", env=env_for(fake_openai))
    async with state.running():
        svc = await state.service()
        real = svc.ledger.record_call
        recording, go_on = anyio.Event(), anyio.Event()

        async def record_call(*args, **kw):
            recording.set()  # closing waits here, for the cancelled call's record
            await go_on.wait()
            await real(*args, **kw)

        svc.ledger.record_call = record_call  # type: ignore[method-assign]

        async def first() -> None:
            with pytest.raises(anyio.get_cancelled_exc_class()):
                await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")

        with anyio.fail_after(60):  # a hang guard
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await until_sent(fake_openai)
                tg.start_soon(state.close)
                await recording.wait()
                try:
                    with pytest.raises(ConfigError, match="shutting down"):
                        await state.service()
                finally:
                    go_on.set()
    assert ledger_state(tmp_path / "l.db") == CANCELLED
    async with state.running():  # a server run again (a new stdio session) opens a service again
        assert (await state.service()) is not svc


async def test_two_closes_at_once_do_not_wait_out_the_grace(fake_openai: FakeOpenAI, tmp_path: Path):
    """A service closed twice at once (a signal handler and ``async with``): the second close replaced the
    event the first waited on, so the first waited for the whole grace period (30 s by default)."""
    fake_openai.queue(R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))

    async def caller() -> None:
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")

    # a grace of 600 s (not the default 30 s) so that the hang guard is far from both it and a loaded machine
    with anyio.fail_after(60):  # well short of the grace
        async with anyio.create_task_group() as tg:
            tg.start_soon(caller)
            await until_sent(fake_openai)
            tg.start_soon(svc.aclose, 600.0)
            tg.start_soon(svc.aclose, 600.0)
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_close_cut_short_by_the_callers_timeout_still_closes_the_ledger(fake_openai: FakeOpenAI, tmp_path):
    """``async with asyncio.timeout(5): await svc.aclose()``: the timeout came while the close waited for a cancelled
    call's record, and ended the close there: its HTTP sessions and ledger connections (and their threads) stayed
    open, a record it kept (another cancelled call's, which the ledger had refused) was never written, and a second
    aclose() returned at once, closing nothing. Now a close cut short ends its wait as its grace would, and closes
    what it holds, writing what it kept, before the cancellation goes on."""
    import asyncio

    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    real, slow, go_on = svc.ledger.record_call, asyncio.Event(), asyncio.Event()
    refusals = iter([True])

    async def record_call(run, *args, **kw):
        if run.run_id == "r-slow":  # the close waits here, for this cancelled call's record
            slow.set()
            await go_on.wait()
        elif next(refusals, False):  # the other's is refused (a locked ledger), and kept to be written at close
            await slow.wait()
            raise LedgerError("the ledger at l.db stayed locked for 30s by another process", db="l.db")
        await real(run, *args, **kw)

    svc.ledger.record_call = record_call  # type: ignore[method-assign]
    calls = [
        asyncio.ensure_future(svc.invoke_skill("skill.analysis", PAYLOAD, run_id=run_id, agent="a"))
        for run_id in ("r-slow", "r-kept")
    ]
    await until_sent(fake_openai, 2)
    closing = asyncio.ensure_future(svc.aclose())
    await slow.wait()
    while not svc._kept.pending:  # r-kept's record refused, and kept
        await asyncio.sleep(0.01)
    closing.cancel()  # the caller's timeout
    with pytest.raises(asyncio.CancelledError):
        await closing
    go_on.set()
    for call in calls:
        with pytest.raises(asyncio.CancelledError):
            await call
    await svc.aclose()
    assert svc.ledger._writer is None and svc.ledger._reader is None and svc.transport._sessions == {}
    assert ledger_state(tmp_path / "l.db")[0] == [("cancelled",)]  # r-kept's; r-slow's was left behind
