"""A response_format whose type is none of OpenAI's three (``json_object``, ``json_schema``, ``text``): the one it was
written for, and what each asks for, on every surface (Python and the CLI through build_request, MCP through the
argument model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.call_request import build_request
from magsag_mcp.errors import PayloadError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.skills import Skill

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TYPES = ("'json_object' is JSON mode", "'json_schema' an answer that fits a schema", "'text' plain text")


def _refused(response_format: object) -> str:
    skill = Skill(id="skill.t", description="d", task_type="t", prompt={"user": "{text}"})
    with pytest.raises(PayloadError) as info:
        build_request(skill, {"text": "a"}, {"response_format": response_format})
    return info.value.message


@pytest.mark.parametrize(
    ("response_format", "meant"),
    [
        # "json" (Ollama's format: "json", a natural guess) was told only "must be 'text', 'json_object' or
        # 'json_schema'", no word of which one JSON mode is
        ({"type": "json"}, "json_object"),
        # beside a schema, "json" asks for an answer that fits it
        ({"type": "json", "json_schema": {"name": "n", "schema": {"type": "object"}}}, "json_schema"),
        ({"type": "Json-Schema"}, "json_schema"),
        ({"type": "structured_output"}, "json_schema"),
        ({"type": "json_objekt"}, "json_object"),
        ({"type": "plain"}, "text"),
    ],
)
def test_a_type_written_another_way_is_told_the_one_meant(response_format, meant):
    message = _refused(response_format)
    assert (
        f"model_config.response_format.type must be 'text', 'json_object' or 'json_schema': did you mean {meant!r}?"
        in (message)
    ), message
    assert all(said in message for said in TYPES), message


def test_a_type_meaning_none_of_them_is_told_what_each_asks_for_without_a_guess():
    message = _refused({"type": "xml"})
    assert "did you mean" not in message and all(said in message for said in TYPES), message
    assert "xml" not in message  # the value is not quoted back: what was written may be a key pasted in
    assert _refused({}).startswith("model_config.response_format needs a type: 'json_object' is JSON mode")


def test_a_type_written_in_the_objects_place_is_shown_the_object():
    # was "model_config.response_format.type must be ...", of an object that was never written
    assert _refused("json_object") == "model_config.response_format must be an object, {'type': 'json_object'}, got str"
    assert _refused("json").startswith("model_config.response_format must be an object, {'type': 'json_object'}")


@pytest.mark.anyio
async def test_mcp_says_the_type_meant_too(tmp_path: Path):
    # was "model_config.response_format.type: expected one of 'text', 'json_object' or 'json_schema', got a
    # string" and no more
    env = {"MAGSAG_PROVIDER": "fake"}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env)) as client:
        for tool in ("invoke_skill", "explain_route"):
            result = await client.call_tool(
                tool,
                {
                    "skill_id": "skill.analysis",
                    "payload": {"data": "x"},
                    "model_config": {"response_format": {"type": "json"}},
                },
            )
            assert result.is_error
            message = result.structured_content["error"]["message"]
            assert "response_format.type: expected one of 'text', 'json_object' or 'json_schema', got a string " in (
                message
            ), message
            assert "(did you mean 'json_object'? 'json_object' is JSON mode" in message, message
            assert all(said in message for said in TYPES), message


@pytest.mark.parametrize(
    ("response_format", "place"),
    [
        ({"type": "json_schema"}, "model_config.response_format.json_schema is missing"),
        # a name alone is taken (OpenAI's spec requires only the name: any JSON object), as
        # tests/providers/test_schema_named_alone.py checks; neither a schema nor a name is refused
        (
            {"type": "json_schema", "json_schema": {"strict": True}},
            "model_config.response_format.json_schema has neither",
        ),
        ({"type": "json_schema", "json_schema": {"name": ""}}, "model_config.response_format.json_schema has neither"),
    ],
)
def test_a_json_schema_type_without_its_schema_is_refused(response_format, place):
    # was taken as {"type": "object"}: the answer went unconstrained, as any JSON object, and came back as though it
    # fitted a schema (OpenAI's API requires json_schema with this type)
    message = _refused(response_format)
    assert message.startswith(place) and "needs the schema the answer must fit" in message, message
    assert 'for any JSON object, write {"type": "json_object"}' in message, message
    assert 'or a name alone, {"type": "json_schema", "json_schema": {"name": ...}}' in message, message


def test_a_json_schema_name_that_is_no_text_is_refused():
    # was taken as it was, and failed as our bug where the wire wrote the name (re.sub of an int)
    rf = {"type": "json_schema", "json_schema": {"name": 5, "schema": {"type": "object"}}}
    assert _refused(rf) == "model_config.response_format.json_schema.name must be a string"


def test_a_json_schema_given_as_empty_still_means_any_json():
    skill = Skill(id="skill.t", description="d", task_type="t", prompt={"user": "{text}"})
    rf = {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}
    request, _ = build_request(skill, {"text": "a"}, {"response_format": rf})
    assert request.json_output and request.json_schema == {"type": "object"}


SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("response_format", "said"),
    [
        # strict beside json_schema was passed over: the call went without strict mode, silently
        (
            {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}, "strict": True},
            "model_config.response_format holds json_schema's own keys ('strict'); put them under 'json_schema': ",
        ),
        # the Responses API's text.format, flat: was told only that json_schema is missing
        (
            {"type": "json_schema", "name": "n", "schema": SCHEMA},
            "model_config.response_format holds json_schema's own keys ('name', 'schema'), as the Responses API's "
            "text.format writes them; put them under 'json_schema': ",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}, "jsonschema": 1},
            "model_config.response_format has unknown key 'jsonschema' (did you mean 'json_schema'?); it takes: type, "
            "json_schema",
        ),
        # a schema beside JSON mode or text was never applied: the answer came back unchecked against it
        (
            {"type": "json_object", "json_schema": {"name": "n", "schema": SCHEMA}},
            "model_config.response_format.json_schema is taken with type 'json_schema' alone: with type 'json_object'",
        ),
        (
            {"type": "text", "json_schema": {"name": "n", "schema": SCHEMA}},
            "model_config.response_format.json_schema is taken with type 'json_schema' alone: with type 'text'",
        ),
        # a list is no schema: was taken as {} (any JSON object)
        (
            {"type": "json_schema", "json_schema": {"name": "n", "schema": []}},
            "model_config.response_format.json_schema must be {'name': ..., 'schema': {...}}",
        ),
    ],
)
def test_what_a_response_format_does_not_take_is_refused_not_passed_over(response_format, said):
    message = _refused(response_format)
    assert message.startswith(said), message


def test_an_empty_json_schema_beside_json_mode_is_nothing_to_refuse():
    skill = Skill(id="skill.t", description="d", task_type="t", prompt={"user": "{text}"})
    request, _ = build_request(skill, {"text": "a"}, {"response_format": {"type": "json_object", "json_schema": None}})
    assert request.json_output and request.json_schema is None
