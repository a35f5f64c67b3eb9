"""A tool the call marks ``strict``: OpenAI holds its arguments to its schema (Chat Completions' and the Responses
API's ``strict``), and every other target's arguments are checked against it as a JSON schema answer is."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.catalog import load_catalog
from magsag_mcp.routing import plan_call
from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .test_wire import CASES, IDS, last_body, setup

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
STRICT = ToolSpec("forecast", "A city's forecast", PARAMS, strict=True)


def _plan(tools):
    payload = {"data": "x", "model_config": {"model": "fake:echo", "tools": tools}}
    return plan_call(load_catalog(CATALOG), "skill.analysis", payload, context=None, env={})


def test_strict_is_read_from_either_shape_of_tool():
    # OpenAI's {"type": "function", "function": {..., "strict": true}} and the flat shape (Anthropic's, the Responses
    # API's) both say it; it was dropped unsaid, and the Responses API was even sent "strict": false
    tools = [
        {"type": "function", "function": {"name": "a", "parameters": PARAMS, "strict": True}},
        {"type": "function", "name": "b", "parameters": PARAMS, "strict": True},
        {"name": "c", "input_schema": PARAMS, "strict": True},
        {"type": "function", "function": {"name": "d", "parameters": PARAMS}},
    ]
    assert [t.strict for t in _plan(tools).request.tools] == [True, True, True, False]
    with pytest.raises(E.PayloadError, match=r"model_config\.tools\[0\] \(a\): strict must be true or false"):
        _plan([{"type": "function", "function": {"name": "a", "parameters": PARAMS, "strict": "yes"}}])
    with pytest.raises(E.PayloadError, match=r"model_config\.tools\[0\] \(a\).*\$ref"):
        # a strict tool's schema is applied to the answer: one that cannot be is refused before any target is paid
        dangling = {"type": "object", "properties": {"x": {"$ref": "#/$defs/no"}}}
        _plan([{"name": "a", "input_schema": dangling, "strict": True}])


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_strict_tool_reaches_openai_as_strict_and_its_arguments_are_held_to_its_schema(case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    loose = ToolSpec("note", "Take a note", {"type": "object", "properties": {"text": {"type": "string"}}})
    request = LLMRequest([Message("user", "Forecast for Oslo?")], tools=[STRICT, loose], max_tokens=100)
    fake.queue({"tool_calls": [{"id": "c1", "name": "forecast", "arguments": {"city": "Oslo", "days": 3}}]})
    result = await provider.complete(request, target)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("forecast", {"city": "Oslo", "days": 3})]
    assert fake.violations == []
    body = last_body(fake)
    if "input" in body:  # the Responses API: strict is required, and says each tool's own
        assert [t["strict"] for t in body["tools"]] == [True, False]
    elif case.name not in ("anthropic", "google"):  # Chat Completions
        assert [t["function"].get("strict") for t in body["tools"]] == [True, None]
    # arguments that break the strict tool's schema are no usable answer (billed; the next target may serve the call)
    fake.queue({"tool_calls": [{"id": "c2", "name": "forecast", "arguments": {"city": "Oslo", "days": "three"}}]})
    with pytest.raises(E.InvalidOutputError, match=r"forecast.*do not match its schema: at \$\.days") as info:
        await provider.complete(request, target)
    assert info.value.moves_on and info.value.usage is not None and info.value.usage.output_tokens > 0
    # a tool that is not strict is taken as the model called it
    fake.queue({"tool_calls": [{"id": "c3", "name": "note", "arguments": {"text": 5}}]})
    assert (await provider.complete(request, target)).tool_calls[0].arguments == {"text": 5}


OPENAI_FORMATS = [c for c in CASES if c.name in ("openai", "openai-responses", "azure", "compat")]


@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_a_tool_schema_strict_mode_refuses_is_sent_again_without_strict_and_still_checked(case, serve, transport):
    # Strict mode takes a subset of JSON Schema (every object additionalProperties: false, every property required):
    # OpenAI refuses any other as strict (400 "Invalid schema for function 'forecast': In context=(), ..."), a bad
    # request that stopped the cascade, though the same tool is taken without strict. As a strict JSON schema is,
    # it is sent again without strict, said to be, and the arguments are checked against the schema here.
    fake, provider, target = await setup(case, serve, transport)
    loose = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    tool = ToolSpec("forecast", "A city's forecast", loose, strict=True)
    request = LLMRequest([Message("user", "Forecast for Oslo?")], tools=[tool], max_tokens=100)
    fake.queue({"tool_calls": [{"id": "c1", "name": "forecast", "arguments": {"city": "Oslo", "days": 3}}]})
    result = await provider.complete(request, target)
    assert result.tool_calls[0].arguments == {"city": "Oslo", "days": 3} and fake.violations == []
    assert [len(fake.requests), "strict" in str(fake.requests[-1]["body"]["tools"])] == [2, "input" in last_body(fake)]
    [said] = [w for w in result.warnings if "strict" in w]
    assert said.startswith(f"{target.label} refused a tool's schema as strict (Invalid schema for function 'forecast'")
    assert said.endswith("it was sent again without strict, and the arguments were checked against the schema here")
    fake.queue({"tool_calls": [{"id": "c2", "name": "forecast", "arguments": {"city": "Oslo", "days": "3"}}]})
    with pytest.raises(E.InvalidOutputError, match=r"strict tool 'forecast'.*at \$\.days"):
        await provider.complete(request, target)


async def test_a_resend_without_strict_is_reported_to_progress_as_it_happens(serve, transport):
    # The resend was said in the answer's warnings only: a caller following progress saw one attempt, then the
    # answer (or after 5 s "still waiting ... try 1"), and not that the call was going again, nor why.
    [case] = [c for c in CASES if c.name == "openai"]
    fake, provider, target = await setup(case, serve, transport)
    loose = {"type": "object", "properties": {"city": {"type": "string"}}}
    request = LLMRequest([Message("user", "Forecast?")], tools=[ToolSpec("forecast", "", loose, strict=True)])
    fake.queue({"tool_calls": [{"id": "c1", "name": "forecast", "arguments": {"city": "Oslo"}}]})
    events = []
    await provider.complete(request, target, progress=lambda event, data: events.append((event, data)))
    [(event, data)] = [e for e in events if e[0] != "delta"]
    assert (event, data["target"]) == ("resend", target.label)
    assert data["reason"].startswith("refused a tool's schema as strict (Invalid schema for function 'forecast'")
    assert data["reason"].endswith("): sending it again without strict")
