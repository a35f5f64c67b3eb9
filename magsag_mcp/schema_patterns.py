"""JSON Schema's regular expressions (``pattern``, ``patternProperties``) matched in linear time.

jsonschema matches them with Python's ``re``, which backtracks: ``^(a+)+$`` against 30 characters takes
minutes. A caller's ``response_format`` schema is applied to the answer inside the event loop, and the
answer is one a caller can steer (or write itself, on a keyless local server it names): the whole server
stood still. Here the keywords that match a pattern use RE2 instead, and a pattern RE2 cannot run
(lookaround, backreferences) is refused when the schema is checked, before any model is paid.

``unevaluatedProperties`` also matches ``patternProperties`` (deep inside jsonschema, with ``re``): a
schema with both is refused too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from .redaction import excerpt

#: keywords whose values are data, not schemas: a "pattern" key inside them is no pattern
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def _search(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _patterns(schema: Any) -> Iterator[str]:
    """Every ``pattern`` value and ``patternProperties`` key in ``schema``, subschemas included."""
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key in _DATA_KEYWORDS:
                continue
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, Mapping):
                yield from (k for k in value if isinstance(k, str))
            yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def _has_key(schema: Any, name: str) -> bool:
    if isinstance(schema, Mapping):
        return any(k == name or (k not in _DATA_KEYWORDS and _has_key(v, name)) for k, v in schema.items())
    return isinstance(schema, list) and any(_has_key(item, name) for item in schema)


def pattern_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema``'s patterns cannot be matched in linear time, or None."""
    import re2

    for pattern in _patterns(schema):
        try:
            _compiled(pattern)
        except re2.error as exc:
            why = exc.args[0] if exc.args else exc
            why = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
            return (
                f"pattern {excerpt(pattern, 200)!r} cannot be matched in linear time ({why}): answers are checked with "
                "RE2, which has no lookahead, lookbehind or backreferences; rewrite it without them"
            )
    if _has_key(schema, "patternProperties") and _has_key(schema, "unevaluatedProperties"):
        return (
            "patternProperties together with unevaluatedProperties cannot be matched in linear time; use "
            "additionalProperties beside patternProperties instead"
        )
    return None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """jsonschema's ``additionalProperties``, with the property names matched by RE2."""
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [k for k in instance if k not in properties and not any(_search(p, k) for p in patterns)]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            yield ValidationError(
                f"{joined} {verb} not match any of the regexes: {', '.join(map(repr, sorted(patterns)))}"
            )
        else:
            names = ", ".join(repr(each) for each in sorted(extras, key=str))
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


@functools.cache
def linear_validator_class() -> Any:
    """Draft 2020-12 with the pattern keywords above."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(
        Draft202012Validator,
        {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
    )
