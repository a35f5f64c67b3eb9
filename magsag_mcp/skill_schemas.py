"""The JSON Schemas a skill (or a call) gives: checked once for their content, as draft 2020-12, before any model
is paid to answer against them, and compiled with no reference fetched from elsewhere. Used by :mod:`skills`, the
catalog and a call's own ``response_format``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .suggest import misspelt_keyword

__all__ = ["checked_schema", "compile_validator", "schema_problem"]

_JSON_TYPES = "array, boolean, integer, null, number, object, string"


#: schema_problem's answers by the schema's content: a call's own ``response_format`` schema arrives
#: as a new dict on every call, and checking it against the metaschema takes milliseconds
_PROBLEMS: dict[str, str | None] = {}


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` cannot be used to validate (as draft 2020-12, the draft the validators use), or None."""
    try:
        key = json.dumps(schema, sort_keys=True, default=str)
    except TypeError:  # keys of mixed types (YAML allows them): not cached; the check names the problem
        return _schema_problem(schema)
    if key in _PROBLEMS:
        return _PROBLEMS[key]
    if len(_PROBLEMS) > 256:  # per-call schemas: keep the cache bounded
        _PROBLEMS.clear()
    problem = _PROBLEMS[key] = _schema_problem(schema)
    return problem


def _schema_problem(schema: Mapping[str, Any]) -> str | None:
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = list(exc.absolute_path)
        where = ".".join(str(p) for p in path) or "the top level"
        hint = ""
        if path and path[-1] == "type" and exc.validator == "anyOf":
            hint = f"; 'type' takes one of {_JSON_TYPES}, or a list of them"
        return f"not a valid JSON Schema (draft 2020-12): at {where}: {exc.message[:200]}{hint}"
    unresolved = _unresolvable_ref(schema)
    if unresolved is not None:
        keyword, ref, found = unresolved
        if found:
            return (
                f"{keyword} {ref!r} points at a value that is not a schema (an object, true or false); point it at one"
            )
        if ref.startswith("#"):
            return (
                f"{keyword} {ref!r} points at nothing in the schema; define what it names (e.g. under $defs) "
                f"or correct the {keyword}"
            )
        return (
            f"{keyword} {ref!r} is not in the schema, and schemas are never fetched from elsewhere; copy what "
            f"it names under $defs and point the {keyword} at '#/$defs/<name>'"
        )
    from .schema_patterns import pattern_problem

    return pattern_problem(schema)


def compile_validator(schema: Mapping[str, Any]) -> Any:
    """``schema`` compiled as draft 2020-12, following only the refs inside it and the metaschemas, its
    patterns matched by RE2 (see :mod:`.schema_patterns`).

    jsonschema's default registry fetches any other ``$ref`` over the network (with a deprecation
    warning) when validation reaches it: a call would then reach an address the user never
    configured, after the model was paid. :func:`schema_problem` refuses such a schema up front."""
    from referencing import Registry

    from .schema_patterns import linear_validator_class

    # its patterns matched by RE2, in linear time (schema_patterns.py): the answer checked is one a caller can steer
    return linear_validator_class()(schema, registry=Registry())


def _unresolvable_ref(schema: Mapping[str, Any]) -> tuple[str, str, bool] | None:
    """The first ``$ref`` or ``$dynamicRef`` (keyword, value, whether it found anything) that the
    schema's validator could not use: one that points at nothing in the schema, or anywhere outside
    it but the JSON Schema metaschemas, or at a value that is no schema. check_schema does not look:
    such a schema only fails when validation reaches the reference, after a model was paid to answer.
    What a reference resolves to is checked too, since validation follows it: a ``$ref`` may point
    into a place no keyword makes a schema (an ``x-`` keyword, a ``default``)."""
    from jsonschema_specifications import REGISTRY as METASCHEMAS
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    followed: set[int] = set()

    def walk(resource: Any, resolver: Any) -> tuple[str, str, bool] | None:
        contents = resource.contents if isinstance(resource.contents, Mapping) else {}
        for keyword in ("$ref", "$dynamicRef"):
            ref = contents.get(keyword)
            if not isinstance(ref, str):
                continue
            try:
                resolved = resolver.lookup(ref)
            except Exception:  # Unresolvable, or a pointer that is not one ("#/prefixItems/-")
                return keyword, ref, False
            if not isinstance(resolved.contents, Mapping | bool):  # "#/x-note" naming a string
                return keyword, ref, True
            if id(resolved.contents) not in followed:
                followed.add(id(resolved.contents))
                target = Resource.from_contents(resolved.contents, default_specification=DRAFT202012)
                found = walk(target, resolved.resolver)
                if found is not None:
                    return found
        # subresources() knows which keywords hold schemas: a "$ref" inside an enum or const is data.
        for sub in resource.subresources():
            found = walk(sub, resolver.in_subresource(sub))
            if found is not None:
                return found
        return None

    root = DRAFT202012.create_resource(dict(schema))
    return walk(root, METASCHEMAS.resolver_with_root(root))


def checked_schema(value: dict[str, Any] | None, why: str) -> dict[str, Any] | None:
    """``value`` if it is a usable schema (or None); else a ValueError naming the problem and ``why``
    the schema matters."""
    if value is not None:
        problem = schema_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; {why}")
        misspelt = misspelt_keyword(value)
        if misspelt is not None:  # valid, but the check it was meant to make is not made
            raise ValueError(f"{misspelt}, and a schema's check skips a key it does not know; correct it: {why}")
    return value
