"""A server's wait kept by the cascade for the calls that follow (a target left resting), and what a call says when
a wait is over the retry cap or past its deadline, or its retries are spent."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.durations import seconds
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.transport import Transport
from tests.cascade_helpers import CATALOG, Clock, RefusesModel, make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


async def test_the_last_target_left_resting_is_sent_once_its_rest_has_passed():
    # The next call, with no other target to try, waits out what is left of the wait its server asked for (within
    # the retry cap and the deadline), then sends it: not at once, to be refused again.
    script("a", E.RateLimitError("slow down", status=429, retry_after=12.0), "after the rest")
    script("b", "from b")
    cascade, clock = make()
    first = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    assert first.result.text == "from b" and clock.sleeps == []
    clock.now += 5.0
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert out.result.text == "after the rest"
    assert len(clock.sleeps) == 1 and 7.0 <= clock.sleeps[0] <= 7.5  # the 7 s left of the 12, and a little jitter
    assert [(a.outcome, a.attempt_number) for a in out.attempts] == [("skipped", 0), ("ok", 1)]
    assert "not sent: its server asked 5s ago to be left alone for 12s (rate_limited), 7s of that left" in (
        out.attempts[0].error_message
    )
    assert out.attempts[0].warnings[0] == out.attempts[0].error_message
    assert out.attempts[0].warnings[1].startswith("fake:a: sent after 7")


async def test_waiting_out_a_rest_is_reported_as_a_wait_before_its_first_try_not_as_a_retry():
    # progress said "retrying fake:a in 7s" before "calling fake:a (candidate 1, try 1)": a retry of a target this
    # call had not sent yet; the event is still `retry` (what callers know), marked `resting`, and MCP says it waits
    from magsag_mcp.mcp_server.progress import EVENTS

    script("a", E.RateLimitError("slow down", status=429, retry_after=12.0), "after the rest")
    script("b", "from b")
    cascade, clock = make()
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    seen: list[tuple[str, dict]] = []
    out = await cascade.run(
        plan({"model": "fake:a"}), run_id="r2", agent=None, progress=lambda event, data: seen.append((event, data))
    )
    assert out.result.text == "after the rest"
    (event, data), (then, attempt) = seen[:2]
    assert (event, data["target"], data["resting"], then, attempt["try"]) == ("retry", "fake:a", True, "attempt", 1)
    said = EVENTS["retry"][1](data)
    assert said.startswith(f"waiting {seconds(data['wait_s'])} before calling fake:a") and "retrying" not in said
    assert EVENTS["retry"][1]({"target": "fake:a", "wait_s": 0.5}) == "retrying fake:a in 0.5s"


async def test_a_resting_target_come_back_to_after_its_fallbacks_is_reported_as_a_wait_before_its_first_try():
    # a resting target with a fallback after it is left for the fallback, and come back to when none was sent: its
    # wait was reported as "retrying fake:a in 7s", then "calling fake:a (candidate 1, try 1)", as dc56e8a had it
    # for the last target left: not marked resting, a retry of a target this call had not sent
    from magsag_mcp.mcp_server.progress import EVENTS

    script("a", E.RateLimitError("slow down", status=429, retry_after=12.0), "after the rest")
    script("b", E.RateLimitError("slow down", status=429, retry_after=45.0))
    cascade, clock = make()
    with pytest.raises(E.RateLimitError):  # (a refused for 12s, b for 45s: past the retry cap, neither waited)
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    seen: list[tuple[str, dict]] = []
    out = await cascade.run(
        plan({"model": "fake:a", "fallbacks": ["fake:b"]}),
        run_id="r2",
        agent=None,
        progress=lambda event, data: seen.append((event, data)),
    )
    assert out.result.text == "after the rest" and [a.outcome for a in out.attempts] == ["skipped", "skipped", "ok"]
    (event, data), (then, attempt) = [(e, d) for e, d in seen if e in ("retry", "attempt")][:2]
    assert (event, data["target"], data.get("resting"), then, attempt["try"]) == ("retry", "fake:a", True, "attempt", 1)
    said = EVENTS["retry"][1](data)
    assert said.startswith(f"waiting {seconds(data['wait_s'])} before calling fake:a") and "retrying" not in said


async def test_a_rest_longer_than_the_retry_cap_fails_the_next_call_without_sending_it():
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0), "too early")
    script("b", "from b")
    cascade, clock = make()
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    with pytest.raises(E.RateLimitError) as info:  # the refusal's class, as the caller's `except` expects
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and err.retry_after == 40.0 and clock.sleeps == []
    assert [a.outcome for a in err.attempts] == ["skipped"] and "40s of that left" in err.message
    assert "longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)" in err.attempts[0].warnings[1]
    script("b", "from b again")  # the fallback serves the call meanwhile; "too early" was never asked for
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r3", agent=None)
    assert out.result.text == "from b again" and [a.outcome for a in out.attempts] == ["skipped", "ok"]


async def test_a_quota_resets_rest_is_kept_but_a_day_long_one_is_asked_again_after_ten_minutes():
    # OpenAI's requests-per-day bucket at 0, its reset "6m0s" (a quota: not retried); Azure's "retry after 86400
    # seconds": left alone for 10 minutes at most, then asked again in case the quota was raised meanwhile
    script("a", E.QuotaExhaustedError("rpd", status=429, retry_after=360.0), "a after its reset")
    script("c", E.QuotaExhaustedError("daily", status=429, retry_after=86400.0), "c after ten minutes")
    cascade, clock = make()
    for model in ("a", "c"):
        script("b", "from b")
        await cascade.run(plan({"model": f"fake:{model}", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    clock.now += 359.0
    for model in ("a", "c"):
        with pytest.raises(E.QuotaExhaustedError) as info:
            await cascade.run(plan({"model": f"fake:{model}"}), run_id="r", agent=None)
        assert [a.outcome for a in info.value.attempts] == ["skipped"] and clock.sleeps == []
    clock.now += 1.0
    assert (await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)).result.text == "a after its reset"
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:c"}), run_id="r", agent=None)
    assert "left alone for 86400s, kept for 600s (quota_exhausted), 240s of that left" in info.value.message
    clock.now += 240.0
    assert (await cascade.run(plan({"model": "fake:c"}), run_id="r", agent=None)).result.text == "c after ten minutes"


async def test_a_target_left_alone_is_come_back_to_when_its_fallback_could_not_be_sent():
    # b's server refused the connection (nothing sent): the call comes back to a, after the rest of its wait, as to
    # a target left for the next one
    script("a", E.RateLimitError("slow down", status=429, retry_after=10.0), "a after its wait")
    script("b", "from b")
    cascade, clock = make(tries=1)
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    refused = E.ProviderConnectionError("connection refused", provider="fake", model="b")
    refused.reached = False
    script("b", refused)
    clock.now += 4.0
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r2", agent=None)
    assert out.result.text == "a after its wait"
    assert [(a.model, a.outcome, a.attempt_number) for a in out.attempts] == [
        ("a", "skipped", 0),
        ("b", "error", 1),
        ("a", "ok", 1),
    ]
    assert len(clock.sleeps) == 1 and 6.0 <= clock.sleeps[0] <= 6.5


async def test_a_target_left_alone_that_a_policy_forbids_this_call_is_refused_by_the_policy_without_a_wait():
    # Left alone after another call's 429, the target is one this call's policy forbids (another agent, another data
    # class): the policy refuses it at once, rather than the call waiting out its rest to be refused then
    class Forbids(RefusesModel):
        forbidden = False

        def allowed(self, target, data_class):
            return (not (self.forbidden and target.model == "a"), "p", "not for this call")

        async def admit(self, ctx):
            if not self.allowed(ctx.target, ctx.data_class)[0]:
                raise E.PolicyDenied(f"{ctx.target.label} is not allowed", policy="p")
            return await super().admit(ctx)

    script("a", E.RateLimitError("slow down", status=429, retry_after=8.0))
    script("b", "from b")
    cascade, clock = make()
    cascade.guard = guard = Forbids("nothing")
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    guard.forbidden = True
    clock.now += 1.0
    with pytest.raises(E.PolicyDenied):
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert clock.sleeps == []


async def test_a_call_failed_by_a_wait_over_the_retry_cap_says_so_with_the_fix():
    # "skill.analysis: every target failed: fake:a rate_limited; last error: ...: slow down" said neither why the
    # last target was not tried again nor what to do, which the attempt's warning knew; the error's class and the
    # attempt's row are as they were
    script("a", E.RateLimitError("fake:a: HTTP 429: slow down", status=429, retry_after=45.0))
    cascade, clock = make()
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and err.kind == "all_targets_failed" and clock.sleeps == []
    assert err.details["last_error_type"] == "rate_limited" and err.retry_after == 45.0
    assert err.message == (
        "skill.analysis: every target failed: fake:a rate_limited; last error: fake:a: HTTP 429: slow down; fake:a was "
        "rate limited and not tried again: its server asked to wait 45s, longer than the retry cap of 20s "
        "(MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 45 or more to wait it out, or call again in 45s"
    )
    (row,) = err.attempts
    assert (row.error_class, row.error_message) == ("rate_limited", "fake:a: HTTP 429: slow down")
    assert row.warnings == [
        "fake:a: not retried: the server asked to wait 45s, longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)"
    ]


async def test_a_wait_over_the_cap_and_the_deadline_names_both_settings():
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.5))
    cascade, _ = make(deadline=40.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert info.value.message.endswith(
        "longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 46 or more to wait "
        "it out, and MAGSAG_CALL_DEADLINE above it (now 40s), or call again in 45.5s"
    )


async def test_a_wait_over_the_cap_past_what_the_deadline_leaves_names_the_deadline_too():
    # a first wait of 15s taken, then one of 50s over the cap: 50s is less than the 60s deadline, yet more than the
    # ~45s it leaves; raising MAGSAG_RETRY_MAX_DELAY alone (the fix once named) would fail the call on its deadline
    script(
        "a",
        E.RateLimitError("slow down", status=429, retry_after=15.0),
        E.RateLimitError("slow down", status=429, retry_after=50.0),
    )
    cascade, clock = make(deadline=60.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    (slept,) = clock.sleeps
    assert info.value.message.endswith(
        "longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 50 or more to wait "
        f"it out, and MAGSAG_CALL_DEADLINE above it and the {seconds(slept)} the call took before it (now 60s), or "
        "call again in 50s"
    )


async def test_a_call_still_rate_limited_at_its_last_try_says_its_retries_were_spent():
    script("a", *[E.RateLimitError("slow down", status=429, retry_after=2.0)] * 3)
    cascade, clock = make()
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    err = info.value
    assert len(clock.sleeps) == 2 and [a.error_class for a in err.attempts] == ["rate_limited"] * 3
    assert err.message.endswith(
        "; last error: slow down; fake:a was still rate limited at its last try, the 3rd (MAGSAG_MAX_RETRIES=2: 2 "
        "retries after the first); raise MAGSAG_MAX_RETRIES, or call again in 2s"
    )


async def test_a_last_try_whose_wait_is_over_the_retry_cap_names_the_cap_with_the_retries():
    # no retry left, and the 429's wait (45s) over the cap of 20s: a retry more (MAGSAG_MAX_RETRIES, the fix once
    # named alone) would not be taken either, refused as too long a wait
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0))
    cascade, clock = make(tries=1)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and info.value.message.endswith(
        "; fake:a was still rate limited at its only try (MAGSAG_MAX_RETRIES=0: no retry); raise MAGSAG_MAX_RETRIES, "
        "and MAGSAG_RETRY_MAX_DELAY to 45 or more (its server asked to wait 45s, longer than the retry cap of 20s), "
        "or call again in 45s"
    )


async def test_a_fallback_that_failed_last_is_what_the_error_says_not_the_rate_limit_before_it():
    # the note is of the last error only: a fallback's 500 after a rate limit is the call's last word
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0))
    script("b", *[E.ServerError("boom")] * 3)
    cascade, _ = make()
    with pytest.raises(E.ServerError) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert info.value.message.endswith("; last error: boom") and "MAGSAG_" not in info.value.message


async def test_a_rest_over_the_retry_cap_names_the_fix_in_the_error():
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0))
    script("b", "from b")
    cascade, clock = make()
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert info.value.message.endswith(
        "; fake:a was not sent: its server's wait, rate limited, has 40s left, longer than the retry cap of 20s "
        "(MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 40 or more to wait it out, or call again in 40s"
    )


async def test_a_429_of_a_named_quota_with_a_long_wait_says_the_wait_and_that_no_setting_waits_it():
    # (a QuotaExhaustedError not marked quota_by_wait is a quota its server named: one taken for a quota by its wait
    # alone is test_long_waits'; this one said "a wait that long is taken for a spent quota" of it)
    quota = "fake:a: HTTP 429: You exceeded your current quota"
    script("a", E.QuotaExhaustedError(quota, status=429, retry_after=120.0))
    cascade, _ = make()
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert info.value.details["last_error_type"] == "quota_exhausted"
    assert info.value.message.endswith(
        "; fake:a was refused on a spent quota that its server named, and not tried again: its server asked to wait "
        "120s, but a named quota is not waited for, whatever MAGSAG_RETRY_MAX_DELAY says; check the quota and billing "
        "of the key's plan with the vendor, or add a fallback served by another quota (another provider or key) to "
        "the call"
    )


async def test_a_call_with_no_retries_rate_limited_at_its_only_try_says_so():
    script("a", E.RateLimitError("slow down", status=429))  # no wait named: "later"
    cascade, clock = make(tries=1)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and info.value.message.endswith(
        "; fake:a was still rate limited at its only try (MAGSAG_MAX_RETRIES=0: no retry); raise MAGSAG_MAX_RETRIES, "
        "or call again later"
    )


async def test_a_backoff_of_1e30_seconds_is_said_not_raised_as_a_decimal_error(monkeypatch):
    # MAGSAG_RETRY_BASE_DELAY=1e30 with MAGSAG_RETRY_MAX_DELAY=1e30: the backoff past the deadline was said through a
    # Decimal of 28 digits, and the call failed with decimal.InvalidOperation instead of its error
    from magsag_mcp import retry

    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)  # the jitter's top: a backoff of 1e30 s
    script("a", E.ServerError("boom", status=500))
    clock = Clock()
    policy = RetryPolicy(tries_per_target=3, base_delay=1e30, max_delay=1e30, deadline=300.0)
    providers = ProviderSet({}, Transport())
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, policy, sleep=clock.sleep, clock=clock)
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    (warning,) = info.value.attempts[0].warnings
    # (changed on purpose: the wait was said in 31 digits, "1000000000000000000000000000000s", which no reader counts)
    assert warning == (
        "fake:a: not retried: the wait of more than 31 days would pass the call's deadline, 300s away "
        "(MAGSAG_CALL_DEADLINE)"
    ), warning
    assert clock.sleeps == []


def test_a_longer_wait_asked_of_a_resting_target_keeps_it_resting_longer_and_a_shorter_one_does_not_cut_its_rest():
    # one call's 429 asks for 10s, another's for 30s: the target rests for the 30s (kept at 10s, the next calls sent
    # it from 10s on, to be refused again); a later 5s wait does not cut the 30s short either
    from magsag_mcp.cascade_waits import TargetRests
    from magsag_mcp.types import Target

    rests, target = TargetRests(), Target("fake", "a")
    rests.note(target, E.RateLimitError("slow down", status=429, retry_after=10.0), now=0.0)
    rests.note(target, E.RateLimitError("slow down", status=429, retry_after=30.0), now=0.0)
    rests.note(target, E.RateLimitError("slow down", status=429, retry_after=5.0), now=1.0)
    resting = rests.resting(target, now=20.0)
    assert resting is not None and resting.retry_after == 10.0  # the 30s rest, 10s of it left
    assert rests.resting(target, now=30.0) is None
