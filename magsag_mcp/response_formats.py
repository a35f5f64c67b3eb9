"""What a response_format of no type taken says: the types (OpenAI's ``response_format.type``, which every provider
reads) with what each asks for, the type a caller's other word or misspelling was written for (``json`` is
json_object), and what a json_schema type with no schema should have been. Worked out only when an error is raised,
as the rest of :mod:`.suggest`'s did-you-means are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .suggest import _unbounded, nearest

#: the response_format types (OpenAI's ``response_format.type``, which every provider reads), with what each asks for
RESPONSE_FORMAT_TYPES = {
    "json_object": "is JSON mode (any JSON object)",
    "json_schema": 'an answer that fits a schema (given as "json_schema": {"name": ..., "schema": {...}})',
    "text": "plain text",
}
#: what a caller writes for a response_format type in another word, none near the type's own name in spelling:
#: ``json`` (a natural guess, as Ollama's ``format: "json"`` and Gemini's ``application/json`` say it)
_FORMAT_WORDS = {
    "json": "json_object",
    "json_mode": "json_object",
    "object": "json_object",
    "application/json": "json_object",
    "schema": "json_schema",
    "structured": "json_schema",
    "structured_output": "json_schema",
    "structured_outputs": "json_schema",
    "plain": "text",
    "plain_text": "text",
    "string": "text",
    "text/plain": "text",
}


def response_format_meant(value: object, with_schema: bool = False) -> str | None:
    """The ``response_format.type`` that ``value``, an unknown one, was written for, or None. ``with_schema``: the
    response_format gives a ``json_schema`` too, so a bare ``json`` means an answer that fits it."""
    if not isinstance(value, str) or _unbounded(value):
        return None
    key = value.strip().casefold().replace("-", "_").replace(" ", "_")
    meant = key if key in RESPONSE_FORMAT_TYPES else _FORMAT_WORDS.get(key) or nearest(key, RESPONSE_FORMAT_TYPES, 0.7)
    if meant == "json_object" and with_schema:
        return "json_schema"
    return meant


def response_format_hint(value: object, with_schema: bool = False) -> str:
    """``did you mean 'json_object'? 'json_object' is JSON mode (...), ...`` for a type :func:`response_format_meant`
    finds, else the types alone: each with what it asks for (a caller told one name may want the other JSON type)."""
    meant = response_format_meant(value, with_schema)
    types = ", ".join(f"{name!r} {said}" for name, said in RESPONSE_FORMAT_TYPES.items())
    return f"did you mean {meant!r}? {types}" if meant else types


def response_format_problem(rf: Any, where: str) -> str:
    """A response_format of no type taken: the type it was written for (``{"type": "json"}`` means json_object, or
    json_schema beside a json_schema), and what each type asks for. The value itself is not quoted."""
    if not isinstance(rf, Mapping):
        bare = rf if isinstance(rf, str) and rf in RESPONSE_FORMAT_TYPES else response_format_meant(rf)
        example = bare or "json_object"
        return f"{where}.response_format must be an object, {{'type': {example!r}}}, got {type(rf).__name__}" + (
            "" if bare else f"; its type is one of {', '.join(map(repr, RESPONSE_FORMAT_TYPES))}"
        )
    kind = rf.get("type")
    hint = response_format_hint(kind, with_schema=rf.get("json_schema") is not None)
    if kind is None:
        return f"{where}.response_format needs a type: {hint}"
    return f"{where}.response_format.type must be 'text', 'json_object' or 'json_schema': {hint}"


def no_schema_given(where: str, wrapper_given: bool) -> str:
    """A response_format of type json_schema with neither the schema the answer must fit nor a name (OpenAI's API
    requires its ``json_schema``, and in it the ``name``; a name alone asks for any JSON object): what to write."""
    place = f"{where}.response_format.json_schema"
    said = f"{place} has neither 'schema' nor 'name'" if wrapper_given else f"{place} is missing"
    return (
        f"{said}: type 'json_schema' needs the schema the answer must fit, "
        '{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}; for any JSON object, write '
        '{"type": "json_object"}, or a name alone, {"type": "json_schema", "json_schema": {"name": ...}}'
    )
