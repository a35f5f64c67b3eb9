"""Anthropic's Messages API field by field: what the spec (and the servers that speak it) send and take, where the
general wire tests do not reach."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target

from .test_raw_streams import raw_stream  # noqa: F401  (the fixture)

pytestmark = pytest.mark.anyio


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
    raw_stream,  # noqa: F811
    start_usage: dict[str, Any],
    delta_usage: dict[str, Any],
):
    # message_delta's usage is cumulative ("The token counts shown in the usage field of the message_delta event are
    # cumulative"): a count never falls. A server that wrote 0 there for the prompt it had counted in message_start
    # had the answer recorded, priced and counted against budgets as if its 1000-token prompt were free.
    base = await raw_stream(_stream(start_usage, delta_usage))
    transport = Transport()
    try:
        env = {"ANTHROPIC_BASE_URL": base.removesuffix("/v1"), "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
        request = LLMRequest([Message("user", "hi")], stream=True)
        result = await AnthropicProvider(env, transport).complete(request, Target("anthropic", "claude-sonnet-4-5"))
    finally:
        await transport.aclose()
    assert result.text == "hello"
    usage = result.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (1000, 100, 40)
