"""A shortcut past jsonschema for the payload schemas skills declare most, checked on every call.

Most skills take an object with a few required fields, each either free (described only) or a string
with a length bound: ``{type: object, required: [text], properties: {text: {type: string, minLength: 1}}}``.
jsonschema validates such a payload in about 500 bytecodes of its own (a validator evolved per keyword
and per property); the same answer takes a dozen here. :func:`quick_check` builds that shortcut for a
schema of exactly this shape and no other. It says "valid" only when jsonschema would; anything else
(a missing field, a value of another type, any schema it does not fully understand) goes to the
full validator, which decides and words the error as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: keywords that annotate and never reject (JSON Schema 2020-12, meta-data and core vocabularies)
ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly"}
)
_TOP = ANNOTATIONS | {"type", "required", "properties"}
_PROPERTY = ANNOTATIONS | {"type", "minLength", "maxLength"}


def quick_check(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """For a schema made only of ``type: object``, ``required`` and ``properties`` whose schemas are
    annotations alone or ``type: string`` with ``minLength`` / ``maxLength``, a function that returns
    True only for data the schema accepts (False: not known, ask the full validator). None for a
    schema of any other shape."""
    if not isinstance(schema, Mapping) or not set(schema) <= _TOP or schema.get("type", "object") != "object":
        return None
    required = schema.get("required", [])
    properties = schema.get("properties", {})
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        return None
    if not isinstance(properties, Mapping):
        return None
    #: (field, min length, max length or None) of the fields that must be strings when present
    strings: list[tuple[str, int, int | None]] = []
    for name, sub in properties.items():
        if sub is True or (isinstance(sub, Mapping) and set(sub) <= ANNOTATIONS):
            continue  # any value
        if not isinstance(sub, Mapping) or not set(sub) <= _PROPERTY or sub.get("type") != "string":
            return None
        low, high = sub.get("minLength", 0), sub.get("maxLength")
        if not _count(low) or (high is not None and not _count(high)):
            return None
        strings.append((name, low, high))
    names = tuple(required)

    def check(data: Any) -> bool:
        if type(data) is not dict:
            return False
        for name in names:
            if name not in data:
                return False
        for name, low, high in strings:
            if name in data:
                value = data[name]
                if type(value) is not str or len(value) < low or (high is not None and len(value) > high):
                    return False
        return True

    return check


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0
