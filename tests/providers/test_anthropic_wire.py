"""Anthropic's Messages API against the spec-checking fake: what the API refuses that the general wire
tests (test_wire.py) do not reach."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio
[ANTHROPIC] = [c for c in CASES if c.name == "anthropic"]


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
