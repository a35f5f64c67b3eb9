"""A long streamed tool call is gathered in pieces, joined once: no delta copies the arguments before it."""

from __future__ import annotations

import json

from magsag_mcp.providers.openai_chat_stream import ChatStream
from magsag_mcp.sse import SSEEvent


def _chunk(function: dict, **call: str) -> SSEEvent:
    return SSEEvent(
        None,
        json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **call, "function": function}]}}]}),
    )


def test_a_long_streamed_tool_calls_arguments_are_gathered_in_pieces_not_copied_at_every_delta():
    # Each tool-call delta's arguments were added to the call's string, copying all the arguments before them: a
    # tool call writing a 640 KB file in 16-character deltas held the event loop some 14 s (0.5 s gathered in pieces).
    # Checked by what the stream holds, not by a clock (no wall-clock bound in a unit test): while the deltas come,
    # the call's string is not built, and each delta is one piece.
    acc = ChatStream("openai", "gpt-4o")
    acc.feed(_chunk({"name": "write_file", "arguments": ""}, id="call_1", type="function"))
    acc.feed(_chunk({"arguments": '{"text": "'}))
    piece = _chunk({"arguments": "x" * 16})
    for _ in range(4_000):
        acc.feed(piece)
    (slot,) = acc.calls.values()
    assert slot["arguments"] == "" and len(slot["pieces"]) == 1 + 4_000
    acc.feed(_chunk({"arguments": '"}'}))
    acc.feed(SSEEvent(None, json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})))
    acc.feed(SSEEvent(None, "[DONE]"))
    (call,) = acc.finish().tool_calls
    assert call.name == "write_file" and call.arguments == {"text": "x" * 64_000}
