"""A 429 whose wait is over a minute: taken for a spent quota (``quota_exhausted``, not waited for) unless
``MAGSAG_RETRY_MAX_DELAY`` was raised to cover it, when it is waited out like any rate limit, within the deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.http_errors import error_for, long_wait
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from tests.cascade_helpers import CATALOG, Clock, plan

from .fakes import FakeOpenAI
from .test_cascades import KEY, _Clock

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


def _cascade(max_delay: float, deadline: float = 300.0) -> tuple[Cascade, Clock]:
    clock = Clock()
    policy = RetryPolicy(tries_per_target=3, base_delay=0.5, max_delay=max_delay, deadline=deadline)
    cascade = Cascade(
        ProviderSet({}, Transport()), Pricer.from_catalog(CATALOG), None, policy, sleep=clock.sleep, clock=clock
    )
    return cascade, clock


def _long(wait: float = 90.0) -> E.QuotaExhaustedError:
    return long_wait(E.QuotaExhaustedError("fake:a: HTTP 429: slow down", status=429, retry_after=wait))


def test_a_429_is_marked_as_a_quota_for_its_wait_alone_only_where_it_names_no_quota():
    kw = {"provider": "openai", "model": "gpt-4o"}
    by_wait = error_for(429, "slow down", headers={"Retry-After": "90"}, **kw)
    quota = "You exceeded your current quota"
    named = error_for(429, quota, headers={"Retry-After": "90"}, code="insufficient_quota", **kw)
    short = error_for(429, "slow down", headers={"Retry-After": "9"}, **kw)
    assert isinstance(by_wait, E.QuotaExhaustedError) and by_wait.quota_by_wait and not by_wait.retryable
    assert isinstance(named, E.QuotaExhaustedError) and not named.quota_by_wait
    assert type(short) is E.RateLimitError and not short.quota_by_wait


async def test_a_429_of_90s_is_waited_out_where_the_retry_cap_was_raised_to_cover_it():
    # MAGSAG_RETRY_MAX_DELAY=120 asked for waits up to 120s: the 90s one was refused as a spent quota all the same
    script("a", _long(), "after the wait")
    cascade, clock = _cascade(max_delay=120.0)
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "after the wait" and len(clock.sleeps) == 1 and 90.0 <= clock.sleeps[0] <= 90.5
    # recorded as what the router did with it, a rate limit waited out (it read "quota_exhausted", a quota spent)
    assert [(a.outcome, a.error_class) for a in out.attempts] == [("error", "rate_limited"), ("ok", None)]


async def test_a_long_wait_the_cap_covers_leaves_the_quota_error_it_was_as_it_was():
    # its class was changed in place (exc.__class__ = RateLimitError): the error object a caller (here, a script)
    # raised once came back a rate limit, and raised again, a second call read no quota at all
    quota = _long()
    script("a", quota, quota, quota)
    cascade, clock = _cascade(max_delay=120.0, deadline=1000.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert type(quota) is E.QuotaExhaustedError and quota.kind == "quota_exhausted" and not quota.retryable
    assert quota.quota_by_wait and quota.retry_after == 90.0 and quota.message == "fake:a: HTTP 429: slow down"
    # the rate limit made from it: the same fields, the quota its cause
    made = info.value.last_error
    assert type(made) is E.RateLimitError and made.__cause__ is quota and made.quota_by_wait
    assert (made.message, made.status, made.retry_after, made.provider) == (quota.message, 429, 90.0, quota.provider)
    assert [a.error_class for a in info.value.attempts] == ["rate_limited"] * 3 and len(clock.sleeps) == 2


async def test_a_long_wait_the_cap_covers_fails_as_a_rate_limit_once_its_retries_are_spent():
    # waited out twice and refused a third time: "still rate limited at its last try" said of a quota_exhausted
    script("a", _long(), _long(), _long())
    cascade, clock = _cascade(max_delay=120.0, deadline=1000.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert not isinstance(info.value, E.QuotaExhaustedError) and info.value.details["last_error_type"] == "rate_limited"
    assert len(clock.sleeps) == 2 and [a.error_class for a in info.value.attempts] == ["rate_limited"] * 3
    assert "fake:a was still rate limited at its last try, the 3rd" in info.value.message


async def test_a_long_wait_the_cap_covers_tries_the_next_target_first_as_a_rate_limit_does():
    script("a", _long())
    script("b", "from b")
    cascade, clock = _cascade(max_delay=120.0)
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "from b" and clock.sleeps == []


async def test_the_deadline_still_bounds_a_long_wait_the_cap_covers():
    script("a", _long(), "too late")
    cascade, clock = _cascade(max_delay=120.0, deadline=60.0)
    # a rate limit the cap covers, not waited for as its wait passes the deadline: raised as one (it was a quota)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and "would pass the call's deadline" in info.value.attempts[0].warnings[-1]


async def test_a_long_wait_over_the_cap_names_the_cap_that_would_wait_it_out():
    script("a", _long())
    cascade, clock = _cascade(max_delay=20.0)
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and info.value.message.endswith(
        "; fake:a was rate limited and not tried again: its server asked to wait 90s, longer than the retry cap of "
        "20s (MAGSAG_RETRY_MAX_DELAY), and a 429's wait over 60s is taken for a spent quota unless the cap covers it; "
        "set MAGSAG_RETRY_MAX_DELAY to 90 or more to wait it out, or call again in 90s"
    )
    # (the attempt reads quota_exhausted: the call's error now says why, beside "rate limited")
    assert info.value.details["last_error_type"] == "quota_exhausted"
    assert "taken for a spent quota unless the cap covers it" in info.value.attempts[0].warnings[-1]


async def test_openai_s_429_of_90s_is_waited_out_with_magsag_retry_max_delay_at_120(tmp_path: Path, serve):
    openai = FakeOpenAI(KEY).queue({"error": 429, "headers": {"Retry-After": "90"}}, {"text": "after 90s"})
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "MAGSAG_RETRY_MAX_DELAY": "120",
    }
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    finally:
        await svc.aclose()
    assert result.result.text == "after 90s" and len(clock.waits) == 1 and 90.0 <= clock.waits[0] <= 90.5
    assert openai.violations == []


async def test_the_ledger_and_the_call_s_error_say_a_rate_limit_the_cap_covers(tmp_path: Path, serve):
    refused = {"error": 429, "headers": {"Retry-After": "90"}}
    openai = FakeOpenAI(KEY).queue(refused, refused)
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "MAGSAG_RETRY_MAX_DELAY": "120",
        "MAGSAG_MAX_RETRIES": "1",
    }
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    try:
        with pytest.raises(E.RateLimitError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
        runs = await svc.query_runs()
    finally:
        await svc.aclose()
    assert not isinstance(info.value, E.QuotaExhaustedError) and info.value.details["last_error_type"] == "rate_limited"
    assert "still rate limited at its last try" in info.value.message
    assert KEY not in info.value.message and len(clock.waits) == 1
    (run,) = runs
    assert [a["error_class"] for a in run["attempts"]] == ["rate_limited", "rate_limited"]
    said = run["error"]["message"]
    assert "every target failed: openai:gpt-4o rate_limited (2 tries);" in said
    assert "quota" not in said and "was still rate limited at its last try, the 2nd" in said


class _ProvidersOwnQuota(E.QuotaExhaustedError):
    """A provider's own subclass (a plugin's), which honour_long_wait does not swap to a RateLimitError."""


async def test_a_long_wait_of_a_provider_s_own_quota_class_the_cap_covers_is_waited_out_too():
    # it was not waited at all, and the call's error said the 90s wait was "longer than the retry cap of 120s"
    script("a", long_wait(_ProvidersOwnQuota("fake:a: HTTP 429: slow down", status=429, retry_after=90.0)), "after")
    cascade, clock = _cascade(max_delay=120.0)
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "after" and len(clock.sleeps) == 1 and 90.0 <= clock.sleeps[0] <= 90.5
    assert [a.outcome for a in out.attempts] == ["error", "ok"]


async def test_a_long_wait_of_a_provider_s_own_quota_class_leaves_the_error_it_was_as_it_was():
    # its retryable fields were set on it in place: one error object raised again (here, by a script) was a retryable
    # one from then on, to a cascade whose cap did not cover its wait as to one whose cap did
    quota = long_wait(_ProvidersOwnQuota("fake:a: HTTP 429: slow down", status=429, retry_after=90.0))
    script("a", quota, quota, quota)
    cascade, clock = _cascade(max_delay=120.0, deadline=1000.0)
    with pytest.raises(_ProvidersOwnQuota) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert not quota.retryable and not quota.retried_only_on_last_target and "retryable" not in vars(quota)
    assert quota.quota_by_wait and quota.retry_after == 90.0 and quota.message == "fake:a: HTTP 429: slow down"
    made = info.value.last_error
    assert type(made) is _ProvidersOwnQuota and made is not quota and made.__cause__ is quota
    assert made.retryable and made.retried_only_on_last_target and made.details == quota.details
    assert made.details is not quota.details and len(clock.sleeps) == 2
    # the same object, to a cascade whose cap does not cover its wait: not retried, as a quota
    script("a", quota)
    cascade, clock = _cascade(max_delay=20.0)
    with pytest.raises(_ProvidersOwnQuota) as again:
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert again.value.last_error is quota and clock.sleeps == []
    assert "longer than the retry cap of 20s" in str(again.value)


async def test_a_long_wait_of_a_provider_s_own_quota_class_over_the_cap_still_names_the_cap():
    script("a", long_wait(_ProvidersOwnQuota("fake:a: HTTP 429: slow down", status=429, retry_after=90.0)))
    cascade, clock = _cascade(max_delay=20.0)
    with pytest.raises(_ProvidersOwnQuota) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and "longer than the retry cap of 20s" in info.value.message


async def test_the_next_call_failing_on_the_rest_of_a_long_wait_over_the_cap_names_the_cap_too():
    # the call that was refused said the fix; the next one, failing on what is left of that wait without sending,
    # said only "fake:a skipped (... (quota_exhausted), 80s of that left ...)", as if nothing could wait it out
    script("a", _long())
    cascade, clock = _cascade(max_delay=20.0)
    with pytest.raises(E.QuotaExhaustedError):
        await cascade.run(plan({"model": "fake:a"}), run_id="r1", agent=None)
    clock.now += 10.0
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert clock.sleeps == [] and [a.outcome for a in info.value.attempts] == ["skipped"]
    assert info.value.message.endswith(
        "; fake:a was not sent: its server's wait, rate limited, has 80s left, longer than the retry cap of 20s "
        "(MAGSAG_RETRY_MAX_DELAY), and a 429's wait over 60s is taken for a spent quota unless the cap covers it; "
        "set MAGSAG_RETRY_MAX_DELAY to 80 or more to wait it out, or call again in 80s"
    )


async def test_the_rest_of_a_named_quota_says_no_cap_fix():
    # (a quota its server named is no wait a cap covers: its rest fails the next call as before, with no such fix)
    script("a", E.QuotaExhaustedError("fake:a: HTTP 429: You exceeded your current quota", status=429, retry_after=90))
    cascade, clock = _cascade(max_delay=20.0)
    with pytest.raises(E.QuotaExhaustedError):
        await cascade.run(plan({"model": "fake:a"}), run_id="r1", agent=None)
    clock.now += 10.0
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert "MAGSAG_RETRY_MAX_DELAY" not in info.value.message and "80s of that left" in info.value.message


def _explained(err: E.ProviderError, later: bool) -> tuple[str, float, float]:
    """What explain says of fake:a left alone for ``err`` 10s ago (the call's last target, or one before ``later``
    ones), and the wall clock's time before and after it said it."""
    import time

    from magsag_mcp.cascade_waits import TargetRests, rest_then
    from magsag_mcp.targets import parse_target

    target = parse_target("fake:a")
    rests = TargetRests()
    rests.note(target, err, 1000.0)
    before = time.time()
    resting = rests.resting(target, 1010.0, rest_then(RetryPolicy(max_delay=20.0), lambda: later))
    assert resting is not None
    return resting.message, before, time.time()


def _until_in(said: str) -> float:
    import calendar
    import re
    import time

    found = re.search(r" until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", said)
    assert found is not None, said
    return calendar.timegm(time.strptime(found[1], "%Y-%m-%d %H:%M:%S"))


async def test_explain_says_until_when_and_why_a_long_wait_s_rest_fails_a_call():
    # it said "80s of that left: a call now fails without sending it, as no target after it is left" and no more:
    # not until when, nor that a raised retry cap would have it waited out
    said, before, after = _explained(_long(), later=False)
    assert "80s of that left: a call now fails without sending it until " in said
    assert before + 79 <= _until_in(said) <= after + 81
    assert (
        ", as no target after it is left and a 429's wait over 60s is taken for a spent quota while it is longer than "
        "the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 90 or more to wait such a wait "
        "out; it said: fake:a: HTTP 429: slow down"
    ) in said


async def test_explain_says_until_when_and_why_a_named_quota_s_rest_passes_a_target_over():
    said_by = "You exceeded your current quota, please check your plan and billing details."
    err = error_for(429, said_by, headers={"Retry-After": "30"}, code="insufficient_quota", provider="fake", model="a")
    said, before, after = _explained(err, later=True)
    assert "20s of that left: a call now passes it over for the targets after it until " in said
    assert before + 19 <= _until_in(said) <= after + 21
    assert (
        ", as its server refused it on a spent quota, which no retry setting waits for; then it is sent again, in case "
        "the quota was raised"
    ) in said
