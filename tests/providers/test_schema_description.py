"""``response_format.json_schema.description``: what the answer is for, which the model reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.catalog import load_catalog
from magsag_mcp.routing import plan_call

from .test_wire import CASES, IDS, last_body, setup

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
SAID = "The city the text is about, as its people name it"


def _request(json_schema, target="fake:echo"):
    payload = {
        "data": "x",
        "model_config": {"model": target, "response_format": {"type": "json_schema", "json_schema": json_schema}},
    }
    return plan_call(load_catalog(CATALOG), "skill.analysis", payload, context=None, env={}).request


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_json_schemas_description_reaches_the_model(case, serve, transport):
    # The description was taken (the MCP tool's schema lists it) and dropped unsaid: OpenAI's json_schema and the
    # Responses API's text.format carry it, and Claude's JSON answer goes through a tool whose description it is.
    request = _request({"name": "place", "description": SAID, "schema": SCHEMA})
    assert request.json_schema_description == SAID
    fake, provider, target = await setup(case, serve, transport)
    if case.name == "anthropic":
        fake.queue({"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"city": "Oslo"}}]})
    else:
        fake.queue({"text": '{"city": "Oslo"}'})
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Oslo"} and fake.violations == []
    body = last_body(fake)
    if "input" in body:
        assert body["text"]["format"]["description"] == SAID
    elif case.name == "anthropic":
        assert body["tools"][0]["description"] == SAID
    elif case.name == "google":
        assert body["generationConfig"]["responseSchema"]["description"] == SAID
    else:
        assert body["response_format"]["json_schema"]["description"] == SAID


def test_a_description_that_is_no_text_is_refused():
    with pytest.raises(E.PayloadError, match=r"response_format\.json_schema\.description must be a string"):
        _request({"name": "place", "description": 5, "schema": SCHEMA})


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("anthropic", "google")], ids=["anthropic", "google"])
async def test_a_json_schemas_description_reaches_the_model_that_is_given_the_schema_in_its_prompt(
    case, serve, transport
):
    # With the caller's tools in the call, neither Claude (no forced JSON tool) nor Gemini (no response schema beside
    # function declarations) can carry the schema in the request: the system prompt gives it. The schema's fields
    # reached the model, and the description that says what the answer is for did not.
    from dataclasses import replace

    from .test_wire import WEATHER

    request = replace(_request({"name": "place", "description": SAID, "schema": SCHEMA}), tools=[WEATHER])
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"city": "Oslo"}'})
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Oslo"} and fake.violations == []
    body = last_body(fake)
    system = body["system"] if case.name == "anthropic" else body["systemInstruction"]["parts"][0]["text"]
    system = system if isinstance(system, str) else " ".join(b["text"] for b in system)
    assert '"city"' in system and SAID in system


@pytest.mark.parametrize("model", ["gemini-1.5-pro", "gemini-2.5-flash"])
async def test_a_json_schemas_description_reaches_gemini_beside_the_schemas_own(model, serve, transport):
    # Gemini has one place for it, the schema's description: where the schema said one of its own, the call's was
    # left out unsaid (OpenAI's json_schema carries both, Claude's JSON tool both)
    from dataclasses import replace

    from .test_wire import CASES as ALL

    case = replace(next(c for c in ALL if c.name == "google"), model=model)
    own = {**SCHEMA, "description": "A place record"}
    tags = {**own, "properties": {**SCHEMA["properties"], "tags": {"type": "object", "additionalProperties": True}}}
    for schema, field in ((own, "responseSchema"), (tags, "responseJsonSchema")):
        if field == "responseJsonSchema" and model == "gemini-1.5-pro":
            continue  # (no JSON Schema before 2.5)
        request = _request({"name": "place", "description": SAID, "schema": schema})
        fake, provider, target = await setup(case, serve, transport)
        fake.queue({"text": '{"city": "Oslo"}'})
        result = await provider.complete(request, target)
        assert result.parsed == {"city": "Oslo"} and fake.violations == []
        sent = last_body(fake)["generationConfig"][field]
        assert sent["description"] == f"{SAID}\n\nA place record", sent
        assert schema["description"] == "A place record"  # the caller's schema as it was
