"""Anthropic's Messages API against the spec-checking fake: what the API refuses that the general wire
tests (test_wire.py) do not reach. Here: answers cut short (by max_tokens, by the context window), an error
body under HTTP 200, and a long streamed answer gathered in pieces.

The rest is in test_anthropic_samplers.py (sampling settings a model refuses), test_anthropic_thinking.py,
test_anthropic_turns.py (tool call ids, tool results, content blocks), test_anthropic_prefill.py and
test_anthropic_json.py (JSON answers through the forced tool or the prompt)."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .anthropic_helpers import ANTHROPIC
from .test_wire import WEATHER, setup

pytestmark = pytest.mark.anyio


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
