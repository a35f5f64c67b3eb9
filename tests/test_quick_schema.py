"""The payload shortcut past jsonschema (quick_schema.py): it may only ever say "valid" where jsonschema
does, and the shipped skills' payloads take it."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import PayloadError
from magsag_mcp.quick_schema import quick_check
from magsag_mcp.skills import compile_validator

SHIPPED = Path(__file__).resolve().parent.parent / "catalog"

INSTANCES = [
    {},
    {"data": 1},
    {"data": None},
    {"text": ""},
    {"text": "a"},
    {"text": "ab"},
    {"text": "é" * 3},
    {"text": "\U0001f600"},
    {"text": None},
    {"text": 5},
    {"text": ["a"]},
    {"text": "a", "extra": {"x": 1}},
    {"text": "a", "fields": ["name", "date"]},
    {"message": "hello"},
    {"task": "x" * 10},
    {"problem": ""},
    {"document": "d"},
    {"1": "a"},
    [],
    ["text"],
    "text",
    None,
    3,
]

SCHEMAS = [
    {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}},
    {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 1}}},
    {"type": "object", "properties": {"text": {"type": "string", "minLength": 2, "maxLength": 3}}},
    {"required": ["text"], "properties": {"text": True}},
    {"properties": {"text": {"type": "string"}}},
    {"description": "anything", "title": "t"},
    {},
    {"type": "object", "required": ["text", "fields"], "properties": {"fields": {"description": "free"}}},
]

# shapes the shortcut must leave to jsonschema
NOT_QUICK = [
    {"type": "object", "additionalProperties": False},
    {"type": "object", "properties": {"n": {"type": "integer"}}},
    {"type": "object", "properties": {"n": {"type": ["string", "null"]}}},
    {"type": "object", "properties": {"n": {"enum": ["a"]}}},
    {"type": "object", "properties": {"n": {"type": "string", "minLength": True}}},
    {"type": "object", "properties": {"n": {"type": "string", "pattern": "^a"}}},
    {"type": "object", "properties": {"n": {"minLength": 1}}},
    {"type": "object", "properties": {"n": False}},
    {"type": "object", "properties": {"n": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"type": "string"}}},
    {"type": "array"},
    {"type": ["object"]},
    {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
]


@pytest.mark.parametrize("schema", SCHEMAS + [s.input_schema for s in load_catalog(SHIPPED, env={}).skills.values()])
def test_the_shortcut_says_valid_exactly_where_jsonschema_does_for_objects(schema):
    quick = quick_check(schema)
    assert quick is not None
    full = compile_validator(schema)
    for data in INSTANCES:
        # never valid where jsonschema is not; and for a plain dict, the same verdict (so it is taken)
        if quick(data):
            assert full.is_valid(data), (schema, data)
        if type(data) is dict:
            assert quick(data) == full.is_valid(data), (schema, data)


@pytest.mark.parametrize("schema", NOT_QUICK)
def test_schemas_of_other_shapes_are_left_to_jsonschema(schema):
    assert quick_check(schema) is None


def test_a_shipped_skills_payload_is_checked_without_running_jsonschema(monkeypatch):
    skill = load_catalog(SHIPPED, env={}).skill("skill.summarization")
    validator = skill.payload_validator

    def never(*_a, **_k):
        raise AssertionError("jsonschema ran for a payload the shortcut accepts")

    monkeypatch.setattr(type(validator), "is_valid", never)
    assert "Q3 went well" in skill.render({"text": "Q3 went well"})


def test_a_payload_the_shortcut_refuses_gets_jsonschemas_error_as_before():
    skill = load_catalog(SHIPPED, env={}).skill("skill.summarization")
    with pytest.raises(PayloadError, match="missing field 'text'"):
        skill.render({"txt": "Q3"})
    with pytest.raises(PayloadError, match=r"payload field text: '' should be non-empty"):
        skill.render({"text": ""})
