"""The answer cache's single flight when the leading call stores no answer (answer_flights.py): it failed, was
cancelled or got an answer not kept, and the calls waiting for it do not all send at once: the first of them woken
leads the key in its place and sends, and the others wait for that one in turn, each still bounded by its own deadline
and cancelled only by its own caller, so that against a flaky upstream N identical calls pay for one failure and one
answer; the map of keys in flight is empty once the calls end, whichever way they ended."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.answer_flights import Flights
from magsag_mcp.retry import RetryPolicy
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.test_answer_flights import _call, service  # noqa: F401 (the fixture, as its tests open it)

pytestmark = pytest.mark.anyio

#: one try per target: the leader's failure ends its call (no retry of its own)
ONCE = RetryPolicy(tries_per_target=1, base_delay=0.001, max_delay=0.002)


class Turnstile:
    """Holds each request the fake server receives until :meth:`let` lets it through, one at a time; counts the calls
    waiting for another's flight (Flights.wait, patched)."""

    def __init__(self, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
        self.passes = asyncio.Semaphore(0)
        self.waiting = 0
        #: the tasks of the calls waiting now
        self.waiters: set[asyncio.Task[Any] | None] = set()
        self.fake = fake
        record = fake._record

        async def held(request: Any) -> Any:
            body = await record(request)
            await self.passes.acquire()
            return body

        monkeypatch.setattr(fake, "_record", held)
        wait = Flights.wait

        async def counted(flight: Any, seconds: float) -> bool:
            self.waiting += 1
            task = asyncio.current_task()
            self.waiters.add(task)
            try:
                return await wait(flight, seconds)
            finally:
                self.waiting -= 1
                self.waiters.discard(task)

        monkeypatch.setattr(Flights, "wait", staticmethod(counted))

    def let(self, requests: int = 1) -> None:
        for _ in range(requests):
            self.passes.release()

    async def until(self, requests: int, waiting: int) -> None:
        """Until the server got ``requests`` requests and ``waiting`` calls wait for a flight; failing at once should
        more requests come (what calls not waiting send)."""
        while len(self.fake.requests) != requests or self.waiting != waiting:
            assert len(self.fake.requests) <= requests, f"{len(self.fake.requests)} requests, {requests} expected"
            await asyncio.sleep(0.001)


def _from_cache(result: Any) -> bool:
    return result.cost_usd == Decimal(0) and any("answered from the cache" in w for w in result.warnings)


async def _five_calls_the_first_held(svc: Service, gate: Turnstile) -> tuple[Any, list[Any]]:
    leader = _call(svc)
    await gate.until(requests=1, waiting=0)
    waiters = [_call(svc) for _ in range(4)]
    await gate.until(requests=1, waiting=4)
    return leader, waiters


@pytest.fixture
def once(service: Service) -> None:  # noqa: F811
    service.cascade.retry = ONCE


async def test_a_failed_leader_hands_its_flight_to_one_waiter_and_the_others_are_answered_from_the_cache(
    service: Service,  # noqa: F811
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    once: None,
):
    gate = Turnstile(fake_openai, monkeypatch)
    fake_openai.queue(R.ErrorReply(500, "scripted: the server had an error", type="server_error"))
    leader, waiters = await _five_calls_the_first_held(service, gate)
    gate.let()  # the leader's request: 500
    with pytest.raises(E.MagsagError, match="scripted: the server had an error"):
        await leader
    await gate.until(requests=2, waiting=3)  # one waiter sent, the three others wait for it
    gate.let()
    answered = await asyncio.gather(*waiters)
    assert len(fake_openai.requests) == 2  # five calls: one failure and one answer paid for
    paid = [a for a in answered if not _from_cache(a)]
    assert len(paid) == 1 and paid[0].cost_usd > 0
    hits = [a for a in answered if _from_cache(a)]
    assert len(hits) == 3 and all(f"run {paid[0].run_id}" in " ".join(h.warnings) for h in hits)
    assert all(h.text == paid[0].text for h in hits)
    assert service.answers.flights.leading == {}


async def test_the_new_leaders_cancel_hands_the_flight_on_again(
    service: Service,  # noqa: F811
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    once: None,
):
    gate = Turnstile(fake_openai, monkeypatch)
    fake_openai.queue(R.ErrorReply(500, "scripted: the server had an error", type="server_error"))
    leader, waiters = await _five_calls_the_first_held(service, gate)
    gate.let()
    with pytest.raises(E.MagsagError):
        await leader
    await gate.until(requests=2, waiting=3)
    (new_leader,) = [w for w in waiters if w not in gate.waiters]  # (the one sending, which waits no more)
    new_leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await new_leader
    await gate.until(requests=3, waiting=2)  # the next waiter leads and sends; the two others wait for it
    gate.let(2)  # (the cancelled request's pass, which its server may still take, and the third's)
    rest = await asyncio.gather(*(w for w in waiters if w is not new_leader))
    assert len(fake_openai.requests) == 3
    assert sum(not _from_cache(r) for r in rest) == 1 and sum(_from_cache(r) for r in rest) == 2
    assert service.answers.flights.leading == {}


async def test_a_waiters_deadline_passes_while_the_new_leader_sends_and_the_others_are_answered(
    service: Service,  # noqa: F811
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    once: None,
):
    gate = Turnstile(fake_openai, monkeypatch)
    fake_openai.queue(R.ErrorReply(500, "scripted: the server had an error", type="server_error"))
    leader = _call(service)
    await gate.until(requests=1, waiting=0)
    waiters = [_call(service) for _ in range(2)]
    await gate.until(requests=1, waiting=2)
    service.cascade.retry = RetryPolicy(tries_per_target=1, deadline=0.3)  # (the last waiter's deadline)
    hasty = _call(service)
    await gate.until(requests=1, waiting=3)
    service.cascade.retry = ONCE
    gate.let()
    with pytest.raises(E.MagsagError):
        await leader
    with pytest.raises(E.MagsagError, match="deadline"):
        await hasty  # it waited for the new leader, no longer than its own deadline, and sent nothing
    assert len(fake_openai.requests) == 2 and not any(w.done() for w in waiters)
    gate.let()
    answered = await asyncio.gather(*waiters)
    assert [_from_cache(a) for a in answered].count(True) == 1 and len(fake_openai.requests) == 2
    assert service.answers.flights.leading == {}


async def test_a_new_leaders_answer_not_kept_hands_the_flight_on(
    service: Service,  # noqa: F811
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    once: None,
):
    gate = Turnstile(fake_openai, monkeypatch)
    fake_openai.queue(
        R.ErrorReply(500, "scripted: the server had an error", type="server_error"),
        R.Reply(text="cut", finish="length"),
    )
    leader, waiters = await _five_calls_the_first_held(service, gate)
    gate.let()
    with pytest.raises(E.MagsagError):
        await leader
    await gate.until(requests=2, waiting=3)
    gate.let()  # the new leader's answer, cut at max_tokens: not stored
    await gate.until(requests=3, waiting=2)  # the next leads; the last two still wait
    gate.let()
    answered = await asyncio.gather(*waiters)
    assert len(fake_openai.requests) == 3
    assert sorted(_from_cache(a) for a in answered) == [False, False, True, True]
    assert service.answers.flights.leading == {}
