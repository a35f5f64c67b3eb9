"""Cascades across real loopback vendors, through the service: the trace tells what happened."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.pricing_audit import catalog_without_policies

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


async def open_service(tmp_path: Path, serve, openai, anthropic, gemini, catalog: Path | None = None) -> Service:
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve(anthropic),
        "GEMINI_API_KEY": KEY,
        "GEMINI_BASE_URL": await serve(gemini),
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_MAX_RETRIES": "1",
    }
    return await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env)


async def test_503_then_429_with_retry_after_then_ok(tmp_path: Path, serve):
    # an overload and a rate limit go to the next target at once; the last target left waits out its Retry-After
    openai = FakeOpenAI(KEY).queue({"error": 503, "kind": "server_error"})
    rl = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    anthropic = FakeAnthropic(KEY).queue({"error": 429, "body": rl, "headers": {"Retry-After": "9"}})
    gemini_rl = {"error": {"code": 429, "message": "Resource has been exhausted.", "status": "RESOURCE_EXHAUSTED"}}
    gemini = FakeGemini(KEY).queue(
        {"error": 429, "body": gemini_rl, "headers": {"Retry-After": "2"}}, {"text": "answer from gemini"}
    )
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022", "gemini-1.5-pro"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="cascade-1")
    await svc.aclose()
    assert result.result.text == "answer from gemini" and result.result.provider == "google"
    assert [(a["target"], a["outcome"], a["error_class"], a["try"]) for a in result.trace["attempts"]] == [
        ("openai:gpt-4o", "error", "overloaded", 1),
        ("anthropic:claude-3-5-sonnet-20241022", "error", "rate_limited", 1),
        ("google:gemini-1.5-pro", "error", "rate_limited", 1),
        ("google:gemini-1.5-pro", "ok", None, 2),
    ]
    assert len(waits) == 1 and 2.0 <= waits[0] <= 2.5  # the server's Retry-After was honoured
    assert [a.fallback_position for a in result.attempts] == [0, 1, 2, 2]
    assert openai.violations == anthropic.violations == gemini.violations == []


async def test_cross_vendor_529_then_quota_then_gemini(tmp_path: Path, serve):
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    anthropic = FakeAnthropic(KEY).queue(*[{"error": 529, "body": overloaded}] * 2)
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    openai = FakeOpenAI(KEY).queue({"error": 429, "body": quota})
    gemini = FakeGemini(KEY).queue({"text": "gemini saves the day"})
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o", "gemini-1.5-pro"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    runs = await svc.query_runs()
    await svc.aclose()
    assert result.result.provider == "google"
    kinds = [(a.provider, a.error_class) for a in result.attempts]
    assert kinds == [
        ("anthropic", "overloaded"),
        ("openai", "quota_exhausted"),
        ("google", None),
    ]
    assert waits == []  # the overload tried the next target first; the exhausted quota is never waited for
    assert len(anthropic.requests) == len(openai.requests) == 1  # each moved on without retrying
    assert [a["outcome"] for a in runs[0]["attempts"]] == ["error", "error", "ok"]


async def test_every_vendor_down_gives_one_error_with_every_attempt(tmp_path: Path, serve):
    openai = FakeOpenAI(KEY).queue(*[{"error": 500}] * 2)
    anthropic = FakeAnthropic(KEY).queue(*[{"error": 500}] * 2)
    gemini = FakeGemini(KEY).queue(*[{"error": 500}] * 2)
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022", "gemini-1.5-pro"]}
    with pytest.raises(E.AllTargetsFailed) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    summary = await svc.summarize()
    await svc.aclose()
    assert len(info.value.attempts) == 6 and isinstance(info.value, E.ServerError)
    totals = summary["totals"]  # one failed call of six failed attempts
    assert (totals["calls"], totals["errors"], totals["attempts"], totals["attempt_errors"]) == (1, 1, 6, 6)


async def test_shipped_reasoning_route_reaches_o1_preview_with_its_system_prompt(tmp_path: Path, serve):
    # catalog: reasoning -> [openai:o1-preview, openai:gpt-4o]; the skill has a system prompt, which
    # o1-preview refuses as a system message (the fake answers as OpenAI does).
    openai = FakeOpenAI(KEY).queue({"text": "x = 4"})
    svc = await open_service(tmp_path, serve, openai, FakeAnthropic(KEY), FakeGemini(KEY))
    try:
        result = await svc.invoke_skill("skill.reasoning", {"problem": "Solve 2x = 8."})
    finally:
        await svc.aclose()
    assert (result.result.text, result.result.model) == ("x = 4", "o1-preview")
    assert [(a.model, a.error_class) for a in result.attempts] == [("o1-preview", None)]
    body = openai.requests[0]["body"]
    assert [m["role"] for m in body["messages"]] == ["user", "user"]
    assert body["messages"][0]["content"].startswith("Reason step by step")
    assert any("o1-preview" in w and "first user message" in w for w in result.warnings)
    assert any("first user message" in w for w in result.trace["warnings"])  # the trace says it too
    assert openai.violations == []


async def test_gemini_per_minute_limit_waits_its_retry_delay_then_answers(tmp_path: Path, serve):
    per_minute = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
            ],
        }
    }
    gemini = FakeGemini(KEY).queue({"error": 429, "body": per_minute}, {"text": "after the wait"})
    svc = await open_service(tmp_path, serve, FakeOpenAI(KEY), FakeAnthropic(KEY), gemini)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    mc = {"model": "gemini-1.5-pro"}  # the last target left: a rate limit is waited for there
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert result.result.text == "after the wait" and result.result.provider == "google"
    assert [(a.provider, a.error_class) for a in result.attempts] == [("google", "rate_limited"), ("google", None)]
    assert len(waits) == 1 and 7.0 <= waits[0] <= 8.0  # RetryInfo.retryDelay was honoured


async def test_a_target_that_lacks_a_feature_moves_on_but_a_bad_request_stops(tmp_path: Path, serve):
    lacks = {
        "error": {
            "message": "Unsupported parameter: 'temperature' is not supported with this model.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "unsupported_parameter",
        }
    }
    bad = {
        "error": {
            "message": "Invalid value for 'temperature': must be between 0 and 2.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }
    openai = FakeOpenAI(KEY).queue({"error": 400, "body": lacks}, {"error": 400, "body": bad})
    anthropic = FakeAnthropic(KEY).queue({"text": "from claude"}, {"text": "never asked"})
    svc = await open_service(tmp_path, serve, openai, anthropic, FakeGemini(KEY))
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022"]}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
        with pytest.raises(E.BadRequestError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert result.result.text == "from claude"
    assert [(a.provider, a.error_class) for a in result.attempts] == [
        ("openai", "unsupported_feature"),
        ("anthropic", None),
    ]
    assert [a.error_class for a in info.value.attempts] == ["bad_request"]  # stopped: the input is wrong
    assert len(anthropic.requests) == 1
    # what was rejected (the vendor's words), by whom, that the fallback was left for it, and the fix, in that
    # order: it read "stopped at a request the provider rejected: <the words>: openai:gpt-4o bad_request"
    said = info.value.message
    assert said.startswith("skill.analysis: openai:gpt-4o: HTTP 400 (request id "), said
    assert said.endswith(
        "Invalid value for 'temperature': must be between 0 and 2.; openai rejected the request itself "
        "(bad_request), not this model, so its fallback was not tried, as it would reject it alike: fix the field "
        "it names (temperature) in the call's payload, model_config or context, and call again"
    ), said


async def test_409_and_unclassified_4xx_move_on_instead_of_stopping_the_call(tmp_path: Path, serve):
    # Each of these used to stop the whole cascade as a bad request, with the fallbacks never tried.
    conflict = {
        "error": {
            "message": "The server had an error while processing your request (lock timeout)",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    openai = FakeOpenAI(KEY).queue(
        *[{"error": 409, "body": conflict}] * 2,
        {"error": 402, "body": "<html><body>Payment Required</body></html>"},
        {"error": 405, "body": "<html><body>405 Not Allowed</body></html>"},
    )
    anthropic = FakeAnthropic(KEY).queue(*[{"text": "from claude"}] * 3)
    svc = await open_service(tmp_path, serve, openai, anthropic, FakeGemini(KEY))

    async def sleep(seconds: float) -> None:
        pass

    svc.cascade.sleep = sleep
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022"]}
    classes = []
    try:
        for _ in range(3):
            result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
            assert result.result.text == "from claude"
            classes.append([a.error_class for a in result.attempts if a.provider == "openai"])
    finally:
        await svc.aclose()
    # a conflict is retried on the target first (MAGSAG_MAX_RETRIES=1 here); the others move on
    assert classes == [["server_error"] * 2, ["quota_exhausted"], ["unexpected_status"]]
    assert len(anthropic.requests) == 3


async def test_anthropic_credit_balance_too_low_moves_on_without_a_retry(tmp_path: Path, serve):
    # The spec names billing_error (402), but the API answers a spent credit balance with 400
    # invalid_request_error (as SDK users report it, e.g. anthropics/claude-code#4684). Read as a bad request,
    # it stopped the whole call although the next vendor could answer it.
    low = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits.",
        },
        "request_id": "req_011CZ47RMLnx1JoJXRrzzSde",
    }
    anthropic = FakeAnthropic(KEY).queue({"error": 400, "body": low})
    openai = FakeOpenAI(KEY).queue({"text": "answer from openai"})
    svc = await open_service(tmp_path, serve, openai, anthropic, FakeGemini(KEY))
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    await svc.aclose()
    assert result.result.text == "answer from openai"
    assert [(a.provider, a.error_class) for a in result.attempts] == [
        ("anthropic", "quota_exhausted"),
        ("openai", None),
    ]
    assert len(anthropic.requests) == 1  # not retried: the balance will not refill by itself


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("stop", ["end_turn", "tool_use"])
async def test_an_empty_anthropic_answer_is_no_answer_and_the_next_target_serves_the_call(
    tmp_path: Path, serve, stop: str, stream: bool
):
    # Claude at times answers with no content at all: stop_reason end_turn (the API's docs: "Empty responses
    # with end_turn"), or tool_use with no tool_use block in it. That passed as the answer: an empty text (with
    # finish_reason tool_calls and no call to make), billed, and no fallback tried. Gemini's empty STOP is no
    # answer already; so is Claude's now, recorded at what it cost.
    usage = {"input_tokens": 1200, "output_tokens": 3}
    anthropic = FakeAnthropic(KEY).queue({"text": None, "finish": stop, "usage": usage})
    gemini = FakeGemini(KEY).queue({"text": "answer from gemini"})
    svc = await open_service(tmp_path, serve, FakeOpenAI(KEY), anthropic, gemini)
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gemini-1.5-pro"], "stream": stream}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert result.result.text == "answer from gemini"
    first = result.attempts[0]
    assert (first.provider, first.error_class) == ("anthropic", "malformed_response")
    assert f"no usable answer (stop_reason: {stop}, with no content)" in (first.error_message or "")
    assert (first.input_tokens, first.output_tokens) == (1200, 3)
    assert first.cost_usd == D("0.003645")  # $3 in, $15 out per million
    assert len(anthropic.requests) == 1 and anthropic.violations == gemini.violations == []


async def test_anthropic_spend_limit_reached_moves_on_without_a_retry(tmp_path: Path, serve):
    # A workspace or organization at the spend limit set in the Console is answered 400 invalid_request_error
    # (as SDK users report it, e.g. anthropics/claude-code#38038), not the spec's billing_error. Read as a bad
    # request, it stopped the whole call until the month's end, although the next vendor could answer it.
    limit = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "You have reached your specified API usage limits. You will regain access on 2026-04-01 "
            "at 00:00 UTC.",
        },
        "request_id": "req_011CZM37KZVHEegQcQEk3tSW",
    }
    anthropic = FakeAnthropic(KEY).queue({"error": 400, "body": limit})
    openai = FakeOpenAI(KEY).queue({"text": "answer from openai"})
    svc = await open_service(tmp_path, serve, openai, anthropic, FakeGemini(KEY))
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o"]}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert result.result.text == "answer from openai"
    first = result.attempts[0]
    assert (first.provider, first.error_class, first.cost_usd) == ("anthropic", "quota_exhausted", 0)
    assert "regain access on 2026-04-01" in (first.error_message or "")
    assert "spend limit" in (first.error_message or "")  # what to change, not only what happened
    assert len(anthropic.requests) == 1  # not retried: the limit holds until the date it names


async def test_x_should_retry_is_obeyed_as_the_vendors_sdks_obey_it(tmp_path: Path, serve):
    # OpenAI and Anthropic say in x-should-retry whether the same request is worth sending again, and their
    # SDKs obey it before their own rules. A 529 marked "false" was retried anyway (a wait, and a request
    # spent); a status we know nothing of (a 423) marked "true" moved on at once, though its target would serve.
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    anthropic = FakeAnthropic(KEY).queue({"error": 529, "body": overloaded, "headers": {"x-should-retry": "false"}})
    locked = {"error": {"message": "The resource is locked; try again shortly"}}
    openai = FakeOpenAI(KEY).queue(
        {"error": 423, "body": locked, "headers": {"X-Should-Retry": "true", "Retry-After": "1"}},
        {"text": "answer from openai"},
    )
    gemini = FakeGemini(KEY)
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    await svc.aclose()
    assert result.result.text == "answer from openai"
    assert [(a["target"], a["outcome"], a["try"]) for a in result.trace["attempts"]] == [
        ("anthropic:claude-3-5-sonnet-20241022", "error", 1),
        ("openai:gpt-4o", "error", 1),
        ("openai:gpt-4o", "ok", 2),
    ]
    assert len(waits) == 1 and 1.0 <= waits[0] <= 1.5  # the 423's Retry-After, not the 529's backoff
    assert openai.violations == anthropic.violations == gemini.violations == []


async def test_a_tool_loop_falls_from_openai_to_gemini_and_claude_with_its_tools_results_and_strictness(
    tmp_path: Path, serve
):
    # A call with a strict tool and a history of two parallel calls, one of which failed, falls from an overloaded
    # OpenAI to Gemini, whose call breaks the tool's schema (no usable answer: billed, and the cascade moves on), then
    # to Claude: each got the tools, the calls by their ids and the failure said as a failure.
    forecast = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    tools = [{"type": "function", "function": {"name": "forecast", "parameters": forecast, "strict": True}}]
    history = [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_A", "type": "function", "function": {"name": "forecast", "arguments": '{"city": "Oslo"}'}},
                {"id": "call_B", "type": "function", "function": {"name": "forecast", "arguments": '{"city": "Rome"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_A", "content": '{"c": 3}'},
        {"role": "tool", "tool_call_id": "call_B", "content": "Timeout after 30 s", "is_error": True},
    ]
    openai = FakeOpenAI(KEY).queue({"error": 503, "kind": "server_error"})
    gemini = FakeGemini(KEY).queue({"tool_calls": [{"name": "forecast", "arguments": {"city": "Rome", "days": "2"}}]})
    anthropic = FakeAnthropic(KEY).queue(
        {"tool_calls": [{"id": "toolu_1", "name": "forecast", "arguments": {"city": "Rome", "days": 2}}]}
    )
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)

    async def sleep(seconds: float) -> None:
        pass

    svc.cascade.sleep = sleep
    mc = {
        "model": "gpt-4o",
        "fallbacks": ["gemini-1.5-pro", "claude-3-5-sonnet-20241022"],
        "tools": tools,
        "tool_choice": "required",
        "messages": history,
    }
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "Oslo and Rome", "model_config": mc})
    finally:
        await svc.aclose()
    assert [(a.provider, a.error_class) for a in result.attempts] == [
        ("openai", "overloaded"),
        ("google", "invalid_output"),
        ("anthropic", None),
    ]
    assert result.attempts[1].output_tokens > 0  # the broken call was billed, and is counted
    assert [c.to_dict() for c in result.result.tool_calls] == [
        {"id": "toolu_1", "name": "forecast", "arguments": {"city": "Rome", "days": 2}}
    ]
    assert result.result.finish_reason == "tool_calls"
    assert openai.violations == anthropic.violations == gemini.violations == []
    sent = openai.requests[-1]["body"]
    assert sent["tools"][0]["function"]["strict"] is True and sent["tool_choice"] == "required"
    contents = gemini.requests[-1]["body"]["contents"]
    assert [p["functionResponse"]["response"] for p in contents[2]["parts"]] == [
        {"c": 3},
        {"error": "Timeout after 30 s"},
    ]
    messages = anthropic.requests[-1]["body"]["messages"]
    assert [b["tool_use_id"] for b in messages[2]["content"]] == ["call_A", "call_B"]
    assert [b.get("is_error") for b in messages[2]["content"]] == [None, True]
    assert anthropic.requests[-1]["body"]["tools"][0]["input_schema"] == forecast


async def test_a_rate_limited_target_is_retried_when_its_fallback_refuses_the_connection(
    tmp_path: Path, serve, refused_port: int
):
    # OpenAI rate-limited the call, so its fallback was tried first, whose endpoint refused the connection (a
    # gateway not running, a wrong port: nothing was sent). The call failed as "connection refused", though
    # OpenAI, asked again after its Retry-After, would have answered: a fallback that could not be sent brings
    # the first target back, as one its budget refused does.
    closed = refused_port  # a port nothing listens on
    openai = FakeOpenAI(KEY).queue({"error": 429, "headers": {"Retry-After": "1"}}, {"text": "answered after the wait"})
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{closed}",
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_MAX_RETRIES": "1",
    }
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    # the cascade's clock, not the machine's: on it only the waits take time, and what Anthropic's took (its retry's
    # backoff) is off the wait left of OpenAI's Retry-After when it is come back to
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022"]}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="refused-1")
    finally:
        await svc.aclose()
    assert result.result.text == "answered after the wait" and result.result.provider == "openai"
    assert [(a["target"], a["outcome"], a["try"]) for a in result.trace["attempts"]] == [
        ("openai:gpt-4o", "error", 1),
        # changed on purpose (back to two tries): refused on loopback, the last target left is retried, a backoff
        # slept between (a5eb4ff tried it once: a server restarting lost the call where no target was left)
        ("anthropic:claude-3-5-sonnet-20241022", "error", 1),
        ("anthropic:claude-3-5-sonnet-20241022", "error", 2),
        ("openai:gpt-4o", "ok", 2),
    ]
    # OpenAI's Retry-After, waited before it was asked again: from its 429 to its retry, not from its come back
    assert len(clock.waits) == 2 and 1.0 <= sum(clock.waits) <= 1.5
    assert openai.violations == []


@pytest.mark.parametrize(
    ("env", "payload", "fix"),
    [
        ({"MAGSAG_PROVIDER": "google"}, {}, "or set MAGSAG_MODEL to a google model"),
        ({}, {"model_config": {"provider": "google"}}, "or name a google model in the call's model_config.model"),
    ],
)
async def test_a_provider_defaults_model_the_vendor_lacks_says_where_it_was_named(
    tmp_path: Path, serve, env: dict[str, str], payload: dict, fix: str
):
    # MAGSAG_PROVIDER=google alone took routing's provider_defaults.google (gemini-1.5-pro, which Google has since
    # retired): the call failed "not found ... check the model name", a name the user never wrote anywhere they
    # would look for it. The error now says where it came from, and what to change.
    not_found = "models/gemini-1.5-pro is not found for API version v1beta, or is not supported for generateContent."
    gemini = FakeGemini(KEY).queue({"error": 404, "message": not_found})
    base = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(gemini), "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    svc = await Service.open(db=tmp_path / "l.db", env={**base, **env})
    try:
        with pytest.raises(E.AllTargetsFailed) as caught:
            await svc.invoke_skill("skill.coding", {"task": "x", **payload})
    finally:
        await svc.aclose()
    message = caught.value.message
    assert "google:gemini-1.5-pro model_not_found" in message
    assert not_found in message  # the vendor's own word stays
    assert "google:gemini-1.5-pro came from routing's provider_defaults.google" in message, message
    assert f"name a model google serves there, {fix}" in message, message


class _Clock:
    """The cascade's time, moved by the test: a wait is the clock moving on, never a real one."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


_GEMINI_PER_MINUTE = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaValue": "10",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"},
        ],
    }
}


#: OpenAI's 429 for its requests-per-minute bucket: no Retry-After, the bucket at 0 and its reset in the headers
_OPENAI_RPM = {
    "error": 429,
    "body": {
        "error": {
            "message": "Rate limit reached for gpt-4o in organization org-test on requests per min (RPM): Limit 500, "
            "Used 500, Requested 1. Visit https://platform.openai.com/account/rate-limits to learn more.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    "headers": {
        "x-request-id": "req_0123456789abcdef",
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "30s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "2ms",
    },
}
#: Anthropic's 429: retry-after, and the anthropic-ratelimit-* bucket that ran out, its reset an RFC 3339 time
_ANTHROPIC_RATE_LIMIT = {
    "error": 429,
    "body": {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "This request would exceed your organization's rate limit."},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    },
    "headers": {
        "retry-after": "30",
        "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-12-03T02:00:30Z",
    },
}


@pytest.mark.parametrize(
    ("first", "refusal", "fallback", "kind"),
    [
        ("gpt-4o", _OPENAI_RPM, "gemini-1.5-pro", "rate_limited"),
        ("claude-3-5-sonnet-20241022", _ANTHROPIC_RATE_LIMIT, "gemini-1.5-pro", "rate_limited"),
        ("gemini-1.5-pro", {"error": 429, "body": _GEMINI_PER_MINUTE}, "gpt-4o", "rate_limited"),
    ],
    ids=["openai-429-bucket-reset", "anthropic-429-retry-after", "gemini-429-retry-info"],
)
async def test_a_target_that_asked_for_a_wait_is_left_alone_by_the_next_calls_until_it_has_passed(
    tmp_path: Path, serve, first, refusal, fallback, kind
):
    # The first call falls back rather than wait the 30 s its first target asked for. The next call, 10 s later,
    # sent that target the same request all the same, to be refused again: a request spent against the very limit
    # that refused it, and a round trip more before the fallback answered. It is left alone until its wait has passed.
    fakes = {
        "gpt-4o": FakeOpenAI(KEY),
        "claude-3-5-sonnet-20241022": FakeAnthropic(KEY),
        "gemini-1.5-pro": FakeGemini(KEY),
    }
    fakes[first].queue(refusal, {"text": "the first target, after its wait"})
    fakes[fallback].queue({"text": "fallback 1"}, {"text": "fallback 2"})
    svc = await open_service(
        tmp_path, serve, fakes["gpt-4o"], fakes["claude-3-5-sonnet-20241022"], fakes["gemini-1.5-pro"]
    )
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    payload = {"data": "x", "model_config": {"model": first, "fallbacks": [fallback]}}
    try:
        one = await svc.invoke_skill("skill.analysis", payload)
        clock.now += 10
        two = await svc.invoke_skill("skill.analysis", payload)
        sent_by_two = len(fakes[first].requests)
        clock.now += 20.5
        three = await svc.invoke_skill("skill.analysis", payload)
    finally:
        await svc.aclose()
    assert [a.error_class for a in one.attempts] == [kind, None] and one.result.text == "fallback 1"
    assert two.result.text == "fallback 2" and sent_by_two == 1  # not sent again within its wait
    (left_alone, answered) = two.attempts
    assert (left_alone.outcome, left_alone.cost_usd, answered.outcome) == ("skipped", 0, "ok")
    assert f"not sent: its server asked 10s ago to be left alone for 30s ({kind}), 20s of that left" in (
        left_alone.error_message
    )
    assert any(s["reason"] == left_alone.error_message for s in two.trace["skipped"])
    assert left_alone.error_message in two.warnings  # the answer says why the fallback answered it
    assert three.result.text == "the first target, after its wait" and len(fakes[first].requests) == 2
    assert clock.waits == []
    assert [f.violations for f in fakes.values()] == [[], [], []]


async def test_an_overload_that_names_no_wait_leaves_its_target_to_the_next_call(tmp_path: Path, serve):
    # Anthropic's 529 overloaded_error comes with no retry-after: nothing says how long to stay away, so the next
    # call asks it again (the call that got it fell back at once; its retries, on the last target, back off)
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    anthropic = FakeAnthropic(KEY).queue({"error": 529, "body": overloaded}, {"text": "claude again"})
    gemini = FakeGemini(KEY).queue({"text": "gemini"})
    svc = await open_service(tmp_path, serve, FakeOpenAI(KEY), anthropic, gemini)
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    payload = {"data": "x", "model_config": {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gemini-1.5-pro"]}}
    try:
        one = await svc.invoke_skill("skill.analysis", payload)
        two = await svc.invoke_skill("skill.analysis", payload)
    finally:
        await svc.aclose()
    assert [a.error_class for a in one.attempts] == ["overloaded", None] and one.result.text == "gemini"
    assert two.result.text == "claude again" and [a.outcome for a in two.attempts] == ["ok"]
    assert anthropic.violations == gemini.violations == []


async def test_explain_names_a_target_left_alone_and_the_wait_left(tmp_path: Path, serve):
    openai = FakeOpenAI(KEY).queue(_OPENAI_RPM)
    svc = await open_service(tmp_path, serve, openai, FakeAnthropic(KEY), FakeGemini(KEY).queue({"text": "g"}))
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    payload = {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["gemini-1.5-pro"]}}
    try:
        before = svc.explain("skill.analysis", payload)
        await svc.invoke_skill("skill.analysis", payload)
        clock.now += 12
        after = svc.explain("skill.analysis", payload)
        clock.now += 18
        later = svc.explain("skill.analysis", payload)
    finally:
        await svc.aclose()
    assert [t.get("resting") for t in before["targets"]] == [None, None]
    openai_target, gemini_target = after["targets"]
    assert (
        "not sent: its server asked 12s ago to be left alone for 30s (rate_limited), 18s of that left"
        in (openai_target["resting"])
    )
    assert "resting" not in gemini_target and [t.get("resting") for t in later["targets"]] == [None, None]


async def test_a_rest_is_said_once_in_the_answers_warnings_and_never_as_a_skip_of_the_target_that_answered(
    tmp_path: Path, serve
):
    # The service added "skipped T: REASON" for each skip of the trace beside the rest's own warning of the same
    # REASON: a call whose fallback answered said it twice, and a call that waited the rest out on its last target
    # ended its warnings with "skipped openai:gpt-4o: ..." when openai:gpt-4o had answered it
    openai = FakeOpenAI(KEY).queue(_OPENAI_RPM, {"text": "gpt-4o after its wait"})
    gemini = FakeGemini(KEY).queue({"text": "g1"}, {"text": "g2"})
    svc = await open_service(tmp_path, serve, openai, FakeAnthropic(KEY), gemini)
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    with_fallback = {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["gemini-1.5-pro"]}}
    try:
        await svc.invoke_skill("skill.analysis", with_fallback)
        clock.now += 12
        fell_back = await svc.invoke_skill("skill.analysis", with_fallback)
        waited = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    finally:
        await svc.aclose()
    assert fell_back.result.text == "g2" and waited.result.text == "gpt-4o after its wait"
    for result in (fell_back, waited):
        rest = result.attempts[0]
        assert rest.outcome == "skipped" and "18s of that left" in rest.error_message
        assert [w for w in result.warnings if rest.error_message in w] == [rest.error_message]
        assert not any(w.startswith("skipped ") for w in result.warnings), result.warnings
    assert len(clock.waits) == 1 and waited.warnings[1].startswith("openai:gpt-4o: sent after 18")
    # a skip that is no rest (a target not configured) is still named in the warnings
    not_configured = await Service.open(db=tmp_path / "other.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"})
    try:
        answered = await not_configured.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["fake:echo"]}}
        )
    finally:
        await not_configured.aclose()
    assert answered.model == "echo"
    assert [w for w in answered.warnings if w.startswith("skipped openai:gpt-4o: not configured")], answered.warnings


async def test_explain_says_what_a_call_does_about_a_target_left_alone(tmp_path: Path, serve):
    # explain's resting said "not sent" alone, where a call whose last target left rests waits the rest out and then
    # sends it (when the rest fits the retry cap); each case as the call then does it
    openai = FakeOpenAI(KEY).queue(_OPENAI_RPM, {"text": "gpt-4o after its wait"})
    svc = await open_service(tmp_path, serve, openai, FakeAnthropic(KEY), FakeGemini(KEY).queue({"text": "g"}))
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    with_fallback = {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["gemini-1.5-pro"]}}
    alone = {"data": "x", "model_config": {"model": "gpt-4o"}}
    try:
        await svc.invoke_skill("skill.analysis", with_fallback)
        clock.now += 5
        too_long = svc.explain("skill.analysis", alone)["targets"][0]["resting"]
        clock.now += 12
        first_of_two = svc.explain("skill.analysis", with_fallback)["targets"][0]["resting"]
        waited = svc.explain("skill.analysis", alone)["targets"][0]["resting"]
        answered = await svc.invoke_skill("skill.analysis", alone)
    finally:
        await svc.aclose()
    assert "25s of that left, longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY): a call now fails" in too_long
    assert "13s of that left: a call now tries the targets after it, and comes back to it after" in first_of_two
    assert "13s of that left, which a call now waits out and then sends it, as no target after it is left" in waited
    assert waited.index("which a call now waits out") < waited.index("; it said: ")
    assert answered.result.text == "gpt-4o after its wait" and len(clock.waits) == 1 and clock.waits[0] >= 13


async def test_explain_says_a_rest_past_the_retry_cap_is_not_come_back_to_with_a_fallback_after_it(
    tmp_path: Path, serve
):
    # a target resting past the retry cap, with a fallback after it: explain said a call "comes back to it after the
    # wait if none can be sent", where the call, its fallback not sent (resting too), came back and failed at once,
    # as a wait past the cap is never slept (retry_wait): neither sent nor waited for
    openai = FakeOpenAI(KEY).queue(_OPENAI_RPM)
    gemini = FakeGemini(KEY).queue({"error": 429, "body": _GEMINI_PER_MINUTE})
    svc = await open_service(tmp_path, serve, openai, FakeAnthropic(KEY), gemini)
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    with_fallback = {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["gemini-1.5-pro"]}}
    try:
        with pytest.raises(E.MagsagError):
            await svc.invoke_skill("skill.analysis", with_fallback)  # (both refused, each asking for 30s)
        clock.now += 5
        said = svc.explain("skill.analysis", with_fallback)["targets"][0]["resting"]
        with pytest.raises(E.MagsagError) as failed:
            await svc.invoke_skill("skill.analysis", with_fallback)
    finally:
        await svc.aclose()
    assert [a.outcome for a in failed.value.attempts][-2:] == ["skipped", "skipped"] and clock.waits == []
    assert len(openai.requests) == 1  # (the call did not come back to it after the wait)
    assert "comes back to it after the wait" not in said, said
    assert (
        "25s of that left, longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY): a call now tries the targets "
        "after it, and fails if none of them can be sent" in said
    ), said


async def test_a_gemini_target_whose_own_thinking_config_its_model_refuses_moves_on(tmp_path: Path, serve):
    # gemini-2.5-pro always thinks: a target's params.thinkingConfig {thinkingBudget: 0} (how gemini-2.5-flash is
    # told not to think) is answered 400 INVALID_ARGUMENT "Budget 0 is invalid. This model only works in thinking
    # mode.", which stopped the whole chain as a bad request, although the next target takes the call as it is.
    gemini = FakeGemini(KEY).queue({"text": "never asked"})
    anthropic = FakeAnthropic(KEY).queue({"text": "from claude"})
    svc = await open_service(tmp_path, serve, FakeOpenAI(KEY), anthropic, gemini, catalog_without_policies(tmp_path))
    thinking_off = {"thinkingConfig": {"thinkingBudget": 0}}
    mc = {"model": "gemini-2.5-pro", "params": thinking_off, "fallbacks": ["claude-3-5-sonnet-20241022"]}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert result.result.text == "from claude"
    assert [(a.model, a.error_class) for a in result.attempts] == [
        ("gemini-2.5-pro", "unsupported_feature"),
        ("claude-3-5-sonnet-20241022", None),
    ]
    said = result.attempts[0].error_message or ""
    assert "This model only works in thinking mode" in said and "thinkingConfig in the target's params" in said
    assert len(gemini.requests) == 1  # refused once, not sent again
