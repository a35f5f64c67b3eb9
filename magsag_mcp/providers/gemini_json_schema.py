"""Gemini's ``responseJsonSchema``: a JSON answer's schema as JSON Schema, for the models that take it, where the
OpenAPI subset of ``responseSchema`` (:mod:`.gemini_schema`) cannot say all of it.

generationConfig takes one of two (gemini.json, GenerationConfig): ``responseSchema``, a Schema object (OpenAPI 3.0's
subset: no ``$ref``, no ``additionalProperties``, no ``prefixItems``, an enum of strings only, an OBJECT with
properties and an ARRAY with items), or ``responseJsonSchema``, JSON Schema of which Gemini supports ``$id``,
``$defs``, ``$ref``, ``$anchor``, ``type``, ``format``, ``title``, ``description``, ``enum`` (of strings and numbers),
``items``, ``prefixItems``, ``minItems``, ``maxItems``, ``minimum``, ``maximum``, ``anyOf``, ``oneOf``,
``properties``, ``additionalProperties``, ``required`` and ``propertyOrdering``; a ``$ref`` may have no other keyword
beside it but ``$``-prefixed ones, and a cycle of references may be used only within properties that are not
required. Google added it to every Gemini model it supported in November 2025: the 2.5 models and later.

A schema ``responseSchema`` says whole goes as it always went, but beside function declarations (Gemini 3 and later):
Google's Gemini 3 guide documents structured output with tools in ``responseJsonSchema`` alone. One it loses part of
(pydantic's ``dict[str, X]``, an object of any keys that it cannot send at all; ``additionalProperties: false``, which
every OpenAI strict schema has; an enum of numbers; a tuple's ``prefixItems``) goes as ``responseJsonSchema`` to a model
that takes it, when that loses less: what Gemini then enforces is more of the schema. A schema with a cycle of
references keeps to ``responseSchema`` (which writes it out once): Gemini refuses a cycle through a required property.
Every answer is checked against the full schema either way.
"""

from __future__ import annotations

import re
from typing import Any

from ..rates import bare_model
from ..types import ToolSpec
from .gemini_schema import (
    UNSAID,
    UNSENDABLE,
    _inclusive,
    _of_integers,
    declaration,
    described,
    gemini_schema,
    response_schema_parts,
    said_as_response_schema,
    sendable_bound,
    sendable_count,
)

__all__ = ["function_declaration", "json_schema", "output_schema", "takes_json_beside_tools", "takes_json_schema"]

#: JSON Schema keywords responseJsonSchema supports (gemini.json, GenerationConfig.responseJsonSchema)
_KEPT = frozenset(
    {
        "$id", "$anchor", "type", "format", "title", "description", "minItems", "maxItems", "minimum", "maximum",
        "required", "propertyOrdering",
    }
)  # fmt: skip
#: keywords that constrain nothing: left out without a word
_ANNOTATIONS = frozenset(
    {"$schema", "$comment", "default", "examples", "readOnly", "writeOnly", "deprecated", "discriminator"}
)
#: Gemini's models by version: 2.5 and later take JSON Schema; the aliases that name a current model do too
_VERSION = re.compile(r"gemini-(\d+)(?:\.(\d+))?")
_ALIASES = frozenset({"gemini-flash-latest", "gemini-flash-lite-latest", "gemini-pro-latest"})


def output_schema(
    schema: dict[str, Any], notes: list[str], description: str | None, model: str, *, beside_tools: bool = False
) -> tuple[dict[str, Any], bool]:
    """generationConfig's fields for a JSON answer of ``schema`` on ``model``: ``responseSchema`` when it says the
    whole schema (or the model takes no JSON Schema); else ``responseJsonSchema`` when it loses less (a subset of
    what the Schema loses, or anything at all where the Schema cannot be sent: a pattern or a maxLength beside a
    ``dict[str, X]`` field left the model with no schema but its prompt); else what ``responseSchema`` can do
    (:func:`~.gemini_schema.response_schema`). What is left out is noted. And whether the model is also to be given
    the schema in its instructions: where the Schema cannot be sent at all (see response_schema), as before the
    model took JSON Schema; the prompt reads the same whichever field enforces the schema.

    ``beside_tools``: the call declares functions too (to Gemini 3 and later, which take both): the schema goes as
    ``responseJsonSchema`` wherever that can say it, as Google's Gemini 3 guide ("Structured Outputs with tools")
    documents the two together; its OpenAPI Schema is documented beside no tool."""
    converted, dropped = response_schema_parts(schema)
    instruct = bool(dropped & UNSENDABLE)
    if (dropped or beside_tools) and takes_json_schema(model) and (said := json_schema(schema)) is not None:
        written, lost = said[0], said[1] - UNSAID
        # (where the Schema is not sent, any schema is more)
        if beside_tools or lost < dropped or bool(dropped & UNSENDABLE):
            if lost:
                notes.append(
                    f"Gemini's JSON Schema support has no {', '.join(sorted(lost))}; they were left out of the "
                    "request and the answer was checked against the full schema"
                )
            if description and "$ref" not in written:
                # what the answer is for, before what its schema says of it
                written["description"] = described(description, written.get("description", ""))
            return {"responseJsonSchema": written}, instruct
    return said_as_response_schema(converted, dropped, notes, description), instruct


def function_declaration(tool: ToolSpec, model: str) -> dict[str, Any]:
    """A FunctionDeclaration of ``tool`` for ``model``: its parameters as a Schema
    (:func:`~.gemini_schema.declaration`); or, where one of them is an object of any keys or an array of anything
    (an MCP tool's ``{"type": "object"}`` metadata, its ``{"type": "array"}`` ids), which the Schema cannot say and
    Gemini refuses (400 "...properties: should be non-empty for OBJECT type", "...items: missing field"), as
    ``parametersJsonSchema`` (JSON Schema, "mutually exclusive with parameters") to a model that takes it: the tool
    is offered as written, where the call otherwise moved on from Gemini. A model before 2.5, or a schema with a
    cycle of references, keeps to the Schema (and its 400, which moves the call on)."""
    parameters, dropped = gemini_schema(tool.parameters)
    named = isinstance(parameters, dict) and bool(parameters.get("properties"))  # (none: a tool of no arguments)
    if named and dropped & UNSENDABLE and takes_json_schema(model) and (said := json_schema(tool.parameters)):
        return {"name": tool.name, "description": tool.description, "parametersJsonSchema": said[0]}
    return declaration(tool)


def takes_json_schema(model: str) -> bool:
    """Whether ``model`` takes ``responseJsonSchema``: Gemini 2.5 and later (an unknown name, a Gemma, a Gemini
    before 2.5: no, and keeps to ``responseSchema``)."""
    name = bare_model("google", model)
    found = _VERSION.match(name)
    if found is not None:
        return (int(found[1]), int(found[2] or 0)) >= (2, 5)
    return name in _ALIASES


def takes_json_beside_tools(model: str) -> bool:
    """Whether ``model`` takes a JSON response type (and its schema) beside function declarations: Gemini 3 and later
    ("Structured Outputs with tools", Google's Gemini 3 guide). The 2.x models refuse it (400 "Function calling with a
    response mime type: 'application/json' is unsupported"), and so may an alias (which model it names is not known
    here): theirs is told the schema in its instructions instead."""
    found = _VERSION.match(bare_model("google", model))
    return found is not None and int(found[1]) >= 3


def json_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]] | None:
    """``schema`` as Gemini's responseJsonSchema takes it, and the keywords left out (named as
    :func:`~.gemini_schema.gemini_schema` names them); None for a schema with a cycle of references, or a reference
    to anything but one of its definitions."""
    definitions = dict(schema.get("$defs") or {}) if isinstance(schema.get("$defs"), dict) else {}
    if isinstance(schema.get("definitions"), dict):  # draft 7's name: the same definitions, referred to as $defs
        definitions = {**schema["definitions"], **definitions}
    if _cyclic(definitions, schema):
        return None
    lost: set[str] = set()
    out = _convert({k: v for k, v in schema.items() if k not in ("$defs", "definitions")}, lost)
    if definitions:
        out["$defs"] = {name: _convert(value, lost) for name, value in definitions.items()}
    return out, lost


def _ref(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("#/definitions/"):
        return "#/$defs/" + value[len("#/definitions/") :]
    return value


#: the references written out here: to a definition, by name
_DEFINITION = re.compile(r"#/\$defs/([^/]+)\Z")


def _cyclic(definitions: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether a definition refers back to itself, through any others; or a reference is not to a definition (``#``,
    the whole schema, is a cycle too; another JSON pointer may not be one Gemini follows): either keeps to
    responseSchema, which writes out what it can and says what it left out."""
    found = [_DEFINITION.match(r) for r in _refs(schema)]
    if not all(m is not None and m[1] in definitions for m in found):  # (one escaped, '~1' or '%20', is not read)
        return True
    edges = {name: {m[1] for m in map(_DEFINITION.match, _refs(value)) if m} for name, value in definitions.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> bool:
        if name in path:
            return True
        if name in done or name not in edges:
            return False
        done.add(name)
        return any(visit(n, (*path, name)) for n in edges[name])

    return any(visit(name, ()) for name in edges)


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [_ref(value["$ref"])] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _convert(schema: Any, lost: set[str]) -> Any:
    if not isinstance(schema, dict):
        return schema
    if isinstance(schema.get("$ref"), str):
        # "If $ref is set on a sub-schema, no other properties, except for than those starting as a $, may be set"
        beside = {k for k in schema if not k.startswith("$")} - _ANNOTATIONS - {"title", "description"}
        lost.update(beside)
        return {k: (_ref(v) if k == "$ref" else v) for k, v in schema.items() if k.startswith("$")}
    if "exclusiveMinimum" in schema or "exclusiveMaximum" in schema:
        if _of_integers(schema.get("type")):
            schema = _inclusive(schema)  # (an integer's exclusive bound is the inclusive one next to it)
    out: dict[str, Any] = {}
    nullable = schema.get("nullable") is True  # (OpenAPI's word, in a schema written for it)
    for key, value in schema.items():
        if key in ("minimum", "maximum") and not sendable_bound(value):
            lost.add(key)  # (infinite, NaN or past a double's range: no number JSON or Gemini's Value can carry)
        elif key in ("minItems", "maxItems"):
            count = sendable_count(value)
            if count is None:
                lost.add(key)  # (no whole number, or past an int64's range)
            else:
                out[key] = int(count)  # (a JSON number here: 2.0 as the count 2)
        elif key in _KEPT:
            out[key] = value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(sub, lost) for name, sub in value.items()}
        elif key == "properties" and value == []:
            continue  # PHP's json_encode writes an empty map as []: no properties
        elif key in ("anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            out[key] = [_convert(sub, lost) for sub in value]
        elif key == "items" and isinstance(value, list):  # draft 4's tuple is 2020-12's prefixItems
            out["prefixItems"] = [_convert(sub, lost) for sub in value]
        elif key in ("items", "additionalProperties"):
            out[key] = _convert(value, lost)
        elif key in ("enum", "const") and "enum" not in out:
            nullable = _enum(schema["enum"] if "enum" in schema else [value], out, lost) or nullable
        elif key not in _ANNOTATIONS and key not in ("enum", "const", "nullable"):
            lost.add(key)
    if nullable and "enum" in out:  # (an enum holds the values allowed: null beside it, as an option of its own)
        return {"anyOf": [out, {"type": "null"}]}
    if nullable and _only_null(schema):  # (pydantic's Literal[None]: not an enum of no values, but null)
        out["type"] = "null"
        return out
    if nullable and "type" in out:
        out["type"] = _with_null(out["type"])
    return out


def _enum(values: Any, out: dict[str, Any], lost: set[str]) -> bool:
    """An enum (or a const, an enum of one) of strings and numbers, as responseJsonSchema supports it, into ``out``;
    True when a null was among them (the type's "null"). Any other value (a boolean, an object) cannot be said, and
    the enum is left out."""
    if not isinstance(values, list):
        return False
    named = [v for v in values if v is not None]
    if not all(isinstance(v, str) or sendable_bound(v) for v in named):  # (a number JSON and a double can carry)
        lost.add("enum of non-strings")
        return False
    if named:
        out["enum"] = named
    return len(named) < len(values)


def _only_null(schema: dict[str, Any]) -> bool:
    """Whether ``schema``'s enum (or const) allows null alone."""
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    return isinstance(values, list) and bool(values) and all(v is None for v in values)


def _with_null(types: Any) -> Any:
    named = types if isinstance(types, list) else [types]
    return named if "null" in named else [*named, "null"]
