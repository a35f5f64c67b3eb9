"""JSON schemas as pydantic and MCP servers write them, translated into Gemini's Schema (an OpenAPI 3.0 subset) for
a response schema and a function declaration's parameters: what the API takes, and what it refuses."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, PositiveInt

from magsag_mcp import errors as E
from magsag_mcp.providers.gemini import GeminiFormat
from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .test_wire import CASES, last_body, setup

pytestmark = pytest.mark.anyio
[GOOGLE] = [c for c in CASES if c.name == "google"]


class Circle(BaseModel):
    kind: Literal["circle"]
    radius: float


class Square(BaseModel):
    kind: Literal["square"]
    side: float


class Drawing(BaseModel):
    shape: Annotated[Circle | Square, Field(discriminator="kind")]


def sent(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The responseSchema a Gemini request carries for ``schema``, and the request's notes."""
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "Draw")], json_schema=schema), "gemini-2.5-flash", stream=False
    )
    return body["generationConfig"].get("responseSchema", {}), notes


def declared(schema: dict[str, Any]) -> dict[str, Any]:
    tool = ToolSpec("draw", "Draw a shape", schema)
    body, _ = GeminiFormat().build(
        LLMRequest([Message("user", "Draw")], tools=[tool]), "gemini-2.5-flash", stream=False
    )
    return body["tools"][0]["functionDeclarations"][0]["parameters"]


def test_a_discriminated_union_reaches_gemini_as_its_options():
    # pydantic writes a discriminated union as oneOf (with a discriminator) and each tag as a const: Gemini's Schema
    # has neither, so the shape went as {"title": "Shape"}, no schema at all (Gemini refuses a Schema without a type,
    # or the model answers anything, and the answer failed the check, billed), with a note of what was left out
    schema, notes = sent(Drawing.model_json_schema())
    options = schema["properties"]["shape"]["anyOf"]
    assert [o["type"] for o in options] == ["OBJECT", "OBJECT"]
    assert [o["properties"]["kind"] for o in options] == [
        {"enum": ["circle"], "title": "Kind", "type": "STRING"},
        {"enum": ["square"], "title": "Kind", "type": "STRING"},
    ]
    assert [sorted(o["properties"]) for o in options] == [["kind", "radius"], ["kind", "side"]]
    assert notes == []  # the discriminator names the tags the options' enums say: nothing is lost
    # a tool's parameters are read the same way
    shape = declared(Drawing.model_json_schema())["properties"]["shape"]
    assert [o["properties"]["kind"]["enum"] for o in shape["anyOf"]] == [["circle"], ["square"]]


def test_a_string_const_is_an_enum_of_one_and_another_const_is_left_out_saying_so():
    schema, notes = sent(
        {
            "type": "object",
            "properties": {"v": {"const": "2"}, "n": {"type": "integer", "const": 2}, "on": {"const": True}},
            "required": ["v", "n", "on"],
        }
    )
    assert schema["properties"] == {
        "v": {"enum": ["2"], "type": "STRING"},
        "n": {"type": "INTEGER", "minimum": 2, "maximum": 2},  # an integer's: its range of one
        "on": {},
    }
    assert len(notes) == 1 and "no const;" in notes[0]


def anyofs(value: Any) -> list[dict[str, Any]]:
    """Every Schema with an anyOf in ``value``, at any depth."""
    if isinstance(value, list):
        return [s for v in value for s in anyofs(v)]
    if not isinstance(value, dict):
        return []
    return ([value] if "anyOf" in value else []) + [s for v in value.values() for s in anyofs(v)]


class Reading(BaseModel):
    value: int | str = Field(description="What the meter shows")
    note: int | str | None = None


def test_a_union_is_the_one_field_of_its_schema():
    # Gemini takes an anyOf only alone (400 "Unable to submit request because one or more response schemas specified
    # other fields alongside any_of. When using any_of, it must be the only field set"): pydantic gives every union
    # property a title (and Optional[X | Y] a default), so any model with a union field was a bad request that
    # stopped the cascade. The title and default are left out, nullable is a NULL option, a description goes into
    # each option.
    for schema in (sent(Reading.model_json_schema())[0], declared(Reading.model_json_schema())):
        assert all(list(s) == ["anyOf"] for s in anyofs(schema))
        value, note = schema["properties"]["value"], schema["properties"]["note"]
        assert value["anyOf"] == [
            {"type": "INTEGER", "description": "What the meter shows"},
            {"type": "STRING", "description": "What the meter shows"},
        ]
        assert note["anyOf"] == [{"type": "INTEGER"}, {"type": "STRING"}, {"type": "NULL"}]


def test_an_optional_union_and_a_union_answer_with_a_description_keep_their_anyof_alone():
    # anyOf of a union or null: the union, nullable (which beside the anyOf was refused) as a NULL option
    optional = {"anyOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"type": "null"}], "title": "N"}
    schema, _ = sent({"type": "object", "properties": {"n": optional}})
    assert schema["properties"]["n"] == {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}, {"type": "NULL"}]}
    # an answer that is a union, with what it is for (json_schema.description): said in each option
    body, _ = GeminiFormat().build(
        LLMRequest(
            [Message("user", "Go")],
            json_schema={"anyOf": [{"type": "integer"}, {"type": "string"}]},
            json_schema_description="The meter's reading",
        ),
        "gemini-2.5-flash",
        stream=False,
    )
    assert body["generationConfig"]["responseSchema"] == {
        "anyOf": [
            {"type": "INTEGER", "description": "The meter's reading"},
            {"type": "STRING", "description": "The meter's reading"},
        ]
    }


async def test_a_response_schema_with_an_array_of_anything_is_asked_for_as_json(serve, transport):
    # {"type": "array"} without items (an array of anything, as MCP tools and hand-written schemas say it): Gemini
    # refuses the ARRAY without items (400 "...response_schema.properties[\"tags\"].items: missing field."), a bad
    # request that stopped the cascade on every call. Asked for as JSON instead, the schema in the instructions, the
    # answer checked against the full schema, as an object of any keys is.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"name": "x", "tags": ["a", 1]}'})
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array"}},
        "required": ["name", "tags"],
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"name": "x", "tags": ["a", 1]} and fake.violations == []
    assert last_body(fake)["generationConfig"] == {"maxOutputTokens": 50, "responseMimeType": "application/json"}
    assert '"tags":{"type":"array"}' in last_body(fake)["systemInstruction"]["parts"][0]["text"]
    assert result.warnings == [
        "Gemini's response schema cannot say an array of any items (one without items), so none was sent: the "
        "model was given the schema in its instructions, and its answer was checked against the full schema"
    ]


async def test_a_tool_with_an_array_parameter_of_anything_moves_on(serve, transport):
    # A tool parameter {"type": "array"}: Gemini refuses it (400 "...parameters.properties[\"ids\"].items: missing
    # field."), a bad request of the caller's that stopped the cascade, though another vendor takes the same tool
    fake, provider, target = await setup(GOOGLE, serve, transport)
    tool = ToolSpec("fetch", "Fetch", {"type": "object", "properties": {"ids": {"type": "array"}}})
    with pytest.raises(E.UnsupportedFeatureError, match="items: missing field") as info:
        await provider.complete(LLMRequest([Message("user", "Find")], tools=[tool], max_tokens=50), target)
    assert info.value.moves_on and not info.value.retryable and info.value.status == 400
    assert "give each its items, or leave Gemini out of this call's targets" in info.value.message


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-pro-preview"])
async def test_a_tool_with_a_parameter_the_schema_cannot_say_goes_as_json_schema_where_the_model_takes_it(
    serve, transport, model
):
    # An MCP tool's metadata of any keys ({"type": "object"}) or ids of anything ({"type": "array"}): the Schema
    # cannot say them, and Gemini refused the declaration (400 "...should be non-empty for OBJECT type", "...items:
    # missing field"), so every call offering the tool moved on from Gemini. Gemini 2.5 and later take a declaration's
    # parameters as JSON Schema (parametersJsonSchema, "mutually exclusive with parameters"): the tool goes as written.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model=model)
    parameters = {
        "type": "object",
        "properties": {
            "ids": {"type": "array", "description": "Which records"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "kind": {"type": "string", "enum": ["a", "b"]},
        },
        "required": ["ids"],
    }
    tool = ToolSpec("fetch", "Fetch records", parameters)
    fake.queue({"tool_calls": [{"id": "c1", "name": "fetch", "arguments": {"ids": [3, "x"], "metadata": {"k": "v"}}}]})
    result = await provider.complete(LLMRequest([Message("user", "Find")], tools=[tool], max_tokens=50), target)
    assert fake.violations == [] and result.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("fetch", {"ids": [3, "x"], "metadata": {"k": "v"}})]
    [declaration] = last_body(fake)["tools"][0]["functionDeclarations"]
    assert declaration == {"name": "fetch", "description": "Fetch records", "parametersJsonSchema": parameters}
    # a tool the Schema says whole goes as a Schema still, beside it
    tools = [tool, ToolSpec("ping", "Ping", {"type": "object", "properties": {"host": {"type": "string"}}})]
    fake.queue({"text": "ok"})
    await provider.complete(LLMRequest([Message("user", "Find")], tools=tools, max_tokens=50), target)
    assert last_body(fake)["tools"][0]["functionDeclarations"][1] == {
        "name": "ping",
        "description": "Ping",
        "parameters": {"type": "OBJECT", "properties": {"host": {"type": "STRING"}}},
    }


def test_a_value_of_several_types_is_an_option_of_each_with_its_own_keywords():
    # "type": ["string", "array"] (an MCP tool's "one path or several"): the Schema's type is one, and the value was
    # narrowed to the first, a STRING with the array's items beside it, which Gemini refuses (400 "...properties[
    # paths].items: field predicate failed: $type == Type.ARRAY") for every call offering the tool
    paths = {"type": ["string", "array"], "items": {"type": "string"}, "minItems": 1, "description": "Path(s)"}
    limit = {"type": ["integer", "string", "null"], "minimum": 1, "maxLength": 3}
    parameters = declared({"type": "object", "properties": {"paths": paths, "limit": limit}})
    assert parameters["properties"]["paths"] == {
        "anyOf": [
            {"type": "STRING", "description": "Path(s)"},
            {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1", "description": "Path(s)"},
        ]
    }
    assert parameters["properties"]["limit"] == {
        "anyOf": [{"type": "INTEGER", "minimum": 1}, {"type": "STRING", "maxLength": "3"}, {"type": "NULL"}]
    }
    # one type or null is that type, nullable, as before
    schema, _ = sent({"type": "object", "properties": {"s": {"type": ["string", "null"], "maxLength": 3}}})
    assert schema["properties"]["s"] == {"type": "STRING", "nullable": True, "maxLength": "3"}


class Order(BaseModel):
    quantity: PositiveInt
    rating: int = Field(gt=0, lt=6)
    weight: float = Field(gt=0)


def test_an_integers_exclusive_bounds_go_as_the_inclusive_bounds_they_are():
    # pydantic's PositiveInt and Field(gt=..., lt=...) write exclusiveMinimum / exclusiveMaximum, which the Schema has
    # no room for: the bounds were left out (a quantity of 0 answered, the answer failed its check, billed), and said
    # to be on every call. For an integer, exclusiveMinimum 0 is minimum 1: sent as that, nothing is lost.
    schema, notes = sent(Order.model_json_schema())
    assert schema["properties"]["quantity"] == {"title": "Quantity", "type": "INTEGER", "minimum": 1}
    assert schema["properties"]["rating"] == {"title": "Rating", "type": "INTEGER", "minimum": 1, "maximum": 5}
    # a number's has no inclusive equal: left out, and said to be
    assert schema["properties"]["weight"] == {"title": "Weight", "type": "NUMBER"}
    assert len(notes) == 1 and "no exclusiveMinimum;" in notes[0]
    # draft 4 writes the exclusive bound as a flag beside the inclusive one
    draft4 = {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 9, "exclusiveMaximum": False}
    assert sent(draft4) == ({"type": "INTEGER", "minimum": 1, "maximum": 9}, [])
