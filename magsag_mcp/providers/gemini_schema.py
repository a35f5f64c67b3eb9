"""Gemini's Schema (an OpenAPI 3.0 subset) from a JSON Schema: the response schema of a JSON answer and the
parameters of a function declaration, with the keywords it has no room for named, to be noted."""

from __future__ import annotations

import math
import sys
from typing import Any, TypeGuard

from ..types import ToolSpec

__all__ = [
    "MAX_WRITTEN",
    "UNSAID",
    "UNSENDABLE",
    "declaration",
    "described",
    "gemini_schema",
    "response_schema",
    "response_schema_parts",
    "said_as_response_schema",
]

# JSON Schema keywords Gemini's Schema object accepts; others (additionalProperties, $schema, ...) are dropped.
_SCHEMA_KEYS = {
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "items",
    "properties",
    "required",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "propertyOrdering",
    "title",
    "default",
}
#: the Schema's counts are int64, which Google's JSON writes as a decimal string
_INT64_KEYS = {"minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength"}


def gemini_schema(schema: Any, *, ordered: bool = False) -> tuple[Any, set[str]]:
    """``schema`` in Gemini's Schema subset, and the JSON Schema keywords that had to be left out.

    The Schema has no ``$ref`` and requires a ``type``: a local reference (``#/$defs/Address``, how pydantic
    writes a nested model) is written in place, a recursive one :data:`RECURSION_DEPTH` levels deep, where the
    property that would repeat it again is left out (named no more in ``required``) and an array of it holds none;
    so is one to no definition (sent as ``{}``, a Schema of no type, they broke the spec). And ``anyOf`` a schema
    or null (how pydantic writes ``Optional[X]``) becomes that schema, ``nullable``. ``oneOf`` (a discriminated
    union) is ``anyOf``, a string ``const`` (its tag) an ``enum`` of one, a list of types an ``anyOf`` of one option per
    type, and an ``anyOf`` is its Schema's one field. An integer's enum and exclusive bounds are said as
    ``minimum`` and ``maximum``. ``ordered`` (a response schema): each
    object's properties in the order the schema gives them (``propertyOrdering``), which Gemini otherwise
    answers in alphabetically, so a "reasoning" field meant to come first came after the "answer"."""
    dropped: set[str] = set()
    definitions = {
        f"#/{table}/{name}": value
        for table in ("$defs", "definitions")
        if isinstance(schema, dict) and isinstance(schema.get(table), dict)
        for name, value in schema[table].items()
    }
    root: tuple[str, ...] = ()
    if isinstance(schema, dict) and "#" not in definitions:
        # "#", the whole schema (a recursive root, as zod-to-json-schema writes a tree's children), is written out as
        # a definition is; the root itself is its first level
        definitions["#"], root = schema, ("#",)
    converted = _convert(schema, dropped, _Refs(definitions, ordered), root)
    if converted is _CUT:  # (nothing of it could be said: as an object of any keys, which is not sent)
        converted = {"type": "OBJECT"}
        dropped.add(_FREE_FORM)
    return converted, dropped


#: how many subschemas a schema is written out into: each $ref is written in place, and references to
#: references multiply (ten levels of two fields: 1,024 copies; twenty: a million, and a request of 100 MB)
MAX_WRITTEN = 5000
_PAST = f"references past {MAX_WRITTEN} written-out subschemas"
#: how many times a recursive reference is written out within itself (a tree's node, its children, theirs) before the
#: property that repeats it is left out: Gemini's Schema has no reference to say "and so on"
RECURSION_DEPTH = 3
#: what a reference left out converts to (see gemini_schema): the property or option holding it is left out. Not sent
#: as a field of type NULL (the Schema's Type has one) nor of any value (the Schema has none: an OBJECT without
#: properties is refused): one the model may only write null in says nothing more than one it leaves out, and where
#: the schema takes no null there (a non-nullable optional node) a null it wrote fails the answer's check, billed
_CUT: Any = object()
_DEEPER = f"recursion past {RECURSION_DEPTH} levels"
#: an OBJECT without properties, and an ARRAY without items, which Gemini refuses (see response_schema); not
#: keywords left out
_FREE_FORM = "an object without properties"
_ANY_ITEMS = "an array without items"


class _Refs:
    __slots__ = ("table", "left", "ordered")

    def __init__(self, table: dict[str, Any], ordered: bool) -> None:
        self.table, self.left, self.ordered = table, MAX_WRITTEN, ordered


def _convert(schema: Any, dropped: set[str], definitions: _Refs, seen: tuple[str, ...]) -> Any:
    if not isinstance(schema, dict):
        return schema
    definitions.left -= 1
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if not isinstance(definitions.table.get(ref), dict):
            dropped.add("$ref")  # (the answer is checked against the full schema)
            return _CUT
        if seen.count(ref) >= RECURSION_DEPTH:
            dropped.add(_DEEPER)
            return _CUT
        if definitions.left < 0:
            dropped.add(_PAST)  # left out as a recursive one is, and the answer checked against the full schema
            return _CUT
        siblings = {k: v for k, v in schema.items() if k != "$ref"}  # a field's description beside the $ref
        return _convert({**definitions.table[ref], **siblings}, dropped, definitions, (*seen, ref))
    if "oneOf" in schema and "anyOf" not in schema:
        # pydantic's discriminated union (and zod's): the Schema has only anyOf, which the answer's check against
        # the full schema makes exclusive again; left out, the union's property was sent as no schema at all
        schema = {("anyOf" if k == "oneOf" else k): v for k, v in schema.items()}
    const = schema.get("const")
    if isinstance(const, str | int) and not isinstance(const, bool) and "enum" not in schema:
        # a Literal["a"] (a tagged union's tag): the Schema says it as an enum of one (an integer's as its range)
        schema = {("enum" if k == "const" else k): ([v] if k == "const" else v) for k, v in schema.items()}
    types = schema.get("type")
    if isinstance(types, list) and len([t for t in types if t != "null"]) > 1 and "anyOf" not in schema:
        schema = _one_type_each(schema, types)
    if (values := _integers(schema.get("enum"))) is not None and _numeric(schema.get("type")):
        schema = _as_range(schema, values, dropped)
    if ("exclusiveMinimum" in schema or "exclusiveMaximum" in schema) and _of_integers(schema.get("type")):
        schema = _inclusive(schema)
    options = schema.get("anyOf")
    if isinstance(options, list) and "type" not in schema:
        others = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        if len(others) == 1 and len(options) == 2 and isinstance(others[0], dict):
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            converted = _convert({**others[0], **rest}, dropped, definitions, seen)
            if converted is _CUT:
                return _CUT
            return _alone({**converted, "nullable": True}) if "anyOf" in converted else {**converted, "nullable": True}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$defs", "definitions"):
            continue  # the definitions themselves: written where they are referred to
        if key not in _SCHEMA_KEYS:
            dropped.add(key)
            continue
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = (types[0] if types else "string").upper()
            if "null" in value:
                out["nullable"] = True
        elif key == "type":
            out["type"] = str(value).upper()
        elif key == "properties" and isinstance(value, dict):
            written = {k: _convert(v, dropped, definitions, seen) for k, v in value.items()}
            out[key] = {k: v for k, v in written.items() if v is not _CUT}
            if written and not out[key]:
                return _CUT  # every property repeats it (a list's node of nothing but its next): cut here instead
            if len(out[key]) < len(written) and isinstance(schema.get("required"), list):
                cut = set(written) - set(out[key])
                out["required"] = [name for name in schema["required"] if name not in cut]
        elif key == "properties" and value == []:
            continue  # PHP's json_encode writes an empty map as []: no properties
        elif key == "items":
            out[key] = _convert(value, dropped, definitions, seen)
        elif key == "anyOf":
            out[key] = [o for o in (_convert(v, dropped, definitions, seen) for v in value) if o is not _CUT]
            if not out[key]:
                return _CUT
        elif key == "required" and "required" in out:
            continue  # (written with the properties, less those left out)
        elif key == "enum" and isinstance(value, list):
            # Schema.enum is a list of strings (for a STRING): null in it is nullable; numbers cannot be said
            named = [v for v in value if v is not None]
            if not all(isinstance(v, str) for v in named):
                dropped.add("enum of non-strings")
                continue
            out[key] = named
            if len(named) < len(value):
                out["nullable"] = True
            if "type" not in schema:
                out["type"] = "STRING"
        elif key in _INT64_KEYS:
            # (the Schema's counts are int64s: Gemini refuses one past that range, or no whole number (NaN, infinity,
            # 2.5), with a 400, after the call was admitted; left out and said, as a bound it cannot say below)
            if (count := sendable_count(value)) is not None:
                out[key] = count
            else:
                dropped.add(key)
        elif key in ("minimum", "maximum") and not sendable_bound(value):
            # the Schema's bounds are doubles: one past a double's range (an integer of 400 digits), an infinite one
            # or NaN is no bound it can say (see sendable_bound), and is left out as another keyword it has no room
            # for (the answer is checked against the full schema)
            dropped.add(key)
        else:
            out[key] = value
    if out.get("items") is _CUT:  # a tree's innermost children: none (a leaf's [] is what the full schema takes)
        if isinstance(schema.get("minItems"), int) and schema["minItems"] > 0:
            return _CUT  # (it cannot be empty: the property holding it is left out instead)
        # (its items need a type: any, as none is had; written after the loop, as a maxItems or minItems after the
        # items in the schema overwrote the empty array's bound, and Gemini was asked for children of strings)
        out.pop("minItems", None)
        out["items"], out["maxItems"] = {"type": "STRING"}, "0"
    properties = out.get("properties")
    if out.get("type") == "OBJECT" and not properties:
        dropped.add(_FREE_FORM)
    elif out.get("type") == "ARRAY" and "items" not in out:
        dropped.add(_ANY_ITEMS)
    if definitions.ordered and isinstance(properties, dict) and len(properties) > 1 and "propertyOrdering" not in out:
        out["propertyOrdering"] = list(properties)
    return _alone(out) if "anyOf" in out and len(out) > 1 else out


def _integers(values: Any) -> list[int] | None:
    named = [v for v in values if v is not None] if isinstance(values, list) else []
    return named if named and all(isinstance(v, int) and not isinstance(v, bool) for v in named) else None


def _as_range(schema: dict[str, Any], values: list[int], dropped: set[str]) -> dict[str, Any]:
    """An enum of integers (``Literal[1, 2, 3]``, an IntEnum), which the Schema's enum of strings cannot say, as the
    range of them: exactly it when they run without a gap (a rating of 1 to 5), said to be only narrowed when not."""
    out = {k: v for k, v in schema.items() if k != "enum"}
    low, high = min(values), max(values)
    out["minimum"] = max(low, out["minimum"]) if _bound(out.get("minimum")) else low
    out["maximum"] = min(high, out["maximum"]) if _bound(out.get("maximum")) else high
    if "type" not in out:
        out["type"] = ["integer", "null"] if None in schema["enum"] else "integer"
    elif None in schema["enum"] and isinstance(out["type"], str):
        out["type"] = [out["type"], "null"]
    # (counted, not listed: an enum of 1 and 10**30 would have listed every integer between)
    if len(set(values)) != high - low + 1 or not _of_integers(out["type"]):
        dropped.add("enum of non-strings")  # (a number's range holds more than its enum)
    return out


def _numeric(types: Any) -> bool:
    named = types if isinstance(types, list) else [types]
    return all(t in (None, "integer", "number", "null") for t in named)


def _of_integers(types: Any) -> bool:
    return types == "integer" or (isinstance(types, list) and [t for t in types if t != "null"] == ["integer"])


def _bound(value: Any) -> TypeGuard[float]:
    # an int is finite at any size (math.isfinite(10**400) raised OverflowError: it converts to a float first)
    if isinstance(value, int):
        return not isinstance(value, bool)
    return isinstance(value, float) and math.isfinite(value)


def sendable_bound(value: Any) -> bool:
    """Whether ``value`` is a bound (minimum, maximum) Gemini can be sent: a finite number in a double's range. An
    infinite one bounds nothing and NaN is met by nothing: JSON has no number for either (Python's json wrote
    ``Infinity``, no JSON), and Gemini's doubles none for one past their range (10**400)."""
    return _bound(value) and _a_double(value)


def sendable_count(value: Any) -> str | None:
    """A count (minItems, maxLength, ...) as Gemini's int64 fields take it (its digits), or None for one they cannot:
    no whole number (NaN, infinity, 2.5, a text, a boolean) or one past an int64's range. A float of a whole number
    (2.0, as a JSON writer of floats writes a count) is the count it is."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not _INT64_LOW <= value <= _INT64_HIGH:
        return None
    return str(value)


def _a_double(value: float) -> bool:
    """Whether ``value`` (an int of any size, or a finite float) is in a double's range, as the Schema's bounds are."""
    return isinstance(value, float) or abs(value) <= _DOUBLE_AT_MOST


#: the largest integer a double holds (sys.float_info.max, exactly)
_DOUBLE_AT_MOST = int(sys.float_info.max)

#: the range of the Schema's counts (minItems, maxLength, ...): int64s, written as strings
_INT64_LOW, _INT64_HIGH = -(2**63), 2**63 - 1


def _inclusive(schema: dict[str, Any]) -> dict[str, Any]:
    """An integer's exclusive bounds, which the Schema has no room for, as the inclusive ones they are (pydantic's
    ``PositiveInt``, ``Field(gt=0)``: exclusiveMinimum 0 is minimum 1), in JSON Schema's numbers or draft 4's
    booleans beside minimum and maximum; left out, the bound was unenforced, and said to be on every call."""
    out = dict(schema)
    for exclusive, inclusive, step, pick in (
        ("exclusiveMinimum", "minimum", 1, max),
        ("exclusiveMaximum", "maximum", -1, min),
    ):
        value = out.get(exclusive)
        if value is False:  # (draft 4: the inclusive bound beside it is the bound)
            del out[exclusive]
        if value is True and _bound(out.get(inclusive)):
            value = out.pop(inclusive)
        if not _bound(value):
            continue
        edge = (math.floor(value) + 1) if step > 0 else (math.ceil(value) - 1)
        out[inclusive] = pick(edge, out[inclusive]) if _bound(out.get(inclusive)) else edge
        del out[exclusive]
    return out


#: the keywords that constrain a value of one type only
_OF_TYPE = {
    "array": frozenset({"items", "prefixItems", "minItems", "maxItems", "uniqueItems"}),
    "object": frozenset({"properties", "required", "minProperties", "maxProperties", "additionalProperties"}),
    "string": frozenset({"enum", "pattern", "minLength", "maxLength"}),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
}
_OF_TYPE["integer"] = _OF_TYPE["number"]
_OF_SOME_TYPE = frozenset().union(*_OF_TYPE.values())


def _one_type_each(schema: dict[str, Any], types: list[Any]) -> dict[str, Any]:
    """A schema of several types (``"type": ["string", "array"]``, as MCP tools write one) as an anyOf of one option
    per type, each with the keywords that constrain its type: the Schema's type is one, and sent as the first of
    them the value was narrowed to it, with the others' keywords beside it (an ARRAY's items on a STRING, which
    Gemini refuses: 400 "...items: field predicate failed: $type == Type.ARRAY")."""
    shared = {k: v for k, v in schema.items() if k != "type" and k not in _OF_SOME_TYPE}
    options = [
        {"type": t, **{k: v for k, v in schema.items() if k in _OF_TYPE.get(t, ())}} for t in types if t != "null"
    ]
    return {**shared, "anyOf": options + ([{"type": "null"}] if "null" in types else [])}


#: what a Schema beside its anyOf only says of it: left out, not pushed into the options
_ABOUT_THE_UNION = frozenset({"anyOf", "nullable", "title", "default"})


def _alone(out: dict[str, Any]) -> dict[str, Any]:
    """A Schema with ``anyOf`` as its one field, as Gemini takes it (400 "...one or more response schemas specified
    other fields alongside any_of. When using any_of, it must be the only field set"; pydantic gives every union
    property a title, Optional[X | Y] a default too): nullable becomes a NULL option, a title and a default are left
    out, and what else was beside it (a description, a constraint) goes into each option that does not say it."""
    options = [dict(o) if isinstance(o, dict) else o for o in out["anyOf"]]
    is_null = [isinstance(o, dict) and o.get("type") == "NULL" for o in options]
    if out.get("nullable") and not any(is_null):
        options.append({"type": "NULL"})
        is_null.append(True)
    for key, value in out.items():
        if key not in _ABOUT_THE_UNION:
            for option, null in zip(options, is_null, strict=True):
                if isinstance(option, dict) and not null:
                    option.setdefault(key, value)
    return {"anyOf": options}


def response_schema(schema: dict[str, Any], notes: list[str], description: str | None = None) -> dict[str, Any]:
    """generationConfig's ``responseSchema`` for ``schema``, noting what it left out. None for a schema with an
    object of any keys in it (no properties: pydantic's ``dict[str, X]``) or an array of any items (no items: an MCP
    tool's ``{"type": "array"}``, a tuple's prefixItems), which Gemini's Schema cannot say and refuses (400
    "...properties: should be non-empty for OBJECT type", "...items: missing field.", which stopped the cascade):
    the answer is asked for as JSON, the schema given in the prompt (the caller's part), and checked against the full
    schema, as every answer is."""
    converted, dropped = response_schema_parts(schema)
    return said_as_response_schema(converted, dropped, notes, description)


#: what leaving out loses nothing of: annotations, and (a union's discriminator) what the options' tags say already
UNSAID = frozenset({"$schema", "title", "description", "examples", "discriminator"})
#: what :func:`response_schema_parts` names when the Schema cannot be sent at all
UNSENDABLE = frozenset({_FREE_FORM, _ANY_ITEMS})


def response_schema_parts(schema: dict[str, Any]) -> tuple[Any, set[str]]:
    """``schema`` as a response's Schema, and the keywords that carry a constraint it left out."""
    converted, dropped = gemini_schema(schema, ordered=True)
    return converted, dropped - UNSAID


def said_as_response_schema(
    converted: Any, dropped: set[str], notes: list[str], description: str | None
) -> dict[str, Any]:
    """generationConfig's fields for :func:`response_schema_parts`' answer (see :func:`response_schema`)."""
    if _FREE_FORM in dropped or _ANY_ITEMS in dropped:
        if converted.get("properties") or converted.get("type") != "OBJECT":  # more than "an object" was lost
            what = (
                "an object of any keys (one without properties)"
                if _FREE_FORM in dropped
                else "an array of any items (one without items)"
            )
            notes.append(
                f"Gemini's response schema cannot say {what}, so none was sent: the model was given the schema in "
                "its instructions, and its answer was checked against the full schema"
            )
        return {}
    if dropped:
        notes.append(
            f"Gemini's response schema has no {', '.join(sorted(dropped))}; they were left out of the "
            "request and the answer was checked against the full schema"
        )
    if description and "description" not in converted:  # what the answer is for, where its schema says nothing
        converted["description"] = description
        if "anyOf" in converted:  # (said in each option of a union: an anyOf is the one field of its Schema)
            converted = _alone(converted)
    elif description:
        converted["description"] = described(description, converted["description"])
    return {"responseSchema": converted}


def described(description: str, own: Any) -> Any:
    """A schema's own ``description`` with what the answer is for (``response_format.json_schema.description``)
    before it, where Gemini has no other place for it: OpenAI's model reads both, and Gemini's was given only the
    schema's, the call's left out unsaid."""
    if not isinstance(own, str) or description in own:
        return own
    return f"{description}\n\n{own}" if own else description


def declaration(tool: ToolSpec) -> dict[str, Any]:
    """A FunctionDeclaration. A tool without arguments declares no parameters: Gemini refuses an OBJECT
    without properties (400 "parameters.properties: should be non-empty for OBJECT type")."""
    declaration: dict[str, Any] = {"name": tool.name, "description": tool.description}
    parameters = gemini_schema(tool.parameters)[0]
    if not (isinstance(parameters, dict) and parameters.get("type") == "OBJECT" and not parameters.get("properties")):
        declaration["parameters"] = parameters
    return declaration
