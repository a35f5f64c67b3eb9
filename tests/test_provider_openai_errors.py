"""The OpenAI provider's errors, against the spec-checking loopback server: each status and code as its error
class, the waits a rate limit names, the key kept out of every message, the request id support asks for, and
what a failure says to fix."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.llm_requests import ask
from tests.provider_openai_helpers import APIS, ENV, target

pytestmark = pytest.mark.anyio


@pytest.fixture
def provider(transport: Transport) -> OpenAIProvider:
    return OpenAIProvider(ENV, transport)


# --- errors ---------------------------------------------------------------------------------------------


ERROR_CASES = [
    # (status, type, code, message, class, retryable, moves_on)
    (400, "invalid_request_error", None, "Invalid value for 'temperature'", E.BadRequestError, False, False),
    (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "maximum context length is 128000 tokens",
        E.ContextTooLongError,
        False,
        True,
    ),
    (400, "invalid_request_error", "content_filter", "The response was filtered", E.ContentFilteredError, False, True),
    (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided", E.AuthenticationError, False, True),
    (
        403,
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country not supported",
        E.PermissionDeniedError,
        False,
        True,
    ),
    (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model `gpt-9` does not exist",
        E.ModelNotFoundError,
        False,
        True,
    ),
    # 409 used to stop the whole cascade as a bad request; OpenAI sends it for a conflict on its side
    # ("... while processing your request (lock timeout)") that clears on a retry, so it is a server error.
    (
        409,
        "server_error",
        None,
        "The server had an error while processing your request (lock timeout)",
        E.ServerError,
        True,
        True,
    ),
    # the server gave up waiting for the request: retryable, and it moves on
    (408, "timeout", None, "Request timed out.", E.ProviderTimeoutError, True, True),
    (402, "invalid_request_error", None, "Payment required", E.QuotaExhaustedError, False, True),
    # statuses no one classifies say nothing against the request: the next target may serve it
    (405, "invalid_request_error", None, "Method not allowed", E.UnexpectedStatusError, False, True),
    (410, "invalid_request_error", None, "Gone", E.UnexpectedStatusError, False, True),
    (425, "invalid_request_error", None, "Too early", E.ServerError, True, True),
    (499, "invalid_request_error", None, "Client closed request", E.UnexpectedStatusError, False, True),
    (413, "invalid_request_error", None, "Request too large", E.ContextTooLongError, False, True),
    (422, "invalid_request_error", None, "Unprocessable", E.BadRequestError, False, False),
    (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests", E.RateLimitError, True, True),
    (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota",
        E.QuotaExhaustedError,
        False,
        True,
    ),
    # larger than the organisation's tokens-per-minute limit for the model: sent again it is refused again, so it
    # is not retried (it was, as a rate limit, each try spending a request of the per-minute budget)
    (429, "tokens", "rate_limit_exceeded", R.TOO_LARGE, E.QuotaExhaustedError, False, True),
    (500, "server_error", None, "The server had an error", E.ServerError, True, True),
    (502, "server_error", None, "Bad gateway", E.ServerError, True, True),
    (503, "server_error", None, "The engine is currently overloaded", E.OverloadedError, True, True),
    # a gateway's timeout (504; Cloudflare's 524) while the server was still answering: a timeout, as ours is, tried
    # again on this target only when no other is left
    (504, "server_error", None, "Gateway timeout", E.ProviderTimeoutError, True, True),
    (524, "server_error", None, "A timeout occurred", E.ProviderTimeoutError, True, True),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("status", "kind", "code", "message", "cls", "retryable", "moves_on"),
    ERROR_CASES,
    ids=[f"{c[0]}-{c[2] or c[1]}" for c in ERROR_CASES],
)
async def test_error_classes(
    fake_openai: FakeOpenAI,
    provider: OpenAIProvider,
    api: str,
    status: int,
    kind: str,
    code: str | None,
    message: str,
    cls: type[E.ProviderError],
    retryable: bool,
    moves_on: bool,
):
    fake_openai.queue(R.error(status, message, type=kind, code=code))
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target(fake_openai, api))
    err = info.value
    assert type(err) is cls
    assert (err.retryable, err.moves_on) == (retryable, moves_on)
    assert (err.status, err.provider, err.model) == (status, "openai", "gpt-4o")
    assert message in err.message and f"HTTP {status}" in err.message
    assert err.to_dict()["type"] == cls.kind


async def test_an_error_body_that_is_not_json(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    fake_openai.queue(R.error(502, raw="<html><body>502 Bad Gateway</body></html>", content_type="text/html"))
    with pytest.raises(E.ServerError, match="502 Bad Gateway"):
        await provider.complete(ask(), target(fake_openai, "chat"))


TPM = (
    "Rate limit reached for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Used 29937, "
    "Requested 385. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more."
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry_after": "7"}, 7.0),
        ({"retry_after": "1.5"}, 1.5),
        ({"retry_after_ms": "2500"}, 2.5),
        ({"retry_after_ms": "750", "retry_after": "9"}, 0.75),  # the precise header wins
        # OpenAI's bucket resets count only for a bucket that ran out (these rows used to omit the
        # remaining counts, when any reset header was taken as the wait)
        ({"reset_requests": "1m30s", "remaining_requests": "0"}, 90.0),
        ({"reset_requests": "250ms", "remaining_requests": "0", "remaining_tokens": "29000"}, 0.25),
        ({"reset_requests": "2s", "reset_tokens": "6m0s", "remaining_requests": "0", "remaining_tokens": "0"}, 360.0),
        ({"reset_requests": "2s", "reset_tokens": "6m0s", "remaining_requests": "0", "remaining_tokens": "900"}, 2.0),
        ({"reset_requests": "1m30s"}, None),  # no bucket is said to be empty: the reset is no wait
        ({"reset_requests": "1s", "reset_tokens": "20s", "remaining_requests": "3", "remaining_tokens": "7"}, None),
        ({}, None),
        # a value that is neither seconds nor an HTTP date says nothing: absent, not a crash
        ({"retry_after": "soon"}, None),
        ({"retry_after": "Mon, 45 Foo 2099 99:99:99 GMT"}, None),
        ({"retry_after": "inf"}, None),
        ({"retry_after_ms": "later", "retry_after": "4"}, 4.0),
        # OpenAI's TPM refusal names the wait for this request, which no header does while the bucket has
        # some room left (too little for the request): it was retried at once, refused again, given up
        ({"message": TPM.format("644ms"), "remaining_tokens": "63", "reset_tokens": "1m0s"}, 0.644),
        ({"message": TPM.format("18.642s"), "remaining_tokens": "15433", "reset_tokens": "29s"}, 18.642),
        ({"message": TPM.format("1m26.4s")}, 86.4),
        ({"message": TPM.format("1.574s"), "remaining_tokens": "0", "reset_tokens": "6m0s"}, 1.574),
        ({"message": TPM.format("1.5s"), "retry_after": "7"}, 7.0),  # a header wins
        ({"message": "Requests to the ChatCompletions_Create Operation ... Please retry after 6 seconds."}, 6.0),
        ({"message": "Rate limit reached. Please try again later."}, None),
    ],
)
async def test_retry_after_headers(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, headers: dict[str, str], expected: float | None
):
    fake_openai.queue(R.rate_limited(**headers))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.retry_after == expected
    # a wait longer than a minute will not clear soon: quota, move on rather than sleep
    assert isinstance(info.value, E.QuotaExhaustedError) == (expected is not None and expected > 60)


@pytest.mark.parametrize("status", [500, 503])
async def test_rate_limit_resets_are_no_wait_on_a_server_error(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, status: int
):
    # OpenAI sends its bucket headers on every response; on a 5xx they said "wait 6 minutes" for nothing
    headers = {
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-reset-tokens": "6m0s",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "0",
    }
    fake_openai.queue(R.error(status, "The server had an error", type="server_error", headers=headers))
    with pytest.raises(E.ServerError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.retry_after is None


async def test_retry_after_as_an_http_date(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake_openai.queue(R.rate_limited(retry_after=when))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert type(info.value) is E.RateLimitError
    # the date has one-second resolution; the wait is what remains until it
    assert info.value.retry_after == pytest.approx(30, abs=1.5)


async def test_retry_after_in_the_past_means_now(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    fake_openai.queue(R.rate_limited(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.retry_after == 0.0


@pytest.mark.parametrize("api", APIS)
async def test_the_key_never_appears_in_errors(fake_openai: FakeOpenAI, transport: Transport, api: str):
    # the fake echoes the whole key it was sent, as a careless compatible server might
    wrong = "sk-proj-WRONGkey0123456789abcdefXYZ"
    provider = OpenAIProvider({"OPENAI_API_KEY": wrong}, transport)
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(ask(), target(fake_openai, api))
    err = info.value
    assert fake_openai.requests[0].headers["Authorization"] == f"Bearer {wrong}"
    for text in (str(err), err.message, json.dumps(err.to_dict()), repr(err.details)):
        assert wrong not in text and "WRONGkey" not in text
    assert "Incorrect API key provided" in err.message


async def test_a_key_echoed_in_the_error_code_is_redacted_too(fake_openai: FakeOpenAI, transport: Transport):
    # The message was redacted but the vendor's "code" went into the details (and the CLI's JSON) as sent.
    key = "sk-audit-SECRET-1234567890"
    fake_openai.queue(R.error(400, "bad request", code=key))
    fake_openai.key = key
    provider = OpenAIProvider({"OPENAI_API_KEY": key}, transport)
    with pytest.raises(E.BadRequestError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert key not in json.dumps(info.value.to_dict()) and info.value.details["code"] == "[REDACTED]"


async def test_a_key_without_a_recognisable_shape_is_still_redacted(fake_openai: FakeOpenAI, transport: Transport):
    odd_key = "Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0"  # a proxy's key: no sk- prefix
    fake_openai.queue(R.error(403, f"key {odd_key} is not allowed to use this model", code="forbidden"))
    provider = OpenAIProvider({"OPENAI_API_KEY": odd_key}, transport)
    fake_openai.key = odd_key
    with pytest.raises(E.PermissionDeniedError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert odd_key not in str(info.value) and odd_key not in json.dumps(info.value.to_dict())


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json at all", "expected a JSON body"),
        ('{"object": "chat.completion", "choices": []}', "without choices"),
    ],
)
async def test_a_success_body_that_is_not_the_documented_shape(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, raw: str, problem: str
):
    # a raw 200 answer, as a broken proxy in front of the API might give
    fake_openai.queue(R.error(200, raw=raw, content_type="application/json"))
    with pytest.raises(E.MalformedResponseError, match=problem) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.moves_on and (info.value.provider, info.value.model) == ("openai", "gpt-4o")


@pytest.mark.parametrize(
    ("api", "how"),
    [(api, how) for api in APIS for how in ("http", "http-stream", "in-stream")] + [("responses", "failed")],
)
async def test_an_error_keeps_the_request_id_openai_support_asks_for(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, how: str
):
    # OpenAI's support traces a failed request by its x-request-id: it was dropped, so the user had nothing to give
    if how == "failed":
        step: R.Step = R.reply(failed={"code": "server_error", "message": "The model had an error"})
    else:
        step = R.error(500, "The server had an error", type="server_error", code="server_error")
        step.in_stream = how == "in-stream"
    step.headers["x-request-id"] = "req_7f3a9c0d1e2b4a5f"
    fake_openai.queue(step)
    with pytest.raises(E.ServerError) as info:
        await provider.complete(ask(stream=how != "http"), target(fake_openai, api))
    err = info.value
    assert err.details["request_id"] == "req_7f3a9c0d1e2b4a5f"
    assert err.to_dict()["request_id"] == "req_7f3a9c0d1e2b4a5f"
    assert "request id req_7f3a9c0d1e2b4a5f" in err.message  # kept in the ledger's error_message and the trace


async def test_a_request_too_large_for_the_rate_limit_says_how_to_fix_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    fake_openai.queue(R.request_too_large())
    with pytest.raises(E.QuotaExhaustedError) as info:
        await provider.complete(ask(max_tokens=16000), target(fake_openai, "chat"))
    assert info.value.retry_after is None
    assert "max_tokens counts toward it" in info.value.message and "usage tier" in info.value.message


async def test_a_401_names_the_settings_that_were_sent(fake_openai: FakeOpenAI, transport: Transport):
    # "HTTP 401: OpenAI-Organization header should match organization for API key" did not say that the header
    # was OPENAI_ORG_ID, left set from another account
    fake_openai.organization = "org-mine"
    env = {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_ORG_ID": "org-other"}
    with pytest.raises(E.AuthenticationError) as info:
        await OpenAIProvider(env, transport).complete(ask(), target(fake_openai, "chat"))
    assert "OPENAI_API_KEY" in info.value.message
    assert "OPENAI_ORG_ID (sent as OpenAI-Organization)" in info.value.message
    with pytest.raises(E.AuthenticationError) as info:
        await OpenAIProvider({"OPENAI_API_KEY": "sk-wrong-0123456789abcdef"}, transport).complete(
            ask(), target(fake_openai, "chat")
        )
    assert "check OPENAI_API_KEY" in info.value.message and "OPENAI_ORG_ID" not in info.value.message


async def test_every_target_failing_alike_names_what_the_last_said(fake_openai: FakeOpenAI, tmp_path):
    # OPENAI_BASE_URL one /v1 short: every model 404s. The call's error listed only the kinds ("openai:gpt-4o
    # model_not_found; openai:gpt-4o-mini model_not_found"), and the fix each attempt's message named (the base URL
    # should end with the API's version) was in the ledger alone.
    from magsag_mcp.service import Service

    env = {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url, "MAGSAG_RETRY_BASE_DELAY": "0"}
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    message = info.value.message
    assert message.startswith(
        "skill.analysis: every target failed: openai:gpt-4o model_not_found; openai:gpt-4o-mini model_not_found"
    )
    assert "; last error: openai:gpt-4o-mini: " in message and "ends with the API's version" in message
    assert DEFAULT_KEY not in message
