"""A JSON schema's integer bounds of any size, translated into Gemini's Schema: Python's json reads an integer of any
size exactly, and an MCP tool's or a caller's schema may hold one (a maximum of 10**400, an enum of 1 and 10**30).
math.isfinite converts an int to a float first and raised OverflowError past a float's range, out of the
translation; an integer enum's check that it ran without a gap listed every integer between its ends (an enum of 1
and 10**30 never finished, and took the memory with it); and the Schema's bounds are doubles, so one past a double's
range cannot be sent: it is left out and said to be, as another keyword it has no room for."""

from __future__ import annotations

import json
import sys

import pytest

from magsag_mcp.providers.gemini import GeminiFormat
from magsag_mcp.providers.gemini_json_schema import json_schema
from magsag_mcp.providers.gemini_schema import gemini_schema
from magsag_mcp.types import LLMRequest, Message

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


def test_the_largest_double_is_a_bound_kept_and_one_past_it_is_left_out():
    # the edge of a double's range, as an integer: the largest finite double is one, kept as it is; one more is past it
    largest = int(sys.float_info.max)
    assert gemini_schema({"type": "integer", "maximum": largest}) == ({"type": "INTEGER", "maximum": largest}, set())
    assert gemini_schema({"type": "integer", "minimum": -largest}) == ({"type": "INTEGER", "minimum": -largest}, set())
    assert gemini_schema({"type": "integer", "maximum": largest + 1}) == ({"type": "INTEGER"}, {"maximum"})


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


INF, NAN = float("inf"), float("nan")


def _strict_json(body: object) -> str:
    # the body as JSON has it: Python's json wrote an infinite or NaN number as Infinity and NaN, which no JSON reader
    # (Google's) takes
    return json.dumps(body, allow_nan=False)


@pytest.mark.parametrize("value", [INF, -INF, NAN], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("key", ["minimum", "maximum"])
def test_an_infinite_or_nan_bound_is_left_out_and_said(key, value):
    # it went into the Schema as it was (Schema.minimum is a double: JSON has no number for either), and the request
    # body carried Infinity or NaN to Gemini after the call was admitted
    out, dropped = gemini_schema({"type": "number", key: value, "description": "a score"})
    assert out == {"type": "NUMBER", "description": "a score"} and dropped == {key}
    _strict_json(out)


@pytest.mark.parametrize("value", [INF, NAN, 2.5, "3", True], ids=["inf", "nan", "fraction", "text", "boolean"])
def test_a_count_that_is_no_whole_number_is_left_out_and_said(value):
    # the Schema's counts are int64s: a count of infinity, NaN or 2.5 went to the wire as written
    schema = {"type": "array", "items": {"type": "string"}, "maxItems": value}
    assert gemini_schema(schema) == ({"type": "ARRAY", "items": {"type": "STRING"}}, {"maxItems"})
    # a float of a whole number is the count it is
    schema = {"type": "string", "maxLength": 20.0}
    assert gemini_schema(schema) == ({"type": "STRING", "maxLength": "20"}, set())


def test_a_huge_finite_float_bound_is_kept_as_the_double_it_is():
    # (a double's range holds it: Gemini takes it, and it bounds as written)
    assert gemini_schema({"type": "number", "maximum": 1e308}) == ({"type": "NUMBER", "maximum": 1e308}, set())


def test_json_schema_for_gemini_leaves_out_what_it_cannot_carry_and_says_so():
    # responseJsonSchema (the 2.5 models and later) kept minimum, maximum, minItems and maxItems as written, and an
    # enum's numbers: infinity and NaN went to the wire as Infinity and NaN (no JSON), and an int of 5,000 digits
    # raised ValueError out of the body's encoding (str() of an int past 4,300 digits)
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "number", "minimum": NAN, "maximum": INF},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 10**5000, "maxItems": INF},
            "level": {"type": "integer", "enum": [1, NAN, 10**400]},
            "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 2.0, "maxItems": 2},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1e308},
        },
        "additionalProperties": False,
    }
    made = json_schema(schema)
    assert made is not None
    out, lost = made
    assert out["properties"] == {
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "level": {"type": "integer"},
        "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1e308},
    }
    assert lost == {"minimum", "maximum", "minItems", "maxItems", "enum of non-strings"}
    _strict_json(out)


def test_a_call_with_such_a_schema_sends_gemini_json_and_says_what_was_left_out():
    schema = {"type": "object", "properties": {"n": {"type": "number", "maximum": INF}}, "required": ["n"]}
    for model in ("gemini-1.5-pro", "gemini-2.5-flash"):  # (responseSchema, and responseJsonSchema where it goes)
        body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=schema), model, stream=False)
        text = _strict_json(body)
        assert "Infinity" not in text and "maximum" not in text, (model, text)
        assert any("maximum" in note for note in notes), (model, notes)
