"""The call's error for a 429 of a quota its server named (OpenAI's ``insufficient_quota``, Gemini's
``QuotaFailure``) with a wait over a minute: it said "a wait that long is taken for a spent quota" and "call again in
90s", false of a quota named whatever its wait (and of Gemini's per-day one, which resets hours later). It says the
quota was named, that no retry setting waits for it, and the fix: the plan's quota, or a fallback."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic_errors import anthropic_error
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.gemini_errors import gemini_error
from magsag_mcp.providers.http_errors import error_for
from tests.cascade_helpers import plan

from .test_gemini_daily_quota import DATE, _per_day
from .test_long_waits import _cascade

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

KEY = "sk-proj-" + "q" * 40
FIX = (
    "a named quota is not waited for, whatever MAGSAG_RETRY_MAX_DELAY says; check the quota and billing of the key's "
    "plan with the vendor, or add a fallback served by another quota (another provider or key) to the call"
)


async def _fails(err: E.ProviderError) -> E.ProviderError:
    script("a", err)
    cascade, clock = _cascade(max_delay=120.0)  # (a cap raised over the wait: it still does not wait for a quota)
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == []
    return info.value


async def test_openai_s_insufficient_quota_with_a_long_wait_names_the_quota_s_fix():
    said = f"You exceeded your current quota, please check your plan and billing details. (key {KEY})"
    err = error_for(429, said, headers={"Retry-After": "90"}, code="insufficient_quota", provider="fake", model="a")
    out = await _fails(err)
    assert out.message.endswith(
        "; fake:a was refused on a spent quota that its server named, and not tried again: its server asked to wait "
        f"90s, but {FIX}"
    )
    assert "taken for a spent quota" not in out.message and "call again in" not in out.message
    assert KEY not in out.message


async def test_gemini_s_per_day_quota_with_a_long_retry_info_says_no_wait_of_its_retry_info():
    body = _per_day()
    body["error"]["details"][1]["retryDelay"] = "90s"
    err = gemini_error(429, json.dumps(body).encode(), {"Date": DATE}, provider="fake", model="a")
    out = await _fails(err)
    # its reset is in its own message ("in 29100s"): the RetryInfo's 90s is no reset, and is not said as one
    assert "resets at midnight Pacific time, in 29100s" in out.message
    assert out.message.endswith(
        f"; fake:a was refused on a spent quota that its server named, and not tried again: {FIX}"
    )
    assert "90s" not in out.message


NAMED = "; fake:a was refused on a spent quota that its server named, and not tried again: "


@pytest.mark.parametrize(("headers", "asked"), [({}, ""), ({"Retry-After": "5"}, "its server asked to wait 5s, but ")])
async def test_openai_s_insufficient_quota_with_a_short_wait_or_none_names_the_quota_s_fix_too(headers, asked):
    # with no wait (as OpenAI most often sends it) or one under a minute, the call's error said no more than the
    # vendor's words, read as a rate limit's ("last error: ... HTTP 429"), with no word of what to do
    said = "You exceeded your current quota, please check your plan and billing details."
    err = error_for(429, said, headers=headers, code="insufficient_quota", provider="fake", model="a")
    out = await _fails(err)
    assert out.message.endswith(f"{NAMED}{asked}{FIX}")


async def test_gemini_s_per_day_quota_with_a_short_retry_info_or_none_names_the_quota_s_fix_too():
    for retry_info in (True, False):  # (its RetryInfo of 5s, or none)
        body = json.dumps(_per_day(retry_info=retry_info)).encode()
        out = await _fails(gemini_error(429, body, {"Date": DATE}, provider="fake", model="a"))
        assert out.message.endswith(f"{NAMED}{FIX}") and "5s" not in out.message


async def test_a_request_over_the_per_minute_limit_is_no_named_quota():
    # (a QuotaExhaustedError too, whose message says its own fix: a smaller request, not the plan's quota)
    too_large = (
        "Request too large for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Requested 36881. "
        "The input or output tokens must be reduced in order to run successfully."
    )
    out = await _fails(error_for(429, too_large, headers={}, code="rate_limit_exceeded", provider="fake", model="a"))
    assert "lower max_tokens or shorten the prompt" in out.message and NAMED not in out.message


def _anthropic(status: int, kind: str, said: str) -> E.ProviderError:
    body = {"type": "error", "error": {"type": kind, "message": said}}
    return anthropic_error(status, json.dumps(body).encode(), {}, provider="fake", model="a")


@pytest.mark.parametrize(
    "err",
    [
        # what the Messages API sends for a spent balance (not the spec's billing_error), and the spec's own 402
        _anthropic(400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
        _anthropic(402, "billing_error", "Payment required"),
        error_for(402, "Insufficient credits", headers={}, provider="fake", model="a"),  # (a gateway's: OpenRouter's)
    ],
    ids=["anthropic-400", "anthropic-402", "402"],
)
async def test_a_spent_credit_balance_names_the_billing_fix_as_insufficient_quota_does(err):
    # a QuotaExhaustedError of status 400 or 402 said the vendor's words alone, where a 429's insufficient_quota said
    # the quota's fix: check the plan's billing, or add a fallback another quota serves
    out = await _fails(err)
    assert out.message.endswith(f"{NAMED}{FIX}") and "asked to wait" not in out.message


async def test_anthropic_s_spend_limit_keeps_its_own_fix_alone():
    said = "You have reached your specified API usage limits. You will regain access on 2026-12-31 at 00:00 UTC."
    out = await _fails(_anthropic(400, "invalid_request_error", said))
    assert out.message.endswith("reached: raise it") and NAMED not in out.message
