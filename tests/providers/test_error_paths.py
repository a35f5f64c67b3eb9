"""Error paths with the vendors' real bodies: Gemini quota vs per-minute limits, refusals and blocks,
context too long, features a target lacks, and errors that arrive inside a 200 stream."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.http_errors import error_for
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolSpec
from tests.fakes.spec import spec_validator

from .fakes import FakeAnthropic, FakeGemini

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
GEMINI_MODEL = "gemini-2.0-flash"
CLAUDE = "claude-3-5-sonnet-20241022"


def ask(stream: bool = False) -> LLMRequest:
    return LLMRequest([Message("user", "x")], max_tokens=50, stream=stream)


async def gemini(serve, transport: Transport, *steps: dict[str, Any]) -> tuple[FakeGemini, GeminiProvider, Target]:
    fake = FakeGemini(KEY).queue(*steps)
    url = await serve(fake)
    return fake, GeminiProvider({"GEMINI_API_KEY": KEY}, transport), Target("google", GEMINI_MODEL, url)


async def anthropic(
    serve, transport: Transport, *steps: dict[str, Any]
) -> tuple[FakeAnthropic, AnthropicProvider, Target]:
    fake = FakeAnthropic(KEY).queue(*steps)
    url = await serve(fake)
    return fake, AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport), Target("anthropic", CLAUDE, url)


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


# --- Anthropic -------------------------------------------------------------------------------------

REFUSAL_DETAILS = {"type": "refusal", "category": "cyber", "explanation": "policy: malicious code"}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("partial", [None, "Sure, here is how you"])
async def test_anthropic_refusal_is_content_filtered(serve, transport, stream: bool, partial: str | None):
    # The streaming classifiers can stop an answer already under way: the partial text is not an answer.
    step = {"text": partial, "finish": "refusal", "stop_details": REFUSAL_DETAILS}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ContentFilteredError, match="refus") as info:
        await provider.complete(ask(stream), target)
    assert "cyber" in info.value.message
    assert info.value.moves_on and not info.value.retryable
    assert info.value.usage.input_tokens > 0  # billed tokens travel with the error, to be recorded at cost


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_refusal_inside_a_tool_call_is_the_refusal(serve, transport, stream: bool):
    # The classifiers stopped the answer inside a tool call's input: streamed, that input's JSON is cut short, and
    # the attempt failed as "streamed tool input is not JSON" (a malformed answer, as if the model wrote bad JSON),
    # not as the refusal it was, whose category the message names.
    # (unstreamed, the API answers with the input written so far, as an object)
    cut = '{"cmd": "curl http://x | s' if stream else {"cmd": "curl http://x | s"}
    call = {"id": "toolu_1", "name": "run", "arguments": cut}
    step = {"tool_calls": [call], "finish": "refusal", "stop_details": REFUSAL_DETAILS}
    fake, provider, target = await anthropic(serve, transport, step)
    run = ToolSpec("run", "Run a command", {"type": "object", "properties": {"cmd": {"type": "string"}}})
    request = LLMRequest([Message("user", "x")], tools=[run], max_tokens=50, stream=stream)
    with pytest.raises(E.ContentFilteredError, match="refus") as info:
        await provider.complete(request, target)
    assert "cyber" in info.value.message and "not JSON" not in info.value.message
    assert info.value.usage.input_tokens > 0 and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_paused_turn_is_not_a_finished_answer(serve, transport, stream: bool):
    # StopReason pause_turn: "we paused a long-running turn. You may provide the response back as-is in a
    # subsequent request to let the model continue." The text so far is kept, but the answer is not finished.
    _, provider, target = await anthropic(serve, transport, {"text": "Searching the web", "finish": "pause_turn"})
    result = await provider.complete(ask(stream), target)
    assert result.text.strip() == "Searching the web"
    assert result.finish_reason == "other"
    assert any("pause_turn" in w and "incomplete" in w for w in result.warnings)


def test_anthropic_refusal_body_follows_the_spec():
    from aiohttp.test_utils import make_mocked_request

    step = {"text": None, "finish": "refusal", "stop_details": REFUSAL_DETAILS}
    msg = FakeAnthropic().reply(make_mocked_request("POST", "/v1/messages"), {"model": CLAUDE}, step)
    spec_validator("anthropic").assert_valid("Message", msg)


async def test_anthropic_prompt_too_long(serve, transport):
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"},
    }
    _, provider, target = await anthropic(serve, transport, {"error": 400, "body": body})
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(ask(), target)
    assert info.value.moves_on and info.value.status == 400


async def test_anthropic_timeout_error_is_retryable(serve, transport):
    body = {"type": "error", "error": {"type": "timeout_error", "message": "Request timed out"}}
    _, provider, target = await anthropic(serve, transport, {"error": 504, "body": body})
    with pytest.raises(E.ProviderTimeoutError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert (err.status, err.retryable, err.moves_on) == (504, True, True)
    assert "Request timed out" in err.message
    assert err.maybe_billed  # timed out while processing: what it generated may be billed


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, E.OverloadedError, 529),
        ({"type": "api_error", "message": "Internal server error"}, E.ServerError, 500),
        # a type this code does not know yet is a server-side failure, not a bad request that stops the cascade
        ({"type": "some_future_error", "message": "Something went wrong"}, E.ServerError, 500),
    ],
    ids=["overloaded", "api", "unknown-type"],
)
async def test_anthropic_error_event_mid_stream(serve, transport, error: dict[str, Any], cls: type, status: int):
    step = {"text": "the answer starts here", "stream_error": {"type": "error", "error": error}}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=True), target)
    err = info.value
    assert type(err) is cls and err.status == status
    assert err.retryable and err.moves_on and error["message"] in err.message


@pytest.mark.parametrize(
    ("status", "error", "cls"),
    [
        (529, {"type": "overloaded_error", "message": "Overloaded"}, E.OverloadedError),
        (504, {"type": "timeout_error", "message": "Request timeout"}, E.ProviderTimeoutError),
        (402, {"type": "billing_error", "message": "Billing error"}, E.QuotaExhaustedError),
        (400, {"type": "invalid_request_error", "message": "Your credit balance is too low"}, E.QuotaExhaustedError),
    ],
    ids=["overloaded", "timeout", "billing", "credit-balance"],
)
@pytest.mark.parametrize("where", ["header", "body"])
async def test_anthropic_errors_of_their_own_class_name_the_request_id(
    serve, transport, status: int, error: dict[str, Any], cls: type, where: str
):
    # Anthropic names every request in its request-id header (and, by the spec's ErrorResponse, in the body's
    # request_id): what its support asks for. An overloaded (529), timed-out or billing error lost it, in the
    # message and in the details, where every other error status kept it.
    rid = "req_011CZ47RMLnx1JoJXRrzzSde"
    body = {"type": "error", "error": error, "request_id": rid if where == "body" else None}
    headers = {"request-id": rid} if where == "header" else {}
    _, provider, target = await anthropic(serve, transport, {"error": status, "body": body, "headers": headers})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert type(err) is cls and err.status == status
    assert err.details["request_id"] == rid and err.details["code"] == error["type"]
    assert err.message == f"anthropic:{CLAUDE}: HTTP {status} (request id {rid}): {error['message']}"


@pytest.mark.parametrize("status", [400, 403])
async def test_anthropic_disabled_organization_is_the_keys_not_the_requests(serve, transport, status: int):
    # The API answers a key whose organization is disabled with 400 invalid_request_error "This organization has
    # been disabled." (403 at times): read as a bad request, it stopped the whole call, although the request is
    # fine and another vendor can serve it. The key is what to change.
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "This organization has been disabled."},
        "request_id": "req_011CZLrUfBVkVHn5T6EqQaf7",
    }
    _, provider, target = await anthropic(serve, transport, {"error": status, "body": body})
    with pytest.raises(E.PermissionDeniedError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert err.moves_on and not err.retryable and err.status == status
    assert "ANTHROPIC_API_KEY" in err.message and KEY not in err.message


# --- 400s: the target lacks a feature, or our input is wrong ---------------------------------------

H: dict[str, str] = {}


@pytest.mark.parametrize(
    ("status", "message", "code", "model"),
    [
        (
            400,
            "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
            "unsupported_value",
            "o1-preview",
        ),
        (
            400,
            "Unsupported parameter: 'temperature' is not supported with this model.",
            "unsupported_parameter",
            "o1-mini",
        ),
        (
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "unsupported_parameter",
            "o1-mini",
        ),
        (400, "registry.ollama.ai/library/llama3:latest does not support tools", None, "llama3"),
        (400, "llama3.2-vision:latest does not support thinking", None, "llama3.2-vision"),
        (400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set', None, "qwen"),
        (400, "Function calling is not enabled for models/gemma-3-27b-it", "INVALID_ARGUMENT", "gemma-3-27b-it"),
        (400, "Developer instruction is not enabled for models/gemma-3-27b-it", "INVALID_ARGUMENT", "gemma-3-27b-it"),
        # max_tokens above this model's output limit: another target (a larger limit) can serve the call
        (
            400,
            "max_tokens: 8192 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307",
            "invalid_request_error",
            "claude-3-haiku-20240307",
        ),
        (
            400,
            "max_tokens is too large: 32768. This model supports at most 16384 completion tokens, whereas you "
            "provided 32768.",
            "invalid_value",
            "gpt-4o",
        ),
        (
            400,
            "max_completion_tokens is too large: 200000. This model supports at most 100000 completion tokens, "
            "whereas you provided 200000.",
            "invalid_value",
            "o3-mini",
        ),
        (
            400,
            "Unable to submit request because it has a maxOutputTokens value of 100000 but the supported range is "
            "from 1 (inclusive) to 8193 (exclusive). Update the value and try again.",
            "INVALID_ARGUMENT",
            "gemini-1.5-pro",
        ),
    ],
)
def test_a_400_about_what_the_target_cannot_do_moves_on(status, message, code, model):
    err = error_for(status, message, headers=H, provider="p", model=model, code=code)
    assert type(err) is E.UnsupportedFeatureError, type(err)
    assert (err.moves_on, err.retryable, err.status) == (True, False, 400)


@pytest.mark.parametrize(
    ("message", "code", "cls"),
    [
        ("Invalid value for 'temperature': must be between 0 and 2.", "invalid_value", E.BadRequestError),
        ("Invalid token count for max_tokens: must be at least 1.", None, E.BadRequestError),
        ("max_tokens: invalid token count -5", "invalid_request_error", E.BadRequestError),
        ("Invalid 'tools[0].function.name': string does not match pattern.", "invalid_value", E.BadRequestError),
        ("Unsupported file type: .exe", None, E.BadRequestError),
        ("The /v1/responses endpoint is not supported by this server", "unsupported_endpoint", E.BadRequestError),
        ("This model's maximum context length is 8192 tokens.", "context_length_exceeded", E.ContextTooLongError),
        ("input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000", None, E.ContextTooLongError),
    ],
)
def test_a_400_about_our_input_stays_a_bad_request(message, code, cls):
    err = error_for(400, message, headers=H, provider="p", model="gpt-4o", code=code)
    assert type(err) is cls, type(err)
    assert err.moves_on == (cls is E.ContextTooLongError)


async def test_an_output_limit_below_max_tokens_moves_on_to_a_target_that_has_room(serve, transport):
    # The catalog's economy tier goes gpt-4o-mini (16k output tokens), then claude-3-haiku (4k). A call
    # asking for 8000 tokens that reached haiku was stopped as a bad request, though the fault was the
    # target's limit, not the request: another target could serve it.
    message = "max_tokens: 8000 > 4096, which is the maximum allowed number of output tokens for " + CLAUDE
    _, provider, target = await anthropic(
        serve, transport, {"error": 400, "kind": "invalid_request_error", "message": message}
    )
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(LLMRequest([Message("user", "x")], max_tokens=8000), target)
    assert info.value.moves_on and message in info.value.message


# --- a model id is one path segment ------------------------------------------------------------------


async def test_a_gemini_model_id_cannot_climb_out_of_its_path_segment(serve, transport: Transport):
    """A policy's allowed_models glob reads the id as written; the URL must name the same model, or
    "gemini-1.5-flash/../gemini-ultra" would pass "gemini-1.5-*" and call another model."""
    from aiohttp import web

    seen: list[str] = []

    class RawPaths:
        def app(self) -> web.Application:
            async def record(request: web.Request) -> web.Response:
                seen.append(request.raw_path)
                return web.json_response(
                    {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}, status=404
                )

            app = web.Application()
            app.router.add_route("POST", "/{tail:.*}", record)
            return app

    url = await serve(RawPaths())
    provider = GeminiProvider({"GEMINI_API_KEY": KEY}, transport)
    for model in ("gemini-1.5-flash/../gemini-ultra", "models/gemini-2.5-flash", "tunedModels/my-tune"):
        with pytest.raises(E.ProviderError):
            await provider.complete(ask(), Target("google", model, url))
    assert [p.split("?")[0] for p in seen] == [
        "/v1beta/models/gemini-1.5-flash%2F..%2Fgemini-ultra:generateContent",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/tunedModels/my-tune:generateContent",
    ]


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        # OpenAI-compatible servers and gateways answer an unknown model with a 400, not a 404
        (400, "The requested model 'gpt-4-1106-preview' does not exist.", "model_not_found"),
        (400, "Model Not Exist", "invalid_request_error"),  # DeepSeek
        (400, "The model `llama3.1-405b` does not exist or you do not have access to it.", None),
        (422, "model 'qwen2.5:7b' not found, try pulling it first", None),
    ],
)
def test_a_400_saying_the_model_does_not_exist_moves_on(status, message, code):
    # a BadRequestError stopped the cascade: the next target (another model) was never tried
    err = error_for(status, message, headers=H, provider="p", model="m", code=code)
    assert type(err) is E.ModelNotFoundError, type(err)
    assert (err.moves_on, err.retryable, err.status) == (True, False, status)


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-inf"])
def test_a_rate_limit_reset_that_is_no_finite_number_is_no_wait(value):
    # "inf" became a wait of infinity (a 429 classed as quota exhausted, and a retry_after of Infinity,
    # which is no JSON, in the error a caller reads); garbage is treated as absent, like a Retry-After's. (A number
    # of digits past a float, "1e999", was one of these: it is a wait past the bound, read as the bound, as the same
    # digits with a unit are: see test_nonsense_waits.py)
    from magsag_mcp.providers.http_errors import parse_duration, rate_limit_reset

    assert parse_duration(value) is None
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": value}
    assert rate_limit_reset(headers) is None
    err = error_for(429, "Rate limit reached for requests", headers=headers, provider="p", model="m")
    assert type(err) is E.RateLimitError and err.retry_after is None


# --- a 404 that may be a wrong base URL ---------------------------------------------------------------


class NoApiHere:
    """A server with nothing at the API's path: aiohttp's plain ``404: Not Found`` for every request."""

    def app(self):
        from aiohttp import web

        return web.Application()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("provider_cls", "env", "model", "suffix", "hint"),
    [
        (AnthropicProvider, {"ANTHROPIC_API_KEY": KEY}, CLAUDE, "/v1", "ANTHROPIC_BASE_URL"),
        (OpenAIProvider, {"OPENAI_API_KEY": KEY}, "gpt-4o", "", "OPENAI_BASE_URL"),
        (GeminiProvider, {"GEMINI_API_KEY": KEY}, GEMINI_MODEL, "/v1beta", "GEMINI_BASE_URL"),
    ],
)
async def test_a_404_names_the_url_and_what_the_base_url_should_be(
    serve, transport: Transport, provider_cls, env, model, suffix, hint, stream
):
    # A base URL with one /v1 too many (Anthropic, Gemini) or too few (OpenAI) answered 404 and was
    # reported as model_not_found, "HTTP 404: 404: Not Found", with nothing pointing at the URL.
    url = await serve(NoApiHere()) + suffix
    provider = provider_cls(env, transport)
    with pytest.raises(E.ModelNotFoundError) as info:
        await provider.complete(ask(stream), Target(provider.name, model, url))
    message = info.value.message
    assert "was not found: check the model name, and that the base URL" in message
    assert url + ("/v1/messages" if suffix == "/v1" and provider.name == "anthropic" else "") in message
    assert hint in message and KEY not in message
    assert info.value.status == 404 and info.value.moves_on


# --- a gateway's HTML error page instead of the vendor's error ---------------------------------------------------

#: Cloudflare's 502 page as it comes in front of a vendor: some 5 KB of markup before any word of what happened
CLOUDFLARE_502 = (
    b'<!DOCTYPE html>\n<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->\n'
    b'<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->\n<head>\n'
    b"<title>api.openai.com | 502: Bad gateway</title>\n"
    b'<meta charset="UTF-8" />\n<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />\n'
    b'<meta http-equiv="X-UA-Compatible" content="IE=Edge" />\n<meta name="robots" content="noindex, nofollow" />\n'
    b'<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />\n</head>\n<body>'
    + b"<div>" * 200
    + b"<h1>Bad gateway</h1></body></html>"
)
NGINX_503 = b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503"


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "google"])
@pytest.mark.parametrize(
    ("status", "page", "said", "cls"),
    [
        (502, CLOUDFLARE_502, "api.openai.com | 502: Bad gateway", E.ServerError),
        (503, NGINX_503, "503 Service Temporarily Unavailable", E.OverloadedError),
    ],
)
def test_an_html_error_page_is_named_by_its_title_not_quoted_as_markup(vendor, status, page, said, cls):
    # A CDN's or a proxy's error page in front of the API: the message (the call's error, the ledger's, the trace's)
    # quoted its first 300 characters, doctype, comments and meta tags, and never reached a word of what happened.
    from magsag_mcp.providers.anthropic_errors import anthropic_error
    from magsag_mcp.providers.gemini_errors import gemini_error
    from magsag_mcp.providers.openai_errors import openai_error
    from magsag_mcp.transport import HttpResponse

    headers = {"Content-Type": "text/html"}
    if vendor == "openai":
        exc = openai_error(HttpResponse(status, headers, page), provider=vendor, model="m")
    elif vendor == "anthropic":
        exc = anthropic_error(status, page, headers, provider=vendor, model="m")
    else:
        exc = gemini_error(status, page, headers, provider=vendor, model="m")
    assert type(exc) is cls and exc.retryable
    assert f"{vendor}:m: HTTP {status}: an HTML page, not the API's answer: {said!r}" in exc.message
    assert "<" not in exc.message and "gateway or proxy" in exc.message


def _too_long(param: str | None, limit: int, length: int) -> Any:
    import json

    from magsag_mcp.providers.openai_errors import openai_error
    from magsag_mcp.transport import HttpResponse

    where = f"Invalid '{param}': " if param else ""
    said = (
        f"{where}string too long. Expected a string with maximum length {limit}, but got a string with length {length} "
        "instead."
    )
    error = {"message": said, "type": "invalid_request_error", "param": param, "code": "string_above_max_length"}
    return openai_error(HttpResponse(400, {}, json.dumps({"error": error}).encode()), provider="openai", model="gpt-4o")


@pytest.mark.parametrize(
    "param",
    ["tools[0].function.description", "tools[1].function.name", "metadata.trace", "messages[2].tool_calls[0].id"],
)
def test_a_field_longer_than_the_api_takes_is_a_bad_request_not_a_context_window(param):
    # OpenAI's string_above_max_length for a tool's description over 1,024 characters (or a name over 64, a
    # metadata value over 512) was read as "context too long": the call went on to every target with a larger
    # window, which refused it alike, skipped the others as "no larger than" a window the prompt never filled, and
    # failed as context_too_long, for a field the caller had to shorten. It stops the call, naming the field.
    exc = _too_long(param, 1024, 1500)
    assert type(exc) is E.BadRequestError and not exc.moves_on
    assert exc.details["param"] == param and f"shorten {param}" in exc.message


@pytest.mark.parametrize("param", ["messages[0].content", "input[1].content[0].text", "input", "instructions", None])
def test_a_prompt_longer_than_the_api_takes_is_still_a_context_error(param):
    # a message's content, the input or the instructions past the API's limit (10,485,760 characters): the prompt's
    # size, which a target with a larger window may take
    exc = _too_long(param, 10485760, 10485800)
    assert type(exc) is E.ContextTooLongError and exc.moves_on
