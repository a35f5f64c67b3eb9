"""A 429 (or a 503) whose server's wait, within the retry cap, would pass what the call's deadline leaves: the call's
error ends with the reason and the fix (MAGSAG_CALL_DEADLINE, or when to call again), as one over the cap does. Only
the attempt's warning said it: the error read "every target failed: fake:a rate_limited; last error: ... HTTP 429"."""

from __future__ import annotations

import re

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.http_errors import error_for
from tests.cascade_helpers import plan
from tests.providers.test_long_waits import _cascade, _long

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

#: the wait before another try: the server's and the backoff's jitter (at most 0.5s here)
WAIT = r"(\d+(?:\.\d+)?)s"


def _429(wait: str) -> E.ProviderError:
    return error_for(429, "slow down", headers={"Retry-After": wait}, provider="fake", model="a")


async def test_a_rate_limit_whose_wait_would_pass_the_deadline_names_the_deadline_in_the_call_s_error():
    script("a", _429("50"))
    cascade, clock = _cascade(max_delay=60.0, deadline=40.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    said = re.search(
        rf"; fake:a was rate limited and not tried again: the wait before another try, {WAIT} \(its server asked for "
        r"50s\), would pass the call's deadline, 40s away; set MAGSAG_CALL_DEADLINE above it \(now 40s\), or call "
        r"again in 50s$",
        info.value.message,
    )
    assert said is not None and 50.0 <= float(said[1]) <= 50.5 and clock.sleeps == []


async def test_the_fix_counts_what_the_call_took_before_the_wait():
    script("a", _429("5"), _long(90.0))  # (a long wait the cap covers is a rate limit: the same fix)
    cascade, clock = _cascade(max_delay=120.0, deadline=60.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    (slept,) = clock.sleeps
    assert re.search(
        rf"the wait before another try, {WAIT} \(its server asked for 90s\), would pass the call's deadline, "
        rf"{WAIT} away; set MAGSAG_CALL_DEADLINE above it and the 5(\.\d+)?s the call took before it \(now 60s\), "
        r"or call again in 90s$",
        info.value.message,
    ), info.value.message
    assert 5.0 <= slept <= 5.5


async def test_a_target_left_alone_whose_rest_would_pass_the_deadline_names_the_deadline_too():
    script("a", _429("50"))
    script("b", "from b")
    cascade, clock = _cascade(max_delay=60.0, deadline=40.0)
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    said = re.search(
        rf"; fake:a was not sent: its server's wait, rate limited, has {WAIT} left, which would pass the call's "
        r"deadline, 40s away; set MAGSAG_CALL_DEADLINE above it \(now 40s\), or call again in 45s$",
        info.value.message,
    )
    assert said is not None and 45.0 <= float(said[1]) <= 45.5, info.value.message


@pytest.mark.parametrize(
    ("headers", "waited", "asked"),
    [
        ({"Retry-After": "0"}, "0.5s", "its server asked for no wait"),
        ({"retry-after-ms": "400"}, "0.9s", "its server asked for 0.4s"),
    ],
    ids=["0s", "0.4s"],
)
async def test_a_server_wait_under_a_second_is_not_told_to_call_again_in_it(monkeypatch, headers, waited, asked):
    # Retry-After: 0 with a deadline nearly spent: the backoff's jitter alone passed it, and the error said "(its
    # server asked for 0s) ... or call again in 0s"; a wait under a second is said "call again later", as
    # retries_spent says it
    from magsag_mcp import retry

    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)  # the jitter's top: 0.5s
    script("a", error_for(429, "slow down", headers=headers, provider="fake", model="a"))
    cascade, clock = _cascade(max_delay=20.0, deadline=0.2)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    message = info.value.message
    assert message.endswith(
        f"; fake:a was rate limited and not tried again: the wait before another try, {waited} ({asked}), would "
        "pass the call's deadline, 0.2s away; set MAGSAG_CALL_DEADLINE above it (now 0.2s), or call again later"
    ), message
    assert "in 0s" not in message and clock.sleeps == []


async def test_a_wait_no_deadline_setting_covers_is_not_answered_set_the_deadline():
    # a policy built in code takes any cap and deadline; MAGSAG_CALL_DEADLINE takes at most 21600s: told to set it
    # above a wait of 25000s, the user's next start refused the value
    script("a", _429("25000"))
    cascade, clock = _cascade(max_delay=30000.0, deadline=21600.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert re.search(
        r"would pass the call's deadline, 21600s away; no setting waits it out \(MAGSAG_CALL_DEADLINE takes at most "
        r"21600s\); call again in 25000s$",
        info.value.message,
    ), info.value.message
    assert "set MAGSAG_CALL_DEADLINE" not in info.value.message and clock.sleeps == []


async def test_a_wait_over_the_cap_the_cap_could_wait_but_no_deadline_is_not_answered_raise_both():
    # the cap could be raised to 21598s, but with the 5s the call took before, the deadline would have to pass 21600s
    script("a", _429("5"), _long(21598.0))
    cascade, clock = _cascade(max_delay=60.0, deadline=21600.0)
    with pytest.raises(E.ProviderError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    message = info.value.message
    assert "set MAGSAG_CALL_DEADLINE" not in message and "MAGSAG_RETRY_MAX_DELAY to" not in message, message
    assert re.search(
        r"longer than the retry cap of 60s \(MAGSAG_RETRY_MAX_DELAY\)[^;]*; no setting waits it out "
        r"\(MAGSAG_CALL_DEADLINE takes at most 21600s\); call again in 21598s$",
        message,
    ), message
    (slept,) = clock.sleeps
    assert 5.0 <= slept <= 5.5
