"""A server's wait that is nonsense (a Retry-After of 1e30 seconds, a reset of years, a duration of 400 digits):
read as a bounded wait, never one a message cannot say (an exception in the call's error) or an infinite one."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.http_errors import error_for
from magsag_mcp.providers.openai_errors import openai_error
from magsag_mcp.providers.rate_limit_waits import (
    LONGEST_WAIT,
    parse_duration,
    parse_retry_after,
    rate_limit_reset,
    until_unix_time,
    wait_in_message,
)
from magsag_mcp.transport import HttpResponse
from tests.cascade_helpers import plan

from .test_long_waits import _cascade

HUGE = "9" * 400  # (float() reads it as inf)


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "1e30"},
        {"Retry-After": "99999999999"},  # some 3,000 years
        {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
        {"retry-after-ms": "1e35"},
        # past a float: it was read as no wait, and the 429 retried after the backoff's guess
        {"Retry-After": "1e400"},
        {"Retry-After": HUGE},
        {"retry-after-ms": "1e400"},
        {"x-ms-retry-after-ms": ".5e999"},
    ],
)
def test_a_huge_retry_after_is_read_as_the_longest_wait(headers):
    assert parse_retry_after(headers, now=0.0) == LONGEST_WAIT


def test_a_duration_or_reset_past_a_float_is_bounded_not_infinite():
    assert parse_duration(HUGE + "s") == LONGEST_WAIT and parse_duration("1e30") == LONGEST_WAIT
    # a bare number past a float read as the bound too, as the same digits with a unit are (it was no wait)
    assert parse_duration("1e400") == LONGEST_WAIT and parse_duration(HUGE) == LONGEST_WAIT
    assert parse_duration("-1e400") == 0.0 and parse_retry_after({"Retry-After": "-1e400"}) == 0.0
    assert wait_in_message(f"Please try again in {HUGE}ms.") == LONGEST_WAIT
    openai = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": HUGE + "h"}
    anthropic = {
        "date": "Thu, 03 Dec 2026 12:00:00 GMT",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "9999-12-31T23:59:59Z",
    }
    assert rate_limit_reset(openai) == LONGEST_WAIT and rate_limit_reset(anthropic) == LONGEST_WAIT


def _openrouter_429(reset: object) -> E.ProviderError:
    limit = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    said = "Rate limit exceeded: free-models-per-day"
    body = json.dumps({"error": {"message": said, "code": 429, "metadata": {"headers": limit}}})
    return openai_error(HttpResponse(429, {}, body.encode()), provider="compat", model="m:free")


@pytest.mark.parametrize("reset", ["1e400", HUGE, int(HUGE)])
def test_a_gateways_reset_past_a_float_is_the_longest_wait(reset):
    # OpenRouter's X-RateLimit-Reset (unix ms) in its error's metadata, of more digits than a float holds, was read
    # as no wait (float() made it inf, or raised OverflowError for JSON's int), where Retry-After: 1e400 is the bound
    exc = _openrouter_429(reset)
    assert isinstance(exc, E.QuotaExhaustedError) and exc.retry_after == LONGEST_WAIT


def test_a_reset_as_a_unix_time_is_read_as_sent_and_nonsense_as_none():
    assert until_unix_time("61000", per_second=1000.0, now=1.0) == 60.0 and until_unix_time(5, now=10.0) == 0.0
    assert until_unix_time("-1e400") == 0.0 and until_unix_time("inf") is None and until_unix_time("nan") is None
    assert until_unix_time(None) is None and until_unix_time("soon") is None
    assert _openrouter_429("inf").retry_after is None  # (no wait named: the backoff's guess, as before)


def test_ordinary_waits_are_read_as_sent():
    assert parse_retry_after({"Retry-After": "120"}) == 120.0 and parse_retry_after({"Retry-After": "-5"}) == 0.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5 and parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "86400"}) == 86400.0  # (Azure's day-long quota)
    assert parse_retry_after({"Retry-After": "soon"}) is None and parse_retry_after({"Retry-After": "inf"}) is None


@pytest.mark.anyio
@pytest.mark.usefixtures("fake_scripts")
@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "1e30"},
        {"Retry-After": "1e400"},  # (read as no wait: retried after the backoff, and its retries spent)
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": HUGE + "s"},
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1e400"},
    ],
)
async def test_a_429_with_a_nonsense_wait_fails_the_call_naming_a_bounded_wait(headers):
    # the call's error said the wait with a Decimal too short for it (decimal.InvalidOperation), or ceil'd an
    # infinite one (OverflowError): a bug raised in place of the 429
    script("a", error_for(429, "slow down", headers=headers, provider="fake", model="a"))
    cascade, clock = _cascade(max_delay=20.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and f"asked to wait {int(LONGEST_WAIT)}s" in info.value.message
    # past the largest retry cap taken (21600s), no setting waits it out: told to set the cap to the wait, the next
    # start refused it
    assert info.value.message.endswith(
        f"no setting waits it out (MAGSAG_RETRY_MAX_DELAY takes at most 21600s); call again in {int(LONGEST_WAIT)}s"
    )
