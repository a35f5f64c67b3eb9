"""Anthropic's Messages API against the spec-checking fake: what the API refuses that the general wire
tests (test_wire.py) do not reach."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from magsag_mcp import errors as E
from magsag_mcp.call_request import _messages as payload_messages
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.anthropic_errors import anthropic_error
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall, ToolSpec

from .fakes import REDACTED_THINKING, THINKING, FakeAnthropic, signed
from .test_wire import CASES, KEY, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio
[ANTHROPIC] = [c for c in CASES if c.name == "anthropic"]
[GOOGLE] = [c for c in CASES if c.name == "google"]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_whitespace_stop_sequence_is_left_out_and_said_to_be(serve, transport, stream: bool):
    # The Messages API answers 400 "stop_sequences: each stop sequence must contain non-whitespace" to "\n\n"
    # (the very example magsag's own stop error gives): a bad request that stopped the whole cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "One paragraph."})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stop=["\n\n", "END", " "], stream=stream)
    result = await provider.complete(request, target)
    assert result.text.strip() == "One paragraph." and fake.violations == []
    assert last_body(fake)["stop_sequences"] == ["END"]
    assert result.warnings == ["Anthropic takes no stop sequence of only whitespace; '\\n\\n', ' ' were not sent"]
    # with none left, no stop_sequences at all
    fake.queue({"text": "ok"})
    result = await provider.complete(
        LLMRequest([Message("user", "Hi")], max_tokens=50, stop=["\n"], stream=stream), target
    )
    assert "stop_sequences" not in last_body(fake) and fake.violations == []
    assert result.warnings == ["Anthropic takes no stop sequence of only whitespace; '\\n' was not sent"]


async def test_a_prefill_ending_in_whitespace_is_sent_without_it(serve, transport):
    # A final assistant turn is a prefill the answer continues; the API answers 400 "final assistant content
    # cannot end with trailing whitespace" to "Answer: ", a bad request that stopped the cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "42"})
    turns = [Message("user", "Six times seven?"), Message("assistant", "Answer: \n")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50), target)
    assert result.text == "42" and fake.violations == []
    assert last_body(fake)["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Answer:"}]}
    # an earlier assistant turn is history, sent as it was
    fake.queue({"text": "ok"})
    turns = [Message("user", "a"), Message("assistant", "b \n"), Message("user", "c")]
    await provider.complete(LLMRequest(turns, max_tokens=50), target)
    assert last_body(fake)["messages"][1]["content"] == [{"type": "text", "text": "b \n"}]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_prefill_the_model_adds_nothing_to_is_the_answer(serve, transport, stream: bool):
    # A call that ends with the assistant's message (a prefill) asks the model to continue it; one already whole
    # is answered end_turn with no content (Anthropic: "Claude already decided it's done"). That empty
    # continuation was taken for no answer: the call failed, or went on to the next target, which answered the
    # conversation again, and both were paid for.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": None, "finish": "end_turn", "usage": {"input_tokens": 20, "output_tokens": 1}})
    turns = [Message("user", "Six times seven? Answer with the number."), Message("assistant", "42")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, stream=stream), target)
    assert (result.text, result.finish_reason, result.tool_calls) == ("", "stop", [])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 1) and fake.violations == []
    # a tool_use stop with no call in it is no answer, prefill or not; so is an empty end_turn after a user turn
    fake.queue({"text": None, "finish": "tool_use", "usage": {"input_tokens": 20, "output_tokens": 1}})
    with pytest.raises(E.MalformedResponseError, match="no usable answer"):
        await provider.complete(LLMRequest(turns, max_tokens=50, stream=stream), target)
    fake.queue({"text": None, "finish": "end_turn", "usage": {"input_tokens": 20, "output_tokens": 1}})
    with pytest.raises(E.MalformedResponseError, match="no usable answer"):
        await provider.complete(LLMRequest(turns[:1], max_tokens=50, stream=stream), target)


@pytest.mark.parametrize("tool", ["json_output", "get_weather"])
async def test_a_streamed_tool_input_cut_by_max_tokens_says_so(serve, transport, tool: str):
    # max_tokens stopped the stream inside a tool_use block's input_json_delta: the input is unfinished JSON.
    # It was "streamed tool input is not JSON", which says neither why nor what to change.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "t1", "name": tool, "arguments": '{"city": "Os'}], "finish": "max_tokens"})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [] if tool == "json_output" else [WEATHER]
    request = LLMRequest(
        [Message("user", "Where?")],
        json_schema=schema if not tools else None,
        tools=tools,
        max_tokens=5,
        stream=True,
    )
    with pytest.raises(E.MalformedResponseError, match="cut short by max_tokens.*raise max_tokens") as info:
        await provider.complete(request, target)
    assert info.value.moves_on and info.value.usage is not None and fake.violations == []


@pytest.mark.parametrize("tool", ["json_output", "get_weather"])
async def test_a_streamed_tool_input_holding_nan_is_not_json(serve, transport, tool: str):
    # json.loads took the model's NaN: a tool call reached the caller with a float no tool can use (null to an
    # MCP client), and a JSON answer passed {type: number}. RFC 8259 has no NaN: the answer is malformed.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "t1", "name": tool, "arguments": '{"city": NaN}'}]})
    schema = {"type": "object", "properties": {"city": {"type": "number"}}}
    tools = [] if tool == "json_output" else [WEATHER]
    request = LLMRequest(
        [Message("user", "Where?")], json_schema=schema if not tools else None, tools=tools, stream=True
    )
    with pytest.raises((E.MalformedResponseError, E.InvalidOutputError), match="not JSON") as info:
        await provider.complete(request, target)
    assert info.value.moves_on and fake.violations == []


@pytest.mark.parametrize("tool", ["json_output", "json_value_output", "get_weather"])
async def test_a_tool_input_cut_by_max_tokens_is_no_answer_unstreamed_too(serve, transport, tool: str):
    # Unstreamed, the API answers a tool_use block that max_tokens stopped with the input it had written so far,
    # as an object: a JSON answer cut mid-string ({"city": "Os"}) passed its schema and came back as the parsed
    # answer, and a tool call came back with its arguments cut short, both without a word (finish_reason length
    # only). Streamed, the same answer failed as "cut short by max_tokens". Now both do.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    partial = {"value": "Os"} if tool == "json_value_output" else {"city": "Os"}
    fake.queue({"tool_calls": [{"id": "t1", "name": tool, "arguments": partial}], "finish": "max_tokens"})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [WEATHER] if tool == "get_weather" else []
    request = LLMRequest(
        [Message("user", "Where?")],
        json_schema=None if tools else {"type": "string"} if tool == "json_value_output" else schema,
        tools=tools,
        max_tokens=5,
    )
    what = "tool call" if tools else "JSON answer"
    with pytest.raises(E.MalformedResponseError, match=f"the {what} was cut short by max_tokens.*max_tokens") as info:
        await provider.complete(request, target)
    assert info.value.moves_on and fake.violations == []
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (11, 7)  # billed, and recorded


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_input_cut_by_the_context_window_says_so_not_raise_max_tokens(serve, transport, stream: bool):
    # stop_reason model_context_window_exceeded inside a call: the prompt filled the window, so "raise max_tokens"
    # (what a max_tokens stop is told) would not help
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    cut = '{"city": "Os' if stream else {"city": "Os"}
    call = {"id": "t1", "name": "get_weather", "arguments": cut}
    fake.queue({"tool_calls": [call], "finish": "model_context_window_exceeded"})
    request = LLMRequest([Message("user", "Where?")], tools=[WEATHER], max_tokens=50, stream=stream)
    with pytest.raises(E.MalformedResponseError, match="context window.*shorten the prompt") as info:
        await provider.complete(request, target)
    assert "raise max_tokens" not in info.value.message and fake.violations == []


async def test_a_model_that_refuses_temperature_is_sent_the_call_again_without_it(serve, transport):
    # The models released after Claude Opus 4.6 take no temperature but 1 ("`temperature` is deprecated for this
    # model."): the name rule knows claude-opus-4-7 and later, not a gateway's alias for one nor a family it has
    # not seen. That 400 (not billed) was a bad request, which stopped the whole cascade for every call with a
    # temperature (the shipped coding and extraction skills set one). It is sent again without it, as Azure and
    # compat do with what their models refuse, and that name is sent none from then on.
    fake = FakeAnthropic(KEY)
    fake.fixed_temperature = frozenset({"prod-claude"})
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    target = Target("anthropic", "prod-claude", url)
    fake.queue({"text": "first"}, {"text": "second"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, temperature=0.2)
    result = await provider.complete(request, target)
    assert result.text == "first" and fake.violations == []
    assert [r["body"].get("temperature") for r in fake.requests] == [0.2, None]
    assert result.warnings == [
        "anthropic:prod-claude refused 'temperature' (`temperature` is deprecated for this model.); it was sent "
        "again without it"
    ]
    result = await provider.complete(request, target)
    assert result.text == "second" and len(fake.requests) == 3 and "temperature" not in last_body(fake)
    assert result.warnings == ["anthropic:prod-claude refused 'temperature' on an earlier call; it was not sent"]


async def test_top_p_beside_a_temperature_that_the_model_refuses_together_is_left_out(serve, transport):
    # A target's params: {top_p: 0.9} and a skill's temperature: Claude Sonnet 4.5 (and Opus 4.1, Haiku 4.5) takes
    # one of them, and answered 400 "`temperature` and `top_p` cannot both be specified for this model", a bad
    # request that stopped the cascade. The call goes again without top_p, as a refused setting does.
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    fake.queue({"text": "ok"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, temperature=0.2, extra={"top_p": 0.9})
    result = await provider.complete(request, Target("anthropic", "claude-sonnet-4-5", url))
    assert result.text == "ok" and fake.violations == []
    assert [("top_p" in r["body"], r["body"].get("temperature")) for r in fake.requests] == [(True, 0.2), (False, 0.2)]
    assert result.warnings == [
        "anthropic:claude-sonnet-4-5 refused 'top_p' (`temperature` and `top_p` cannot both be specified for this "
        "model. Please use only one.); it was sent again without it"
    ]
    # What the model refused is the pair: a later call with top_p and no temperature keeps its top_p (it was left
    # out of every call to that model, which takes one sampler, not none)
    fake.queue({"text": "ok"})
    alone = LLMRequest([Message("user", "Hi")], max_tokens=50, extra={"top_p": 0.9})
    result = await provider.complete(alone, Target("anthropic", "claude-sonnet-4-5", url))
    assert fake.requests[-1]["body"].get("top_p") == 0.9 and "temperature" not in fake.requests[-1]["body"]
    assert result.warnings == [] and len(fake.requests) == 3
    # beside a temperature, it is left out at once, without another refusal
    fake.queue({"text": "ok"})
    result = await provider.complete(request, Target("anthropic", "claude-sonnet-4-5", url))
    assert "top_p" not in fake.requests[-1]["body"] and len(fake.requests) == 4 and fake.violations == []
    assert result.warnings == [
        "anthropic:claude-sonnet-4-5 refused 'top_p' beside 'temperature' on an earlier call; it was not sent"
    ]


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-fable-5", "claude-mythos-5-1"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_after_opus_4_6_is_sent_no_top_k_nor_a_top_p_it_refuses(serve, transport, stream: bool, model):
    # The models released after Claude Opus 4.6 take no top_k ("any value will be rejected with a 400 error") and no
    # top_p below 0.99, as they take no temperature but 1. A target's params: {top_k: 40} (Anthropic's own sampler)
    # on claude-opus-4-7 was a 400 that stopped the whole cascade as a bad request, on every call. The name rule
    # leaves them out, as it does the temperature, saying so. It read only Opus, Sonnet and Haiku: Claude Fable 5 and
    # Mythos 5 (the same rules) were sent them, refused, and sent the call again.
    fake = FakeAnthropic(KEY)
    fake.fixed_temperature = frozenset({model})
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    target = Target("anthropic", model, url)
    fake.queue({"text": "ok"}, {"text": "ok"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream, extra={"top_k": 40, "top_p": 0.9})
    result = await provider.complete(request, target)
    assert result.text.strip() == "ok" and fake.violations == [] and len(fake.requests) == 1
    assert "top_k" not in last_body(fake) and "top_p" not in last_body(fake)
    assert result.warnings == [
        f"{model} takes no top_k; top_k 40 was not sent",
        f"{model} takes only a top_p of 0.99 or more; top_p 0.9 was not sent",
    ]
    # a top_p it takes is sent
    result = await provider.complete(replace(request, extra={"top_p": 0.995}), target)
    assert last_body(fake)["top_p"] == 0.995 and result.warnings == [] and len(fake.requests) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_after_opus_4_6_thinks_adaptively_when_a_budget_is_asked_for(serve, transport, stream: bool):
    # Claude Opus 4.7 and the models after it take adaptive thinking only: a target's params {thinking: {type: enabled,
    # budget_tokens: N}} was refused on every call (400 '"thinking.type.enabled" is not supported for this model. Use
    # "thinking.type.adaptive"...'), and the cascade moved on: the target never answered. It thinks adaptively.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    target = replace(target, model="claude-opus-4-7")
    fake.fixed_temperature = frozenset({"claude-opus-4-7"})
    fake.queue({"text": "ok"})
    extra = {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "summarized"}}
    request = LLMRequest([Message("user", "Hi")], max_tokens=4000, stream=stream, extra=extra)
    result = await provider.complete(request, target)
    assert result.text == "ok" and fake.violations == [] and len(fake.requests) == 1
    assert last_body(fake)["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert result.warnings == [
        "claude-opus-4-7 takes adaptive thinking only; thinking with budget_tokens 2048 was sent as {type: adaptive}"
    ]


async def test_a_model_that_refuses_top_k_is_sent_the_call_again_without_it(serve, transport):
    # A gateway's alias for such a model, which the name rule cannot read: its 400 "`top_k` is deprecated for this
    # model." (not billed) is a setting it refuses, as its "`temperature` is deprecated" is, not a bad request
    fake = FakeAnthropic(KEY)
    fake.fixed_temperature = frozenset({"prod-claude"})
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    target = Target("anthropic", "prod-claude", url)
    fake.queue({"text": "first"}, {"text": "second"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, extra={"top_k": 40})
    result = await provider.complete(request, target)
    assert result.text == "first" and fake.violations == []
    assert [r["body"].get("top_k") for r in fake.requests] == [40, None]
    assert result.warnings == [
        "anthropic:prod-claude refused 'top_k' (`top_k` is deprecated for this model.); it was sent again without it"
    ]
    result = await provider.complete(request, target)
    assert result.text == "second" and len(fake.requests) == 3 and "top_k" not in last_body(fake)


THINK = {"thinking": {"type": "enabled", "budget_tokens": 2048}}


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


@pytest.mark.parametrize("why", ["thinking", "tools"])
async def test_a_json_schema_that_no_forced_tool_carries_is_in_the_prompt(serve, transport, why: str):
    # With thinking on, or with the caller's tools in the call, the schema cannot ride on a forced tool: the model was
    # told only "Answer with a single JSON object", never shown the schema its answer is checked against, so it could
    # not know the fields (nor that the answer is an array): a billed answer that failed the check. It is shown.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '[{"city": "Oslo"}]'})
    schema = {"type": "array", "items": {"type": "object", "properties": {"city": {"type": "string"}}}}
    extra, tools = (THINK, []) if why == "thinking" else ({}, [WEATHER])
    request = LLMRequest([Message("user", "Where?")], json_schema=schema, tools=tools, max_tokens=4000, extra=extra)
    result = await provider.complete(request, target)
    assert result.parsed == [{"city": "Oslo"}] and fake.violations == []
    system = last_body(fake)["system"]
    assert json.dumps(schema, separators=(",", ":")) in system and "single JSON object" not in system


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


async def test_another_vendors_tool_call_ids_are_sent_as_the_api_takes_them(serve, transport):
    # Tool calls answered by a compatible server (vLLM's Kimi K2 parser: "functions.get_weather:0") and then sent to
    # Claude (a fallback, the next turn): the API takes ids of letters, digits, _ and - only, and answered 400
    # "tool_use.id: String should match pattern", a bad request that stopped the cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 and 5 degrees."})
    calls = [
        ToolCall("functions.get_weather:0", "get_weather", {"city": "Oslo"}),
        ToolCall("call 1", "get_weather", {}),
    ]
    history = [
        Message("user", "Weather in Oslo and Rome?"),
        Message("assistant", None, tool_calls=calls),
        Message("tool", '{"c": 3}', tool_call_id="functions.get_weather:0"),
        Message("tool", '{"c": 5}', tool_call_id="call 1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text == "3 and 5 degrees." and fake.violations == []
    turns = last_body(fake)["messages"]
    assert [b["id"] for b in turns[1]["content"]] == ["functions_get_weather_0", "call_1"]
    assert [b["tool_use_id"] for b in turns[2]["content"]] == ["functions_get_weather_0", "call_1"]


async def test_tool_call_ids_repeated_across_turns_are_sent_unique(serve, transport):
    # Gemini 2.x gives its function calls no id, and the answer's reader names each call_<n>_<name> (a compatible server
    # without ids, call_<n>): a tool loop of two steps there holds call_0_get_weather twice, as invoke returned it. Sent
    # on to Claude (a fallback, the next turn), the API answered 400 "`tool_use` ids must be unique", a bad request that
    # stopped the cascade. So did two ids that differ only in characters the API does not take ("a.1", "a:1").
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 and 5 degrees."})
    history = [
        Message("user", "Weather in Oslo, then Rome?"),
        Message("assistant", None, tool_calls=[ToolCall("call_0_get_weather", "get_weather", {"city": "Oslo"})]),
        Message("tool", '{"c": 3}', tool_call_id="call_0_get_weather"),
        Message("assistant", None, tool_calls=[ToolCall("call_0_get_weather", "get_weather", {"city": "Rome"})]),
        Message("tool", '{"c": 5}', tool_call_id="call_0_get_weather"),
        Message("user", "And Paris and Lima?"),
        Message("assistant", None, tool_calls=[ToolCall("a.1", "get_weather", {}), ToolCall("a:1", "get_weather", {})]),
        Message("tool", '{"c": 9}', tool_call_id="a:1"),
        Message("tool", '{"c": 7}', tool_call_id="a.1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text == "3 and 5 degrees." and fake.violations == []
    turns = last_body(fake)["messages"]
    uses = [b["id"] for t in turns for b in t["content"] if b["type"] == "tool_use"]
    assert len(set(uses)) == 4 and uses[0] == "call_0_get_weather" and uses[2] == "a_1"
    # each result still answers its own call: the one in the turn just before it
    assert turns[2]["content"][0]["tool_use_id"] == uses[0] and turns[4]["content"][0]["tool_use_id"] == uses[1]
    assert [b["tool_use_id"] for b in turns[6]["content"][:2]] == [uses[3], uses[2]]


async def test_parallel_calls_of_one_id_each_get_their_own_result(serve, transport):
    # A server that gives parallel calls one id (call_0 for each), whose results the caller sends back in the calls'
    # order: the second call went as call_0_2, and both results answered it, the latest call of their id. The first
    # call had no result (400 "tool_use ids were found without tool_result blocks", a bad request that stopped the
    # cascade), and the second two. Each result answers the first call of its id not yet answered in the turn before
    # it; a later turn's call of the same id is answered anew.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 and 5 degrees; 9 in Lima."})
    history = [
        Message("user", "Weather in Oslo and Rome?"),
        Message(
            "assistant",
            None,
            tool_calls=[
                ToolCall("call_0", "get_weather", {"city": "Oslo"}),
                ToolCall("call_0", "get_weather", {"city": "Rome"}),
            ],
        ),
        Message("tool", '{"c": 3}', tool_call_id="call_0"),
        Message("tool", '{"c": 5}', tool_call_id="call_0"),
        Message("assistant", None, tool_calls=[ToolCall("call_0", "get_weather", {"city": "Lima"})]),
        Message("tool", '{"c": 9}', tool_call_id="call_0"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text.startswith("3 and 5") and fake.violations == []
    turns = last_body(fake)["messages"]
    assert [b["id"] for b in turns[1]["content"]] == ["call_0", "call_0_2"]
    assert [(b["tool_use_id"], b["content"]) for b in turns[2]["content"]] == [
        ("call_0", '{"c": 3}'),
        ("call_0_2", '{"c": 5}'),
    ]
    assert [b["id"] for b in turns[3]["content"]] == ["call_0_3"]
    assert [b["tool_use_id"] for b in turns[4]["content"]] == ["call_0_3"]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("name", ["json_output", "json_value_output"])
async def test_a_callers_tool_named_as_the_json_tool_is_a_tool_call(serve, transport, stream: bool, name: str):
    # A JSON schema is answered through a forced tool named json_output (json_value_output), but only in a call without
    # tools of the caller's. A caller's own tool of that name (an agent's "write the JSON file") was taken for it: its
    # call was dropped from tool_calls and its arguments came back as the answer's text, finish "stop", so the caller's
    # loop never ran the tool.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    args = {"path": "out.json", "value": {"a": 1}}
    fake.queue({"tool_calls": [{"id": "toolu_1", "name": name, "arguments": args}]})
    tool = ToolSpec(name, "Write a JSON file", {"type": "object", "properties": {"path": {"type": "string"}}})
    request = LLMRequest([Message("user", "Save a=1.")], tools=[tool], max_tokens=50, stream=stream)
    result = await provider.complete(request, target)
    assert fake.violations == [] and result.finish_reason == "tool_calls" and result.text.strip() == ""
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("toolu_1", name, args)]


ITEM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        # a list of items whose schema is in $defs (pydantic's TypeAdapter(list[Item]).json_schema())
        ({"type": "array", "items": {"$ref": "#/$defs/Item"}, "$defs": {"Item": ITEM}}, [{"name": "a"}]),
        # an object that is one of several shapes
        ({"type": "object", "oneOf": [ITEM, {"type": "object", "properties": {"id": {"type": "integer"}}}]}, {"id": 3}),
        ({"type": "object", "allOf": [{"$ref": "#/definitions/Item"}], "definitions": {"Item": ITEM}}, {"name": "b"}),
    ],
    ids=["array-with-defs", "object-oneOf", "object-allOf-definitions"],
)
async def test_a_json_schema_goes_through_the_tool_as_the_api_takes_it(serve, transport, schema, document):
    # A tool's input_schema may have no top-level oneOf/anyOf/allOf (400 "input_schema does not support oneOf,
    # allOf, or anyOf at the top level"), and a schema wrapped as {"value": ...} kept its $defs inside the value,
    # where its "#/$defs/..." references no longer pointed (400 "JSON schema is invalid"): bad requests that
    # stopped the cascade. Such a schema is wrapped, with its $defs (or definitions) at the wrapper's root.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "t1", "name": "json_value_output", "arguments": {"value": document}}]})
    result = await provider.complete(LLMRequest([Message("user", "Items?")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == document and fake.violations == []
    sent = last_body(fake)["tools"][0]["input_schema"]
    assert sent["type"] == "object" and sent["required"] == ["value"]
    assert not {"oneOf", "anyOf", "allOf"} & set(sent)


FABLE = "claude-fable-5-1"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_that_takes_no_forced_tool_is_asked_for_a_json_schema_in_the_prompt(serve, transport, stream):
    # Claude Fable 5.1 and Mythos 5.1 refuse a forced tool_choice (400 'tool_choice: type "tool" and "any" are not
    # supported for this model', or "tool_choice forces tool use is not compatible with this model", a bad request that
    # stopped the whole cascade), and a JSON schema went to every Claude as a forced tool: such a model never answered a
    # call with a schema. The schema is asked for in the prompt instead (as with thinking on), the answer checked
    # against it, and the model is sent no forced tool again.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    target = replace(target, model=FABLE)
    fake.queue({"text": '{"name": "a"}'}, {"text": '{"name": "b"}'})
    request = LLMRequest([Message("user", "Name?")], json_schema=ITEM, max_tokens=50, stream=stream)
    result = await provider.complete(request, target)
    assert result.parsed == {"name": "a"} and fake.violations == [] and len(fake.requests) == 2
    body = last_body(fake)
    assert "tool_choice" not in body and "tools" not in body and '"required":["name"]' in body["system"]
    assert any(w.startswith(f"anthropic:{FABLE} refused a forced tool") for w in result.warnings), result.warnings
    result = await provider.complete(request, target)
    assert result.parsed == {"name": "b"} and len(fake.requests) == 3 and "tool_choice" not in last_body(fake)
    assert any("JSON schema could not be enforced by a forced tool" in w for w in result.warnings), result.warnings


async def test_a_tool_the_call_forces_moves_on_from_a_model_that_takes_no_forced_tool(serve, transport):
    # The call's own forced tool is the call's to decide: a model that takes none cannot serve it, and another target
    # may; the refusal stopped the cascade as a bad request.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    request = LLMRequest([Message("user", "Weather?")], tools=[WEATHER], tool_choice="required", max_tokens=50)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(request, replace(target, model=FABLE))
    assert info.value.moves_on and fake.violations == []
    assert 'type "tool" and "any" are not supported for this model' in info.value.message
    assert "tool_choice 'auto'" in info.value.message


@pytest.mark.parametrize(
    "said",
    [
        'tool_choice: type "tool" and "any" are not supported for this model',
        "tool_choice: tool_choice forces tool use is not compatible with this model",
        "Thinking may not be enabled when tool_choice forces tool use.",
    ],
)
def test_a_refused_forced_tool_is_the_targets_limit_not_a_bad_request(said: str):
    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": said}}).encode()
    err = anthropic_error(400, body, {}, provider="anthropic", model=FABLE)
    assert type(err) is E.UnsupportedFeatureError and err.moves_on and err.details["param"] == "tool_choice"


async def test_a_tool_that_returned_nothing_is_still_a_result(serve, transport):
    # A tool whose output is "" (a write-only tool, a command with no stdout) went back as tool_result content "",
    # which the API takes for no result at all: 400 "`tool_use` ids were found without `tool_result` blocks
    # immediately after", a bad request that stopped the cascade. It goes back saying there was no output.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "Saved."})
    history = [
        Message("user", "Save it."),
        Message("assistant", None, tool_calls=[ToolCall("toolu_1", "save", {})]),
        Message("tool", "", tool_call_id="toolu_1"),
    ]
    result = await provider.complete(LLMRequest(history, max_tokens=50), target)
    assert result.text == "Saved." and fake.violations == []
    assert last_body(fake)["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "(no output)"}
    ]


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, E.OverloadedError),
        ({"type": "authentication_error", "message": "invalid x-api-key"}, E.AuthenticationError),
        ({"type": "invalid_request_error", "message": "max_tokens: Field required"}, E.BadRequestError),
    ],
)
async def test_an_error_body_under_200_is_the_error_it_names(serve, transport, error, cls):
    # A gateway in front of the API (ANTHROPIC_BASE_URL) that answers an upstream failure as the API's error body
    # under HTTP 200: it was "not a Messages response", whatever it said; an overload was not waited out and retried,
    # a refused key not named as one.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"error": 200, "body": {"type": "error", "error": error, "request_id": "req_011Cgateway"}})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50), target)
    assert type(info.value) is cls and error["message"] in info.value.message
    assert info.value.details["request_id"] == "req_011Cgateway" and info.value.maybe_billed  # a 2xx: not known


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


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_stopped_by_the_context_window_says_so(serve, transport, stream: bool):
    # stop_reason model_context_window_exceeded: the prompt and the answer filled the model's context window. With no
    # answer at all it was a success with the advice "raise max_tokens", which leaves even less room; it is now the
    # context-too-long failure it is (another target may have a larger window), recorded at its billed usage.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue(
        {
            "text": None,
            "finish": "model_context_window_exceeded",
            "usage": {"input_tokens": 199990, "output_tokens": 0},
        },
        {"text": "The first half", "finish": "model_context_window_exceeded"},
    )
    request = LLMRequest([Message("user", "Summarise this long file")], max_tokens=4000, stream=stream)
    with pytest.raises(E.ContextTooLongError, match="context window") as info:
        await provider.complete(request, target)
    assert info.value.moves_on and info.value.usage.input_tokens == 199990 and fake.violations == []
    assert "raise max_tokens" not in info.value.message
    # with part of an answer: that part, said to be cut short by the context window, not by max_tokens
    result = await provider.complete(request, target)
    assert result.text.strip() == "The first half" and result.finish_reason == "length"
    assert result.warnings == [
        f"anthropic:{ANTHROPIC.model} stopped at its context window (stop_reason: model_context_window_exceeded): "
        "the answer may be cut short; shorten the prompt, or use a model with a larger context window"
    ]


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


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_json_answer_that_continues_a_prefill_is_the_whole_document(serve, transport, stream: bool):
    # Prefilling "{" is Anthropic's own way to have Claude answer in JSON; the answer continues the prefill, so its
    # text alone ('"Oslo", "c": 3}') is no document. A JSON call with one failed as "returned invalid JSON", always,
    # after the answer was paid for, and went on to the next target. The document is the prefill and what follows.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '"Oslo", "c": 3}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", '{"city":\n')]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"city": "Oslo", "c": 3} and json.loads(result.text) == result.parsed
    assert last_body(fake)["messages"][-1]["content"] == [{"type": "text", "text": '{"city":'}]
    assert fake.violations == []
    # a prefill that is the whole document already, which the model adds nothing to
    fake.queue({"text": None, "finish": "end_turn"})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", '{"c": 3}')]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"c": 3} and result.text == '{"c": 3}'
    # without JSON asked for, the answer is the continuation, as the API gives it
    fake.queue({"text": "42."})
    turns = [Message("user", "Six times seven?"), Message("assistant", "The answer is")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, stream=stream), target)
    assert result.text.strip() == "42."


async def test_a_message_whose_content_is_text_blocks_is_sent_as_their_text(serve, transport):
    # Content as a list of text blocks, as Anthropic's and OpenAI's APIs (and an MCP tool's result) write it, was sent
    # as the JSON of the list: the model read '[{"type": "text", "text": "Weather in Oslo?"}]' as the question, and a
    # tool's result as the blocks' JSON. The text is the text; a tool's own JSON output in a list stays JSON.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 degrees."})
    history = payload_messages(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Weather in Oslo?"}, {"type": "text", "text": "In Celsius."}],
            },
            {
                "role": "assistant",
                "tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "3 degrees, clear"}]},
        ]
    )
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert result.text == "3 degrees." and fake.violations == []
    messages = last_body(fake)["messages"]
    assert messages[0]["content"] == [{"type": "text", "text": "Weather in Oslo?\nIn Celsius."}]
    assert messages[2]["content"][0]["content"] == "3 degrees, clear"
    [data] = payload_messages([{"role": "user", "content": [{"id": 1}, {"type": "text"}]}])
    assert data.content == '[{"id": 1}, {"type": "text"}]'


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-opus-4-7", "claude-fable-5"])
async def test_a_json_call_prefilled_with_a_bare_brace_goes_to_a_model_that_takes_no_prefill_without_it(
    serve, transport, stream: bool, model: str
):
    # Claude Opus 4.6, Sonnet 4.6 and the models after them refuse a prefill (400 "This model does not support
    # assistant message prefill"): a JSON call prefilled with "{" (Anthropic's own way to start Claude's JSON) never
    # got an answer from them, and moved on. What it asks for, JSON mode gives whole: it is sent without the prefill.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    target = replace(target, model=model)
    fake.fixed_temperature = frozenset()
    fake.queue({"text": '{"c": 3}'}, {"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"name": "a"}}]})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "{ ")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"c": 3} and fake.violations == [] and len(fake.requests) == 1
    assert last_body(fake)["messages"][-1]["role"] == "user"
    assert result.warnings == [
        f"{model} takes no prefill: the JSON call went without its '{{', and the answer is the whole document"
    ]
    request = LLMRequest(turns, max_tokens=50, json_schema=ITEM, stream=stream)
    assert (await provider.complete(request, target)).parsed == {"name": "a"} and len(fake.requests) == 2
    # a prefill that says more than where the document starts is the call's to keep: the model refuses it
    with pytest.raises(E.UnsupportedFeatureError):
        await provider.complete(replace(request, messages=[turns[0], Message("assistant", '{"city":')]), target)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_json_answer_after_a_prefill_of_prose_is_the_answer_alone(serve, transport, stream: bool):
    # A prefill that is no start of a JSON document ("Here is the JSON:"), after which Claude writes the whole
    # document: joined to it, the answer was "Here is the JSON:{...}", invalid JSON, paid for, and the cascade went
    # on. Only a prefill that starts the document ("{", "[", a code fence) is part of it.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": ' {"city": "Oslo", "c": 3}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "Here is the JSON:")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"city": "Oslo", "c": 3} and json.loads(result.text) == result.parsed
    # a code fence opened by the prefill is the document's start, as "{" is
    fake.queue({"text": '\n{"c": 3}\n```'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "```json")]
    result = await provider.complete(LLMRequest(turns, max_tokens=50, json_output=True, stream=stream), target)
    assert result.parsed == {"c": 3}
    assert fake.violations == []


def test_content_blocks_with_fields_beyond_their_text_stay_json_and_responses_text_blocks_are_text():
    # A tool's own JSON output that happens to be a list of {"type": "text", "text": ...} records with fields of
    # their own (a search tool's url and score) lost every field but the text: the model never saw the sources.
    # Only blocks that are text and nothing else the model reads (cache_control, citations) are their text; and
    # OpenAI Responses' input_text / output_text blocks are text blocks as much as "text" ones are.
    records = [
        {"type": "text", "text": "Oslo: 3 degrees", "url": "https://met.no/oslo", "score": 0.9},
        {"type": "text", "text": "Bergen: 7 degrees", "url": "https://met.no/bergen", "score": 0.7},
    ]
    [tool_output] = payload_messages([{"role": "user", "content": records}])
    assert json.loads(tool_output.content) == records
    blocks = [
        {"type": "input_text", "text": "Weather in Oslo?"},
        {"type": "text", "text": "In Celsius.", "cache_control": {"type": "ephemeral"}},
    ]
    [question] = payload_messages([{"role": "user", "content": blocks}])
    assert question.content == "Weather in Oslo?\nIn Celsius."
    [answer] = payload_messages([{"role": "assistant", "content": [{"type": "output_text", "text": "3 degrees."}]}])
    assert answer.content == "3 degrees."


def test_an_mcp_tool_results_text_blocks_with_their_meta_are_their_text():
    # An MCP client hands on a tool's CallToolResult content as the server sent it: its text blocks may carry _meta
    # (MCP's field for the client, never the model's), and such a result went to the model as the blocks' JSON, its
    # metadata included, not as the text.
    content = [
        {"type": "text", "text": "3 degrees, clear", "_meta": {"io.example/trace": "abc"}},
        {"type": "text", "text": "wind 4 m/s", "annotations": {"audience": ["assistant"]}},
    ]
    [_, result] = payload_messages(
        [
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": content, "isError": False},
        ]
    )
    assert result.content == "3 degrees, clear\nwind 4 m/s"


async def test_a_tool_result_that_is_an_error_says_so_to_claude_and_to_gemini(serve, transport):
    # A tool message marked is_error (a tool that failed: Anthropic's tool_result field, which MCP's CallToolResult
    # says as isError) lost the mark: Claude read "Timeout after 30 s" as the tool's output, and so did Gemini, whose
    # functionResponse takes an "error" key for a call that failed. Each is told it failed, in its own words.
    history = payload_messages(
        [
            {"role": "user", "content": "Weather in Oslo and Rome?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}},
                    {"id": "toolu_2", "name": "get_weather", "arguments": {"city": "Rome"}},
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": '{"c": 3}'},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Timeout after 30 s", "is_error": True},
        ]
    )
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 degrees in Oslo; Rome's weather could not be read."})
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert fake.violations == []
    assert last_body(fake)["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"c": 3}'},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "Timeout after 30 s", "is_error": True},
    ]
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": "3 degrees in Oslo; Rome's weather could not be read."})
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert fake.violations == []
    answers = [p["functionResponse"] for p in last_body(fake)["contents"][2]["parts"]]
    assert [a["response"] for a in answers] == [{"c": 3}, {"error": "Timeout after 30 s"}]


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_is_error_takes_true_or_false_and_only_on_a_tool_result(flag):
    calls = {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": {}}]}
    if flag is None:
        with pytest.raises(E.PayloadError, match=r"messages\[0\]\.is_error is taken on a tool result"):
            payload_messages([{"role": "user", "content": "x", "is_error": True}])
        return
    with pytest.raises(E.PayloadError, match=r"messages\[1\]\.is_error must be true or false"):
        payload_messages([calls, {"role": "tool", "tool_call_id": "c1", "content": "x", "is_error": flag}])


def test_a_tool_result_marked_as_mcp_marks_it_isError_is_an_error_result():
    # An MCP client hands on the result of a tool it called as the CallToolResult gave it: isError, MCP's spelling of
    # is_error. The key was passed over unread: the tool's failure ("Timeout after 30 s") reached Claude and Gemini as
    # its output, with no word that it failed.
    calls = {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": {}}]}
    failed = {"role": "tool", "tool_call_id": "c1", "content": "Timeout after 30 s", "isError": True}
    assert payload_messages([calls, failed])[1].is_error is True
    assert payload_messages([calls, {**failed, "isError": False}])[1].is_error is False
    with pytest.raises(E.PayloadError, match=r"messages\[1\]\.isError must be true or false"):
        payload_messages([calls, {**failed, "isError": "yes"}])
    with pytest.raises(E.PayloadError, match=r"messages\[1\] has is_error false and isError true"):
        payload_messages([calls, {**failed, "is_error": False}])
    with pytest.raises(E.PayloadError, match=r"messages\[0\]\.isError is taken on a tool result"):
        payload_messages([{"role": "user", "content": "x", "isError": True}])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", ["json_output", "json_value_output"])
async def test_a_call_of_the_callers_own_tool_named_as_the_json_tool_is_a_tool_call(serve, transport, stream, name):
    # The tool a JSON answer is forced through is named json_output (json_value_output): a call of the caller's own
    # tool of that name was taken for the JSON answer, its arguments returned as the text and the call dropped, though
    # the JSON tool is forced only in a call with no tools of its own
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "toolu_1", "name": name, "arguments": {"report": "done"}}]})
    tool = ToolSpec(name, "Hand the report over", {"type": "object", "properties": {"report": {"type": "string"}}})
    request = LLMRequest([Message("user", "Report?")], tools=[tool], max_tokens=100, stream=stream)
    result = await provider.complete(request, target)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [(name, {"report": "done"})]
    assert result.finish_reason == "tool_calls" and result.text == "" and fake.violations == []


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        ({"type": "object", "properties": {"city": {"type": "string"}, "c": {"type": "integer"}}}, {"city": "Oslo"}),
        ({"type": "array", "items": {"type": "object"}}, [{"name": "a"}, {"name": "b", "tags": {"x": 1}}]),
    ],
    ids=["object", "wrapped-value"],
)
async def test_a_streamed_json_schema_answer_reaches_progress_as_the_text_it_is(serve, transport, schema, document):
    # A JSON schema answer comes in the forced tool's input_json_delta events, not in text deltas: a caller
    # streaming it (a Python progress callback, an MCP client's "streaming: N characters") got no delta at all,
    # then an answer whose text its deltas never showed. The document's text now streams as it comes, and the
    # deltas join to the answer's text.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    name = "json_output" if schema["type"] == "object" else "json_value_output"
    wrapped = document if name == "json_output" else {"value": document}
    fake.queue({"tool_calls": [{"id": "t1", "name": name, "arguments": json.dumps(wrapped, indent=1)}]})
    deltas: list[dict] = []

    async def progress(event: str, data: dict) -> None:
        deltas.append(dict(data))

    request = LLMRequest([Message("user", "Weather?")], json_schema=schema, max_tokens=200, stream=True)
    result = await provider.complete(request, target, progress=progress)
    assert result.parsed == document and json.loads(result.text) == document and fake.violations == []
    assert len(deltas) > 1 and "".join(d["text"] for d in deltas) == result.text
    assert [d["chars"] for d in deltas] == [sum(len(d["text"]) for d in deltas[: i + 1]) for i in range(len(deltas))]


async def test_a_streamed_json_answer_that_continues_a_prefill_reaches_progress_whole(serve, transport):
    # The document is the prefill ("{") and what follows it: the deltas carried what follows alone, '"Oslo", "c": 3}',
    # which a caller rendering them showed as the answer, no JSON document.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '"Oslo", "c": 3}'})
    deltas: list[str] = []

    async def progress(event: str, data: dict) -> None:
        deltas.append(data["text"])

    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", '{"city":\n')]
    request = LLMRequest(turns, max_tokens=50, json_output=True, stream=True)
    result = await provider.complete(request, target, progress=progress)
    assert result.parsed == {"city": "Oslo", "c": 3} and "".join(deltas) == result.text


@pytest.mark.parametrize(
    "raw",
    [
        '{"value": [1, {"a": "}"}]}',
        '{ "value" :\n {"b": {}}  }\n',
        '{"value":"text with } and spaces  "}',
        '{"value":3}',
    ],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_a_wrapped_json_value_streams_as_the_values_text_however_its_pieces_are_cut(raw: str, size: int):
    from magsag_mcp.providers.json_output import StreamedDocument

    document = StreamedDocument(wrapped=True)
    text = "".join(document.feed(raw[i : i + size]) for i in range(0, len(raw), size))
    assert json.loads(text) == json.loads(raw)["value"]
    assert document.instead_of(json.dumps(json.loads(raw)["value"])) == text


def _held_back_as_before(pieces: list[str]) -> list[str]:
    """What each piece released as the stream read it before: the text so far, less what may close the wrapper."""
    import re

    may_close, held, out = re.compile(r"\s*(?:\}\s*)?\Z"), "", []
    for piece in pieces:
        text = held + piece
        end = may_close.search(text).start()
        out.append(text[:end])
        held = text[end:]
    return out


@pytest.mark.parametrize(
    "value",
    ['[1, {"a": "}"}]', '{"b": {}}  }\n', " \n\t ", "}", "} }  } x }", '"x" }\n\n}', '[{}, {} ]  ', "  \u3000}"],
)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_a_wrapped_value_holds_back_only_what_may_close_it_whatever_whitespace_comes(value: str, size: int):
    # The text held back (whitespace, and the one brace that may close the wrapper) was read again, whole, with each
    # piece: a value that ran into a long run of whitespace (a model repeating itself until max_tokens) took time
    # quadratic in its length on the event loop. Held in pieces now, it releases the same text as before.
    from magsag_mcp.providers.json_output import StreamedDocument

    for raw in (value, value + " " * 50 + "}", " " * 40 + value + "\n" * 30):
        pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
        document = StreamedDocument(wrapped=True)
        document.feed('{"value": ')
        assert [document.feed(p) for p in pieces] == _held_back_as_before(pieces)
    document = StreamedDocument(wrapped=True)
    released = [document.feed(p) for p in ['{"value": [1,', *[" " * 16] * 50_000, "2]", "\n}"]]
    assert "".join(released) == "[1," + " " * 800_000 + "2]" and released[-1] == ""


def test_a_wrapped_json_input_without_its_value_key_streams_nothing_and_keeps_the_answers_text():
    from magsag_mcp.providers.json_output import StreamedDocument

    document = StreamedDocument(wrapped=True)
    raw = '{"other": ' + json.dumps(["x" * 40] * 10) + "}"
    assert "".join(document.feed(raw[i : i + 5]) for i in range(0, len(raw), 5)) == ""
    assert document.instead_of('"the value"') == '"the value"'


@pytest.mark.parametrize("stream", [False, True])
async def test_a_json_schema_answer_is_the_text_claude_wrote_streamed_or_not(serve, transport, stream: bool):
    # Unstreamed, the forced JSON tool's document was written out again with every letter past ASCII escaped
    # ("Troms\u00f8"): result.text (and the one progress delta an unstreamed answer gets) was not the text Claude
    # wrote, nor the text the same answer streamed has, nor what any other vendor's JSON answer gives.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    written = '{"city": "Tromsø", "note": "北"}'
    arguments = written if stream else json.loads(written)  # (an input_json_delta's text; a tool_use's input)
    fake.queue({"tool_calls": [{"id": "t1", "name": "json_output", "arguments": arguments}]})
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "note": {"type": "string"}}}
    request = LLMRequest([Message("user", "Where?")], json_schema=schema, max_tokens=200, stream=stream)
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Tromsø", "note": "北"} and fake.violations == []
    assert result.text == written


async def test_a_forced_tool_or_prefill_refused_says_the_resend_to_progress_as_it_happens(serve, transport):
    # Both resends were said in the answer's warnings only: a caller following progress saw one attempt and then the
    # answer, not that the call went again, nor how.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    events: list[tuple[str, dict]] = []
    fake.queue({"text": '{"name": "a"}'})
    request = LLMRequest([Message("user", "Name?")], json_schema=ITEM, max_tokens=50)
    await provider.complete(request, replace(target, model=FABLE), progress=lambda *e: events.append(e))
    said = [(e, d["target"], d["reason"]) for e, d in events if e != "delta"]
    forced = "refused a forced tool (tool_choice), which carried the JSON schema: sending it again with the schema in "
    assert said == [("resend", f"anthropic:{FABLE}", forced + "the prompt")]
    events.clear()
    fake.no_prefill = frozenset({"prod-claude"})
    fake.queue({"text": '{"c": 3}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "{")]
    request = LLMRequest(turns, max_tokens=50, json_output=True)
    await provider.complete(request, replace(target, model="prod-claude"), progress=lambda *e: events.append(e))
    said = [(e, d["target"], d["reason"]) for e, d in events if e != "delta"]
    assert said == [("resend", "anthropic:prod-claude", "refused the JSON prefill: sending it again without it")]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_whose_name_does_not_tell_that_refuses_a_bare_json_prefill_is_sent_the_call_without_it(
    serve, transport, stream: bool
):
    # A gateway's alias for Claude Sonnet 4.6 ("prod-claude") does not tell that the model takes no prefill: a JSON
    # call prefilled with a bare "{" (Anthropic's own way to start Claude's JSON), which goes without it to a model
    # named so, was refused (400 "does not support assistant message prefill") and moved on, every call. As for a
    # sampler such a model refuses, the refusal (unbilled) is learned: the call is sent again without the prefill, and
    # so is every later one to that model; another model behind the same gateway keeps its prefill.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    alias = replace(target, model="prod-claude")
    fake.no_prefill = frozenset({"prod-claude"})
    fake.queue({"text": '{"c": 3}'}, {"text": '{"c": 4}'}, {"text": ' "c": 5}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "{")]
    request = LLMRequest(turns, max_tokens=50, json_output=True, stream=stream)
    result = await provider.complete(request, alias)
    assert result.parsed == {"c": 3} and len(fake.requests) == 2 and fake.violations == []
    assert last_body(fake)["messages"][-1]["role"] == "user"
    assert any("takes no prefill" in w for w in result.warnings), result.warnings
    assert (await provider.complete(request, alias)).parsed == {"c": 4} and len(fake.requests) == 3
    other = replace(target, model="claude-3-5-sonnet-20241022")
    assert (await provider.complete(request, other)).parsed == {"c": 5}
    assert last_body(fake)["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}


def test_a_long_streamed_answer_and_its_thinking_are_gathered_in_pieces_not_copied_at_every_delta():
    # Each text_delta and thinking_delta was added to its block's string, copying all that had come before it: a long
    # answer with extended thinking (15,000 deltas of each, ~1 MB) held the event loop some 15 s, growing with the
    # square of the length (a minute for 640 KB of text alone). Gathered in pieces, joined once at the end. Checked by
    # what the stream holds, not by a clock (no wall-clock bound in a unit test): while the deltas come, no block's
    # string grows, and each delta is one piece.
    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
    from magsag_mcp.sse import SSEEvent

    def event(data: dict) -> SSEEvent:
        return SSEEvent(data["type"], json.dumps(data))

    acc = AnthropicMessagesFormat().accumulator(provider="anthropic", model="claude-sonnet-4-5")
    usage = {"input_tokens": 3, "output_tokens": 1}
    acc.feed(event({"type": "message_start", "message": {"id": "m", "model": "m", "content": [], "usage": usage}}))
    for index, kind in enumerate(("thinking", "text")):
        acc.feed(event({"type": "content_block_start", "index": index, "content_block": {"type": kind, kind: ""}}))
        piece = {"type": f"{kind}_delta", kind: "x" * 64}
        delta = event({"type": "content_block_delta", "index": index, "delta": piece})
        for _ in range(2_000):
            assert acc.feed(delta) == ("x" * 64 if kind == "text" else "")
        if kind == "thinking":
            signature = {"type": "signature_delta", "signature": "c2ln"}
            acc.feed(event({"type": "content_block_delta", "index": index, "delta": signature}))
        acc.feed(event({"type": "content_block_stop", "index": index}))
        assert acc.blocks[index][kind] == "" and len(acc.pieces[index, kind]) == 2_000
    acc.feed(event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}))
    acc.feed(event({"type": "message_stop"}))
    result = acc.finish()
    assert result.text == "x" * 64 * 2_000 and result.usage.output_tokens == 9
    (thinking,) = [b for b in acc.blocks.values() if b.get("type") == "thinking"]
    assert thinking["thinking"] == "x" * 64 * 2_000 and thinking["signature"] == "c2ln"
