"""Rewriting pydantic's JSON Schemas for MCP clients: the same meaning in fewer characters and steps.

Every tool schema is sent to the client's model (it costs context), and the python SDK's client checks
every structured result against its output schema with jsonschema, where an ``anyOf`` or a ``$ref``
costs far more than a type list or an inline schema. Nothing here knows about our tools.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any


def compact_schema(schema: Any, *, optional_not_null: bool) -> Any:
    """Pydantic's JSON Schema without what only costs the client's context.

    Drops every generated ``title``; for arguments (``optional_not_null``) also turns
    ``anyOf: [X, {type: null}], default: null`` into ``X``: an optional argument is one you leave
    out, and the schema need not say that null means the same. For results, a nullable field's
    ``anyOf: [{type: T}, {type: null}]`` becomes ``{type: [T, null]}``. In both, a ``$defs`` entry
    used once is written where it is used. Each says the same in fewer characters and fewer steps for
    a validator: the python SDK's client checks every tool result against its output schema with
    jsonschema, where an ``anyOf`` or a ``$ref`` costs far more than a type list or an inline schema.
    An integer's exclusive bound becomes the inclusive one it means (``exclusiveMinimum: 0`` is
    ``minimum: 1``): clients hand the arguments' schema to their model's vendor, and Gemini's function
    declarations (``parameters``, an OpenAPI subset) know ``minimum`` and ``maximum`` but refuse the
    request, every tool in it lost, at an ``exclusiveMinimum`` (Google's own SDK passes it through).
    Anything these rewrites could change the meaning of (keywords beside the ``anyOf`` or ``$ref``
    that the other side also sets, identifiers and anchors, refs into a definition) is left as it is.
    """
    return _inline_single_use(_compact(schema, optional_not_null))


def _compact(schema: Any, optional_not_null: bool) -> Any:
    if isinstance(schema, list):
        return [_compact(item, optional_not_null) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v if k in _DATA else _compact(v, optional_not_null) for k, v in schema.items()}
    if isinstance(out.get("title"), str):
        del out["title"]
    if out.get("type") == "integer":
        _inclusive_integer_bounds(out)
    variants = out.get("anyOf")
    if not (isinstance(variants, list) and {"type": "null"} in variants):
        return out
    rest = [v for v in variants if v != {"type": "null"}]
    only = rest[0] if len(rest) == 1 else None
    beside = out.keys() - {"anyOf"}
    if optional_not_null:
        if "default" in out and out["default"] is None:
            del out["default"]
        del out["anyOf"]
        if isinstance(only, dict) and not beside & only.keys():
            return {**only, **out}
        out["anyOf"] = rest
        return out
    # enum, const and the combinators apply to null too, so only a plain typed schema takes null this
    # way; and a keyword beside the anyOf applies to every value, so it must not meet the branch's own.
    if (
        isinstance(only, dict)
        and isinstance(only.get("type"), str)
        and not _APPLIES_TO_NULL & only.keys()
        and not beside & only.keys()
        and "type" not in beside
    ):
        del out["anyOf"]
        return {**only, **out, "type": [only["type"], "null"]}
    return out


def _inclusive_integer_bounds(schema: dict[str, Any]) -> None:
    """An integer schema's ``exclusiveMinimum``/``exclusiveMaximum`` as the ``minimum``/``maximum`` it
    means: an integer above 0 is one of 1 or more (above 0.5 too), one below 10 is one of 9 or less."""
    for exclusive, inclusive, nearest, tighter in (
        ("exclusiveMinimum", "minimum", lambda bound: math.floor(bound) + 1, max),
        ("exclusiveMaximum", "maximum", lambda bound: math.ceil(bound) - 1, min),
    ):
        bound = schema.get(exclusive)
        if not isinstance(bound, (int, float)) or isinstance(bound, bool) or not math.isfinite(bound):
            continue
        other = schema.get(inclusive)
        if other is not None and (not isinstance(other, (int, float)) or isinstance(other, bool)):
            continue  # not a number: the schema's own problem, left for its validator to name
        del schema[exclusive]
        schema[inclusive] = nearest(bound) if other is None else tighter(other, nearest(bound))


#: keywords whose values are instances, not schemas: a "title" there is data
_DATA = frozenset({"default", "const", "enum", "examples"})
_APPLIES_TO_NULL = frozenset({"enum", "const", "anyOf", "oneOf", "allOf", "not", "$ref", "$dynamicRef", "if"})
_DEF = "#/$defs/"
#: keywords that give a schema a name or a base, under which moving it elsewhere changes what refs find
_PLACE_BOUND = ('"$id"', '"$anchor"', '"$dynamicAnchor"', '"$dynamicRef"')


def _inline_single_use(schema: Any) -> Any:
    """``schema`` with each ``$defs`` entry that one ``$ref`` uses written in that ``$ref``'s place;
    entries used more than once, or recursively, stay under ``$defs``."""
    defs = schema.get("$defs") if isinstance(schema, dict) else None
    if not isinstance(defs, dict):
        return schema
    text = json.dumps(schema)
    refs = re.findall(r'"\$ref": "#/\$defs/([^"]*)"', text)
    if (
        any(name not in defs for name in refs)  # into a definition ("#/$defs/A/properties/x") or escaped
        or any(word in text for word in _PLACE_BOUND)
        or text.count('"$defs"') > 1
    ):
        return schema
    # every mention counts, not only $refs: a discriminator's mapping names definitions too
    uses = {name: text.count(json.dumps(_DEF + name)) for name in defs}
    kept: set[str] = set()

    def walk(node: Any, inlining: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, inlining) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEF):
            name = ref[len(_DEF) :]
            beside = node.keys() - {"$ref", "$defs"}
            if uses[name] == 1 and name not in inlining and not beside & defs[name].keys():
                siblings = {k: walk(node[k], inlining) for k in beside}
                return {**walk(defs[name], inlining | {name}), **siblings}
            kept.add(name)
        return {k: walk(v, inlining) for k, v in node.items() if k != "$defs"}

    out = walk(schema, frozenset())
    remaining: dict[str, Any] = {}
    while kept - remaining.keys():
        name = min(kept - remaining.keys())
        remaining[name] = walk(defs[name], frozenset({name}))
    if remaining:
        out["$defs"] = {name: remaining[name] for name in defs if name in remaining}
    return out
