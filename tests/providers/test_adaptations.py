"""The notes a wire format gives in a result's warnings come from the same pass that builds the body,
so a note never claims a change that the body does not show."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
from magsag_mcp.providers.gemini import GeminiFormat, gemini_schema
from magsag_mcp.providers.json_output import JSON_INSTRUCTION
from magsag_mcp.providers.openai_chat import ChatCompletionsFormat
from magsag_mcp.providers.openai_responses import ResponsesFormat
from magsag_mcp.providers.wire_format import WireFormat
from magsag_mcp.types import LLMRequest, Message, ToolSpec

ASK = [Message("user", "x")]
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Answer",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tags": {"type": "array", "items": {"type": "string", "const": "a"}, "uniqueItems": True},
        "n": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]},
        "ref": {"$ref": "#/$defs/x"},
    },
    "$defs": {"x": {"type": "string"}},
}


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


def test_one_walk_converts_the_schema_and_names_what_it_left_out():
    converted, dropped = gemini_schema(SCHEMA)
    # the local $ref is written in place (Gemini's Schema has none), anyOf X-or-null is X, nullable, and a string
    # const an enum of one
    assert dropped == {"$schema", "additionalProperties", "uniqueItems", "exclusiveMinimum"}
    assert converted == {
        "title": "Answer",
        "type": "OBJECT",
        "properties": {
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a"]}},
            "n": {"type": "NUMBER", "nullable": True},
            "ref": {"type": "STRING"},
        },
    }
    assert not dropped & keys_anywhere(converted)


def test_gemini_notes_name_only_constraints_and_match_the_body():
    request = LLMRequest(ASK, json_schema=SCHEMA)
    body, notes = GeminiFormat().build(request, "gemini-1.5-pro", stream=False)
    assert body["generationConfig"]["responseSchema"] == gemini_schema(SCHEMA, ordered=True)[0]
    assert notes == [
        "Gemini's response schema has no additionalProperties, exclusiveMinimum, uniqueItems; "
        "they were left out of the request and the answer was checked against the full schema"
    ]


def test_gemini_does_not_claim_to_leave_out_what_it_sends():
    # Tuple-form items (a list) is passed through as given; the note used to name the keys inside it
    # as left out while the body still carried them.
    schema = {"type": "array", "items": [{"type": "string", "additionalProperties": False}]}
    request = LLMRequest(ASK, json_schema=schema)
    body, notes = GeminiFormat().build(request, "gemini-1.5-pro", stream=False)
    assert body["generationConfig"]["responseSchema"]["items"] == [{"type": "string", "additionalProperties": False}]
    assert notes == []


# (format, model, request, how many notes, what the body holds where the notes say it differs from the request)
CASES: list[tuple[WireFormat, str, LLMRequest, int, dict[str, Any]]] = [
    (
        ChatCompletionsFormat(),
        "o1-preview",
        LLMRequest(ASK, system="s", temperature=0.5, stop=["END"]),
        3,
        {
            "temperature": None,
            "stop": None,
            "messages": [{"role": "user", "content": "s"}, {"role": "user", "content": "x"}],
        },
    ),
    (ChatCompletionsFormat(), "o3-mini", LLMRequest(ASK, temperature=0.5, stop=["END"]), 1, {"temperature": None}),
    (ResponsesFormat(), "o4-mini", LLMRequest(ASK, temperature=0.5), 1, {"temperature": None}),
    (AnthropicMessagesFormat(), "claude-3-5-haiku", LLMRequest(ASK, temperature=1.6), 1, {"temperature": 1.0}),
    # "Models released after Claude Opus 4.6 do not support setting temperature" (1.0 is accepted)
    (AnthropicMessagesFormat(), "claude-opus-4-7", LLMRequest(ASK, temperature=0.0), 1, {"temperature": None}),
    (AnthropicMessagesFormat(), "claude-sonnet-5-20270101", LLMRequest(ASK, temperature=0.3), 1, {"temperature": None}),
    (AnthropicMessagesFormat(), "claude-fable-5", LLMRequest(ASK, temperature=0.3), 1, {"temperature": None}),
    (AnthropicMessagesFormat(), "claude-3-7-sonnet-latest", LLMRequest(ASK, temperature=0.3), 0, {"temperature": 0.3}),
    (AnthropicMessagesFormat(), "claude-opus-4-7", LLMRequest(ASK, temperature=1.0), 0, {"temperature": 1.0}),
    (AnthropicMessagesFormat(), "claude-opus-4-6", LLMRequest(ASK, temperature=0.0), 0, {"temperature": 0.0}),
    (AnthropicMessagesFormat(), "claude-opus-4-20250514", LLMRequest(ASK, temperature=0.0), 0, {"temperature": 0.0}),
    (
        AnthropicMessagesFormat(),
        "claude-3-5-haiku",
        LLMRequest(ASK, json_schema={"type": "object"}, tools=[ToolSpec("f", "", {"type": "object"})]),
        1,
        {"tool_choice": None, "system": JSON_INSTRUCTION},
    ),
]


@pytest.mark.parametrize(("fmt", "model", "request_", "n_notes", "expected"), CASES)
@pytest.mark.parametrize("stream", [False, True])
def test_each_note_matches_the_body_it_came_with(
    fmt: WireFormat, model: str, request_: LLMRequest, n_notes: int, expected: dict[str, Any], stream: bool
):
    body, notes = fmt.build(request_, model, stream=stream)
    assert fmt.build(request_, model, stream=not stream)[1] == notes  # streamed or not, the same warnings
    assert len(notes) == n_notes
    assert {k: body.get(k) for k in expected} == expected


def test_references_that_multiply_are_written_out_up_to_a_bound():
    # sixteen levels of a model with two fields of the next: written in place, 65,536 copies (4 MB of
    # request, 100 MB at twenty levels, the event loop held all the while); now written out up to a bound,
    # the rest left out as a recursive reference is, and said
    defs = {
        f"D{i}": {"type": "object", "properties": {k: {"$ref": f"#/$defs/D{i + 1}"} for k in "ab"}} for i in range(16)
    }
    defs["D16"] = {"type": "string"}
    converted, dropped = gemini_schema({"$defs": defs, "$ref": "#/$defs/D0"})
    assert len(json.dumps(converted)) < 200_000
    assert "references past 5000 written-out subschemas" in dropped
    assert converted["properties"]["a"]["properties"]["a"]["type"] == "OBJECT"  # written out, up to the bound
    small, dropped = gemini_schema({"$defs": {k: v for k, v in defs.items() if k >= "D12"}, "$ref": "#/$defs/D12"})
    assert dropped == set() and small["properties"]["a"]["properties"]["b"]["properties"]["a"]["properties"]["b"] == {
        "type": "STRING"
    }
