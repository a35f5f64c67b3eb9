"""The answer cache's single flight (answer_flights.py): a call whose request another call of the same process is
sending now waits for it and is answered from the cache, as a hit of its own; a waiter's cancellation leaves the
leader alone; the leader's failure or cancellation hands its flight to one waiter, who sends; a waiter waits no longer
than its deadline; calls that cache nothing neither lead nor wait; and the map of keys in flight is empty once calls
end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.answer_flights import Flights
from magsag_mcp.retry import RetryPolicy
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts, Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.test_answer_cache import HOUR, _payload
from tests.test_attempt_cost import CATALOG

pytestmark = pytest.mark.anyio


@pytest.fixture
async def service(fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float) -> AsyncIterator[Service]:
    # a read timeout no held request meets on a loaded machine (open_service's 0.25 s cut the leader held at the gate,
    # which then sent again: the waiter's deadline test waits 0.2 s with it held)
    env = {
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
    }
    transport = Transport(timeouts=Timeouts(connect=5.0, read=120.0))
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "cost.db", env=env, transport=transport)
    yield svc
    await svc.aclose()


class Gate:
    """Holds every request the fake server receives until :meth:`open`; says when a call waits for another's flight
    (Flights.wait, patched)."""

    def __init__(self, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = asyncio.Event()
        self.waiting = 0
        self.fake = fake
        record = fake._record

        async def held(request: Any) -> Any:
            body = await record(request)
            await self.opened.wait()
            return body

        monkeypatch.setattr(fake, "_record", held)
        wait = Flights.wait

        async def counted(flight: Any, seconds: float) -> bool:
            self.waiting += 1
            try:
                return await wait(flight, seconds)
            finally:
                self.waiting -= 1

        monkeypatch.setattr(Flights, "wait", staticmethod(counted))

    def open(self) -> None:
        self.opened.set()

    async def until(self, requests: int, waiting: int = 0) -> None:
        """Until the server holds ``requests`` requests and ``waiting`` calls wait, or a second request came (what
        a call that did not wait sends)."""
        while (len(self.fake.requests) < requests or self.waiting < waiting) and len(self.fake.requests) <= requests:
            await asyncio.sleep(0.001)


def _call(svc: Service, *, context: Any = HOUR, agent: str = "ana") -> asyncio.Task[Any]:
    return asyncio.ensure_future(svc.invoke_skill("skill.analysis", _payload(), agent=agent, context=context))


def _hit_rows(db: Path, run_id: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT a.outcome, a.price_source, a.cost_pusd, h.saved_pusd, h.cached_from FROM attempts a"
            " JOIN cache_hits h ON h.run_id = a.run_id WHERE a.run_id = ?",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()


async def test_a_call_asking_what_another_is_sending_waits_and_is_answered_from_the_cache(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    gate = Gate(fake_openai, monkeypatch)
    leader = _call(service)
    await gate.until(requests=1)
    waiters = [_call(service) for _ in range(3)]
    await gate.until(requests=1, waiting=3)
    assert len(fake_openai.requests) == 1  # (no waiter sent: each waits for the leader's flight)
    gate.open()
    first = await leader
    answered = await asyncio.gather(*waiters)
    assert len(fake_openai.requests) == 1  # one request paid for, four callers answered
    assert first.cost_usd > 0
    for hit in answered:
        assert hit.text == first.text and hit.cost_usd == Decimal(0) and hit.run_id != first.run_id
        (note,) = [w for w in hit.warnings if "answered from the cache" in w]
        assert f"run {first.run_id}" in note
        (row,) = _hit_rows(tmp_path / "cost.db", hit.run_id)
        assert row[:3] == ("ok", "cache", 0) and row[4] == first.run_id
        assert Decimal(row[3]) / 10**12 == first.cost_usd  # what it saved: the leader's cost, exact
    assert (await service.summarize({}))["cache"]["hits"] == 3
    assert service.answers.flights.leading == {}


async def test_a_waiters_cancel_leaves_the_leader_alone(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    gate = Gate(fake_openai, monkeypatch)
    leader = _call(service)
    await gate.until(requests=1)
    waiter = _call(service)
    await gate.until(requests=1, waiting=1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not leader.done()
    gate.open()
    first = await leader  # answered, and stored
    assert first.cost_usd > 0 and len(fake_openai.requests) == 1
    assert service.answers.flights.leading == {}
    again = await _call(service)
    assert len(fake_openai.requests) == 1 and again.cost_usd == Decimal(0)


async def test_the_leaders_failure_hands_its_flight_to_one_waiter(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """Nothing stored: the first waiter woken sends, and the other waits for it (see
    test_answer_flights_handover.py for every way the new leader's call may end)."""
    gate = Gate(fake_openai, monkeypatch)
    fake_openai.queue(R.ErrorReply(400, "scripted bad request"))
    leader = _call(service)
    await gate.until(requests=1)
    waiters = [_call(service) for _ in range(2)]
    await gate.until(requests=1, waiting=2)
    gate.open()
    with pytest.raises(E.MagsagError, match="scripted bad request"):
        await leader
    first, second = await asyncio.gather(*waiters)
    assert len(fake_openai.requests) == 2  # one waiter sent; the other was answered by what it stored
    assert first.cost_usd > 0 and not any("from the cache" in w for w in first.warnings)
    assert second.cost_usd == Decimal(0) and any(f"run {first.run_id}" in w for w in second.warnings)
    assert service.answers.flights.leading == {}


async def test_the_leaders_cancel_wakes_the_waiters_who_send_themselves(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    gate = Gate(fake_openai, monkeypatch)
    leader = _call(service)
    await gate.until(requests=1)
    waiter = _call(service)
    await gate.until(requests=1, waiting=1)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    await gate.until(requests=2)  # woken, the waiter sent its own request
    assert gate.waiting == 0
    gate.open()
    answered = await waiter
    assert answered.cost_usd > 0 and len(fake_openai.requests) == 2
    assert service.answers.flights.leading == {}


async def test_a_waiter_waits_no_longer_than_its_deadline(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    gate = Gate(fake_openai, monkeypatch)
    leader = _call(service)
    await gate.until(requests=1)
    retry = service.cascade.retry
    service.cascade.retry = RetryPolicy(deadline=0.2)  # (the waiter's deadline; the leader's was set as it began)
    with pytest.raises(E.MagsagError, match="deadline"):
        await _call(service)
    service.cascade.retry = retry
    assert len(fake_openai.requests) == 1 and not leader.done()  # it sent nothing, and the leader goes on
    gate.open()
    led = await leader
    assert led.cost_usd is not None and led.cost_usd > 0, (led.warnings, [a.to_dict() for a in led.attempts])
    assert service.answers.flights.leading == {}


async def test_calls_that_cache_nothing_neither_lead_nor_wait(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    gate = Gate(fake_openai, monkeypatch)
    first = _call(service, context=None)
    await gate.until(requests=1)
    assert service.answers.flights.leading == {}
    second = _call(service, context={"cache_ttl": 0})
    await gate.until(requests=2)
    assert gate.waiting == 0 and service.answers.flights.leading == {}
    gate.open()
    await asyncio.gather(first, second)
    assert len(fake_openai.requests) == 2


async def test_another_agents_request_is_not_waited_for(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    gate = Gate(fake_openai, monkeypatch)
    ana = _call(service, agent="ana")
    await gate.until(requests=1)
    bob = _call(service, agent="bob")
    await gate.until(requests=2)
    assert gate.waiting == 0 and len(service.answers.flights.leading) == 2
    gate.open()
    await asyncio.gather(ana, bob)
    assert service.answers.flights.leading == {}


async def test_the_map_of_flights_is_empty_after_many_calls_however_they_ended(
    service: Service, fake_openai: FakeOpenAI
):
    fake_openai.queue(R.ErrorReply(400, "scripted bad request"), R.Reply(text="cut", finish="length"))
    with pytest.raises(E.MagsagError):
        await _call(service, agent="a")
    assert (await _call(service, agent="a")).text == "cut"  # (not stored)
    calls = [_call(service, agent=f"agent-{n % 5}") for n in range(20)]
    await asyncio.gather(*calls)
    assert service.answers.flights.leading == {}


async def test_a_leader_gone_on_to_a_target_not_cached_lands_the_one_it_left(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """The leader's first target failed and it went on to one whose answers are not cached (no key: the fake's, a
    provider with no wire): the key it left is landed then, not once its whole call ends, so its waiter sends at
    once rather than waiting on a target the leader is not sending any more."""
    gate = Gate(fake_openai, monkeypatch)
    fake_openai.queue(R.ErrorReply(404, "scripted: no such model", code="model_not_found"))
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 600_000}}
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o", "fallbacks": [slow]}}
    gone_on = asyncio.Event()

    def progress(event: str, data: Any) -> None:
        if event == "fallback":  # (said after the cascade passed the target's look-up)
            gone_on.set()

    leader = asyncio.ensure_future(
        service.invoke_skill("skill.analysis", payload, agent="ana", context=HOUR, progress=progress)
    )
    await gate.until(requests=1)
    waiter = _call(service)
    await gate.until(requests=1, waiting=1)
    gate.open()
    await gone_on.wait()
    await gate.until(requests=2)  # the waiter, woken, leads the key in the leader's place and sent its own
    assert gate.waiting == 0  # (the leader sleeps in the fake's target, leading nothing: none waits for it)
    assert len(service.answers.flights.leading) <= 1  # (the waiter's key, until its answer is stored)
    answered = await waiter
    assert answered.cost_usd > 0 and not leader.done()
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert service.answers.flights.leading == {}


async def test_a_waiter_is_not_answered_by_a_model_a_policy_forbade_while_it_waited(
    service: Service, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    """The policies allowed the target when the waiter began to wait; by the time the leader's answer is stored they
    forbid it (as an Azure deployment's answer naming a model a policy forbids does, "from now on"): the waiter is
    refused as any call to it now is, not answered from the cache."""
    gate = Gate(fake_openai, monkeypatch)
    leader = _call(service)
    await gate.until(requests=1)
    waiter = _call(service)
    await gate.until(requests=1, waiting=1)
    policies = service.governance.policies
    allowed = policies.allowed

    def forbids_gpt_4o(target: Any, data_class: Any) -> Any:
        if target.model == "gpt-4o":
            return False, "test_policy", "gpt-4o is forbidden from now on", "allowed_models"
        return allowed(target, data_class)

    monkeypatch.setattr(policies, "allowed", forbids_gpt_4o)
    gate.open()
    assert (await leader).cost_usd > 0  # (sent before the policy said so: its answer is stored)
    with pytest.raises(E.PolicyDenied, match="forbidden from now on"):
        await waiter
    assert len(fake_openai.requests) == 1 and service.answers.flights.leading == {}
