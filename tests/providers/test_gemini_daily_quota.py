"""Gemini's per-day quotas: a 429 RESOURCE_EXHAUSTED whose ``QuotaFailure`` names a quota per day (its ``quotaId``
``GenerateRequestsPerDayPerProjectPerModel-FreeTier``) comes with a ``RetryInfo`` of seconds all the same. Google
resets those quotas at midnight Pacific time: the target is left alone until then (10 minutes at most, then asked
again in case the quota was raised), not sent again once the RetryInfo's seconds have passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.gemini_errors import gemini_error

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from .test_cascades import KEY, _Clock, open_service

pytestmark = pytest.mark.anyio

PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
#: 15:55 in Los Angeles (PST, UTC-8): Google's daily quotas reset 8h05m later
DATE = "Thu, 03 Dec 2026 23:55:00 GMT"


def _per_day(*, retry_info: bool = True) -> dict:
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": PER_DAY,
                    "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
                    "quotaValue": "200",
                }
            ],
        }
    ]
    if retry_info:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"})
    message = "You exceeded your current quota, please check your plan and billing details."
    return {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}


@pytest.mark.parametrize("retry_info", [True, False], ids=["with-retry-info", "without"])
def test_a_per_day_quota_says_when_it_resets_and_rests_its_target_until_then(retry_info):
    import json

    err = gemini_error(
        429, json.dumps(_per_day(retry_info=retry_info)).encode(), {"Date": DATE}, provider="google", model="m"
    )
    assert isinstance(err, E.QuotaExhaustedError) and err.retry_after == (5.0 if retry_info else None)
    assert err.rest is not None and err.rest[0] == 8 * 3600 + 5 * 60  # until midnight in Los Angeles
    assert "a per-day quota, which Google resets at midnight Pacific time, in 29100s" in err.message


async def test_a_target_refused_on_a_per_day_quota_is_left_alone_past_its_retry_info(tmp_path: Path, serve):
    # it rested for the RetryInfo's 5s: the next call, 10s later, sent it again, to be refused again, every few
    # seconds all day; left alone for 10 minutes (the longest rest), it is asked again then, in case it was raised
    gemini = FakeGemini(KEY).queue(
        {"error": 429, "body": _per_day(), "headers": {"Date": DATE}}, {"text": "gemini, ten minutes later"}
    )
    openai = FakeOpenAI(KEY).queue({"text": "fallback 1"}, {"text": "fallback 2"})
    svc = await open_service(tmp_path, serve, openai, FakeAnthropic(KEY), gemini)
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    payload = {"data": "x", "model_config": {"model": "gemini-1.5-pro", "fallbacks": ["gpt-4o"]}}
    try:
        one = await svc.invoke_skill("skill.analysis", payload)
        clock.now += 10
        two = await svc.invoke_skill("skill.analysis", payload)
        sent_by_two = len(gemini.requests)
        clock.now += 590
        three = await svc.invoke_skill("skill.analysis", payload)
    finally:
        await svc.aclose()
    assert [a.error_class for a in one.attempts] == ["quota_exhausted", None] and one.result.text == "fallback 1"
    assert "Google resets at midnight Pacific time" in one.attempts[0].error_message
    assert two.result.text == "fallback 2" and sent_by_two == 1
    rest = two.attempts[0]
    assert rest.outcome == "skipped" and rest.cost_usd == 0
    said = rest.error_message
    assert "its server refused it 10s ago on a per-day quota, which Google resets at midnight Pacific time" in said
    assert "Pacific time: left alone for 600s (quota_exhausted), 590s of that left" in said
    assert three.result.text == "gemini, ten minutes later" and len(gemini.requests) == 2
    assert clock.waits == [] and gemini.violations == [] and openai.violations == []


@pytest.mark.parametrize(
    ("quota_id", "quota_value", "said"),
    [
        ("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "0", "a quota of 0 for the model"),
        ("GenerateContentSpendPerMonthPerProject", "100", "a quota that no wait of minutes refills"),
    ],
    ids=["quota-of-0", "per-month"],
)
def test_a_quota_no_wait_refills_rests_its_target_for_the_longest_rest_not_its_retry_info(quota_id, quota_value, said):
    import json
    import math

    from magsag_mcp.cascade_waits import LONGEST_REST, TargetRests
    from magsag_mcp.types import Target

    body = _per_day()
    body["error"]["details"][0]["violations"][0].update(quotaId=quota_id, quotaValue=quota_value)
    err = gemini_error(429, json.dumps(body).encode(), {"Date": DATE}, provider="google", model="m")
    assert isinstance(err, E.QuotaExhaustedError) and err.retry_after == 5.0
    assert err.rest is not None and err.rest[0] == math.inf and err.rest[1].startswith(said)
    rests, target = TargetRests(), Target("google", "m")
    rests.note(target, err, 0.0)
    # rested for the RetryInfo's 5s, it was sent again every 5s, to be refused the same way
    assert rests.resting(target, LONGEST_REST - 1) is not None and rests.resting(target, LONGEST_REST) is None


def test_a_per_day_quota_on_a_machine_without_a_time_zone_database_rests_the_longest_rest(monkeypatch):
    # (a slim container, or Windows without the tzdata package, has no America/Los_Angeles: the provider must still
    # import, and the quota still rest its target; only when it resets cannot be said)
    import json
    import math

    from magsag_mcp.providers import gemini_errors

    assert gemini_errors._zone("No_Such/Zone_Anywhere") is None
    monkeypatch.setattr(gemini_errors, "PACIFIC", "No_Such/Zone_Anywhere")
    err = gemini_error(429, json.dumps(_per_day()).encode(), {"Date": DATE}, provider="google", model="m")
    assert isinstance(err, E.QuotaExhaustedError) and err.retry_after == 5.0
    assert err.rest is not None and err.rest[0] == math.inf
    assert err.message.endswith("(a per-day quota, which Google resets at midnight Pacific time)")


@pytest.mark.parametrize("date", ["Fri, 31 Dec 9999 23:00:00 GMT", "Mon, 01 Jan 0001 00:00:00 GMT"])
def test_a_per_day_quota_with_a_date_header_no_calendar_holds_still_rests_its_target(date):
    # a Date header of the year 9999's last day (a gateway's placeholder) put the next midnight in the year 10000:
    # datetime raised OverflowError out of the error's conversion, and the vendor's 429 became a bug of magsag's
    import json

    err = gemini_error(429, json.dumps(_per_day()).encode(), {"Date": date}, provider="google", model="m")
    assert isinstance(err, E.QuotaExhaustedError) and err.retry_after == 5.0
    # the next midnight in Los Angeles, read on this machine's clock instead: within a day (25h on the day DST ends)
    assert err.rest is not None and 0 < err.rest[0] <= 25 * 3600
    assert "a per-day quota, which Google resets at midnight Pacific time, in " in err.message
