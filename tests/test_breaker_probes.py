"""The circuit breaker's probe among concurrent calls (target_rests.py, cascade.py): only the call that took the probe
decides it by a failure. Another call that sends the target meanwhile (one with no other target, sent all the same)
neither closes the breaker by a refusal of its own request nor opens it again by its failure, which before left the
probing call's failure unnoted as a probe (retried, a probe being one request) and doubled the next rest. A probe whose
server named a wait longer than the reopened rest is not retried after that wait: the breaker opens again, for the
server's wait, and the call moves on."""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.breaker import BreakerPolicy
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.http_errors import error_for
from magsag_mcp.types import Target
from tests.cascade_helpers import make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

WITH_FALLBACK = {"model": "fake:a", "fallbacks": ["fake:b"]}
ALONE = {"model": "fake:a"}
A = Target("fake", "a")


def _down(n: int) -> list[E.ProviderError]:
    return [E.ServerError("fake:a: HTTP 500: internal error", status=500) for _ in range(n)]


class _Try:
    """One try of fake:a: ``started`` set as it is sent; it answers or raises ``outcome`` once ``release`` is set."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.started = anyio.Event()
        self.release = anyio.Event()


class _HeldTries:
    """fake:a's tries held in flight until the test releases each, so that calls overlap as they do in a server."""

    def __init__(self, cascade) -> None:
        provider = cascade.providers.get("fake")
        self.complete = provider.complete
        self.tries: deque[_Try] = deque()
        provider.complete = self._complete  # (this instance's, for this cascade alone)

    def then(self, outcome: Any) -> _Try:
        held = _Try(outcome)
        self.tries.append(held)
        return held

    async def _complete(self, request, target, *, progress=None):
        if target.model == "a" and self.tries:
            held = self.tries.popleft()
            held.started.set()
            await held.release.wait()
            script("a", held.outcome)
        return await self.complete(request, target, progress=progress)


async def _opened(cascade, clock) -> None:
    """a's breaker opened by three calls in a row that it failed, each its tries (b answering each), its cooldown
    over."""
    script("a", *_down(3 * cascade.retry.tries_per_target))
    script("b", *["from b"] * 10)
    for _ in range(3):
        await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)
    clock.now += 30.0


async def _outcome(call, into: list) -> None:
    try:
        into.append(await call)
    except E.ProviderError as exc:
        into.append(exc)


async def _during_the_probe(cascade, probe: Any, other: Any, *, retry: Any = None, meanwhile=None) -> tuple[Any, Any]:
    """A call with a fallback takes the probe of a, its try held in flight; a call with a alone sends it all the same
    and ends on ``other``; then ``meanwhile`` (awaited) while the probe is still in flight; then the probe ends on
    ``probe`` (and a retry of it, if any, on ``retry``). The probing call's outcome and the other's (a result or the
    error it raised)."""
    held = _HeldTries(cascade)
    probe_try, other_try = held.then(probe), held.then(other)
    if retry is not None:
        held.then(retry).release.set()
    probing, sent_anyway = [], []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_outcome, cascade.run(plan(WITH_FALLBACK), run_id="probe", agent=None), probing)
        await probe_try.started.wait()
        tg.start_soon(_outcome, cascade.run(plan(ALONE), run_id="other", agent=None), sent_anyway)
        await other_try.started.wait()
        other_try.release.set()
        while not sent_anyway:
            await anyio.sleep(0)
        if meanwhile is not None:
            await meanwhile()
        probe_try.release.set()
    return probing[0], sent_anyway[0]


async def test_another_calls_failure_during_the_probe_does_not_reopen_it_for_the_probing_call():
    # The probe in flight, a call with a alone sends it all the same and meets a 500: before, that failure was taken
    # for the probe's (the breaker opened again, its warning saying "its probe failed"), and the probe's own 500 was
    # then no probe's: retried (tries=2), a second request to a down server, and the rest after was 60s from the
    # other call's trip, not the probe's.
    cascade, clock = make(tries=2)
    await _opened(cascade, clock)
    out, failed = await _during_the_probe(
        cascade,
        E.ServerError("fake:a: HTTP 500: still down", status=500),
        E.ServerError("fake:a: HTTP 500: down for the other call too", status=500),
    )
    assert [a.outcome for a in failed.attempts] == ["skipped", "error"]
    assert "another call is sending it now" in failed.attempts[0].error_message
    assert not any("circuit breaker opened again" in w for a in failed.attempts for w in a.warnings)
    assert [(a.model, a.attempt_number, a.outcome) for a in out.attempts] == [("a", 1, "error"), ("b", 1, "ok")]
    assert out.attempts[0].warnings[-1].startswith(
        "fake:a: its probe failed, and the circuit breaker opened again: not retried; the calls that follow leave "
        "it alone for 60s, then one call sends it"
    )
    skipped = await cascade.run(plan(WITH_FALLBACK), run_id="after", agent=None)
    assert "alone 0s ago for 60s (its 2 trips since it last answered doubling it)" in skipped.attempts[0].error_message


async def test_another_calls_request_refused_during_the_probe_does_not_close_it():
    # A 400 (the other call's request at fault) said nothing of whether a was well, yet closed the breaker: the
    # calls after it sent a again while the probe was still in flight. It stays the probe's to decide.
    cascade, clock = make(tries=1)
    await _opened(cascade, clock)

    async def meanwhile():
        out = await cascade.run(plan(WITH_FALLBACK), run_id="meanwhile", agent=None)
        assert [(a.model, a.outcome) for a in out.attempts] == [("a", "skipped"), ("b", "ok")]
        assert "another call is sending it now" in out.attempts[0].error_message

    refused = E.BadRequestError("fake:a: HTTP 400: the other call's bad request", status=400)
    out, other = await _during_the_probe(cascade, "a is back", refused, meanwhile=meanwhile)
    assert isinstance(other, E.BadRequestError)
    assert out.result.text == "a is back"
    script("a", "a answers")  # the probe's answer closed it: sent as any target
    assert [a.outcome for a in (await cascade.run(plan(WITH_FALLBACK), run_id="r", agent=None)).attempts] == ["ok"]


async def test_another_calls_answer_during_the_probe_closes_it_and_the_probes_failure_then_counts_as_a_call():
    # An answer is the proof the probe waits for, whichever call got it: the target is up, and the calls after it
    # send it. The probe's own failure afterwards is then one call's failure at a closed breaker (retried as any).
    cascade, clock = make(tries=2)
    await _opened(cascade, clock)
    out, answered = await _during_the_probe(
        cascade,
        E.ServerError("fake:a: HTTP 500: a bad moment", status=500),
        "answered the other call",
        retry="its retry answers",
    )
    assert answered.result.text == "answered the other call"
    assert out.result.text == "its retry answers"
    assert [(a.attempt_number, a.outcome) for a in out.attempts] == [(1, "error"), (2, "ok")]
    assert cascade.rests.resting(A, clock.now) is None and not cascade.rests.failing


async def test_a_probes_503_naming_a_longer_wait_opens_it_again_for_that_wait_and_is_not_retried():
    # Its server's Retry-After (15s) outlasting the reopened rest (10s): before, the wait replaced the breaker's rest
    # and the probe was a call like any other, waiting the 15s on its last target and sending again.
    cascade, clock = make(tries=3)
    cascade.rests.breaker = BreakerPolicy(failures=3, cooldown=5.0)
    await _opened(cascade, clock)
    busy = error_for(503, "overloaded, come back later", headers={"Retry-After": "15"}, provider="fake", model="a")
    script("a", busy, "not sent")
    sleeps = len(clock.sleeps)
    with pytest.raises(E.OverloadedError) as info:
        await cascade.run(plan(ALONE), run_id="probe", agent=None)
    assert len(clock.sleeps) == sleeps and [a.outcome for a in info.value.attempts] == ["error"]
    assert info.value.attempts[0].warnings[-1] == (
        "fake:a: its probe failed, and the circuit breaker opened again: not retried; the calls that follow leave "
        "it alone for 15s, the wait its server asked for, then one call sends it (MAGSAG_BREAKER_FAILURES=3, "
        "MAGSAG_BREAKER_COOLDOWN=5)"
    )
    clock.now += 11.0  # past the breaker's 10s, within the server's 15s
    out = await cascade.run(plan(WITH_FALLBACK), run_id="later", agent=None)
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "skipped"), ("b", "ok")]
    assert (
        "the circuit breaker left it alone 11s ago for 15s (the wait its server asked for, longer than the "
        "breaker's 10s), after 4 calls in a row" in out.attempts[0].error_message
    )
    clock.now += 4.0  # the wait over: one call probes it
    out = await cascade.run(plan(WITH_FALLBACK), run_id="probe2", agent=None)
    assert out.result.text == "not sent" and [a.outcome for a in out.attempts] == ["ok"]


async def test_a_probes_429_closes_it_and_its_wait_is_a_rate_limits():
    # A 429 is a limit, not a server unwell: the probe's 429 closes the breaker (its server answered), and its wait
    # is then waited out on the call's last target as any 429's is, once it fits the retry cap
    cascade, clock = make(tries=2)
    await _opened(cascade, clock)
    limited = error_for(429, "slow down", headers={"Retry-After": "3"}, provider="fake", model="a")
    script("a", limited, "after the wait")
    out = await cascade.run(plan(ALONE), run_id="probe", agent=None)
    assert out.result.text == "after the wait" and [a.outcome for a in out.attempts] == ["error", "ok"]
    assert clock.sleeps[-1] >= 3.0 and not cascade.rests.failing


async def test_a_probing_call_cancelled_after_its_probe_was_closed_and_taken_again_leaves_the_new_probe_alone():
    # The probe's try long in flight: another call's answer closes the breaker, three calls then open it again, and,
    # its cooldown over, a second call takes the new probe. The first call cancelled now was no longer the probe:
    # before, its way out handed on whatever probe the target had (the second call's), and a third call probed it
    # beside the second, two requests at a server the breaker had left alone.
    cascade, clock = make(tries=1)
    await _opened(cascade, clock)
    held = _HeldTries(cascade)
    first_try, answered_try = held.then("never answered"), held.then("a answers the other call")
    answered_try.release.set()
    first = anyio.CancelScope()

    async def probing_first() -> None:
        with first:
            await cascade.run(plan(WITH_FALLBACK), run_id="first", agent=None)

    async with anyio.create_task_group() as tg:
        tg.start_soon(probing_first)
        await first_try.started.wait()
        out = await cascade.run(plan(ALONE), run_id="answered", agent=None)  # (sent once: an answer closes it)
        assert out.result.text == "a answers the other call" and not cascade.rests.failing
        script("a", *_down(3))
        for _ in range(3):  # (b answering each)
            await cascade.run(plan(WITH_FALLBACK), run_id="down", agent=None)
        clock.now += 30.0
        second_try = held.then("a is back")
        seconds = []
        tg.start_soon(_outcome, cascade.run(plan(WITH_FALLBACK), run_id="second", agent=None), seconds)
        await second_try.started.wait()
        first.cancel()
        while not first.cancelled_caught:
            await anyio.sleep(0)
        meanwhile = await cascade.run(plan(WITH_FALLBACK), run_id="third", agent=None)
        assert [(a.model, a.outcome) for a in meanwhile.attempts] == [("a", "skipped"), ("b", "ok")]
        assert "another call is sending it now" in meanwhile.attempts[0].error_message
        second_try.release.set()
    assert seconds[0].result.text == "a is back"


async def test_a_probe_cut_by_its_calls_deadline_is_the_next_calls_not_an_answer():
    # The probe's request left and no answer came before the call's own deadline (the caller's time, which says
    # nothing of the server: see breaker.unwell). Before, that cut was taken for its server's answer (a 400's, a
    # 429's): the breaker closed, and the next call sent the down server as a healthy one, retries and all. It is
    # handed on, as a probe whose call was cancelled is: the next call probes it, once.
    cascade, clock = make(tries=2)
    await _opened(cascade, clock)
    cascade.retry = dataclasses.replace(cascade.retry, deadline=0.2)  # (the cut: real time, the try held)
    held = _HeldTries(cascade)
    held.then("never answered")
    out = await cascade.run(plan(WITH_FALLBACK), run_id="cut", agent=None)
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "error"), ("b", "ok")]
    assert "within the call's deadline" in out.attempts[0].error_message
    assert cascade.rests.failing  # (its calls in a row not forgotten: no answer came)
    cascade.retry = dataclasses.replace(cascade.retry, deadline=300.0)
    script("a", E.ServerError("fake:a: HTTP 500: still down", status=500), "not sent")
    out = await cascade.run(plan(WITH_FALLBACK), run_id="next", agent=None)
    assert [(a.model, a.attempt_number, a.outcome) for a in out.attempts] == [("a", 1, "error"), ("b", 1, "ok")]
    assert out.attempts[0].warnings[-1].startswith("fake:a: its probe failed, and the circuit breaker opened again")


async def test_the_wait_a_probes_503_named_is_waited_out_by_a_call_with_no_other_target():
    # The breaker's rest lengthened to the 503's Retry-After is its server's word, not the breaker's guess: a call
    # with no other target waits the rest of it out, as it waits out any wait its server named. Before, it was taken
    # for the breaker's own cooldown and sent at once, "all the same", into the wait the server had just asked for.
    cascade, clock = make(tries=3)
    cascade.rests.breaker = BreakerPolicy(failures=3, cooldown=5.0)
    await _opened(cascade, clock)
    busy = error_for(503, "overloaded, come back later", headers={"Retry-After": "15"}, provider="fake", model="a")
    script("a", busy)
    with pytest.raises(E.OverloadedError):
        await cascade.run(plan(ALONE), run_id="probe", agent=None)
    clock.now += 11.0  # past the breaker's 10s, within the server's 15s
    script("a", "after the server's wait")
    sleeps = len(clock.sleeps)
    out = await cascade.run(plan(ALONE), run_id="alone", agent=None)
    assert out.result.text == "after the server's wait"
    assert [a.outcome for a in out.attempts] == ["skipped", "ok"]
    [waited] = clock.sleeps[sleeps:]
    assert 4.0 <= waited < 5.0  # (the 4s left of the server's wait, and the jitter added to a named wait)
    assert not any("sent all the same" in w for w in out.attempts[0].warnings)
