"""What a call holds across calls (a request cap's slot, the circuit breaker's probe of a target) is given back on
every way out of a try, not only the ways a provider's answer or error takes: a reservation refused by a locked
ledger, a call cancelled while its reservation is written or while its request is in flight, a progress callback
that raises. A slot kept was kept for good (a target capped at 1 never sent again); a probe kept left every call
passing the target over until the first call's deadline (300s by default)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade_caps import request_caps
from magsag_mcp.request_caps import RequestCap
from magsag_mcp.types import Target
from tests.cascade_helpers import NoPolicies, make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

WITH_FALLBACK = {"model": "fake:a", "fallbacks": ["fake:b"]}


class FailsAdmission(NoPolicies):
    """A guard whose admission of ``model`` raises ``exc`` (once): the others are admitted at no reservation."""

    def __init__(self, model: str, exc: BaseException) -> None:
        self.model, self.exc = model, exc

    async def admit(self, ctx):
        if ctx.target.model == self.model and self.exc is not None:
            exc, self.exc = self.exc, None
            raise exc
        return object()

    async def settle(self, admission, actual_cost, bound=None) -> None: ...

    async def release(self, admission) -> None: ...

    def waiting(self, admission) -> None: ...


def _capped(cascade, model: str = "a", most: int = 1):
    cascade.caps = request_caps((RequestCap(f"fake:{model}", "fake", model, most, None, "routing/t.yaml: x"),))
    return cascade.caps.of(Target("fake", model))


def _down(n: int) -> list[E.ProviderError]:
    return [E.ServerError("fake:a: HTTP 500: internal error", status=500) for _ in range(n)]


async def _tripped(cascade, clock):
    """a's breaker opened (three calls in a row failed at it by a 500, b answering each), its cooldown over: the next
    call probes."""
    for _ in range(3):
        await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)
    clock.now += 30.0


@pytest.mark.parametrize("raised", [asyncio.CancelledError(), RuntimeError("a bug in a guard")])
async def test_a_slot_is_given_back_when_the_admission_is_cancelled_or_raises(raised):
    from magsag_mcp.providers.fake import script

    script("a", "one", "two")
    cascade, _ = make(tries=1)
    pool = _capped(cascade)
    cascade.guard = FailsAdmission("a", raised)
    with pytest.raises(type(raised)):
        await cascade.run(plan({"model": "fake:a"}), run_id="r1", agent=None)
    assert pool.in_flight == 0  # held, the cap of 1 was reached for good: no call sent it again
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert out.result.text == "one"


def _probe_free(cascade, clock) -> bool:
    """Whether the next call would probe a (not pass it over as another call's probe)."""
    return cascade.rests.resting(Target("fake", "a"), clock.now) is None


async def test_a_probe_whose_reservation_a_locked_ledger_refused_is_the_next_calls():
    from magsag_mcp.providers.fake import script

    script("a", *_down(3), "a is back")
    script("b", *["from b"] * 5)
    cascade, clock = make(tries=1)
    await _tripped(cascade, clock)
    cascade.guard = FailsAdmission("a", E.LedgerError("the ledger is locked by another process"))
    with pytest.raises(E.LedgerError):
        await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)
    assert _probe_free(cascade, clock)
    out = await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)
    assert out.result.text == "a is back"


async def test_a_probe_cancelled_in_flight_is_the_next_calls():
    from magsag_mcp.providers.fake import script

    script("a", *_down(3), asyncio.CancelledError(), "a is back")
    script("b", *["from b"] * 5)
    cascade, clock = make(tries=1)
    await _tripped(cascade, clock)
    with pytest.raises(asyncio.CancelledError):
        await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)
    assert _probe_free(cascade, clock)  # (its answer never comes: the next call probes, not after 300s)
    out = await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)
    assert out.result.text == "a is back"


@pytest.mark.parametrize("event", ["attempt", "fallback", "delta"])
async def test_a_probe_whose_progress_callback_raised_is_the_next_calls(event):
    from magsag_mcp.providers.fake import script

    script("a", *_down(3), "ignored", "a is back")
    script("b", *["from b"] * 5)
    chain = WITH_FALLBACK if event != "fallback" else {"model": "fake:b", "fallbacks": ["fake:a"]}
    cascade, clock = make(tries=1)
    await _tripped(cascade, clock)
    if event == "fallback":
        from magsag_mcp.providers.fake import _SCRIPTS

        # b fails this call's first try (its next step, put ahead of its answers): the call falls back to a
        _SCRIPTS["b"].appendleft(E.ServerError("fake:b: HTTP 503: overloaded", status=503))

    async def progress(name, data):
        if name == event and (name != "fallback" or data.get("to") == "fake:a"):
            raise ValueError("the caller's callback broke")

    with pytest.raises(ValueError, match="callback broke"):
        await cascade.run(plan(chain), run_id="r", agent=None, progress=progress)
    assert _probe_free(cascade, clock)


async def test_a_bug_describing_a_failed_try_keeps_no_slot(monkeypatch):
    # a bug of ours after the provider's error (here, pricing it) fails the call; its slot is back all the same
    from magsag_mcp import cascade_failed as cascade_module  # (where a failed try is priced)
    from magsag_mcp.providers.fake import script

    script("a", *_down(1), "a answers")
    cascade, _ = make(tries=1)
    pool = _capped(cascade)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug pricing the failure")

    monkeypatch.setattr(cascade_module, "price_failure", broken)
    with pytest.raises(RuntimeError, match="a bug pricing"):
        await cascade.run(plan({"model": "fake:a"}), run_id="r1", agent=None)
    assert pool.in_flight == 0


async def test_a_probe_handed_on_is_not_taken_back_from_the_call_that_took_it():
    # The probe's first try reached nothing (a limit of the client's, no server named a wait): the probe goes to the
    # next call, which takes it while this call waits to retry. This call then cancelled, the
    # other's probe is its own still: taken back, a third call probed it at once beside it.
    from magsag_mcp.providers.fake import script

    script("a", *_down(3))
    script("b", *["from b"] * 3)
    cascade, clock = make(tries=1)
    await _tripped(cascade, clock)
    cascade.retry = dataclasses.replace(cascade.retry, tries_per_target=2)  # (the probe's call retries what it may)
    overloaded = E.RateLimitError("fake:a: not sent, the pool full")  # (no wait named: backoff)
    overloaded.reached = False  # type: ignore[misc]
    script("a", overloaded, asyncio.CancelledError())
    target = Target("fake", "a")
    other = object()  # (the other call, as the cascade names it: by its CascadeState)

    async def sleep(seconds):
        clock.now += seconds
        assert cascade.rests.resting(target, clock.now, probe=other) is None  # another call takes the probe

    cascade.sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert cascade.rests.probing(target, other)  # the other call's probe, still its own
