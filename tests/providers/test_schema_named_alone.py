"""``response_format: {"type": "json_schema", "json_schema": {"name": ...}}``: a name without a schema, which OpenAI's
spec takes (``ResponseFormatJsonSchema.json_schema`` requires only ``name``) as any JSON object. It was refused as
though the schema were required. Each wire is sent what its spec asks for, checked by the spec-validating fakes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.routing import plan_call

from .test_wire import CASES, IDS, last_body, setup

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
GEMINI_25 = replace(next(c for c in CASES if c.name == "google"), name="google-2.5", model="gemini-2.5-flash")
SAID = "The reply as a record"


def _request(json_schema, target="fake:echo"):
    payload = {
        "data": "x",
        "model_config": {"model": target, "response_format": {"type": "json_schema", "json_schema": json_schema}},
    }
    return plan_call(load_catalog(CATALOG), "skill.analysis", payload, context=None, env={}).request


def test_a_name_alone_asks_for_any_json_object():
    request = _request({"name": "reply", "description": SAID})
    assert request.json_output and request.json_schema == {"type": "object"} and not request.json_schema_given
    assert request.json_schema_name == "reply" and request.json_schema_description == SAID
    given = _request({"name": "reply", "schema": {"type": "object"}})
    assert given.json_schema_given  # a schema written is sent as written, even the same one


@pytest.mark.parametrize("case", [*CASES, GEMINI_25], ids=[*IDS, GEMINI_25.name])
async def test_a_name_alone_reaches_every_wire_as_its_spec_takes_it(case, serve, transport):
    request = _request({"name": "reply", "description": SAID})
    fake, provider, target = await setup(case, serve, transport)
    if case.name == "anthropic":
        fake.queue({"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"a": 1}}]})
    else:
        fake.queue({"text": '{"a": 1}'})
    result = await provider.complete(request, target)
    assert result.parsed == {"a": 1} and fake.violations == [], fake.violations
    body = last_body(fake)
    if "input" in body:  # the Responses API requires name and schema (TextResponseFormatJsonSchema)
        said = {"type": "json_schema", "name": "reply", "schema": {"type": "object"}, "description": SAID}
        assert body["text"]["format"] == said
    elif case.name in ("openai", "azure"):  # Chat Completions: the name alone, as given
        assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "reply", "description": SAID}}
    elif case.name in ("local", "compat"):  # a server that may need the schema is sent the one the name means
        said = {"name": "reply", "schema": {"type": "object"}, "description": SAID}
        assert body["response_format"] == {"type": "json_schema", "json_schema": said}
    elif case.name == "anthropic":  # the forced JSON tool, of any object
        assert body["tools"] == [{"name": "json_output", "description": SAID, "input_schema": {"type": "object"}}]
        assert body["tool_choice"] == {"type": "tool", "name": "json_output"}
    elif case.name == "google-2.5":
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"] == {"type": "object", "description": SAID}
    else:  # Gemini before 2.5: its Schema says no object without properties; JSON mode, and the prompt says it
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json" and "responseSchema" not in config
        assert SAID in body["systemInstruction"]["parts"][0]["text"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name in ("openai", "openai-responses")], ids=["chat", "responses"]
)
async def test_a_name_alone_keeps_its_strict(case, serve, transport):
    # strict goes as given; the Responses API's strict mode refuses {"type": "object"} (no additionalProperties:
    # false), and the call is sent again without it, as for any schema strict mode refuses
    request = _request({"name": "reply", "strict": True})
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"a": 1}'})
    if case.name == "openai-responses":
        fake.queue({"text": '{"a": 1}'})
    result = await provider.complete(request, target)
    assert result.parsed == {"a": 1} and fake.violations == []
    if case.name == "openai":
        assert last_body(fake)["response_format"]["json_schema"] == {"name": "reply", "strict": True}
    else:
        assert [r["body"]["text"]["format"].get("strict") for r in fake.requests] == [True, None]
