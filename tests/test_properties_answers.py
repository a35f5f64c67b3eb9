"""Properties of reading a vendor's answer (each wire format's parse_response and stream accumulator), searched by
hypothesis for counterexamples: an answer as the vendor's spec writes it, with any of its parts replaced by any JSON
value or left out, is read into a result or refused with the product's own ProviderError (a malformed answer, the
vendor's error said in it), never a Python exception from inside the reader, which would be taken for a bug of
magsag's and stop the call; and its usage, whatever it is, is sound (see test_properties_usage)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.errors import ProviderError
from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
from magsag_mcp.providers.gemini import GeminiFormat
from magsag_mcp.providers.openai_chat import ChatCompletionsFormat
from magsag_mcp.providers.openai_responses import ResponsesFormat
from magsag_mcp.sse import SSEEvent
from magsag_mcp.types import LLMResult, Usage

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=300)

WIRES = {
    "chat": ChatCompletionsFormat,
    "responses": ResponsesFormat,
    "anthropic": AnthropicMessagesFormat,
    "gemini": GeminiFormat,
}

#: a whole answer of each API, as its spec writes it: text, a tool call, usage with its details
BODIES: dict[str, Any] = {
    "chat": {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "hi",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
        "service_tier": "default",
    },
    "responses": {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "gpt-4o",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "hi", "annotations": []}],
            },
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": '{"a": 1}'},
        ],
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 2},
            "output_tokens_details": {"reasoning_tokens": 1},
        },
    },
    "anthropic": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "c2ln"},
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 2,
            "cache_creation_input_tokens": 3,
            "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        },
    },
    "gemini": {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "hi"}, {"functionCall": {"name": "f", "args": {"a": 1}}}],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "totalTokenCount": 16,
            "thoughtsTokenCount": 1,
            "cachedContentTokenCount": 2,
        },
        "modelVersion": "gemini-2.5-pro",
    },
}

#: a stream of each API, as its spec writes it: (event name, data)
STREAMS: dict[str, list[tuple[str | None, Any]]] = {
    "chat": [
        (None, {"id": "c1", "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        (None, {"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "hi"}}]}),
        (None, {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}]}}]}),
        (None, {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ": 1}"}}]}}]}),
        (None, {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        (None, {"id": "c1", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        (None, "[DONE]"),
    ],
    "responses": [
        ("response.created", {"type": "response.created", "response": {"id": "r1", "status": "in_progress",
                                                                        "output": [], "usage": None}}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                                        "content_index": 0, "delta": "hi"}),
        ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0,
                                       "item": BODIES["responses"]["output"][1]}),
        ("response.completed", {"type": "response.completed", "response": BODIES["responses"]}),
    ],
    "anthropic": [
        ("message_start", {"type": "message_start", "message": {**BODIES["anthropic"], "content": [],
                                                                "stop_reason": None,
                                                                "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"a": 1}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"}),
    ],
    "gemini": [
        (None, {"candidates": [{"content": {"role": "model", "parts": [{"text": "h"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 1, "totalTokenCount": 11}}),
        (None, BODIES["gemini"]),
    ],
}  # fmt: skip

#: any JSON value
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["", "text", "tool_use", "STOP", "stop", "length", "completed", "incomplete", "failed"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_GONE = object()


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: the keys and indexes that lead to it."""
    out = [at]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*at, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*at, i))
    return out


def _replaced(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return doc if new is _GONE else new
    doc = copy.deepcopy(doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if new is _GONE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three of its parts replaced by any JSON value or left out."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        doc = _replaced(doc, path, draw(st.just(_GONE) | json_values))
    return doc


def _sound(usage: Usage | None) -> None:
    if usage is None:
        return
    assert all(type(c) is int for c in usage.counts())
    if not usage.reported:
        assert not any(usage.counts())


@PROPERTY
@given(st.sampled_from(sorted(WIRES)), st.data())
def test_any_answer_is_read_or_refused_as_the_vendors_malformed_one(wire, data):
    body = data.draw(mutated(BODIES[wire]), label="body")
    try:
        result = WIRES[wire]().parse_response(body, provider=wire, model="m")
    except ProviderError as exc:
        assert exc.message
        return
    assert isinstance(result, LLMResult) and isinstance(result.text, str)
    _sound(result.usage)


@PROPERTY
@given(st.sampled_from(sorted(WIRES)), st.data())
def test_any_stream_is_read_or_refused_as_the_vendors_malformed_one(wire, data):
    events = list(STREAMS[wire])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(events) - 1))
        name, body = events[at]
        events[at] = (name, data.draw(mutated(body)))
    if data.draw(st.booleans()):  # now and then cut short, or with an event left out
        del events[data.draw(st.integers(0, len(events) - 1)) :]
    acc = WIRES[wire]().accumulator(provider=wire, model="m")
    try:
        for name, body in events:
            text = acc.feed(SSEEvent(name, body if isinstance(body, str) else json.dumps(body)))
            assert isinstance(text, str)
        _sound(acc.usage_so_far())
        _sound(acc.prompt_counted())
        result = acc.finish()
    except ProviderError as exc:
        assert exc.message
        _sound(acc.usage_so_far())
        return
    assert isinstance(result, LLMResult) and isinstance(result.text, str)
    _sound(result.usage)
