"""Anthropic's Messages API with extended thinking on: what thinking takes beside it (no temperature, top_k,
forced tool or prefill; a budget below max_tokens), and the thinking blocks a tool call brings back through
a tool loop."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from magsag_mcp.call_request import _messages as payload_messages
from magsag_mcp.types import LLMRequest, Message, ToolCall

from .anthropic_helpers import ANTHROPIC, GOOGLE, THINK
from .fakes import REDACTED_THINKING, THINKING, FakeAnthropic, signed
from .test_wire import KEY, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_takes_no_temperature_nor_a_forced_json_tool(serve, transport, stream: bool):
    # A target with thinking on (params: {thinking: ...}) and a skill with a temperature and a JSON schema: the API
    # answers 400 "`temperature` may only be set to 1 when thinking is enabled" and "Thinking may not be enabled
    # when tool_choice forces tool use", bad requests that stopped the whole cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '{"city": "Oslo"}'})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = LLMRequest(
        [Message("user", "Where?")], json_schema=schema, temperature=0.2, max_tokens=4000, stream=stream, extra=THINK
    )
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Oslo"} and fake.violations == []
    body = last_body(fake)
    assert body["thinking"] == THINK["thinking"] and "temperature" not in body and "tool_choice" not in body
    assert "JSON" in body["system"]
    assert any("temperature 0.2 was not sent" in w for w in result.warnings)
    assert any("with extended thinking on, the JSON schema could not be enforced" in w for w in result.warnings)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_thinking_takes_no_top_k_nor_a_top_p_below_0_95(serve, transport, stream: bool):
    # "Thinking isn't compatible with temperature or top_k modifications", and takes a top_p "between 1 and 0.95": a
    # target's params {top_k: 40, top_p: 0.9} beside thinking were a 400 that stopped the whole cascade on every call.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "ok"}, {"text": "ok"})
    extra = {**THINK, "top_k": 40, "top_p": 0.9}
    request = LLMRequest([Message("user", "Hi")], max_tokens=4000, stream=stream, extra=extra)
    result = await provider.complete(request, target)
    assert result.text.strip() == "ok" and fake.violations == [] and len(fake.requests) == 1
    body = last_body(fake)
    assert body["thinking"] == THINK["thinking"] and "top_k" not in body and "top_p" not in body
    assert result.warnings == [
        "with extended thinking on, Anthropic takes no top_k; top_k 40 was not sent",
        "with extended thinking on, Anthropic takes only a top_p of 0.95 or more; top_p 0.9 was not sent",
    ]
    # a top_p it takes is sent; and without thinking, both are
    await provider.complete(replace(request, extra={**THINK, "top_p": 0.97}), target)
    assert last_body(fake)["top_p"] == 0.97
    fake.queue({"text": "ok"})
    await provider.complete(replace(request, extra={"top_k": 40, "top_p": 0.9}), target)
    assert (last_body(fake)["top_k"], last_body(fake)["top_p"]) == (40, 0.9) and fake.violations == []


async def test_a_thinking_budget_is_kept_below_max_tokens(serve, transport):
    # "`max_tokens` must be greater than `thinking.budget_tokens`": a skill's max_tokens (which budgets reserve)
    # at or below the target's thinking budget was a 400 that stopped the cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "ok"}, {"text": "ok"})
    extra = {"thinking": {"type": "enabled", "budget_tokens": 8000}}
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=1500, extra=extra), target)
    assert result.text == "ok" and fake.violations == []
    assert last_body(fake)["thinking"] == {"type": "enabled", "budget_tokens": 1499}
    assert last_body(fake)["max_tokens"] == 1500 and "8000 was sent as 1499" in result.warnings[0]
    # below the API's least budget (1024) there is no thinking to send
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=500, extra=extra), target)
    assert result.text == "ok" and fake.violations == [] and "thinking" not in last_body(fake)
    assert result.warnings == [
        "extended thinking was not sent: its budget_tokens (8000) must be below max_tokens (500) and at least 1024; "
        "raise max_tokens above 8000 to think"
    ]


async def test_a_thinking_budget_of_any_size_is_said_with_a_fix_that_can_be_made(serve, transport):
    # A budget_tokens of 5,000 digits (JSON and YAML read an integer of any size) raised ValueError where its warning
    # wrote it (str() of an int past 4,300 digits), out of the provider; and one past max_tokens' limit
    # (2,147,483,647) was told to "raise max_tokens above" it, which the call would refuse: lower the budget instead.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "ok"}, {"text": "ok"}, {"text": "ok"})
    huge = {"thinking": {"type": "enabled", "budget_tokens": 10**5000}}
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=1500, extra=huge), target)
    assert result.text == "ok" and fake.violations == []
    assert last_body(fake)["thinking"] == {"type": "enabled", "budget_tokens": 1499}
    assert result.warnings[0].startswith(
        "Anthropic takes a thinking budget_tokens only below max_tokens (1500); a number of more than 24 digits was "
        "sent as 1499"
    )
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=500, extra=huge), target)
    assert result.text == "ok" and "thinking" not in last_body(fake)
    assert result.warnings == [
        "extended thinking was not sent: its budget_tokens (a number of more than 24 digits) must be below max_tokens "
        "(500) and at least 1024; lower budget_tokens below 2,147,483,647 (the most max_tokens may be) to think"
    ]
    past = {"thinking": {"type": "enabled", "budget_tokens": 2**31 - 1}}
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=500, extra=past), target)
    assert result.warnings == [
        "extended thinking was not sent: its budget_tokens (2147483647) must be below max_tokens (500) and at least "
        "1024; lower budget_tokens below 2,147,483,647 (the most max_tokens may be) to think"
    ]


async def test_a_thinking_budget_below_the_apis_least_is_sent_as_the_least(serve, transport):
    # A target's thinking: {type: enabled, budget_tokens: 512} (a small budget, as a small thinkingBudget is on Gemini)
    # was answered 400 "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", a bad request
    # that stopped the whole cascade on every call. It is sent as 1024, the least the API takes, saying so; where
    # max_tokens leaves no room for that, thinking is left out.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "ok"}, {"text": "ok"})
    extra = {"thinking": {"type": "enabled", "budget_tokens": 512}}
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=4000, extra=extra), target)
    assert result.text == "ok" and fake.violations == []
    assert last_body(fake)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert result.warnings == ["Anthropic takes a thinking budget_tokens of at least 1024; 512 was sent as 1024"]
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=1000, extra=extra), target)
    assert result.text == "ok" and fake.violations == [] and "thinking" not in last_body(fake)
    assert result.warnings == [
        "extended thinking was not sent: its budget_tokens (512) must be at least 1024 and below max_tokens (1000); "
        "raise max_tokens above 1024 to think"
    ]


async def test_a_tool_the_call_forces_goes_without_thinking(serve, transport):
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]})
    request = LLMRequest(
        [Message("user", "Oslo?")], tools=[WEATHER], tool_choice="required", max_tokens=4000, extra=THINK
    )
    result = await provider.complete(request, target)
    assert result.tool_calls[0].arguments == {"city": "Oslo"} and fake.violations == []
    assert "thinking" not in last_body(fake) and last_body(fake)["tool_choice"] == {"type": "any"}
    assert "extended thinking was not sent: the call forces a tool" in result.warnings[0]
    # a tool_choice without tools forces nothing (none is sent): thinking stays on
    fake.queue({"text": "ok"})
    request = LLMRequest([Message("user", "Hi")], tool_choice="required", max_tokens=4000, extra=THINK)
    result = await provider.complete(request, target)
    assert last_body(fake)["thinking"] == THINK["thinking"] and result.warnings == [] and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_call_brings_its_thinking_back(serve, transport, stream: bool):
    # With thinking on, the API answers 400 "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When
    # `thinking` is enabled, a final `assistant` message must start with a thinking block" to a follow-up whose
    # tool-call turn lost its thinking: every tool loop with thinking broke at its second call. The blocks (signed,
    # redacted too) now ride on the call's signature, and come back through a payload as invoke returned them.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue(
        {"tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}], "redacted": True},
        {"text": "3 degrees."},
    )
    ask = [Message("user", "Weather in Oslo?")]
    first = await provider.complete(
        LLMRequest(ask, tools=[WEATHER], max_tokens=4000, stream=stream, extra=THINK), target
    )
    [call] = first.tool_calls
    assert call.arguments == {"city": "Oslo"} and call.signature is not None and first.text == ""
    [turn] = payload_messages([{"role": "assistant", "tool_calls": [call.to_dict()]}])
    answered = [turn, Message("tool", '{"c": 3}', tool_call_id=call.id)]
    second = await provider.complete(LLMRequest(ask + answered, tools=[WEATHER], max_tokens=4000, extra=THINK), target)
    assert second.text == "3 degrees." and fake.violations == [] and second.warnings == []
    assert last_body(fake)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": THINKING[1], "signature": signed(THINKING[0], target.model)},
        {"type": "redacted_thinking", "data": signed(REDACTED_THINKING, target.model)},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    # a target without thinking takes the same history without the blocks (the API refuses them with thinking off)
    fake.queue({"text": "3 degrees."})
    await provider.complete(LLMRequest(ask + answered, tools=[WEATHER], max_tokens=4000), target)
    assert [b["type"] for b in last_body(fake)["messages"][1]["content"]] == ["tool_use"] and fake.violations == []


async def test_a_tool_turn_without_its_thinking_goes_without_thinking(serve, transport):
    # another vendor's tool calls (or a client that kept only id, name and arguments): no thinking block to send, and
    # the API takes such a turn only with thinking off
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 degrees."})
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", "Checking.", tool_calls=[ToolCall("call_1", "get_weather", {"city": "Oslo"})]),
        Message("tool", '{"c": 3}', tool_call_id="call_1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=4000, extra=THINK), target)
    assert result.text == "3 degrees." and fake.violations == [] and "thinking" not in last_body(fake)
    assert "extended thinking was not sent: the tool calls of the turn in progress came without" in result.warnings[0]


async def test_gemini_does_not_take_anthropic_thinking_for_its_signature(serve, transport):
    # a cascade that falls back from Claude to Gemini 3 with Claude's tool calls in the history
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-pro-preview")
    fake.queue({"text": "3 degrees."})
    signed = "anthropic-thinking:" + '[{"type":"redacted_thinking","data":"x"}]'
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", None, tool_calls=[ToolCall("toolu_1", "get_weather", {"city": "Oslo"}, signed)]),
        Message("tool", '{"c": 3}', tool_call_id="toolu_1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text == "3 degrees." and fake.violations == []
    assert last_body(fake)["contents"][1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_stays_on_through_a_tool_loop_of_several_steps(serve, transport, stream: bool):
    # Claude thinks once, at the start of its turn: the answers after tool results carry no thinking of their own.
    # The turn's first assistant message keeps its thinking; the later ones need none, and thinking stays on.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue(
        {"tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
        {"tool_calls": [{"id": "toolu_2", "name": "get_weather", "arguments": {"city": "Rome"}}]},
        {"text": "3 and 5 degrees."},
    )
    history = [Message("user", "Weather in Oslo, then Rome?")]
    for call_id, result in (("toolu_1", '{"c": 3}'), ("toolu_2", '{"c": 5}')):
        answer = await provider.complete(
            LLMRequest(history, tools=[WEATHER], max_tokens=4000, stream=stream, extra=THINK), target
        )
        assert answer.warnings == [] and fake.violations == [] and last_body(fake)["thinking"] == THINK["thinking"]
        [call] = answer.tool_calls
        history += [Message("assistant", None, tool_calls=[call]), Message("tool", result, tool_call_id=call_id)]
    assert history[3].tool_calls[0].signature is None  # the second step did not think again
    final = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=4000, extra=THINK), target)
    assert final.text == "3 and 5 degrees." and final.warnings == [] and fake.violations == []
    assert last_body(fake)["thinking"] == THINK["thinking"]
    assert [b["type"] for b in last_body(fake)["messages"][1]["content"]] == ["thinking", "tool_use"]


async def test_a_tool_loop_with_thinking_through_invoke_skill(tmp_path, serve):
    # The whole path a caller takes: a skill with a temperature (coding: 0.2, 4000 tokens, so streamed), a Claude
    # target with thinking, the tool call invoke returns sent back in model_config.messages as it came.
    import shutil
    from pathlib import Path

    from magsag_mcp.service import Service

    catalog = tmp_path / "catalog"  # the bundled one, with a Claude model that thinks among the allowed models
    shutil.copytree(Path(__file__).parents[2] / "catalog", catalog)
    policy = catalog / "policies" / "model_governance.yaml"
    policy.write_text(
        policy.read_text().replace("- claude-3-haiku-20240307", "- claude-3-haiku-20240307\n      - claude-sonnet-4-5")
    )
    fake = FakeAnthropic(KEY).queue(
        {"tool_calls": [{"id": "toolu_1", "name": "run_tests", "arguments": {"path": "tests/"}}]},
        {"text": "All 12 pass."},
    )
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    tool = {"type": "function", "function": {"name": "run_tests", "parameters": {"type": "object"}}}
    mc = {"model": "claude-sonnet-4-5", "params": {"thinking": THINK["thinking"]}, "tools": [tool]}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as service:
        first = await service.invoke_skill("skill.coding", {"task": "Run the tests.", "model_config": mc})
        [call] = first.to_dict()["tool_calls"]
        messages = [
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "12 passed"},
        ]
        second = await service.invoke_skill(
            "skill.coding", {"task": "Run the tests.", "model_config": {**mc, "messages": messages}}
        )
    assert second.result.text.strip() == "All 12 pass." and fake.violations == []
    body = last_body(fake)
    assert body["thinking"] == THINK["thinking"] and body["stream"] is True and "temperature" not in body
    assert [b["type"] for b in body["messages"][1]["content"]] == ["thinking", "tool_use"]


async def test_a_prefill_goes_without_thinking(serve, transport):
    # A final assistant message (a prefill the answer continues) with thinking on: 400 "Expected `thinking` or
    # `redacted_thinking`, but found `text`. When `thinking` is enabled, a final `assistant` message must start with
    # a thinking block", a bad request that stopped the cascade. The prefill is kept, and thinking left out.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "42."})
    turns = [Message("user", "Six times seven?"), Message("assistant", "The answer is")]
    result = await provider.complete(LLMRequest(turns, max_tokens=4000, extra=THINK), target)
    assert result.text == "42." and fake.violations == [] and "thinking" not in last_body(fake)
    assert last_body(fake)["messages"][-1]["content"] == [{"type": "text", "text": "The answer is"}]
    assert result.warnings == [
        "extended thinking was not sent: the call ends with the assistant's message (a prefill the answer "
        "continues), which Anthropic does not take with thinking on"
    ]


_SIGNED = [{"type": "thinking", "thinking": THINKING[1], "signature": THINKING[0]}]


@pytest.mark.parametrize(
    "signature",
    [
        "anthropic-thinking:" + "[" * 100_000 + "]" * 100_000,  # nested past what json.loads takes
        'anthropic-thinking:[{"type":"thinking"}]',  # its fields missing
        'anthropic-thinking:[{"type":"thinking","thinking":5,"signature":null}]',  # of other types
        'anthropic-thinking:[{"type":"redacted_thinking","data":""}]',
        'anthropic-thinking:[{"type":"redacted_thinking","data":"x","cache_control":{"type":"ephemeral"}}]',
        "anthropic-thinking:" + json.dumps([*_SIGNED, {**_SIGNED[0], "extra": 1}]),  # a key the API does not take
    ],
    ids=["deep", "fields-missing", "wrong-types", "empty-data", "cache-control", "extra-key"],
)
async def test_a_thinking_signature_not_as_invoke_returned_it_goes_without_thinking(serve, transport, signature):
    # A call's signature comes back from the caller. One changed from what invoke returned was sent as it was: a
    # block the API refuses (400, a bad request that stops the whole cascade), or, nested deeply, a RecursionError
    # taken for a bug "while handling the response" and recorded as maybe billed, though nothing was sent. Such a
    # turn now goes without thinking, as one with no signature does, and says so.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 degrees."})
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", None, tool_calls=[ToolCall("toolu_1", "get_weather", {"city": "Oslo"}, signature)]),
        Message("tool", '{"c": 3}', tool_call_id="toolu_1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=4000, extra=THINK), target)
    assert result.text == "3 degrees." and fake.violations == [] and "thinking" not in last_body(fake)
    assert [b["type"] for b in last_body(fake)["messages"][1]["content"]] == ["tool_use"]
    assert "extended thinking was not sent: the tool calls of the turn in progress came without" in result.warnings[0]


def test_an_adaptive_only_models_budget_of_any_size_is_said_by_its_size():
    # (str() of a budget_tokens of 5,000 digits raised ValueError in the note saying it was sent as adaptive)
    from magsag_mcp.providers.anthropic_thinking import adaptive_only

    extra: dict = {"thinking": {"type": "enabled", "budget_tokens": 10**5000}}
    notes: list[str] = []
    adaptive_only("claude-opus-4-7", extra, notes)
    assert extra == {"thinking": {"type": "adaptive"}}
    assert notes == [
        "claude-opus-4-7 takes adaptive thinking only; thinking with budget_tokens a number of more than 24 digits was "
        "sent as {type: adaptive}"
    ]
