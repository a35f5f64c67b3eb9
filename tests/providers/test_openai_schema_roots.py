"""A JSON schema that is no object at its root (an array of records, a union) through the OpenAI formats: their
structured outputs answer an object only, and refuse any other schema before the model is asked (400 "Invalid
schema for response_format 'x': schema must be a JSON Schema of 'type: "object"', got 'type: "array"'", strict
or not), which stopped the call at every OpenAI target while Claude (a forced tool of ``{"value": ...}``) and Gemini
answered it. The schema is sent as the value of an object's, and the answer's value is the answer."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, last_body, setup

pytestmark = pytest.mark.anyio
OPENAI_FORMATS = [c for c in CASES if c.name in ("openai", "openai-responses", "azure", "local", "compat")]
ROWS = {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}


def _sent_schema(body):
    return body["text"]["format"]["schema"] if "input" in body else body["response_format"]["json_schema"]["schema"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_a_schema_of_an_array_is_sent_as_an_objects_value(case, stream, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": json.dumps({"value": [{"a": 1}, {"a": 2}]})})
    request = LLMRequest([Message("user", "Rows")], json_schema=ROWS, json_schema_name="rows", stream=stream)
    result = await provider.complete(request, target)
    assert fake.violations == []
    assert result.parsed == [{"a": 1}, {"a": 2}] and json.loads(result.text) == result.parsed
    sent = _sent_schema(last_body(fake))
    wrapped = {"type": "object", "properties": {"value": ROWS}, "required": ["value"], "additionalProperties": False}
    assert sent == wrapped


async def test_the_wrapped_schemas_definitions_stay_at_its_root(serve, transport):
    case = next(c for c in CASES if c.name == "openai")
    schema = {"anyOf": [{"$ref": "#/$defs/Row"}, {"type": "null"}], "$defs": {"Row": ROWS["items"]}}
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"value": null}'}, {"text": '{"value": {"a": "x"}}'})
    result = await provider.complete(LLMRequest([Message("user", "Row")], json_schema=schema), target)
    assert result.parsed is None and fake.violations == []
    sent = _sent_schema(last_body(fake))
    assert sent["$defs"] == schema["$defs"] and sent["properties"]["value"] == {"anyOf": schema["anyOf"]}
    # the value is checked against the call's own schema, as any answer
    from magsag_mcp.errors import InvalidOutputError

    with pytest.raises(InvalidOutputError, match="does not match the requested schema"):
        await provider.complete(LLMRequest([Message("user", "Row")], json_schema=schema), target)


async def test_an_object_schema_is_sent_as_it_is(serve, transport):
    case = next(c for c in CASES if c.name == "openai")
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"value": 3}'})
    schema = {"type": "object", "properties": {"value": {"type": "integer"}}}
    result = await provider.complete(LLMRequest([Message("user", "One")], json_schema=schema), target)
    assert result.parsed == {"value": 3} and _sent_schema(last_body(fake)) == schema  # (no wrapper to take off)
