"""Gemini's error paths: 400s that are not about the request (a key refused, restricted or leaked, a region not
served), 429 RESOURCE_EXHAUSTED and its quotas, blocked answers and prompts, a context too long, and errors inside
the stream (split from test_error_paths.py)."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.types import Target
from tests.fakes.spec import spec_validator
from tests.providers.test_error_paths import GEMINI_MODEL, KEY, ask, gemini

from .fakes import FakeGemini

pytestmark = pytest.mark.anyio


# --- Gemini 400s that are not about the request -----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (
            {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            },
            E.AuthenticationError,
        ),
        (
            {
                "code": 400,
                "message": "User location is not supported for the API use.",
                "status": "FAILED_PRECONDITION",
            },
            E.PermissionDeniedError,
        ),
        (
            {
                "code": 400,
                "message": "Gemini API free tier is not available in your country. Please enable billing on your "
                "project in Google AI Studio.",
                "status": "FAILED_PRECONDITION",
            },
            E.PermissionDeniedError,
        ),
        # the control: a 400 about the request itself still stops the call
        ({"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}, E.BadRequestError),
    ],
    ids=["api-key-invalid", "location", "free-tier-country", "invalid-argument"],
)
async def test_gemini_400_for_a_bad_key_or_an_unserved_region_moves_on(serve, transport, error, cls):
    # Both used to be bad requests, which stop the whole cascade although another vendor could answer.
    _, provider, target = await gemini(serve, transport, {"error": 400, "body": {"error": error}})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert type(info.value) is cls, type(info.value)
    assert info.value.status == 400 and info.value.moves_on == (cls is not E.BadRequestError)
    assert error["message"] in info.value.message


@pytest.mark.parametrize(
    "message",
    [
        "Budget 0 is invalid. This model only works in thinking mode.",
        "Budget 40000 is invalid. Please choose a value between 128 and 32768.",
        "Invalid JSON payload received. Unknown name \"thinkingLevel\" at 'generation_config.thinking_config': Cannot "
        "find field.",
    ],
    ids=["always-thinks", "out-of-range", "unknown-field"],
)
async def test_a_gemini_400_about_the_targets_own_thinking_config_moves_on(serve, transport, message):
    # thinkingConfig comes from a target's params alone (magsag sets none): a model refusing it (one that always
    # thinks, a budget outside its range, a field its API lacks) is this target's, not the call's, as OpenAI's
    # "does not support 'minimal' with this model" is. Read as a bad request, it stopped the whole chain.
    error = {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
    _, provider, target = await gemini(serve, transport, {"error": 400, "body": {"error": error}})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert type(info.value) is E.UnsupportedFeatureError, type(info.value)
    assert info.value.moves_on and not info.value.retryable and info.value.details["param"] == "thinkingConfig"
    assert message in info.value.message and "set one this model takes, or leave it out" in info.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_a_gemini_key_it_refuses_names_the_variable_it_came_from(serve, transport, stream: bool):
    # Gemini answers a wrong key 400 INVALID_ARGUMENT (ErrorInfo API_KEY_INVALID), not 401: the error said "API key
    # not valid" without naming which of GEMINI_API_KEY and GOOGLE_API_KEY was sent, as a 401 from any vendor does.
    fake = FakeGemini(KEY)
    url = await serve(fake)
    env = {"GEMINI_API_KEY": "stale-key-987654", "GOOGLE_API_KEY": KEY}
    provider = GeminiProvider(env, transport)
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(ask(stream), Target("google", GEMINI_MODEL, url))
    err = info.value
    assert err.status == 400 and err.moves_on and "API key not valid" in err.message
    assert err.message.endswith("; check GEMINI_API_KEY, whose key was sent")
    assert "stale-key-987654" not in err.message and fake.violations == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("API_KEY_HTTP_REFERRER_BLOCKED", "Requests from referer <empty> are blocked."),
        (
            "API_KEY_SERVICE_BLOCKED",
            "Requests to this API generativelanguage.googleapis.com method "
            "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent are blocked.",
        ),
        ("API_KEY_IP_ADDRESS_BLOCKED", "The client IP address is not authorized to make this request."),
    ],
)
async def test_a_gemini_key_whose_restrictions_refuse_the_call_says_which_key_and_what_to_lift(
    serve, transport, reason: str, message: str
):
    # A key restricted to websites, to other APIs or to other addresses is answered 403 PERMISSION_DENIED with an
    # ErrorInfo reason API_KEY_*_BLOCKED: the error said "Requests from referer <empty> are blocked." and no more,
    # neither that the key's restrictions were the cause nor which variable held the key.
    info_detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
    body = {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED", "details": [info_detail]}}
    _, provider, target = await gemini(serve, transport, {"error": 403, "body": body})
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert err.status == 403 and err.moves_on and message in err.message
    assert "the key's restrictions" in err.message and err.message.endswith("check GEMINI_API_KEY, whose key was sent")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_gemini_key_google_found_leaked_says_which_key_to_replace(serve, transport, stream: bool):
    # Google blocks a key it finds published (403 PERMISSION_DENIED "Your API key was reported as leaked. Please use
    # another API key.", no ErrorInfo): the error was a permission_denied that named neither GEMINI_API_KEY nor
    # GOOGLE_API_KEY, where both may be set and only one was sent. Every call with the key fails the same.
    message = "Your API key was reported as leaked. Please use another API key."
    body = {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}
    fake = FakeGemini(KEY).queue({"error": 403, "body": body})
    url = await serve(fake)
    provider = GeminiProvider({"GEMINI_API_KEY": KEY, "GOOGLE_API_KEY": "another-key-123456"}, transport)
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(ask(stream), Target("google", GEMINI_MODEL, url))
    err = info.value
    assert err.status == 403 and err.moves_on and not err.retryable and message in err.message
    assert err.message.endswith("; check GEMINI_API_KEY, whose key was sent") and KEY not in err.message


def test_gemini_region_refusal_says_how_to_fix_it_and_a_bodyless_error_reads_cleanly():
    # "User location is not supported for the API use." said what, not what to do about it; and an error without
    # Google's JSON (a gateway's page) read "HTTP 504 : <html>...", a stray space where the RPC status would be
    from magsag_mcp.providers.gemini_errors import gemini_error

    body = b'{"error": {"code": 400, "message": "User location is not supported for the API use.", '
    body += b'"status": "FAILED_PRECONDITION"}}'
    err = gemini_error(400, body, {}, provider="google", model=GEMINI_MODEL)
    assert isinstance(err, E.PermissionDeniedError) and "enable billing" in err.message
    assert err.message.startswith(f"google:{GEMINI_MODEL}: HTTP 400 FAILED_PRECONDITION: User location is not")
    for status, cls in ((504, E.ProviderTimeoutError), (429, E.RateLimitError)):
        err = gemini_error(status, b"<html>Gateway</html>", {}, provider="google", model=GEMINI_MODEL)
        page = "an HTML page, not the API's answer: 'Gateway' (a gateway or proxy in front of the API answered)"
        assert type(err) is cls and err.message == f"google:{GEMINI_MODEL}: HTTP {status}: {page}"


# --- Gemini 429 RESOURCE_EXHAUSTED -------------------------------------------------------------------

QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)


def quota_failure(*quota_ids: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": GEMINI_MODEL},
                "quotaValue": "15",
            }
            for quota_id in quota_ids
        ],
    }


HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def exhausted(*details: dict[str, Any], message: str = QUOTA_MESSAGE) -> dict[str, Any]:
    return {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": list(details)}}


PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
#: what Gemini answers a key whose tier has no quota at all for the model
LIMIT_0 = (
    f"{QUOTA_MESSAGE} \n* Quota exceeded for metric: generativelanguage.googleapis.com/"
    f"generate_content_free_tier_requests, limit: 0, model: {GEMINI_MODEL}\nPlease retry in 7.967587226s."
)

#: Gemini's per-minute message: its wait in words as well as in its RetryInfo (vercel/ai#18627, dimetron/pi-go#177)
RETRY_IN_MESSAGE = (
    f"{QUOTA_MESSAGE} To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n* Quota "
    "exceeded for metric: generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count, limit: "
    "4000000\nPlease retry in 47.434392449s."
)


def zero_quota(quota_id: str) -> dict[str, Any]:
    detail = quota_failure(quota_id)
    detail["violations"][0]["quotaValue"] = "0"
    return detail


@pytest.mark.parametrize(
    ("body", "headers", "cls", "wait"),
    [
        # the free tier's per-minute limit: wait as told, then retry
        (exhausted(quota_failure(PER_MINUTE), HELP, retry_info("37s")), {}, E.RateLimitError, 37.0),
        (exhausted(retry_info("1.5s")), {}, E.RateLimitError, 1.5),
        (
            exhausted(quota_failure("GenerateContentInputTokensPerModelPerMinute-FreeTier")),
            {},
            E.RateLimitError,
            None,
        ),
        # the Retry-After header still wins over the body's RetryInfo
        (exhausted(quota_failure(PER_MINUTE), retry_info("37s")), {"Retry-After": "3"}, E.RateLimitError, 3.0),
        # a daily quota will not clear soon, even though Google sends a RetryInfo with it: move on
        (exhausted(quota_failure(PER_DAY), HELP, retry_info("5s")), {}, E.QuotaExhaustedError, 5.0),
        (
            exhausted(quota_failure(PER_MINUTE, "GenerateContentInputTokensPerModelPerDay-FreeTier")),
            {},
            E.QuotaExhaustedError,
            None,
        ),
        # no details: the message alone ("quota", "billing") says nothing about when it clears
        (exhausted(), {}, E.RateLimitError, None),
        (exhausted(message="Resource has been exhausted (e.g. check quota)."), {}, E.RateLimitError, None),
        (exhausted(message="Quota exceeded for requests per day. Try tomorrow."), {}, E.QuotaExhaustedError, None),
        # a quota of 0 (a free-tier key calling gemini-2.5-pro or gemini-3): no wait gives it one, whatever the
        # RetryInfo says; it was retried after each short wait, and failed the same each time
        (exhausted(quota_failure(PER_MINUTE), retry_info("7s"), message=LIMIT_0), {}, E.QuotaExhaustedError, 7.0),
        (exhausted(zero_quota(PER_MINUTE), retry_info("25s")), {}, E.QuotaExhaustedError, 25.0),
        # the message's own "Please retry in 12.3s." where no RetryInfo came (a gateway that keeps the message and
        # drops the details): the wait it names, not the backoff's guess of a second, which was refused again
        (exhausted(quota_failure(PER_MINUTE), message=RETRY_IN_MESSAGE), {}, E.RateLimitError, 47.434392449),
        (exhausted(message=f"{QUOTA_MESSAGE}\nPlease retry in 12.3s."), {}, E.RateLimitError, 12.3),
        # a RetryInfo still wins over the message's words, and a wait past a minute is a quota, as a RetryInfo's is
        (exhausted(retry_info("40s"), message=RETRY_IN_MESSAGE), {}, E.RateLimitError, 40.0),
        (exhausted(message=f"{QUOTA_MESSAGE}\nPlease retry in 75.2s."), {}, E.QuotaExhaustedError, 75.2),
    ],
    ids=[
        "per-minute+retry-info",
        "retry-info-only",
        "per-minute-tokens",
        "header-wins",
        "per-day+retry-info",
        "per-day-among-others",
        "no-details",
        "vertex-message",
        "daily-message",
        "limit-0-message",
        "limit-0-quota-value",
        "retry-in-message",
        "retry-in-message-no-details",
        "retry-info-over-message",
        "retry-in-message-long",
    ],
)
async def test_gemini_resource_exhausted(serve, transport, body, headers, cls, wait):
    fake, provider, target = await gemini(serve, transport, {"error": 429, "body": body, "headers": headers})
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert type(err) is cls, (type(err), cls)
    assert err.retry_after == wait and err.status == 429 and err.moves_on
    assert err.retryable == (cls is E.RateLimitError)
    assert fake.violations == []


async def test_a_gemini_quota_of_zero_says_waiting_will_not_help(serve, transport):
    body = exhausted(quota_failure(PER_MINUTE), retry_info("7s"), message=LIMIT_0)
    _, provider, target = await gemini(serve, transport, {"error": 429, "body": body})
    with pytest.raises(E.QuotaExhaustedError, match="limit: 0") as info:
        await provider.complete(ask(), target)
    assert "waiting will not help; enable billing" in info.value.message and not info.value.retryable


# --- Gemini: blocked answers and prompts, context too long, errors inside the stream -----------------


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_answer_blocked_by_safety(serve, transport, stream: bool):
    _, provider, target = await gemini(serve, transport, {"text": None, "finish": "SAFETY"})
    with pytest.raises(E.ContentFilteredError, match="SAFETY") as info:
        await provider.complete(ask(stream), target)
    assert info.value.moves_on and not info.value.retryable
    assert info.value.usage.input_tokens > 0  # usageMetadata travels with the error, to be recorded at cost


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_prompt_blocked(serve, transport, stream: bool):
    _, provider, target = await gemini(serve, transport, {"block": "PROHIBITED_CONTENT"})
    with pytest.raises(E.ContentFilteredError, match="prompt was blocked.*PROHIBITED_CONTENT") as info:
        await provider.complete(ask(stream), target)
    assert info.value.moves_on and (info.value.provider, info.value.model) == ("google", GEMINI_MODEL)
    assert info.value.usage.input_tokens > 0 and info.value.usage.output_tokens == 0


@pytest.mark.parametrize("stream", [False, True])
async def test_a_gemini_safety_block_names_the_category_and_the_setting_that_moves_it(serve, transport, stream: bool):
    # A block said "the answer was blocked (finishReason: SAFETY)" and no more: not which harm category blocked it
    # (safetyRatings[].blocked), nor that the target's safetySettings set how readily each category blocks, as
    # Azure's content filter errors name the filters that fired.
    _, provider, target = await gemini(serve, transport, {"text": None, "finish": "SAFETY"}, {"block": "SAFETY"})
    fix = "params.safetySettings"
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(ask(stream), target)
    assert "the answer was blocked (finishReason: SAFETY; blocked: HARM_CATEGORY_DANGEROUS_CONTENT (HIGH))" in str(
        info.value
    )
    assert fix in info.value.message and info.value.moves_on
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(ask(stream), target)
    assert "the prompt was blocked (blockReason: SAFETY; blocked: HARM_CATEGORY_HARASSMENT (MEDIUM))" in str(info.value)
    assert fix in info.value.message


@pytest.mark.parametrize(
    ("finish", "says"),
    [
        ("RECITATION", "repeated a source too closely"),
        ("LANGUAGE", "does not support the language"),
        ("PROHIBITED_CONTENT", "safetySettings do not change this block"),
        ("SPII", "safetySettings do not change this block"),
        ("BLOCKLIST", "safetySettings do not change this block"),
    ],
)
def test_a_gemini_block_that_safety_settings_do_not_move_does_not_point_at_them(finish: str, says: str):
    from magsag_mcp.providers.gemini import GeminiFormat

    body = {
        "candidates": [{"finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    }
    with pytest.raises(E.ContentFilteredError) as info:
        GeminiFormat().parse_response(body, provider="google", model=GEMINI_MODEL)
    assert f"(finishReason: {finish})" in info.value.message and says in info.value.message
    assert ("params.safetySettings" in info.value.message) is False


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_malformed_function_call_is_a_failed_attempt_not_an_empty_answer(serve, transport, stream: bool):
    # Candidate.finishReason MALFORMED_FUNCTION_CALL: "The function call generated by the model is invalid."
    # The candidate has no content: passed as an answer, it was an empty success and the cascade stopped there.
    step = {"text": None, "finish": "MALFORMED_FUNCTION_CALL", "usage": {"promptTokenCount": 90}}
    _, provider, target = await gemini(serve, transport, step)
    with pytest.raises(E.MalformedResponseError, match="MALFORMED_FUNCTION_CALL.*Malformed function call") as info:
        await provider.complete(ask(stream), target)
    assert info.value.moves_on and not info.value.retryable
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (90, 7)  # billed: recorded at cost


@pytest.mark.parametrize(
    ("finish", "cls"),
    [
        ("UNEXPECTED_TOOL_CALL", E.MalformedResponseError),
        ("TOO_MANY_TOOL_CALLS", E.MalformedResponseError),
        ("MALFORMED_RESPONSE", E.MalformedResponseError),
        ("MISSING_THOUGHT_SIGNATURE", E.MalformedResponseError),
        ("ESCALATION", E.ContentFilteredError),
        ("IMAGE_PROHIBITED_CONTENT", E.ContentFilteredError),
    ],
)
def test_gemini_finish_reasons_of_the_discovery_document_that_leave_no_answer(finish: str, cls: type):
    # Newer than gemini.json (gemini.discovery.json's Candidate.finishReason), so checked on the body alone.
    from magsag_mcp.providers.gemini import GeminiFormat

    body = {
        "candidates": [{"finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3, "totalTokenCount": 15},
    }
    with pytest.raises(cls, match=finish) as info:
        GeminiFormat().parse_response(body, provider="google", model=GEMINI_MODEL)
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (12, 3)


def test_gemini_blocked_bodies_follow_the_spec():
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("POST", "/v1beta/models/g:generateContent")
    for step in ({"text": None, "finish": "SAFETY"}, {"block": "SAFETY"}, {"finish": "MALFORMED_FUNCTION_CALL"}):
        spec_validator("gemini").assert_valid("GenerateContentResponse", FakeGemini().reply(request, {}, step))


async def test_gemini_context_too_long(serve, transport):
    body = {
        "error": {
            "code": 400,
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    }
    _, provider, target = await gemini(serve, transport, {"error": 400, "body": body})
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(ask(), target)
    assert info.value.moves_on and info.value.status == 400


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (
            {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"},
            E.OverloadedError,
        ),
        ({"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}, E.ServerError),
        ({"code": 429, "message": QUOTA_MESSAGE, "status": "RESOURCE_EXHAUSTED"}, E.RateLimitError),
    ],
    ids=["unavailable", "internal", "resource-exhausted"],
)
async def test_gemini_stream_that_ends_with_an_error(serve, transport, error: dict[str, Any], cls: type):
    _, provider, target = await gemini(
        serve, transport, {"text": "one two three four", "stream_error": {"error": error}}
    )
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=True), target)
    err = info.value
    assert type(err) is cls and err.status == error["code"]  # the status the error stands for, not 500
    assert err.retryable and err.moves_on and error["message"] in err.message


async def test_gemini_stream_that_ends_with_an_error_says_where_it_was_not_an_http_status(serve, transport):
    # the stream came with HTTP 200: its message said "HTTP 503" (the code in the error chunk), which no server sent,
    # as the OpenAI formats' stream errors did; it says where the error was, as theirs now do
    error = {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
    _, provider, target = await gemini(
        serve, transport, {"text": "one two three four", "stream_error": {"error": error}}
    )
    with pytest.raises(E.OverloadedError) as info:
        await provider.complete(ask(stream=True), target)
    assert info.value.status == 503 and info.value.retryable  # (its class and status unchanged)
    assert "HTTP" not in info.value.message, info.value.message
    assert f"gemini-2.0-flash: an error in the answer's stream: {error['message']}" in info.value.message


async def test_gemini_error_body_under_200_says_so_not_an_http_status(serve, transport):
    # a gateway's 200 whose body is Gemini's error (its upstream's failure), not streamed: read as the error its code
    # stands for, as the stream's error chunk is, and said where it was: an error body under HTTP 200, not a stream
    error = {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
    _, provider, target = await gemini(serve, transport, {"error": 200, "body": {"error": error}})
    with pytest.raises(E.OverloadedError) as info:
        await provider.complete(ask(), target)
    assert info.value.status == 503 and info.value.retryable  # (its class and status unchanged)
    assert f"gemini-2.0-flash: an error body under HTTP 200: {error['message']}" in info.value.message


@pytest.mark.parametrize("rpc", [["UNAVAILABLE"], {"name": "UNAVAILABLE"}], ids=["list", "object"])
async def test_an_error_whose_status_is_no_name_is_read_by_its_http_status_not_a_bug_of_ours(
    serve, transport, rpc: Any
):
    # a broken gateway's error body whose error.status is a list or an object, no RPC status name: looked up among
    # the names it raised TypeError (unhashable) out of the provider, which a call reports as a bug in magsag-mcp.
    # Read by its HTTP status, as a body with no status name is
    body = {"error": {"code": 503, "message": "The model is overloaded", "status": rpc}}
    _, provider, target = await gemini(serve, transport, {"error": 503, "body": body})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert isinstance(err, E.ServerError) and err.status == 503 and err.retryable and err.moves_on
    assert "The model is overloaded" in err.message


@pytest.mark.parametrize("violations", [5, True], ids=["number", "bool"])
async def test_a_quota_failure_whose_violations_are_no_list_is_a_quota_error_not_a_bug_of_ours(
    serve, transport, violations: Any
):
    # a broken gateway's 429 whose QuotaFailure detail holds a number where its violations list goes: walked as a list,
    # it raised TypeError (not iterable) out of the provider, which a call reports as a bug in magsag-mcp
    detail = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations}
    error = {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED", "details": [detail]}
    body = {"error": error}
    _, provider, target = await gemini(serve, transport, {"error": 429, "body": body})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert info.value.status == 429 and "Resource exhausted" in info.value.message


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("zero", ["BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED"])
async def test_a_gemini_block_reason_unspecified_beside_an_answer_is_no_block(serve, transport, stream: bool, zero):
    # PromptFeedback.blockReason BLOCK_REASON_UNSPECIFIED is the enum's zero value ("Default value. This value is
    # unused."), which a gateway writing every field (proto3 JSON with its defaults) puts on each answer: read as a
    # block, every answer it passed on failed as content_filtered, paid for and lost; it blocks nothing. Vertex AI's
    # enum and Google's genai SDKs' types (a gateway built on them, for either API) spell it BLOCKED_REASON_UNSPECIFIED
    feedback = {"blockReason": zero}
    fake, provider, target = await gemini(serve, transport, {"text": "Oslo is sunny", "feedback": feedback})
    result = await provider.complete(ask(stream), target)
    assert (result.text, result.finish_reason) == ("Oslo is sunny", "stop")
    assert result.usage.input_tokens == 11 and fake.violations == []
