"""The cascade: retries with backoff that honour the server's wait, fallback, timeouts, the deadline, and the trace.

Skips and failures are in test_cascade_failures.py; a server's wait kept for the calls that follow (a rest), and
the errors of waits over the retry cap, in test_cascade_rests.py.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target
from magsag_mcp.transport import Transport
from tests.cascade_helpers import CATALOG, NoPolicies, RefusesModel, make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


async def _cut_by_the_deadline(pricer: Pricer) -> None:
    """A call to fake:slow, which would answer after 60 s, under a call deadline of 0.2 s."""
    cascade = Cascade(
        ProviderSet({}, Transport()),
        pricer,
        None,
        RetryPolicy(tries_per_target=3, base_delay=0.01, max_delay=0.02, deadline=0.2),
    )
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 60_000}}
    p = plan({"model": "fake:slow"})
    p.candidates[0] = dataclasses.replace(p.candidates[0], target=parse_target(slow))
    await cascade.run(p, run_id="r-slow", agent=None)


async def test_retry_honours_retry_after_then_succeeds():
    script("a", E.RateLimitError("slow down", status=429, retry_after=7.0), "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r1", agent=None)
    assert out.result.text == "fine"
    assert 7.0 <= clock.sleeps[0] <= 7.5  # the server's wait plus a little jitter
    assert [(a.outcome, a.attempt_number, a.error_class) for a in out.attempts] == [
        ("error", 1, "rate_limited"),
        ("ok", 2, None),
    ]
    assert out.trace["attempts"][0]["error_class"] == "rate_limited"


async def test_exponential_backoff_with_jitter_without_server_wait():
    script("a", E.ServerError("boom"), E.ServerError("boom"), "ok")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "ok"
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


async def test_fallback_after_retries_are_used_up():
    script("a", *[E.ServerError("boom", status=500)] * 3)
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.target.model == "b"
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "error")] * 3 + [("b", "ok")]
    assert [a.fallback_position for a in out.attempts] == [0, 0, 0, 1]


@pytest.mark.parametrize(
    "error",
    [
        E.RateLimitError("slow down", status=429, retry_after=7.0),
        E.RateLimitError("slow down", status=429),
        E.OverloadedError("busy", status=529),
        E.OverloadedError("busy", status=503, retry_after=2.0),
    ],
    ids=["429-retry-after", "429", "529", "503"],
)
async def test_a_rate_limit_or_an_overload_tries_the_next_target_before_waiting(error):
    # A call with a fallback, whose first target was rate limited (or overloaded), sat out the server's wait
    # (7 s, twice, at the default two retries) on the target that had just refused it, and sent it the call
    # again, before the fallback that was there for this was tried: the guide's "except RateLimitError: fall
    # back to alternative provider". The next target is tried at once, and the attempt says why it was not retried.
    script("a", error, "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"
    assert [(a.model, a.attempt_number) for a in out.attempts] == [("a", 1), ("b", 1)]
    assert f": {error.kind}, not retried: the next target is tried first" in out.attempts[0].warnings[0]


async def test_a_rate_limit_on_the_last_target_left_is_retried_after_its_wait():
    script("a", E.RateLimitError("slow down", status=429, retry_after=3.0))
    script("b", E.OverloadedError("busy", status=529, retry_after=2.0), E.RateLimitError("slow", status=429), "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert (out.target.model, out.result.text) == ("b", "fine")
    assert [(a.model, a.attempt_number) for a in out.attempts] == [("a", 1), ("b", 1), ("b", 2), ("b", 3)]
    assert len(clock.sleeps) == 2 and 2.0 <= clock.sleeps[0] <= 2.5


@pytest.mark.parametrize(
    "error",
    [E.RateLimitError("slow down", status=429, retry_after=1.0), E.ProviderTimeoutError("no answer", timeout_s=1.0)],
    ids=["429", "timeout"],
)
async def test_a_target_left_for_the_next_is_retried_when_the_next_is_refused_before_it_is_sent(error):
    # The rate-limited target was not retried because a fallback was left, and the fallback's budget refused it:
    # the call failed as budget_exceeded, though the first target, retried after its wait, would have answered.
    script("a", error, "fine")
    cascade, clock = make()
    cascade.guard = RefusesModel("b")
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "fine"
    assert [(a.model, a.outcome, a.attempt_number) for a in out.attempts] == [
        ("a", "error", 1),
        ("b", "budget_exceeded", 1),
        ("a", "ok", 2),
    ]
    assert len(clock.sleeps) == 1


async def test_a_target_left_for_the_next_has_its_hold_shrunk_for_the_wait_before_its_retry():
    # A target is retried after a wait with its failed attempt's hold shrunk to what it cost (a 429's $0), so that
    # the wait crowds no other call out of a limit. Come back to after its fallback's budget refused it (the call is
    # near a limit then), it waited with its hold at its worst case.
    script("a", E.RateLimitError("slow down", status=429, retry_after=1.0), "fine")
    cascade, clock = make()
    events: list[tuple[str, str]] = []

    class Guard(RefusesModel):
        async def admit(self, ctx):
            admission = await super().admit(ctx)
            events.append(("admit", ctx.target.model))
            return admission

        def waiting(self, admission) -> None:
            events.append(("waiting", f"after {len(clock.sleeps)} sleeps"))

    cascade.guard = Guard("b")
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "fine" and len(clock.sleeps) == 1
    assert events == [("admit", "a"), ("waiting", "after 0 sleeps"), ("admit", "a")]


async def test_a_target_left_for_the_next_is_not_retried_once_the_next_was_sent():
    script("a", E.RateLimitError("slow down", status=429, retry_after=1.0), "never asked")
    script("b", *[E.ServerError("boom", status=500)] * 3)
    cascade, clock = make()
    with pytest.raises(E.ServerError) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert [a.model for a in info.value.attempts] == ["a", "b", "b", "b"]  # b was tried: a is not asked again


async def test_quota_exhausted_moves_on_without_waiting():
    script("a", E.QuotaExhaustedError("quota", status=429, retry_after=3600))
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"


async def test_wait_longer_than_the_deadline_moves_on():
    script("a", E.RateLimitError("later", status=429, retry_after=50.0))
    cascade, clock = make(deadline=10.0)
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"


@pytest.mark.parametrize(
    "error",
    [
        E.RateLimitError("later", status=429, retry_after=30.0),
        E.OverloadedError("busy", status=503, retry_after=45.0),
    ],
    ids=["429", "503"],
)
async def test_a_server_wait_longer_than_the_retry_cap_moves_on_and_says_why(error):
    # The cap (MAGSAG_RETRY_MAX_DELAY, 20 s here) bounded only the backoff: a server's 30 s was slept in full.
    script("a", error)
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"
    why = f"not retried: the server asked to wait {error.retry_after:g}s, longer than the retry cap of 20s"
    assert why in out.attempts[0].warnings[0] and "MAGSAG_RETRY_MAX_DELAY" in out.attempts[0].warnings[0]
    assert any(why in w for w in out.trace["warnings"])


async def test_a_server_wait_within_the_cap_is_waited_with_jitter_that_never_passes_the_cap():
    script("a", *[E.RateLimitError("later", status=429, retry_after=19.9)] * 2, "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "fine"
    assert len(clock.sleeps) == 2 and all(19.9 <= s <= 20.0 for s in clock.sleeps)
    assert out.attempts[0].warnings == []


async def test_a_timeout_moves_on_without_a_retry_or_a_wait():
    script("a", E.ProviderTimeoutError("no answer", timeout_s=120.0))
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"
    assert [(a.model, a.attempt_number) for a in out.attempts] == [("a", 1), ("b", 1)]
    assert "the next target is tried first" in out.attempts[0].warnings[0]


async def test_a_timeout_on_the_last_target_is_retried_while_a_whole_timeout_fits_the_deadline():
    cascade, clock = make(deadline=300.0)

    async def times_out(*args, **kwargs):
        clock.now += 120  # the read timeout ran out in silence
        raise E.ProviderTimeoutError("no answer", provider="fake", model="a", timeout_s=120.0)

    cascade.providers.get("fake").complete = times_out
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    # 120 s, then a retry (180 s were left), then no third: 60 s cannot hold another 120 s timeout
    attempts = info.value.attempts
    assert [a.attempt_number for a in attempts] == [1, 2] and len(clock.sleeps) == 1
    assert "timeout after 120s, not retried: the call's deadline leaves" in attempts[1].warnings[-1]


async def test_a_timeout_is_retried_when_every_later_target_would_be_skipped():
    script("a", E.ProviderTimeoutError("no answer", timeout_s=10.0), "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["openai:gpt-4o"]}), run_id="r", agent=None)
    # openai has no key here: it would be skipped, so fake:a is the last target that can answer
    assert out.result.text == "fine" and len(clock.sleeps) == 1
    assert [(a.model, a.attempt_number, a.outcome) for a in out.attempts] == [("a", 1, "error"), ("a", 2, "ok")]


async def test_context_too_long_moves_on():
    script("a", E.ContextTooLongError("too long", status=400))
    cascade, _ = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.target.model == "b"


async def test_untried_targets_after_the_deadline_are_listed():
    script("a", E.ServerError("x"))
    cascade, clock = make(tries=1, deadline=5.0)

    async def slow_fail(*args, **kwargs):
        clock.now += 10
        raise E.ServerError("slow", provider="fake", model="a")

    cascade.providers.get("fake").complete = slow_fail
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert "deadline" in info.value.message and "fake:b skipped" in info.value.message


async def test_the_deadline_bounds_an_attempt_in_flight(tmp_path):
    # A target that would answer after 60 s, under a 0.2 s call deadline: the attempt is cut and
    # recorded as a timeout; the call does not wait for the answer. The fake model is priced, as a
    # vendor's model is (an unpriced fake model is free, like a local one).
    (tmp_path / "prices.yaml").write_text('"fake:slow": {input: 2, output: 8}\n')
    with pytest.raises(E.AllTargetsFailed) as info:
        await _cut_by_the_deadline(Pricer.from_catalog(tmp_path))
    # Had the deadline not cut the attempt, the slow answer would have arrived and the call succeeded.
    assert [(a.outcome, a.error_class) for a in info.value.attempts] == [("error", "timeout")]
    assert "deadline of 0.2s" in info.value.attempts[0].error_message
    # the request was in flight: the vendor may bill it, so its cost is unknown, not 0
    assert info.value.attempts[0].cost_usd is None
    assert info.value.attempts[0].cost_bound_usd > 0
    assert "the provider may bill it; its cost is unknown" in info.value.attempts[0].warnings[0]


async def test_a_free_model_cut_in_flight_costs_nothing():
    # The same cut on a model priced at 0 (the fake provider, unpriced, like a local server): whatever it
    # generated costs 0, so the cost is known, and no "unknown cost" warning is given.
    with pytest.raises(E.AllTargetsFailed) as info:
        await _cut_by_the_deadline(Pricer.from_catalog(CATALOG))
    (attempt,) = info.value.attempts
    assert (attempt.error_class, attempt.cost_usd, attempt.cost_bound_usd) == ("timeout", Decimal(0), None)
    assert not any("cost is unknown" in w for w in attempt.warnings)


async def test_a_server_wait_past_the_deadline_says_why_it_was_not_retried():
    # The only "not retried" with no word why: the last target's 429 failed the call at once, its trace
    # silent on the 8 s wait it skipped because only 5 s of the call's deadline were left.
    script("a", E.RateLimitError("later", status=429, retry_after=8.0))
    cascade, clock = make(deadline=5.0)
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == []
    warning = info.value.attempts[0].warnings[-1]
    assert "not retried" in warning and "deadline" in warning and "MAGSAG_CALL_DEADLINE" in warning


async def test_a_long_run_of_retries_keeps_its_backoff_capped():
    # MAGSAG_MAX_RETRIES has no upper bound: past try 1025 the exponential backoff was an int too large
    # for a float, and the call crashed with OverflowError instead of waiting the cap and trying again
    script("a", *[E.ServerError("boom", status=500)] * 1100, "fine")
    cascade, clock = make(tries=2000, deadline=1e9)
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "fine" and len(out.attempts) == 1101
    assert all(0 <= s <= 20.0 for s in clock.sleeps)


@pytest.mark.parametrize("on", [True, False])
def test_an_attempt_switched_to_streaming_carries_every_field_of_its_request(on):
    """The cascade rebuilds the request positionally (dataclasses.replace costs ~27,000 instructions):
    every field, including any added later, must reach the copy as it was, stream alone changed."""
    from magsag_mcp.cascade import _with_stream
    from magsag_mcp.types import LLMRequest

    values = {f.name: object() for f in dataclasses.fields(LLMRequest)}
    copy = _with_stream(LLMRequest(**values), on)
    for name, value in values.items():
        assert getattr(copy, name) is (on if name == "stream" else value), name


async def test_a_refused_retry_is_recorded_as_the_try_it_was():
    # A retry the budget refused was recorded as try 0, after try 1 of the same target: the ledger read as if
    # the target's first try had been refused. It is try 2; a fallback refused on its first try is try 1.
    class RefusesRetries(NoPolicies):
        async def admit(self, ctx):
            if ctx.prior_admissions:
                raise E.BudgetExceeded("call limit would be exceeded", policy="cap")
            return object()

        async def settle(self, admission, actual_cost, bound=None) -> None:
            pass

        async def release(self, admission) -> None:
            pass

        def waiting(self, admission) -> None:
            pass

    script("a", E.ServerError("boom", status=500))
    cascade, _ = make()
    cascade.guard = RefusesRetries()
    with pytest.raises(E.BudgetExceeded) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    attempts = info.value.attempts
    assert [(a.model, a.outcome, a.fallback_position, a.attempt_number) for a in attempts] == [
        ("a", "error", 0, 1),
        ("a", "budget_exceeded", 0, 2),
        ("b", "budget_exceeded", 1, 1),
    ]


async def test_a_cached_routes_trace_shows_its_candidates_without_remaking_them(monkeypatch):
    """A route resolved once per skill is the same candidates on every call: the trace's dicts and labels of them are
    made by its first call and copied by the next, each call's dicts its own to change; a plan whose candidates
    changed since (or a target with an endpoint of its own, redacted with each call's secrets) has them made anew."""
    from magsag_mcp.routing import Candidate

    catalog = load_catalog(CATALOG, env={})
    routes: dict = {}

    def cached_plan():
        return plan_call(catalog, "skill.analysis", {"data": "numbers"}, context=None, env={}, route_cache=routes)

    script("gpt-4o", "one", "two", "three")
    cascade, _ = make({"OPENAI_API_KEY": "sk-test"})
    cascade.providers.get = lambda name: cascade.providers.__class__.get(cascade.providers, "fake")
    first = await cascade.run(cached_plan(), run_id="r1", agent=None)
    made = []
    to_dict = Candidate.to_dict
    monkeypatch.setattr(Candidate, "to_dict", lambda self: made.append(self) or to_dict(self))
    second = await cascade.run(cached_plan(), run_id="r2", agent=None)
    assert made == []  # copied, not made again
    assert second.trace["candidates"] == first.trace["candidates"]
    shown = {"provider": "openai", "model": "gpt-4o", "source": "route", "explicit": False}
    assert second.trace["candidates"][0] == shown
    first.trace["candidates"][0]["model"] = "changed by the caller"
    third_plan = cached_plan()
    third_plan.candidates[0] = dataclasses.replace(third_plan.candidates[0], source="call")
    third = await cascade.run(third_plan, run_id="r3", agent=None)
    assert third.trace["candidates"][0] == {**shown, "source": "call"}
    assert second.trace["candidates"][0]["model"] == "gpt-4o"
    assert len(made) == len(third_plan.candidates)  # made anew for the plan that changed


async def test_a_trace_of_targets_with_an_endpoint_of_their_own_is_made_on_each_call():
    """A target's endpoint is shown redacted with the secrets of the call that shows it: never kept for the next."""
    catalog = load_catalog(CATALOG, env={})
    named: dict = {}
    mc = {"provider": "fake", "model": "a", "base_url": "http://127.0.0.1:9/v1"}
    script("a", "one")
    cascade, _ = make()
    payload = {"data": "n", "model_config": mc}
    p = plan_call(catalog, "skill.analysis", payload, context=None, env={}, named_routes=named)
    out = await cascade.run(p, run_id="r1", agent=None)
    assert p.resolution is not None and p.resolution.shown is None
    assert out.trace["candidates"][0]["base_url"] == "http://127.0.0.1:9/v1"
