"""The circuit breaker (breaker.py, target_rests.py): a target whose server is unwell, failing call after call (each
call counted once, whatever its tries), is left alone by the calls that follow for a cooldown, probed by one call when
it is over, and sent all the same, once, by a call with nothing else left; its settings refused as the other MAGSAG_*
settings are."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.breaker import BreakerPolicy, breaker_policy_from_env, unwell
from magsag_mcp.settings import READ_VARIABLES, refused_at_open
from magsag_mcp.target_rests import TargetRests
from magsag_mcp.types import Target
from tests.cascade_helpers import make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

WITH_FALLBACK = {"model": "fake:a", "fallbacks": ["fake:b"]}


def _down(n: int) -> list[E.ProviderError]:
    return [E.ServerError("fake:a: HTTP 500: internal error", status=500) for _ in range(n)]


async def _call(cascade, model_config=WITH_FALLBACK, run_id="r"):
    return await cascade.run(plan(model_config), run_id=run_id, agent=None)


async def test_three_calls_failed_in_a_row_leave_the_target_alone_and_the_next_calls_skip_it_at_no_cost():
    # one try per target: each call sends a once, then b answers; the third call a failed in a row opens the breaker
    from magsag_mcp.providers.fake import _SCRIPTS, script

    script("a", *_down(3), "a is back")
    script("b", *["from b"] * 5)
    cascade, clock = make(tries=1)
    for _ in range(3):
        out = await _call(cascade)
        assert out.result.text == "from b" and [a.outcome for a in out.attempts] == ["error", "ok"]
    assert any("opened the circuit breaker" in w for w in out.attempts[0].warnings)
    clock.now += 5.0
    out = await _call(cascade)
    skipped, answered = out.attempts
    assert (skipped.outcome, skipped.cost_usd, skipped.error_class, answered.outcome) == (
        "skipped",
        0,
        "skipped",
        "ok",
    )
    assert skipped.error_message.startswith(
        "fake:a: not sent: the circuit breaker left it alone 5s ago for 30s, after 3 calls in a row that it failed "
        "with an error saying its server is unwell (server_error), 25s of that left; then one call sends it "
        "(MAGSAG_BREAKER_FAILURES=3, MAGSAG_BREAKER_COOLDOWN=30); it said: fake:a: HTTP 500: internal error"
    )
    assert skipped.warnings[0] == skipped.error_message  # the result's warnings say why b answered
    assert list(_SCRIPTS["a"]) == ["a is back"]  # not sent: its next step still queued
    assert clock.sleeps == []


async def test_the_cooldown_over_one_call_probes_an_answer_closes_it_and_a_failure_opens_it_twice_as_long():
    from magsag_mcp.providers.fake import script

    script("a", *_down(3), *_down(1), "a is back", *_down(1))
    script("b", *["from b"] * 10)
    cascade, clock = make(tries=1)
    for _ in range(3):
        await _call(cascade)
    clock.now += 30.0
    probe = await _call(cascade)  # its failure opens it again, for 60s, and the probe is not retried
    assert [(a.model, a.outcome) for a in probe.attempts] == [("a", "error"), ("b", "ok")]
    assert (
        "its probe failed, and the circuit breaker opened again: not retried; the calls that follow leave it "
        "alone for 60s" in probe.attempts[0].warnings[-1]
    )
    clock.now += 59.0
    assert [a.outcome for a in (await _call(cascade)).attempts] == ["skipped", "ok"]
    clock.now += 1.0
    out = await _call(cascade)
    assert out.result.text == "a is back" and [a.outcome for a in out.attempts] == ["ok"]
    # closed: its count starts again from nothing, one failure opens nothing
    assert [a.outcome for a in (await _call(cascade)).attempts] == ["error", "ok"]
    script("a", "a again")
    assert (await _call(cascade)).result.text == "a again"


async def test_an_answer_between_failures_resets_the_count():
    from magsag_mcp.providers.fake import script

    script("a", *_down(2), "fine", *_down(2), "still fine")
    script("b", *["from b"] * 5)
    cascade, _ = make(tries=1)
    kinds = [[a.outcome for a in (await _call(cascade)).attempts] for _ in range(5)]
    assert kinds == [["error", "ok"], ["error", "ok"], ["ok"], ["error", "ok"], ["error", "ok"]]
    assert (await _call(cascade)).result.text == "still fine"  # two in a row since its answer: not left alone


@pytest.mark.parametrize(
    "error",
    [
        E.BadRequestError("bad", status=400),
        E.AuthenticationError("key", status=401),
        E.ModelNotFoundError("no such model", status=404),
        E.ContentFilteredError("filtered", status=400),
        E.ContextTooLongError("too long", status=400),
        E.RateLimitError("slow down", status=429),
        E.ServerError("conflict", status=409),
        E.MalformedResponseError("not json", status=200),
    ],
    ids=lambda e: f"{e.kind}-{e.status}",
)
def test_the_requests_or_the_configurations_fault_is_not_the_server_being_unwell(error):
    assert not unwell(error)
    rests = TargetRests(BreakerPolicy(failures=1))
    target = Target("fake", "a")
    assert rests.note(target, error, 0.0) == "" and rests.gave_up(target, error, 0.0) == ""
    assert rests.resting(target, 1.0) is None and not rests.failing


def test_what_says_a_server_is_unwell():
    timeout = E.ProviderTimeoutError("no answer in 120s", timeout_s=120.0)
    deadline = E.ProviderTimeoutError("no complete answer within the call's deadline")
    deadline.call_deadline = True
    untrusted = E.ProviderConnectionError("certificate")
    untrusted.retryable = False  # type: ignore[misc]  # (as the transport marks it: only the configuration clears it)
    assert unwell(E.ServerError("boom", status=500)) and unwell(E.OverloadedError("busy", status=503))
    assert unwell(timeout) and unwell(E.ProviderConnectionError("refused")) and unwell(E.NameLookupTimeoutError("dns"))
    assert not unwell(deadline) and not unwell(untrusted)


async def test_with_no_other_target_left_it_is_sent_all_the_same_once_without_retries():
    # a call with the resting target alone is not failed blindly: one request, at once, without its retries
    from magsag_mcp.providers.fake import script

    # (three calls of three tries each, the third call's last try opening the breaker: the count is of calls)
    script("a", *_down(9), *_down(1), "answered all the same")
    cascade, clock = make(tries=3)
    for _ in range(3):
        with pytest.raises(E.ServerError) as info:
            await _call(cascade, {"model": "fake:a"})
        assert [a.attempt_number for a in info.value.attempts] == [1, 2, 3]
    assert "3 calls in a row that it failed" in info.value.attempts[-1].warnings[-1]
    clock.now += 1.0
    sleeps = len(clock.sleeps)
    with pytest.raises(E.ServerError) as info:
        await _call(cascade, {"model": "fake:a"})
    assert [a.outcome for a in info.value.attempts] == ["skipped", "error"] and len(clock.sleeps) == sleeps
    assert "sent all the same, once and without retries" in info.value.attempts[0].warnings[1]
    clock.now += 1.0
    out = await _call(cascade, {"model": "fake:a"})
    assert out.result.text == "answered all the same" and [a.outcome for a in out.attempts] == ["skipped", "ok"]
    script("a", "closed")  # its answer closed the breaker: the next call sends it as any other
    assert [a.outcome for a in (await _call(cascade, {"model": "fake:a"})).attempts] == ["ok"]


async def test_a_call_is_counted_by_its_last_failure_at_the_target():
    # a 500 then a 400 (the request's fault, which ends the call): the call gave the target up for the 400, which
    # says nothing of its server, so nothing is counted; a 429 then two 500s: counted, and with a count of 1 it opens
    from magsag_mcp.providers.fake import script

    script("a", *_down(1), E.BadRequestError("fake:a: HTTP 400: bad", status=400), "a answers")
    cascade, _ = make(tries=3)
    cascade.rests.breaker = BreakerPolicy(failures=1)
    with pytest.raises(E.BadRequestError):
        await _call(cascade, {"model": "fake:a"})
    out = await _call(cascade, {"model": "fake:a"})
    assert out.result.text == "a answers" and [a.outcome for a in out.attempts] == ["ok"]
    script("a", E.RateLimitError("fake:a: HTTP 429", status=429), *_down(2), "a answers again")
    with pytest.raises(E.ServerError) as info:
        await _call(cascade, {"model": "fake:a"})
    assert "1 call in a row that it failed" in info.value.attempts[-1].warnings[-1]
    assert not any("circuit breaker" in w for a in info.value.attempts[:-1] for w in a.warnings)
    out = await _call(cascade, {"model": "fake:a"})
    assert [a.outcome for a in out.attempts] == ["skipped", "ok"]  # left alone: sent once, no other target


async def test_a_target_left_for_the_next_and_come_back_to_counts_once_in_its_call():
    # a's 503 (an overload, retried only on the last target) leaves it for b, which a budget refuses: a is come back
    # to, and fails again. One call gave it up, whatever its two give-ups: a count of 2 is not reached
    from magsag_mcp.providers.fake import script
    from tests.cascade_helpers import RefusesModel

    busy = [E.OverloadedError("fake:a: HTTP 503: overloaded", status=503) for _ in range(2)]
    script("a", *busy, "a answers")
    cascade, _ = make(tries=2)
    cascade.rests.breaker = BreakerPolicy(failures=2)
    cascade.guard = RefusesModel("b")
    with pytest.raises(E.OverloadedError) as info:
        await _call(cascade)
    assert [(a.model, a.outcome) for a in info.value.attempts] == [
        ("a", "error"),
        ("b", "budget_exceeded"),
        ("a", "error"),
    ]
    assert not any("circuit breaker" in w for a in info.value.attempts for w in a.warnings)
    out = await _call(cascade, {"model": "fake:a"})
    assert out.result.text == "a answers" and [a.outcome for a in out.attempts] == ["ok"]


async def test_a_target_left_on_a_rate_limit_and_come_back_to_is_counted_by_its_failure_then():
    # a's 429 (a limit, which says nothing of its server) leaves it for b, which a budget refuses: a is come back to,
    # and fails with a 500. The call gave a up on that 500, its last failure there, as a call whose tries met a 429
    # then a 500 without leaving it is: one call counted, and with a count of 1 the breaker opens
    from magsag_mcp.providers.fake import script
    from tests.cascade_helpers import RefusesModel

    script("a", E.RateLimitError("fake:a: HTTP 429", status=429), *_down(1), "a answers")
    cascade, _ = make(tries=2)
    cascade.rests.breaker = BreakerPolicy(failures=1)
    cascade.guard = RefusesModel("b")
    with pytest.raises(E.ServerError) as info:
        await _call(cascade)
    assert [(a.model, a.outcome) for a in info.value.attempts] == [
        ("a", "error"),
        ("b", "budget_exceeded"),
        ("a", "error"),
    ]
    assert "1 call in a row that it failed" in info.value.attempts[-1].warnings[-1]
    out = await _call(cascade, {"model": "fake:a"})
    assert [a.outcome for a in out.attempts] == ["skipped", "ok"]  # left alone: sent once, no other target


async def test_a_call_giving_up_on_two_targets_of_one_model_and_endpoint_counts_once_there():
    # a route may list one model twice with other params (a reasoning effort, a temperature): the breaker keeps one
    # count for the model at its endpoint, and a call that gave up on both failed there once, not twice. Before, one
    # call opened a breaker of MAGSAG_BREAKER_FAILURES=2, its warning saying "2 calls in a row"
    import dataclasses

    from magsag_mcp.providers.fake import script

    script("a", *_down(4), "a answers")
    script("b", *["from b"] * 3)
    cascade, _ = make(tries=1)
    cascade.rests.breaker = BreakerPolicy(failures=2)
    twice = plan(WITH_FALLBACK)
    other_params = Target("fake", "a", params=(("temperature", 0.2),))
    twice.candidates.insert(1, dataclasses.replace(twice.candidates[0], target=other_params))
    out = await cascade.run(twice, run_id="r1", agent=None)
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "error"), ("a", "error"), ("b", "ok")]
    assert not any("circuit breaker" in w for a in out.attempts for w in a.warnings)
    out = await _call(cascade)  # a is sent: one call failed there so far
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "error"), ("b", "ok")]
    assert "2 calls in a row that it failed" in out.attempts[0].warnings[-1]  # the second call opens it
    assert [(a.model, a.outcome) for a in (await _call(cascade)).attempts] == [("a", "skipped"), ("b", "ok")]


async def test_a_call_whose_other_targets_all_fail_comes_back_to_the_resting_one():
    from magsag_mcp.providers.fake import script

    script("a", *_down(3), "a saves the call")
    script("b", *["from b"] * 3, E.ServerError("fake:b: HTTP 500", status=500))
    cascade, clock = make(tries=1)
    for _ in range(3):
        await _call(cascade)
    clock.now += 1.0
    out = await _call(cascade)
    assert out.result.text == "a saves the call"
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "skipped"), ("b", "error"), ("a", "ok")]
    assert clock.sleeps == []


async def test_while_one_call_probes_the_others_pass_it_over():
    rests = TargetRests(BreakerPolicy(failures=1, cooldown=10.0), probe_hold=60.0)
    target = Target("fake", "a")
    assert rests.note(target, E.ServerError("boom", status=502), 0.0) == ""  # a try: counted once the call gives up
    assert rests.gave_up(target, E.ServerError("boom", status=502), 0.0) == "opened"
    first, later = object(), object()  # (the calls asking: a call's CascadeState)
    assert rests.resting(target, 10.0, probe=first) is None  # the probe: this caller sends it
    for asked_at in (10.0, 30.0, 69.0):  # the others, until the probe's answer or its call's deadline
        waiting = rests.resting(target, asked_at, probe=object())
        assert waiting is not None and waiting.left_by_breaker and "another call is sending it now" in waiting.message
    assert rests.resting(target, 70.0, probe=later) is None  # its call never answered (cancelled): the next probes
    assert rests.note(target, E.ProviderConnectionError("late"), 70.5, call=first) == ""  # no longer its probe
    assert rests.note(target, E.ProviderConnectionError("refused"), 71.0, call=later) == "reopened"
    assert (
        "alone 0s ago for 20s (its 2 trips since it last answered doubling it)" in rests.resting(target, 71.0).message
    )
    rests.answered(target)
    assert rests.resting(target, 72.0) is None and not rests.failing


def test_a_probe_refused_for_the_request_closes_it_and_one_that_reached_nothing_hands_the_probe_on():
    rests = TargetRests(BreakerPolicy(failures=1, cooldown=10.0))
    target = Target("fake", "a")
    rests.gave_up(target, E.ServerError("boom", status=500), 0.0)
    probe = object()
    rests.resting(target, 10.0, probe=probe)
    rests.note(target, E.BadRequestError("bad", status=400), 11.0, call=probe)  # its server answered: it is up
    assert rests.resting(target, 11.0, probe=object()) is None and not rests.failing
    rests.gave_up(target, E.ServerError("boom", status=500), 12.0)
    rests.resting(target, 22.0, probe=probe)
    unsent = E.ProviderTimeoutError("not sent within the call's deadline")
    unsent.reached, unsent.call_deadline = False, True  # type: ignore[misc]
    rests.note(target, unsent, 23.0, call=probe)
    assert rests.resting(target, 23.0, probe=object()) is None  # this caller is the next probe
    assert rests.resting(target, 23.0, probe=object()) is not None


def test_the_rest_grows_on_each_trip_and_is_bounded():
    policy = BreakerPolicy(failures=3, cooldown=30.0)
    assert [policy.rest_for(n) for n in (1, 2, 3, 4, 5, 6, 50)] == [30, 60, 120, 240, 480, 600, 600]
    assert BreakerPolicy(cooldown=600.0).rest_for(3) == 600


async def test_failures_zero_turns_it_off():
    from magsag_mcp.providers.fake import script

    script("a", *_down(5), "a answers")
    script("b", *["from b"] * 5)
    cascade, _ = make(tries=1)
    cascade.rests.breaker = breaker_policy_from_env({"MAGSAG_BREAKER_FAILURES": "0"})
    for _ in range(5):
        assert [a.outcome for a in (await _call(cascade)).attempts] == ["error", "ok"]
    assert (await _call(cascade)).result.text == "a answers"


def test_the_settings_are_read_and_a_bad_value_names_the_variable_and_the_fix():
    assert breaker_policy_from_env({}) == BreakerPolicy(3, 30.0)
    assert breaker_policy_from_env({"MAGSAG_BREAKER_FAILURES": "5", "MAGSAG_BREAKER_COOLDOWN": "12.5"}) == (
        BreakerPolicy(5, 12.5)
    )
    assert {"MAGSAG_BREAKER_FAILURES", "MAGSAG_BREAKER_COOLDOWN"} <= READ_VARIABLES
    refused = refused_at_open(
        {"MAGSAG_BREAKER_FAILURES": "2.5", "MAGSAG_BREAKER_COOLDOWN": "30s", "MAGSAG_MAX_RETRIES": "1"}
    )
    assert refused == {
        "MAGSAG_BREAKER_FAILURES": "MAGSAG_BREAKER_FAILURES='2.5' must be a whole number; set it to e.g. 3 (from 0 "
        "to 100; 0 turns the circuit breaker off)",
        "MAGSAG_BREAKER_COOLDOWN": "MAGSAG_BREAKER_COOLDOWN='30s' is not a number; set it to e.g. 30.0 (from 1 to "
        "600; a bare number of seconds, without a unit: 30)",
    }
    for value, said in (("101", "too large: the largest value taken is 100"), ("-1", "must be >= 0")):
        with pytest.raises(E.ConfigError, match=said):
            breaker_policy_from_env({"MAGSAG_BREAKER_FAILURES": value})
    with pytest.raises(E.ConfigError, match=r"MAGSAG_BREAKER_COOLDOWN='0.5' must be >= 1"):
        breaker_policy_from_env({"MAGSAG_BREAKER_COOLDOWN": "0.5"})


async def test_a_probe_a_budget_refused_hands_the_probe_to_the_next_call():
    # the call that took the probe was refused it by a cost limit, nothing sent: the next call probes it, rather than
    # every call passing it over ("another call is sending it now") until that call's deadline
    from magsag_mcp.providers.fake import script
    from tests.cascade_helpers import RefusesModel

    script("a", *_down(3), "a is back")
    script("b", *["from b"] * 5)
    cascade, clock = make(tries=1)
    for _ in range(3):
        await _call(cascade)
    clock.now += 30.0
    cascade.guard = RefusesModel("a")
    refused = await _call(cascade)
    assert [(a.model, a.outcome) for a in refused.attempts] == [("a", "budget_exceeded"), ("b", "ok")]
    cascade.guard = None
    out = await _call(cascade)
    assert out.result.text == "a is back" and [a.outcome for a in out.attempts] == ["ok"]


async def test_a_probe_passed_over_at_its_request_cap_is_the_next_calls_not_held_for_the_deadline():
    # The cooldown over, a call claims the probe, then finds the target at its request cap (routing's request_caps)
    # and takes its fallback: the probe was never sent, so the next call with a free slot probes it. Held, every
    # call passed the target over until the first one's deadline (300s).
    from magsag_mcp.cascade_caps import request_caps
    from magsag_mcp.providers.fake import script
    from magsag_mcp.request_caps import RequestCap

    script("a", *_down(3), "a is back")
    script("b", *["from b"] * 5)
    cascade, clock = make(tries=1)
    cascade.caps = request_caps((RequestCap("fake:a", "fake", "a", 1, None, "routing/test.yaml: request_caps"),))
    for _ in range(3):
        await _call(cascade)
    clock.now += 30.0
    pool = cascade.caps.of(Target("fake", "a"))
    held = pool.take(clock.now)  # (another call's request in flight: the cap of 1 reached)
    out = await _call(cascade)
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "skipped"), ("b", "ok")]
    held.release()
    out = await _call(cascade)
    assert out.result.text == "a is back" and [a.outcome for a in out.attempts] == ["ok"]
