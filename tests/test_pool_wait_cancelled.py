"""A call cancelled while its request waits for a connection (the transport's pool full of other calls' requests):
none of its bytes has left, so nothing can be billed. It was recorded as cut in flight, "the provider may still bill
it", its worst case counted in the run's, agent's and day's limits for good and the run's cost said unknown. The
transport's connector now marks the attempt as given a connection, and one cancelled before that is recorded as not
sent, at no cost, its reservation going with the call's record."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

PAYLOAD = {"task": "a parser", "model_config": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 500}}


def _catalog(catalog_copy: Path) -> Path:
    (catalog_copy / "prices.yaml").write_text('"openai:gpt-4o-mini": {input: 1.0, output: 10.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds:\n      max_cost_per_run_usd: 1\n"
    )
    return catalog_copy


async def test_a_call_cancelled_while_it_waits_for_a_connection_is_recorded_as_not_sent(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    fake_openai.queue(R.reply("held", hang=True))  # the first call holds the pool's one connection until released
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    transport = Transport(limit=1, limit_per_host=1)
    async with Service.open(catalog=_catalog(catalog_copy), db=db, env=env, transport=transport) as svc:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: svc.invoke_skill("skill.coding", PAYLOAD, run_id="holder"))
            with anyio.fail_after(60):  # a hang guard
                while not fake_openai.requests:
                    await anyio.sleep(0.01)
            waiting, admitted = anyio.CancelScope(), anyio.Event()
            tg.start_soon(_cancelled_call, svc, waiting, admitted)
            with anyio.fail_after(60):  # a hang guard
                await admitted.wait()
            # admitted (its reservation made), it goes on to the pool with no thread to wait for: once every task is
            # blocked, the second call's is blocked there (the first call's and the server's on the held answer)
            await wait_all_tasks_blocked()
            waiting.cancel()
            await wait_all_tasks_blocked()
            assert len(fake_openai.requests) == 1  # nothing of the second call reached the server
            tg.cancel_scope.cancel()  # (the holder too: the fake answers a held request only once released)
        fake_openai.release()
        budget = await svc.check_budget(run_id="waiter")
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT outcome, error_class, error_message, cost_pusd, cost_bound_pusd FROM attempts"
            " WHERE run_id = 'waiter'"
        ).fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    # before: [("error", "cancelled", "cancelled by the caller while the request was in flight; the provider may still
    # bill it", None, <its worst case>)], the run's budget counting that worst case as an unknown cost
    why = "not sent: cancelled by the caller before its request left (it waited for a connection)"
    assert rows == [("skipped", "cancelled", why, 0, None)]
    (limit,) = budget["limits"]
    assert (limit["spent_usd"], limit["unknown_cost_bound_usd"], limit["reserved_usd"]) == ("0", "0", "0")
    assert held == 0


async def _cancelled_call(svc: Service, scope: anyio.CancelScope, admitted: anyio.Event) -> None:
    async def progress(event: str, data: dict) -> None:
        if event == "attempt":
            admitted.set()

    with scope:
        await svc.invoke_skill("skill.coding", PAYLOAD, run_id="waiter", progress=progress)
    assert scope.cancelled_caught


async def test_a_call_cancelled_once_its_request_was_sent_may_still_be_billed(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    # given a connection and written, the request may be billed: cancelled while its answer is awaited, it is recorded
    # as cut in flight, at its worst case, as before
    fake_openai.queue(R.reply("held", hang=True))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    async with Service.open(catalog=_catalog(catalog_copy), db=db, env=env) as svc:
        await _cut_once_held(svc, fake_openai, 1)
    outcome, kind, cost, bound = _attempt_of(db, "r")
    assert (outcome, kind, cost) == ("error", "cancelled", None) and bound > 0


async def _cut_once_held(svc: Service, fake_openai: FakeOpenAI, requests: int) -> None:
    """A call of run ``r`` cancelled once the fake holds its request (the ``requests``-th it was sent)."""
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: svc.invoke_skill("skill.coding", PAYLOAD, run_id="r"))
            with anyio.fail_after(60):  # a hang guard
                while len(fake_openai.requests) < requests:
                    await anyio.sleep(0.01)
            scope.cancel()
    fake_openai.release()


def _attempt_of(db: Path, run_id: str) -> tuple[Any, ...]:
    """The one attempt of ``run_id``: (outcome, error class, cost, bound)."""
    conn = sqlite3.connect(db)
    try:
        [row] = conn.execute(
            "SELECT outcome, error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = ?", (run_id,)
        ).fetchall()
    finally:
        conn.close()
    return row


async def test_a_call_whose_deadline_passes_while_it_waits_for_a_connection_is_recorded_as_not_sent(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    # The call's deadline, not its caller, ends it while its request waits for a connection (another service's call,
    # on the same transport, holds the pool's one): none of it left. It was recorded as "no complete answer within the
    # call's deadline", maybe billed, its worst case counted in the run's limit for good as a cost unknown.
    fake_openai.queue(R.reply("held", hang=True))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    catalog = _catalog(catalog_copy)
    transport = Transport(limit=1, limit_per_host=1)
    async with (
        Service.open(catalog=catalog, db=db, env=env, transport=transport) as holder,
        Service.open(catalog=catalog, db=db, env=env, transport=transport) as svc,
    ):
        now = [0.0]
        svc.cascade.clock = lambda: now[0]  # the waiting call's clock: its deadline is when this test says

        async def progress(event: str, data: dict) -> None:
            if event == "attempt":  # admitted: its deadline is reached as its request goes to the pool
                now[0] = svc.cascade.retry.deadline

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: holder.invoke_skill("skill.coding", PAYLOAD, run_id="holder"))
            with anyio.fail_after(60):  # a hang guard
                while not fake_openai.requests:
                    await anyio.sleep(0.01)
            with pytest.raises(E.AllTargetsFailed) as failed:
                await svc.invoke_skill("skill.coding", PAYLOAD, run_id="waiter", progress=progress)
            assert len(fake_openai.requests) == 1  # nothing of the second call reached the server
            tg.cancel_scope.cancel()  # (the holder too: the fake answers a held request only once released)
        fake_openai.release()
        budget = await svc.check_budget(run_id="waiter")
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT outcome, error_class, error_message, cost_pusd, cost_bound_pusd FROM attempts"
            " WHERE run_id = 'waiter'"
        ).fetchall()
        run = conn.execute("SELECT calls, unpriced_calls, cost_pusd, cost_bound_pusd FROM runs WHERE run_id = 'waiter'")
        run = run.fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    # before: [("error", "timeout", "...: no complete answer within the call's deadline of 300s (MAGSAG_CALL_DEADLINE)",
    # None, 5070000000)], the run's budget counting $0.00507 as an unknown cost
    why = (
        "openai:gpt-4o-mini: not sent within the call's deadline of 300s (MAGSAG_CALL_DEADLINE) (its request waited"
        " for a connection, all in use by other calls)"
    )
    assert rows == [("error", "timeout", why, 0, None)]
    said = failed.value.to_dict()
    assert (said["cost_usd"], said["cost_unknown"]) == ("0", False)  # the caller is told it cost nothing
    assert run == [(1, 0, 0, 0)]
    (limit,) = budget["limits"]
    assert (limit["spent_usd"], limit["unknown_cost_bound_usd"], limit["reserved_usd"]) == ("0", "0", "0")
    assert budget["cost_complete"] is True
    assert held == 0


async def test_the_connector_marks_an_attempt_only_where_it_opens_or_waits_for_a_connection(fake_openai: FakeOpenAI):
    # A request given a pooled connection at once (most are) goes through neither mark: a wrapper around the
    # connector's connect marked every request, one coroutine more each (some 3,500 instructions a call). Unmarked,
    # a request handed to aiohttp counts as having left (Sends.left), so one cut in flight on a pooled connection may
    # still be billed; one that opened its connection is marked given it.
    import aiohttp

    from magsag_mcp.deadline import Deadline
    from magsag_mcp.resolver import BoundedConnector
    from magsag_mcp.sends import Sends, sending

    url = fake_openai.url + "/v1/models"
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    marks = []
    async with aiohttp.ClientSession(connector=BoundedConnector(limit=1)) as session:
        for _ in range(2):
            sends = Sends()
            async with Deadline(30, sends):
                sending()
                async with session.get(url, headers=headers) as response:
                    await response.read()
            marks.append((sends.connecting, sends.connected, sends.left))
    assert marks == [(True, True, True), (False, False, True)]  # opened, then pooled: both may have left


async def test_a_call_cut_in_flight_on_a_pooled_connection_may_still_be_billed(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    # the second call's request takes the connection the first one left in the pool (nothing marks it): cancelled
    # while its answer is awaited, it is recorded as cut in flight, at its worst case, never as not sent
    fake_openai.queue(R.reply("first"), R.reply("held", hang=True))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    transport = Transport(limit=1, limit_per_host=1)
    async with Service.open(catalog=_catalog(catalog_copy), db=db, env=env, transport=transport) as svc:
        await svc.invoke_skill("skill.coding", PAYLOAD, run_id="first")
        await _cut_once_held(svc, fake_openai, 2)
    outcome, kind, cost, bound = _attempt_of(db, "r")
    assert (outcome, kind, cost) == ("error", "cancelled", None) and bound > 0


async def test_a_request_that_waited_for_a_slot_and_then_took_a_pooled_connection_counts_as_having_left(
    fake_openai: FakeOpenAI,
):
    # The wait for a slot marks the attempt as connecting; the slot given, aiohttp takes the connection another request
    # gave back to the pool, which no mark follows: the wait's return must clear the mark, or a request written on
    # that connection and then cut would be recorded as not sent, at no cost, though the vendor may bill it
    import aiohttp

    from magsag_mcp.deadline import Deadline
    from magsag_mcp.resolver import BoundedConnector
    from magsag_mcp.sends import Sends, sending

    fake_openai.queue(R.reply("held", hang=True))  # the pool's one connection, held until released
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    sends, marks = Sends(), []
    async with aiohttp.ClientSession(connector=BoundedConnector(limit=1)) as session:

        async def holder() -> None:
            async with session.post(fake_openai.url + "/v1/chat/completions", json=chat, headers=headers) as held:
                await held.read()

        async def waiter() -> None:
            async with Deadline(30, sends):
                sending()
                async with session.get(fake_openai.url + "/v1/models", headers=headers) as response:
                    await response.read()

        async with anyio.create_task_group() as tg:
            tg.start_soon(holder)
            with anyio.fail_after(60):  # a hang guard
                while not fake_openai.requests:
                    await anyio.sleep(0.01)
            tg.start_soon(waiter)
            await wait_all_tasks_blocked()
            marks.append((sends.connecting, sends.connected, sends.left))
            fake_openai.release()  # the held answer comes: its connection goes back to the pool, to the waiter
    marks.append((sends.connecting, sends.connected, sends.left))
    assert len(fake_openai.requests) == 2
    # waiting: none of it had left; then given the pooled connection and written: it may have left
    assert marks == [(True, False, False), (False, False, True)]
