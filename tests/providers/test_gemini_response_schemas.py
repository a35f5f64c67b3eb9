"""The schema a Gemini call asks its answer in, against the spec-checking fake: what goes as responseSchema, what
as responseJsonSchema to a model that takes it, and what to the model in its instructions."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.gemini import GeminiFormat
from magsag_mcp.providers.gemini_json_schema import takes_json_beside_tools
from magsag_mcp.providers.gemini_schema import RECURSION_DEPTH
from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .test_wire import CASES, last_body, setup

pytestmark = pytest.mark.anyio


[GOOGLE] = [c for c in CASES if c.name == "google"]


#: what pydantic's model_json_schema() writes for a model with a nested one (and an optional, described one)
NESTED = {
    "$defs": {
        "Address": {
            "properties": {"city": {"title": "City", "type": "string"}},
            "required": ["city"],
            "title": "Address",
            "type": "object",
        }
    },
    "properties": {
        "home": {"$ref": "#/$defs/Address"},
        "work": {"anyOf": [{"$ref": "#/$defs/Address", "description": "Office"}, {"type": "null"}], "default": None},
    },
    "required": ["home"],
    "title": "Person",
    "type": "object",
}


#: pydantic's model_json_schema() for a model (and a nested one) with extra="forbid", a field described beside its $ref
FORBIDDING = {
    "$defs": {
        "Address": {
            "additionalProperties": False,
            "properties": {"city": {"title": "City", "type": "string"}},
            "required": ["city"],
            "title": "Address",
            "type": "object",
        }
    },
    "additionalProperties": False,
    "properties": {
        "home": {"$ref": "#/$defs/Address", "description": "Where they live"},
        "stars": {"enum": [2, 4, 8], "title": "Stars", "type": "integer"},
        "labels": {"additionalProperties": {"type": "number"}, "title": "Labels", "type": "object"},
    },
    "required": ["home", "stars", "labels"],
    "title": "Person",
    "type": "object",
}


async def test_min_and_max_properties_go_into_the_response_schema(serve, transport):
    # Gemini's Schema has minProperties and maxProperties (int64: decimal strings in Google's JSON): they were
    # dropped, with a warning that "Gemini's response schema has no maxProperties, minProperties", unenforced.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"a": "x"}'})
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "minProperties": 1, "maxProperties": 2}
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"a": "x"} and result.warnings == [] and fake.violations == []
    sent = last_body(fake)["generationConfig"]["responseSchema"]
    assert (sent["minProperties"], sent["maxProperties"]) == ("1", "2")


async def test_a_nested_model_reaches_gemini_inlined_not_as_an_empty_schema(serve, transport):
    # Gemini's Schema has no $ref and requires a type: a nested model's property was sent as {} and an optional
    # one as a typeless anyOf, which the spec refuses, with a note that $defs and $ref were left out.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"home": {"city": "Oslo"}, "work": null}'})
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=NESTED, max_tokens=50), target)
    assert result.parsed == {"home": {"city": "Oslo"}, "work": None} and fake.violations == []
    assert result.warnings == []
    address = {"properties": {"city": {"title": "City", "type": "STRING"}}, "required": ["city"], "title": "Address"}
    sent = last_body(fake)["generationConfig"]["responseSchema"]["properties"]
    assert sent["home"] == {**address, "type": "OBJECT"}
    # Optional[Address] (anyOf it or null, with no type, which the Schema requires) is the address, nullable
    assert sent["work"] == {**address, "type": "OBJECT", "description": "Office", "default": None, "nullable": True}


def test_a_tool_with_a_nested_model_declares_it_in_place():
    tool = ToolSpec("save", "Save a person", NESTED)
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], tools=[tool]), "gemini-2.0-flash", stream=False
    )
    home = body["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]["home"]
    assert home["type"] == "OBJECT" and home["required"] == ["city"] and notes == []


def test_a_tool_whose_properties_are_an_empty_list_declares_no_parameters():
    # PHP's json_encode writes an empty map as [] ("properties": [] for a tool without arguments, as an MCP client
    # in PHP hands its tools on): the translation raised AttributeError, taken for a bug met after the vendor
    # answered, so the attempt, never sent, was counted at its worst case as maybe billed
    tools = [
        ToolSpec("now", "The current time", {"type": "object", "properties": []}),
        ToolSpec("city", "A city", {"type": "object", "properties": {"at": {"type": "object", "properties": []}}}),
    ]
    request = LLMRequest([Message("user", "x")], tools=tools)
    body, notes = GeminiFormat().build(request, "gemini-2.5-flash", stream=False)
    declared = body["tools"][0]["functionDeclarations"]
    assert "parameters" not in declared[0] and "parametersJsonSchema" not in declared[0]
    # an object of any keys, which the Schema cannot say: JSON Schema to a model that takes it, a Schema to one before
    assert declared[1]["parametersJsonSchema"]["properties"]["at"] == {"type": "object"}
    body, notes = GeminiFormat().build(request, "gemini-1.5-pro", stream=False)
    assert body["tools"][0]["functionDeclarations"][1]["parameters"]["properties"]["at"]["type"] == "OBJECT"


async def test_a_recursive_reference_is_written_out_levels_deep_and_then_left_out(serve, transport):
    # Written out once, the repeat was sent as {} (its $ref left out): a Schema with no type, which gemini.json's
    # Schema requires ("Required. Data type."), and which the fake refuses as Gemini does. The reference is written
    # out RECURSION_DEPTH levels deep; past it, the property that repeats it is left out (and out of required), an
    # array of it holds none, and a node of nothing else is left out where it is met; the note says so.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    listed = {
        "$defs": {
            "Node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"$ref": "#/$defs/Node"}}}
        },
        "$ref": "#/$defs/Node",
        "required": ["v", "next"],
    }
    body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=listed), "g", stream=False)
    node = body["generationConfig"]["responseSchema"]
    for _ in range(RECURSION_DEPTH - 1):
        assert node["type"] == "OBJECT" and set(node["properties"]) == {"v", "next"}
        node = node["properties"]["next"]
    assert node == {"type": "OBJECT", "properties": {"v": {"type": "INTEGER"}}}
    assert notes == [
        f"Gemini's response schema has no recursion past {RECURSION_DEPTH} levels; they were left out of the request "
        "and the answer was checked against the full schema"
    ]
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": ["kids"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    fake.queue({"text": '{"kids": [{"kids": []}, {"kids": [{"kids": []}]}]}'})
    result = await provider.complete(LLMRequest([Message("user", "A tree?")], json_schema=tree, max_tokens=50), target)
    assert result.parsed == {"kids": [{"kids": []}, {"kids": [{"kids": []}]}]} and fake.violations == []
    node = last_body(fake)["generationConfig"]["responseSchema"]
    for _ in range(RECURSION_DEPTH - 1):
        node = node["properties"]["kids"]["items"]
    # a leaf's children, [], are what the innermost node may hold: the full schema takes them
    assert node["properties"]["kids"] == {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "0"}
    assert node["required"] == ["kids"]


@pytest.mark.parametrize(
    ("bounds", "innermost"),
    [
        # a maxItems after the items overwrote the empty array's "0": Gemini was asked for up to 5 strings as children
        ({"maxItems": 5}, {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "0"}),
        # a minItems of 0 is kept out as well: an empty array is what the innermost node holds
        ({"minItems": 0}, {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "0"}),
        # children it cannot be without: "at least 1, at most 0" asked for nothing; the property is left out instead
        ({"minItems": 1, "maxItems": 5}, None),
    ],
)
def test_a_recursive_arrays_own_bounds_do_not_undo_its_emptiness_past_the_depth(bounds: dict, innermost: dict | None):
    node = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/N"}, **bounds}},
        "required": ["name", "kids"],
    }
    tree = {"$defs": {"N": node}, "$ref": "#/$defs/N"}
    body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=tree), "g", stream=False)
    sent = body["generationConfig"]["responseSchema"]
    for _ in range(RECURSION_DEPTH - 1):
        assert sent["properties"]["kids"].get("maxItems") == (str(bounds["maxItems"]) if "maxItems" in bounds else None)
        sent = sent["properties"]["kids"]["items"]
    if innermost is None:
        assert sent["properties"] == {"name": {"type": "STRING"}} and sent["required"] == ["name"]
    else:
        assert sent["properties"]["kids"] == innermost and sent["required"] == ["name", "kids"]
    assert any(f"recursion past {RECURSION_DEPTH} levels" in n for n in notes), notes


def test_a_reference_to_the_whole_schema_is_written_out_as_a_recursive_definition_is():
    # {"$ref": "#"}, the root itself (zod-to-json-schema's tree of z.lazy children), had no definition to write out:
    # it was cut as a reference to nothing, and Gemini was told every node's children were [] (a tree one level deep)
    tree = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["name", "kids"],
    }
    body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=tree), "g", stream=False)
    sent = body["generationConfig"]["responseSchema"]
    for _ in range(RECURSION_DEPTH - 1):
        assert sent["required"] == ["name", "kids"] and "maxItems" not in sent["properties"]["kids"]
        sent = sent["properties"]["kids"]["items"]
    assert sent["properties"]["kids"] == {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "0"}
    assert any(f"recursion past {RECURSION_DEPTH} levels" in n for n in notes), notes


async def test_an_enum_of_numbers_is_left_out_and_a_null_in_an_enum_makes_it_nullable(serve, transport):
    # Schema.enum is a list of strings: an enum of numbers (pydantic's Literal[1, 2] or an IntEnum) or one with
    # null in it (Optional[Literal["a"]]) made the whole response schema a bad request. Integers are sent as their
    # range, exactly the enum when they run without a gap; otherwise (or numbers) the enum is said to be left out;
    # null is nullable.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"stars": 2, "size": 4, "mood": null}'})
    schema = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "enum": [1, 2, 3]},
            "size": {"type": "integer", "enum": [2, 4, 8]},
            "mood": {"enum": ["ok", "bad", None]},
        },
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"stars": 2, "size": 4, "mood": None} and fake.violations == []
    sent = last_body(fake)["generationConfig"]["responseSchema"]["properties"]
    assert sent["stars"] == {"type": "INTEGER", "minimum": 1, "maximum": 3}
    assert sent["size"] == {"type": "INTEGER", "minimum": 2, "maximum": 8}
    assert sent["mood"] == {"enum": ["ok", "bad"], "nullable": True, "type": "STRING"}
    assert any("enum of non-strings" in w for w in result.warnings)
    # a rating of 1 to 5 loses nothing: no warning
    fake.queue({"text": '{"stars": 5}'})
    rating = {"type": "object", "properties": {"stars": {"enum": [1, 2, 3, 4, 5]}}}
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=rating, max_tokens=50), target)
    assert result.parsed == {"stars": 5} and result.warnings == []
    assert last_body(fake)["generationConfig"]["responseSchema"]["properties"]["stars"] == {
        "type": "INTEGER",
        "minimum": 1,
        "maximum": 5,
    }


async def test_a_response_schema_keeps_its_property_order(serve, transport):
    # Gemini answers a responseSchema's properties in alphabetical order unless propertyOrdering says otherwise
    # (https://ai.google.dev/gemini-api/docs/structured-output#property-ordering): a skill asking for its
    # "reasoning" before its "answer" got the answer written first, the reasoning after it, on Gemini alone.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"reasoning": "r", "answer": {"value": 1, "unit": "m"}, "confidence": 0.5}'})
    schema = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "answer": {
                "type": "object",
                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                "propertyOrdering": ["unit", "value"],  # one the schema gives is kept
            },
            "confidence": {"type": "number"},
        },
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed["reasoning"] == "r" and fake.violations == [] and result.warnings == []
    sent = last_body(fake)["generationConfig"]["responseSchema"]
    assert sent["propertyOrdering"] == ["reasoning", "answer", "confidence"]
    assert sent["properties"]["answer"]["propertyOrdering"] == ["unit", "value"]
    # a tool's parameters are arguments, not an answer written in order: declared as they were
    ask = LLMRequest([Message("user", "x")], tools=[ToolSpec("f", "", schema)])
    body, _ = GeminiFormat().build(ask, "g", stream=False)
    assert "propertyOrdering" not in body["tools"][0]["functionDeclarations"][0]["parameters"]


async def test_a_response_schema_with_an_object_of_any_keys_is_asked_for_as_json(serve, transport):
    # pydantic's dict[str, str] is {"type": "object", "additionalProperties": {...}}: Gemini's Schema cannot say
    # it, and refuses the OBJECT without properties it became (400 "...response_schema.properties[\"labels\"]
    # .properties: should be non-empty for OBJECT type"), a bad request that stopped the cascade on every call.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"name": "x", "labels": {"a": "b"}}'})
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["name", "labels"],
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"name": "x", "labels": {"a": "b"}} and fake.violations == []
    assert last_body(fake)["generationConfig"] == {"maxOutputTokens": 50, "responseMimeType": "application/json"}
    assert result.warnings == [
        "Gemini's response schema cannot say an object of any keys (one without properties), so none was sent: the "
        "model was given the schema in its instructions, and its answer was checked against the full schema"
    ]
    assert '"additionalProperties":{"type":"string"}' in last_body(fake)["systemInstruction"]["parts"][0]["text"]
    # the answer is still checked against the full schema
    fake.queue({"text": '{"name": "x", "labels": {"a": 1}}'})
    with pytest.raises(E.InvalidOutputError):
        await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    # a schema that says only "an object" loses nothing by it: no warning
    fake.queue({"text": '{"a": 1}'})
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema={"type": "object"}), target)
    assert result.parsed == {"a": 1} and result.warnings == [] and fake.violations == []


def test_a_response_schema_gemini_cannot_say_goes_to_the_model_in_its_instructions():
    # With no responseSchema sent (an object of any keys), the model was told only to answer in JSON: neither the
    # schema the answer is checked against nor the json_schema.description that every other path carries reached it,
    # and a model that guessed the keys' types failed the check, billed.
    schema = {"type": "object", "additionalProperties": {"type": "number"}}
    ask = LLMRequest(
        [Message("user", "Price these")], system="Be brief.", json_schema=schema, json_schema_description="SKU prices"
    )
    body, notes = GeminiFormat().build(ask, "gemini-2.5-flash", stream=False)
    assert "responseSchema" not in body["generationConfig"]
    said = body["systemInstruction"]["parts"][0]["text"]
    assert said.startswith("Be brief.\n\n") and '{"type":"object","additionalProperties":{"type":"number"}}' in said
    assert said.endswith("What the JSON document is: SKU prices")
    assert notes == []  # (an object at the top: nothing more than its schema, which the model was given, is lost)
    # a schema that says only "an object": its description still reaches the model, without a warning
    ask = LLMRequest([Message("user", "Go")], json_schema={"type": "object"}, json_schema_description="SKU prices")
    body, notes = GeminiFormat().build(ask, "gemini-2.5-flash", stream=False)
    assert body["systemInstruction"]["parts"][0]["text"].endswith("What the JSON document is: SKU prices")
    assert notes == []
    # a schema Gemini can say goes as its responseSchema, the prompt left as it is
    ask = replace(ask, json_schema={"type": "object", "properties": {"a": {"type": "number"}}})
    body, _ = GeminiFormat().build(ask, "gemini-2.5-flash", stream=False)
    assert body["generationConfig"]["responseSchema"]["description"] == "SKU prices" and "systemInstruction" not in body


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "models/gemini-3-pro-preview", "gemini-flash-latest"])
async def test_a_schema_the_response_schema_cannot_say_goes_as_json_schema_to_a_model_that_takes_it(
    serve, transport, model: str
):
    # Gemini's responseSchema (OpenAPI's subset) has no additionalProperties, no enum of numbers and no object of any
    # keys: a pydantic model with extra="forbid" (or any OpenAI strict schema) went with those left out and a warning
    # on every call, and one with a dict[str, X] field went with no schema at all, the model only told to answer in
    # JSON. Gemini 2.5 and later take responseJsonSchema (gemini.json, GenerationConfig), which says all of it.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model=model)
    fake.queue({"text": '{"home": {"city": "Oslo"}, "stars": 4, "labels": {"a": 1}}'})
    ask = LLMRequest([Message("user", "Go")], json_schema=FORBIDDING, max_tokens=50, json_schema_description="A person")
    result = await provider.complete(ask, target)
    assert result.parsed == {"home": {"city": "Oslo"}, "stars": 4, "labels": {"a": 1}} and fake.violations == []
    assert result.warnings == []
    config = last_body(fake)["generationConfig"]
    assert "responseSchema" not in config and config["responseMimeType"] == "application/json"
    sent = config["responseJsonSchema"]
    assert sent["additionalProperties"] is False and sent["$defs"]["Address"]["additionalProperties"] is False
    assert sent["properties"]["home"] == {"$ref": "#/$defs/Address"}  # (nothing but $-keywords beside a $ref)
    assert sent["properties"]["stars"]["enum"] == [2, 4, 8]
    assert sent["properties"]["labels"]["additionalProperties"] == {"type": "number"}
    assert sent["description"] == "A person"
    # the prompt reads as it did: a schema responseSchema cannot send at all is given to the model in its instructions
    assert '"additionalProperties":{"type":"number"}' in last_body(fake)["systemInstruction"]["parts"][0]["text"]
    # the answer is still checked against the full schema
    fake.queue({"text": '{"home": {"city": "Oslo", "zip": "0150"}, "stars": 4, "labels": {}}'})
    with pytest.raises(E.InvalidOutputError):
        await provider.complete(ask, target)
    # an OpenAI strict schema: enforced whole, without a warning, and the prompt left as it is
    strict = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=strict), model, stream=False)
    assert body["generationConfig"]["responseJsonSchema"] == strict and notes == [] and "systemInstruction" not in body


async def test_a_model_before_gemini_2_5_and_a_recursive_schema_keep_to_the_response_schema(serve, transport):
    fake, provider, target = await setup(GOOGLE, serve, transport)
    strict = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    for model in ("gemini-1.5-pro", "gemini-2.0-flash", "learnlm-2.0-flash-experimental", "my-tuned-model"):
        body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=strict), model, stream=False)
        assert "responseJsonSchema" not in body["generationConfig"], model
        assert body["generationConfig"]["responseSchema"]["properties"] == {"a": {"type": "STRING"}}
        assert any("no additionalProperties" in n for n in notes), notes
    # a cycle of references: Gemini refuses one through a required property; written out once, as before
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": ["kids"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/Node",
    }
    body, _ = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=tree), "gemini-2.5-pro", stream=False)
    assert "responseSchema" in body["generationConfig"] and "responseJsonSchema" not in body["generationConfig"]
    # a schema both lose part of, differently (a pattern responseSchema keeps, additionalProperties it does not):
    # the one that has been sent all along
    both = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}, "additionalProperties": False}
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=both), "gemini-2.5-pro", stream=False
    )
    assert body["generationConfig"]["responseSchema"]["properties"]["a"]["pattern"] == "^x"
    # and on a wire: a 2.5 model's JSON Schema answer of a schema with what responseJsonSchema lacks says so
    fake.queue({"text": '{"a": "xy", "n": 3}'})
    loose = {
        "type": "object",
        "properties": {"a": {"type": "string", "minLength": 1}, "n": {"type": "integer", "multipleOf": 3}},
        "additionalProperties": False,
    }
    ask = LLMRequest([Message("user", "Go")], json_schema=loose, max_tokens=50)
    result = await provider.complete(ask, replace(target, model="gemini-2.5-flash"))
    assert result.parsed == {"a": "xy", "n": 3} and fake.violations == []
    assert "responseSchema" in last_body(fake)["generationConfig"]  # (responseSchema keeps minLength)


@pytest.mark.parametrize("ref", ["#", "#/properties/a", "#/definitions/Missing/x"])
def test_a_reference_to_anything_but_a_definition_keeps_to_the_response_schema(ref: str):
    # "#" (the whole schema: a recursive root) or a JSON pointer elsewhere: no definition to write out by name, and
    # not one Gemini's JSON Schema support is known to follow
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"$ref": ref}},
        "additionalProperties": False,
    }
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.5-pro", stream=False
    )
    assert "responseJsonSchema" not in body["generationConfig"] and "responseSchema" in body["generationConfig"]
    assert any("additionalProperties" in n for n in notes), notes


async def test_a_schema_the_response_schema_cannot_send_goes_as_json_schema_whatever_else_it_lacks(serve, transport):
    # pydantic's model with a dict[str, X] field (an object of any keys, which responseSchema cannot send at all) and a
    # Field(max_length=...) (which responseJsonSchema has no room for): no schema at all went to Gemini 2.5, the model
    # only told in its prompt, since JSON Schema did not lose exactly what responseSchema did. Anything is more than
    # nothing: JSON Schema goes, what it lacks named.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "labels": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        "required": ["name", "labels"],
    }
    fake.queue({"text": '{"name": "Oslo", "labels": {"a": 1}}'})
    ask = LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50)
    result = await provider.complete(ask, replace(target, model="gemini-2.5-flash"))
    assert result.parsed == {"name": "Oslo", "labels": {"a": 1}} and fake.violations == []
    body = last_body(fake)
    sent = body["generationConfig"]["responseJsonSchema"]
    assert sent["properties"]["labels"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert sent["properties"]["name"] == {"type": "string"} and sent["required"] == ["name", "labels"]
    assert [w for w in result.warnings if "maxLength" in w], result.warnings
    assert '"maxLength":40' in body["systemInstruction"]["parts"][0]["text"]  # the prompt reads as it did
    # and the answer is checked against the full schema, maxLength included
    fake.queue({"text": json.dumps({"name": "x" * 41, "labels": {}})})
    with pytest.raises(E.InvalidOutputError):
        await provider.complete(ask, replace(target, model="gemini-2.5-flash"))
    # a model before 2.5 keeps to what it had: no schema, the model told in its prompt
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.0-flash", stream=False
    )
    assert "responseJsonSchema" not in body["generationConfig"] and "responseSchema" not in body["generationConfig"]


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ({"const": None, "title": "Gone", "type": "null"}, {"title": "Gone", "type": "null"}),  # Literal[None]
        ({"enum": [None]}, {"type": "null"}),
        ({"enum": ["a", None]}, {"anyOf": [{"enum": ["a"]}, {"type": "null"}]}),
    ],
)
def test_an_enum_of_null_alone_goes_as_the_null_type_not_an_empty_enum(field: dict, sent: dict):
    # pydantic writes Literal[None] as {"const": null, "type": "null"}: in a model with extra="forbid" it went as
    # responseJsonSchema {"anyOf": [{"type": "null", "enum": []}, {"type": "null"}]}, an enum of no values (which
    # JSON Schema says should have one at least, and which allows nothing) beside what it meant: null.
    schema = {"type": "object", "properties": {"f": field}, "required": ["f"], "additionalProperties": False}
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.5-flash", stream=False
    )
    assert body["generationConfig"]["responseJsonSchema"]["properties"]["f"] == sent and notes == []


@pytest.mark.parametrize("name", ["Tree Node", "a/b"])
def test_a_cycle_through_a_definition_whose_reference_is_escaped_keeps_to_the_response_schema(name: str):
    # A definition named with a space or a slash is referred to escaped ('#/$defs/Tree%20Node', '#/$defs/a~1b'): the
    # cycle check read the escaped name as another definition, found no cycle, and sent a recursive schema through a
    # required property as responseJsonSchema, which Gemini refuses.
    escaped = name.replace("~", "~0").replace("/", "~1").replace(" ", "%20")
    node = {
        "type": "object",
        "properties": {"kids": {"type": "array", "items": {"$ref": f"#/$defs/{escaped}"}}},
        "required": ["kids"],
        "additionalProperties": False,
    }
    schema = {"$defs": {name: node}, "$ref": f"#/$defs/{escaped}"}
    body, _ = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.5-pro", stream=False
    )
    assert "responseJsonSchema" not in body["generationConfig"]


@pytest.mark.parametrize(
    ("model", "beside_tools"),
    [
        ("gemini-3-pro-preview", True),
        ("gemini-3-flash-preview", True),
        ("gemini-3.0-flash", True),
        ("gemini-3.1-pro-preview", True),
        ("models/gemini-3-pro", True),  # the resource name, as Gemini's own model list writes it
        ("gemini-2.5-pro", False),
        ("gemini-2.0-flash", False),
        ("gemini-exp-1206", False),  # an experiment of the 2.x years: no version in its name
        ("gemini-pro-latest", False),  # an alias: which model it names is not known here
        ("tunedModels/my-tuned-model-abc", False),  # a tuned model: its base is not in its name
        ("gemma-3-27b-it", False),
    ],
)
def test_only_gemini_3_and_later_are_sent_a_json_response_type_beside_tools(model: str, beside_tools: bool):
    # Gemini 2.x answers 400 "Function calling with a response mime type: 'application/json' is unsupported" to
    # function declarations beside a JSON response type; Gemini 3 takes both. A name that does not say its version
    # keeps to the instructions, which every model takes.
    assert takes_json_beside_tools(model) is beside_tools
