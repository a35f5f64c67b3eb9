"""Anthropic's Messages API field by field: what the spec (and the servers that speak it) send and take, where the
general wire tests do not reach."""

from __future__ import annotations

import datetime
import email.utils
import json
import time
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.anthropic_errors import anthropic_error
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeAnthropic, FakeOpenAI
from .test_wire import CASES, KEY, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio
[ANTHROPIC] = [c for c in CASES if c.name == "anthropic"]


def _events(*events: dict[str, Any]) -> list[bytes]:
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def _stream(start_usage: dict[str, Any], delta_usage: dict[str, Any]) -> list[bytes]:
    start = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    return _events(
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": delta_usage},
        {"type": "message_stop"},
    )


@pytest.mark.parametrize(
    ("start_usage", "delta_usage"),
    [
        # SGLang's Messages API (and gateways copying it) write input_tokens 0 in message_delta: "only output_tokens
        # belongs there"
        (
            {"input_tokens": 900, "output_tokens": 1, "cache_read_input_tokens": 100},
            {"input_tokens": 0, "output_tokens": 40, "cache_read_input_tokens": 0},
        ),
        # the spec's own: message_delta repeats the input counts (cumulative), or leaves them null
        (
            {"input_tokens": 900, "output_tokens": 1, "cache_read_input_tokens": 100},
            {"input_tokens": 900, "output_tokens": 40, "cache_read_input_tokens": 100},
        ),
        (
            {"input_tokens": 900, "output_tokens": 1, "cache_read_input_tokens": 100},
            {"input_tokens": None, "output_tokens": 40, "cache_read_input_tokens": None},
        ),
        # a server that knows the prompt's count only at the end (message_start's 0, SGLang before its fix)
        (
            {"input_tokens": 0, "output_tokens": 0},
            {"input_tokens": 900, "output_tokens": 40, "cache_read_input_tokens": 100},
        ),
    ],
    ids=["delta-zero", "delta-repeats", "delta-null", "start-zero"],
)
async def test_a_streamed_answers_counts_are_cumulative_and_never_go_back_to_zero(
    raw_stream,
    start_usage: dict[str, Any],
    delta_usage: dict[str, Any],
):
    # message_delta's usage is cumulative ("The token counts shown in the usage field of the message_delta event are
    # cumulative"): a count never falls. A server that wrote 0 there for the prompt it had counted in message_start
    # had the answer recorded, priced and counted against budgets as if its 1000-token prompt were free.
    base = await raw_stream(_stream(start_usage, delta_usage))
    result = await _streamed_hi(base)
    assert result.text == "hello"
    usage = result.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (1000, 100, 40)


@pytest.mark.parametrize(
    ("delta_usage", "output_tokens"),
    [
        ("n/a", None),  # no object
        ({}, None),
        ({"input_tokens": 900}, None),  # output_tokens, which MessageDeltaUsage requires, left out
        ({"input_tokens": 900, "output_tokens": None}, None),
        ({"input_tokens": 900, "output_tokens": -3}, None),  # no count: not reported, as a body's negative count is
    ],
    ids=["not-an-object", "empty", "no-output", "output-null", "output-negative"],
)
async def test_a_streamed_answer_whose_final_usage_has_no_output_count_is_of_unknown_cost(
    raw_stream, delta_usage: Any, output_tokens: int | None
):
    # message_start's output_tokens is a placeholder (1); message_delta's is the answer's. Without a count there, the
    # answer was recorded at message_start's 1 output token, at a cost said known: a long answer billed for thousands.
    base = await raw_stream(_stream({"input_tokens": 900, "output_tokens": 1}, delta_usage))
    result = await _streamed_hi(base)
    assert result.text == "hello"
    if output_tokens is None:
        assert not result.usage.reported, result.usage
    else:
        assert result.usage.output_tokens == output_tokens, result.usage


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_targets_parallel_tool_calls_false_is_anthropics_disable_parallel_tool_use(serve, transport, stream):
    # params: {parallel_tool_calls: false}, OpenAI's way to have one tool call an answer, went to the Messages API as
    # it was: no field of its (400 "Extra inputs are not permitted"), a bad request that stopped the whole cascade.
    # Anthropic says it in tool_choice: {type: auto, disable_parallel_tool_use: true}.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    one = {"parallel_tool_calls": False}  # (the target's params, as routing hands them on)
    call = {"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    ask = [Message("user", "Weather in Oslo?")]
    for choice, sent in [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        ({"name": "get_weather"}, {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
    ]:
        fake.queue({"tool_calls": [call]})
        request = LLMRequest(ask, tools=[WEATHER], tool_choice=choice, max_tokens=100, stream=stream, extra=one)
        result = await provider.complete(request, target)
        assert [c.name for c in result.tool_calls] == ["get_weather"] and fake.violations == []
        body = last_body(fake)
        assert body["tool_choice"] == sent and "parallel_tool_calls" not in body
    # tool_choice none takes no such flag, and a call without tools has no tool_choice for it
    fake.queue({"text": "Sunny."})
    result = await provider.complete(
        LLMRequest(ask, tools=[WEATHER], tool_choice="none", stream=stream, extra=one), target
    )
    assert result.text == "Sunny." and last_body(fake)["tool_choice"] == {"type": "none"}
    fake.queue({"text": "Sunny."})
    result = await provider.complete(LLMRequest(ask, stream=stream, extra=one), target)
    assert result.text == "Sunny." and fake.violations == []
    assert "tool_choice" not in last_body(fake) and "parallel_tool_calls" not in last_body(fake)
    # true is the API's default: nothing to say
    fake.queue({"tool_calls": [call]})
    extra = {"parallel_tool_calls": True}
    await provider.complete(LLMRequest(ask, tools=[WEATHER], stream=stream, extra=extra), target)
    assert "tool_choice" not in last_body(fake) and "parallel_tool_calls" not in last_body(fake)
    assert fake.violations == []


async def test_a_tool_whose_schema_has_a_top_level_anyof_moves_on_from_claude(tmp_path, serve):
    # Anthropic refuses a tool whose input_schema has oneOf, anyOf or allOf at its top level (400 "input_schema does
    # not support oneOf, allOf, or anyOf at the top level"): the shape zod and pydantic give a union of arguments,
    # which an MCP client hands on with its tools, and which OpenAI and Gemini take. It stopped the whole call as a
    # bad request, though the next target could serve it.
    openai = FakeOpenAI(KEY).queue({"tool_calls": [{"id": "call_1", "name": "find", "arguments": {"city": "Oslo"}}]})
    anthropic = FakeAnthropic(KEY)
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve(anthropic),
    }
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        "anyOf": [{"required": ["city"]}, {"required": ["zip"]}],
    }
    tools = [{"type": "function", "function": {"name": "find", "parameters": schema}}]
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o"], "tools": tools}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert [c.name for c in result.result.tool_calls] == ["find"] and result.result.provider == "openai"
    [refused, _] = result.attempts
    assert (refused.provider, refused.error_class) == ("anthropic", "unsupported_feature")
    assert "at its top level" in refused.error_message and "another vendor" in refused.error_message


THINK = {"thinking": {"type": "enabled", "budget_tokens": 2048}}


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_claude_models_thinking_goes_back_to_that_model_only(serve, transport, stream: bool):
    # A thinking block's signature is bound to the model that thought: sent to another Claude model (a fallback in the
    # cascade, a caller that moved its loop to another model) it is refused, 400 "Invalid `signature` in `thinking`
    # block", a bad request that stopped the whole call, on every later turn of the conversation too.
    fake, provider, sonnet = await setup(ANTHROPIC, serve, transport)
    opus = Target("anthropic", "claude-opus-4-1", sonnet.base_url)
    fake.queue({"tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]})
    ask = [Message("user", "Weather in Oslo?")]
    first = await provider.complete(
        LLMRequest(ask, tools=[WEATHER], max_tokens=4000, stream=stream, extra=THINK), sonnet
    )
    [call] = first.tool_calls
    loop = [*ask, Message("assistant", tool_calls=[call]), Message("tool", '{"c": 3}', tool_call_id=call.id)]
    # the turn in progress, to another model: sent without the blocks, and so without thinking, saying why
    fake.queue({"text": "3 degrees."})
    second = await provider.complete(LLMRequest(loop, tools=[WEATHER], max_tokens=4000, extra=THINK), opus)
    assert second.text == "3 degrees." and fake.violations == []
    assert "thinking" not in last_body(fake) and "another model's turn" in second.warnings[0]
    assert [b["type"] for b in last_body(fake)["messages"][1]["content"]] == ["tool_use"]
    # an earlier turn's blocks, the turn in progress a new question: the other model thinks, without them
    fake.queue({"text": "Mild."})
    later = [*loop, Message("assistant", "3 degrees."), Message("user", "Is that cold?")]
    third = await provider.complete(LLMRequest(later, tools=[WEATHER], max_tokens=4000, extra=THINK), opus)
    assert third.text == "Mild." and fake.violations == [] and last_body(fake)["thinking"] == THINK["thinking"]
    assert [b["type"] for b in last_body(fake)["messages"][1]["content"]] == ["tool_use"]
    # the model that thought still gets its blocks back
    fake.queue({"text": "Mild."})
    await provider.complete(LLMRequest(later, tools=[WEATHER], max_tokens=4000, extra=THINK), sonnet)
    assert [b["type"] for b in last_body(fake)["messages"][1]["content"]] == ["thinking", "tool_use"]
    assert fake.violations == []


def _at(seconds: float) -> str:
    """An RFC 3339 time ``seconds`` from now, as Anthropic's reset headers write it."""
    # on time.time(), the clock the reset is read against (with no Date header): datetime.now() is another reading
    # of the machine's clock, which a test moving time.time (to a midnight) does not move
    when = datetime.datetime.fromtimestamp(time.time() + seconds, datetime.UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def test_a_429_without_retry_after_waits_for_the_anthropic_bucket_that_ran_out():
    # Anthropic says when each rate limit bucket refills in anthropic-ratelimit-<bucket>-reset (an RFC 3339 time):
    # a 429 that came without its retry-after (a gateway that drops it) was retried on the generic backoff, and one
    # whose bucket refills in an hour was retried at once as if it would clear in seconds, not moved on from.
    body = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}).encode()

    def refused(**headers: str) -> E.ProviderError:
        return anthropic_error(429, body, headers, provider="anthropic", model="claude-sonnet-4-5")

    soon = refused(
        **{
            "anthropic-ratelimit-tokens-remaining": "0",
            "anthropic-ratelimit-tokens-reset": _at(30),
            # a bucket with room left says nothing about when to come back, however far its own reset
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": _at(3600),
        }
    )
    assert type(soon) is E.RateLimitError and soon.retry_after is not None and soon.retry_after <= 30
    later = refused(
        **{"anthropic-ratelimit-output-tokens-remaining": "0", "anthropic-ratelimit-output-tokens-reset": _at(3600)}
    )
    assert type(later) is E.QuotaExhaustedError and later.moves_on
    # retry-after, when it came, is the wait; a reset that is no time is none
    said = refused(**{"retry-after": "7", "anthropic-ratelimit-tokens-remaining": "0"})
    assert said.retry_after == 7
    assert (
        refused(**{"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "soon"}).retry_after
        is None
    )


def test_an_anthropic_reset_time_is_read_on_the_servers_clock_not_this_machines():
    # the reset is a time of day on Anthropic's clock: a machine whose clock is ten minutes behind (a laptop after
    # sleep, a WSL VM) read a bucket refilling in 30s as ten minutes away, and the 429 as an exhausted quota that
    # moves the call on; the response's Date header is the server's now
    body = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}).encode()
    server_now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    headers = {
        "date": email.utils.format_datetime(server_now, usegmt=True),
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": (server_now + datetime.timedelta(seconds=30))
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
    }
    exc = anthropic_error(429, body, headers, provider="anthropic", model="claude-sonnet-4-5")
    assert type(exc) is E.RateLimitError and 29 <= exc.retry_after <= 31
    # a Retry-After date is read so too
    later = email.utils.format_datetime(server_now + datetime.timedelta(seconds=20), usegmt=True)
    exc = anthropic_error(429, body, {"date": headers["date"], "retry-after": later}, provider="anthropic", model="m")
    assert type(exc) is E.RateLimitError and 19 <= exc.retry_after <= 21


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_tool_choice_none_without_tools_is_not_sent_to_claude(serve, transport, stream):
    # A call of tool_choice 'none' and no tools (a caller's setting for every turn, or a JSON call with thinking on,
    # whose schema goes in the prompt) sent tool_choice {type: none} with no tools beside it, which the API refuses:
    # a bad request that stopped the cascade, where OpenAI's formats and Gemini leave the choice out
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    ask = [Message("user", "Weather in Oslo?")]
    fake.queue({"text": "Sunny."})
    result = await provider.complete(LLMRequest(ask, tool_choice="none", stream=stream), target)
    assert result.text == "Sunny." and "tool_choice" not in last_body(fake)
    fake.queue({"text": "Sunny."})
    await provider.complete(LLMRequest(ask, tools=[WEATHER], tool_choice="none", stream=stream), target)
    assert last_body(fake)["tool_choice"] == {"type": "none"}
    assert fake.violations == []


async def _streamed_hi(base: str) -> Any:
    """The result of a streamed "hi" to claude-sonnet-4-5 at the raw stream served at ``base``."""
    transport = Transport()
    try:
        env = {"ANTHROPIC_BASE_URL": base.removesuffix("/v1"), "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
        request = LLMRequest([Message("user", "hi")], stream=True)
        return await AnthropicProvider(env, transport).complete(request, Target("anthropic", "claude-sonnet-4-5"))
    finally:
        await transport.aclose()
