"""A JSON schema's integer bounds of any size, translated into Gemini's Schema: Python's json reads an integer of any
size exactly, and an MCP tool's or a caller's schema may hold one (a maximum of 10**400, an enum of 1 and 10**30).
math.isfinite converts an int to a float first and raised OverflowError past a float's range, out of the
translation; an integer enum's check that it ran without a gap listed every integer between its ends (an enum of 1
and 10**30 never finished, and took the memory with it); and the Schema's bounds are doubles, so one past a double's
range cannot be sent: it is left out and said to be, as another keyword it has no room for."""

from __future__ import annotations

import json

from magsag_mcp.providers.gemini_schema import gemini_schema

HUGE = 10**400  # past a double's range (about 1.8e308)


def test_an_exclusive_bound_past_a_doubles_range_is_left_out_and_said():
    assert gemini_schema({"type": "integer", "exclusiveMinimum": HUGE}) == ({"type": "INTEGER"}, {"minimum"})
    assert gemini_schema({"type": "integer", "exclusiveMaximum": -HUGE}) == ({"type": "INTEGER"}, {"maximum"})


def test_an_inclusive_bound_past_a_doubles_range_is_left_out_and_said():
    schema = json.loads('{"type": "integer", "minimum": 0, "maximum": 1' + "0" * 400 + "}")
    assert gemini_schema(schema) == ({"type": "INTEGER", "minimum": 0}, {"maximum"})


def test_a_large_bound_a_double_holds_is_kept_exactly():
    # 10**30 is in a double's range: the inclusive bound of an exclusive one is written as the integer it is
    assert gemini_schema({"type": "integer", "exclusiveMaximum": 10**30}) == (
        {"type": "INTEGER", "maximum": 10**30 - 1},
        set(),
    )
    assert gemini_schema({"type": "integer", "minimum": -(10**30), "maximum": 10**30}) == (
        {"type": "INTEGER", "minimum": -(10**30), "maximum": 10**30},
        set(),
    )


def test_an_integer_enum_far_apart_is_its_range_narrowed_and_said_to_be():
    # (the gap is counted, not listed: before, the integers from 1 to 10**30 were put in a set)
    assert gemini_schema({"type": "integer", "enum": [1, 10**30]}) == (
        {"type": "INTEGER", "minimum": 1, "maximum": 10**30},
        {"enum of non-strings"},
    )
    assert gemini_schema({"type": "integer", "enum": [1, HUGE]}) == (
        {"type": "INTEGER", "minimum": 1},
        {"maximum", "enum of non-strings"},
    )
    # without a gap, it is the range exactly, nothing said
    assert gemini_schema({"type": "integer", "enum": [3, 1, 2]}) == (
        {"type": "INTEGER", "minimum": 1, "maximum": 3},
        set(),
    )


def test_a_count_past_an_int64_is_left_out_and_said():
    # the Schema's minItems, maxLength, ... are int64s (written as strings): one past that range was sent as written,
    # and Gemini refused the call with a 400 after it was admitted
    assert gemini_schema({"type": "string", "minLength": 1, "maxLength": 2**63}) == (
        {"type": "STRING", "minLength": "1"},
        {"maxLength"},
    )
    schema = {"type": "array", "items": {"type": "string"}, "minItems": HUGE}
    assert gemini_schema(schema) == ({"type": "ARRAY", "items": {"type": "STRING"}}, {"minItems"})
    # the largest an int64 holds is kept exactly
    assert gemini_schema({"type": "object", "properties": {"a": {"type": "string"}}, "maxProperties": 2**63 - 1}) == (
        {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "maxProperties": str(2**63 - 1)},
        set(),
    )
