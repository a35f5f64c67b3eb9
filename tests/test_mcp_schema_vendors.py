"""The tools' argument schemas as the model vendors take them: clients hand each one to their model.

Claude Desktop and Code send it as Anthropic's ``input_schema``, OpenAI's Agents SDK as a function's
``parameters`` (strict mode where it converts), Gemini CLI and Google's SDK as a function declaration's
``parametersJsonSchema`` or, converted by ``processJsonSchema``, its ``parameters``: the OpenAPI subset
whose ``Schema`` object the Gemini spec lists. A keyword outside that subset has the request refused
(400, "Unknown name ..."), every tool in it lost, not only ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from magsag_mcp.mcp_server.schema_compaction import compact_schema
from magsag_mcp.mcp_server.tool_schemas import stored
from tests.fakes.spec import load_spec

#: Google's SDK drops ``additionalProperties`` converting a JSON Schema to a Gemini ``Schema``; it is ours to
#: keep: ``false`` is what the server holds a call to, and an open object's ``true`` stops OpenAI's
#: strict-mode converter (Agents SDK) from closing ``payload`` (it adds ``false`` where none is written).
DROPPED_BY_CLIENTS = {"additionalProperties"}


def _schemas(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema in ``schema`` (it included), with where it is; property names are not keywords."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _schemas(sub, f"{where}.properties.{name}")
    for i, sub in enumerate(schema.get("anyOf") or []):
        yield from _schemas(sub, f"{where}.anyOf[{i}]")
    yield from _schemas(schema.get("items"), f"{where}.items")
    yield from _schemas(schema.get("additionalProperties"), f"{where}.additionalProperties")


def _arguments() -> Iterator[tuple[str, dict[str, Any]]]:
    tools = stored()
    assert len(tools) == 9, "tool_schemas.json is missing: run python -m magsag_mcp.mcp_server.tool_schemas"
    for name, tool in tools.items():
        yield from _schemas(tool["parameters"], name)


def test_every_argument_keyword_is_one_gemini_function_declarations_take():
    gemini_schema = load_spec("gemini")["components"]["schemas"]["Schema"]["properties"]
    refused = [
        f"{where}: {keyword}"
        for where, schema in _arguments()
        for keyword in schema.keys() - gemini_schema.keys() - DROPPED_BY_CLIENTS
    ]
    assert not refused, f"Gemini's Schema has no such field (the request is refused): {refused}"


def test_no_argument_schema_uses_what_gemini_or_its_clients_refuse():
    for where, schema in _arguments():
        # Schema.type is one value (a list is "Proto field is not repeating"); Google's SDK throws at a type
        # beside an anyOf; Schema.enum is of strings
        assert not isinstance(schema.get("type"), list), where
        assert not ("type" in schema and "anyOf" in schema), where
        assert all(isinstance(v, str) for v in schema.get("enum", [])), where
        assert "type" in schema or "anyOf" in schema, f"{where}: Schema.type is required"
    text = json.dumps([t["parameters"] for t in stored().values()])
    assert '"$ref"' not in text and '"$defs"' not in text  # "reference to undefined schema"


def test_an_open_object_says_so_for_strict_mode_converters():
    for where, schema in _arguments():
        if schema.get("type") == "object" and "properties" not in schema:
            assert schema.get("additionalProperties") is True, where


@pytest.mark.parametrize(
    ("bounds", "inclusive"),
    [
        ({"exclusiveMinimum": 0}, {"minimum": 1}),
        ({"exclusiveMinimum": 0.5}, {"minimum": 1}),
        ({"exclusiveMinimum": -3}, {"minimum": -2}),
        ({"exclusiveMaximum": 10}, {"maximum": 9}),
        ({"exclusiveMaximum": 9.5}, {"maximum": 9}),
        ({"exclusiveMinimum": 0, "minimum": 5}, {"minimum": 5}),
        ({"exclusiveMinimum": 5, "minimum": 0}, {"minimum": 6}),
        ({"exclusiveMinimum": 0, "exclusiveMaximum": 3}, {"minimum": 1, "maximum": 2}),
    ],
)
def test_an_integer_s_exclusive_bound_is_written_as_the_inclusive_one_it_means(bounds, inclusive):
    schema = {"type": "integer", **bounds}
    compact = compact_schema(schema, optional_not_null=True)
    assert compact == {"type": "integer", **inclusive}
    before, after = jsonschema.Draft202012Validator(schema), jsonschema.Draft202012Validator(compact)
    for value in range(-6, 14):
        assert before.is_valid(value) == after.is_valid(value), value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number", "exclusiveMinimum": 0},  # 0.5 is above 0 and below 1: no inclusive bound says it
        {"type": ["integer", "null"], "exclusiveMinimum": 0},
        {"type": "integer", "exclusiveMinimum": "0"},  # not a bound: left for a validator to refuse
    ],
)
def test_a_bound_with_no_inclusive_equal_is_left_as_it_is(schema):
    assert compact_schema(schema, optional_not_null=True) == schema


def test_a_positive_max_tokens_is_published_as_one_or_more_and_still_refused_at_zero():
    tools = stored()
    model_config = tools["invoke_skill"]["parameters"]["properties"]["model_config"]["properties"]
    assert model_config["max_tokens"]["minimum"] == 1 and "exclusiveMinimum" not in model_config["max_tokens"]
    assert tools["check_budget"]["parameters"]["properties"]["max_tokens"]["minimum"] == 1
