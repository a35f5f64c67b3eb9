"""Gemini's generateContent against the spec-checking fake: what the API refuses or sends that the
general wire tests (test_wire.py) do not reach."""

from __future__ import annotations

import pytest

from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .test_wire import CASES, last_body, setup

pytestmark = pytest.mark.anyio
[GOOGLE] = [c for c in CASES if c.name == "google"]


async def test_a_tool_without_arguments_is_declared_without_parameters(serve, transport):
    # Gemini answers 400 INVALID_ARGUMENT "...function_declarations[0].parameters.properties: should be non-empty
    # for OBJECT type" to {"type": "OBJECT", "properties": {}}: every call offering a tool without arguments
    # (ToolSpec's default parameters) was a bad request that stopped the cascade. Such a tool declares none.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"tool_calls": [{"id": "c1", "name": "now", "arguments": {}}]})
    tools = [
        ToolSpec("now", "The current time"),
        ToolSpec("today", "Today's date", {"type": "object"}),
        ToolSpec("city", "A city's weather", {"type": "object", "properties": {"name": {"type": "string"}}}),
    ]
    result = await provider.complete(LLMRequest([Message("user", "Time?")], tools=tools, max_tokens=50), target)
    assert fake.violations == [] and [c.name for c in result.tool_calls] == ["now"]
    declared = last_body(fake)["tools"][0]["functionDeclarations"]
    assert [d.get("parameters") for d in declared] == [
        None,
        None,
        {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}},
    ]
