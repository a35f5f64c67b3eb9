"""Claude's structured outputs: a JSON schema that no forced tool can carry (the caller's tools in the call, thinking
on, a model that takes no forced tool) goes to Claude 4.5 and later as ``output_config.format``, which constrains the
answer, where it was only asked for in the prompt; what structured outputs do not take keeps to the prompt."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .anthropic_helpers import ANTHROPIC, FABLE, THINK
from .test_wire import WEATHER, last_body, setup

pytestmark = pytest.mark.anyio
#: pydantic's model of a report with a nested, referenced object
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "reading": {"$ref": "#/$defs/Reading"}},
    "required": ["city", "reading"],
    "$defs": {
        "Reading": {
            "type": "object",
            "properties": {"temp_c": {"type": "number"}, "at": {"type": "string", "format": "date-time"}},
            "required": ["temp_c"],
        }
    },
}
#: the same, each object closed, as structured outputs require
CLOSED = {
    **SCHEMA,
    "additionalProperties": False,
    "$defs": {"Reading": {**SCHEMA["$defs"]["Reading"], "additionalProperties": False}},
}
ANSWER = '{"city": "Oslo", "reading": {"temp_c": 3}}'


async def _target(serve, transport, model: str):
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    return fake, provider, replace(target, model=model)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "why"),
    [("claude-sonnet-4-5-20250929", "tools"), ("claude-haiku-4-5", "thinking"), (FABLE, "no forced tool")],
)
async def test_a_schema_no_forced_tool_carries_is_sent_as_output_config_format(serve, transport, stream, model, why):
    # With the caller's tools in the call (a tool loop that ends in a structured answer), thinking on, or a model that
    # takes no forced tool, the schema was only in the system prompt, "could not be enforced", and a billed answer that
    # missed a field failed its check. Claude 4.5 and later take it as output_config.format, beside tools and thinking.
    fake, provider, target = await _target(serve, transport, model)
    fake.queue({"text": ANSWER})
    extra, tools = (THINK, []) if why == "thinking" else ({}, [WEATHER] if why == "tools" else [])
    ask = [Message("user", "Weather in Oslo, as a report?")]
    request = LLMRequest(ask, json_schema=SCHEMA, tools=tools, max_tokens=4000, stream=stream, extra=extra)
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Oslo", "reading": {"temp_c": 3}} and fake.violations == []
    if why == "no forced tool":  # (the JSON tool forced first, as to any Claude: this one refused it)
        assert "tool_choice" in fake.requests[0]["body"] and len(result.warnings) == 1
        assert "refused a forced tool (tool_choice)" in result.warnings[0]
    else:
        assert result.warnings == [] and len(fake.requests) == 1
    body = last_body(fake)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": CLOSED}}
    assert "system" not in body  # (the schema is enforced: nothing to ask for in the prompt)
    assert [t["name"] for t in body.get("tools", [])] == [t.name for t in tools]  # the caller's tools, no JSON tool
    assert "tool_choice" not in body


async def test_a_targets_own_output_config_keeps_its_effort_beside_the_format(serve, transport):
    fake, provider, target = await _target(serve, transport, "claude-opus-4-6")
    fake.queue({"text": ANSWER})
    request = LLMRequest(
        [Message("user", "Report?")], json_schema=SCHEMA, tools=[WEATHER], max_tokens=4000,
        extra={"output_config": {"effort": "low"}},
    )  # fmt: skip
    result = await provider.complete(request, target)
    assert result.parsed is not None and fake.violations == []
    assert last_body(fake)["output_config"] == {"effort": "low", "format": {"type": "json_schema", "schema": CLOSED}}


@pytest.mark.parametrize(
    ("model", "schema"),
    [
        # a model before 4.5, and a gateway's alias whose name says no version
        ("claude-3-5-sonnet-20241022", SCHEMA),
        ("claude-latest", SCHEMA),
        # what structured outputs do not take: a bound, an object of any keys, a recursive reference
        ("claude-sonnet-4-5-20250929", {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}),
        ("claude-sonnet-4-5-20250929", {"type": "object", "properties": {"meta": {"type": "object"}}}),
        (
            "claude-sonnet-4-5-20250929",
            {
                "type": "object",
                "properties": {"head": {"$ref": "#/$defs/Node"}},
                "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            },
        ),
    ],
)
async def test_what_structured_outputs_do_not_take_keeps_the_schema_in_the_prompt(serve, transport, model, schema):
    fake, provider, target = await _target(serve, transport, model)
    fake.queue({"text": ANSWER if schema is SCHEMA else '{"n": 2}'})
    request = LLMRequest([Message("user", "Go")], json_schema=schema, tools=[WEATHER], max_tokens=4000)
    result = await provider.complete(request, target)
    assert fake.violations == [] and "output_config" not in last_body(fake)
    assert "JSON" in last_body(fake)["system"] and "could not be enforced by a forced tool" in result.warnings[0]


#: a Messages API of an older version (a gateway's, a proxy's pinned to one) has no output_config field at all, and says
#: so in pydantic's words (400, not billed)
NO_OUTPUT_CONFIG = {
    "error": 400,
    "kind": "invalid_request_error",
    "message": "output_config: Extra inputs are not permitted",
}


@pytest.mark.parametrize(
    ("model", "refusal"),
    [("claude-opus-4-5", None), ("claude-sonnet-4-5-20250929", NO_OUTPUT_CONFIG)],
    ids=["format-refused", "no-output-config"],
)
async def test_a_model_that_refuses_the_format_is_sent_the_schema_in_the_prompt_and_remembered(
    serve, transport, model: str, refusal: dict[str, Any] | None
):
    # a model whose name says 4.5 or later, but whose endpoint refuses output_config.format (400, not billed): sent
    # again with the schema in the prompt, as before, and the next call goes so at once. So too where the API has no
    # output_config at all: the field was magsag's, not the target's params' (it left the target before, telling the
    # user to take output_config out of params that had none)
    fake, provider, target = await _target(serve, transport, model)
    fake.queue(*([refusal] if refusal else []), {"text": ANSWER}, {"text": ANSWER})
    request = LLMRequest([Message("user", "Report?")], json_schema=SCHEMA, tools=[WEATHER], max_tokens=4000)
    result = await provider.complete(request, target)
    assert result.parsed is not None and fake.violations == []
    assert result.warnings[0] == (
        f"{target.label} refused the JSON schema as structured output (output_config.format); the call was sent again "
        "with the schema in the prompt"
    )
    first, second = (r["body"] for r in fake.requests)
    assert "output_config" in first and "output_config" not in second and "JSON" in second["system"]
    await provider.complete(request, target)
    assert len(fake.requests) == 3 and "output_config" not in last_body(fake)


async def test_a_call_that_ends_in_a_prefill_keeps_the_schema_in_the_prompt(serve, transport):
    # structured outputs are incompatible with a prefill, which a call may end in
    fake, provider, target = await _target(serve, transport, "claude-sonnet-4-5-20250929")
    fake.queue({"text": '"city": "Oslo", "reading": {"temp_c": 3}}'})
    ask = [Message("user", "Report?"), Message("assistant", "{")]
    result = await provider.complete(LLMRequest(ask, json_schema=SCHEMA, tools=[WEATHER], max_tokens=4000), target)
    assert fake.violations == [] and "output_config" not in last_body(fake)
    assert result.parsed == {"city": "Oslo", "reading": {"temp_c": 3}}


async def test_a_targets_own_output_config_refused_by_such_a_server_is_told_as_the_targets(serve, transport):
    # the control: the target's own output_config (its effort), no schema sent in it, is refused at once as the
    # target's param, with no second request
    fake, provider, target = await _target(serve, transport, "claude-sonnet-4-5-20250929")
    target = replace(target, params=(("output_config", {"effort": "low"}),))
    fake.queue(NO_OUTPUT_CONFIG)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(LLMRequest([Message("user", "Report?")], max_tokens=4000), target)
    assert info.value.details["param"] == "output_config" and "take it out of the target's params" in info.value.message
    assert len(fake.requests) == 1


async def test_a_refusal_of_a_format_magsag_did_not_send_is_not_sent_again_as_it_was(serve, transport):
    # a call with no schema of its own, whose target's params write output_config.format themselves: refused, the
    # call was sent again as it was (the same 400 a second time, the target remembered as taking no format) and the
    # error said the call's JSON schema could not be sent, where the call had none; it is the target's, at once
    fake, provider, target = await _target(serve, transport, "claude-sonnet-4-5-20250929")
    own = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}}
    target = replace(target, params=(("output_config", own),))
    refused = {**NO_OUTPUT_CONFIG, "message": "output_config.format: structured outputs are not supported here"}
    fake.queue(refused, {"text": ANSWER})
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(LLMRequest([Message("user", "Report?")], max_tokens=4000), target)
    assert len(fake.requests) == 1, [r["body"] for r in fake.requests]
    assert (target.base_url, target.model) not in provider.no_output_format and "not supported" in info.value.message
