"""Did you mean ...? The nearest valid name for a misspelt key, worked out only when an error is raised.

Nothing here runs on a valid call: difflib compares every pair of names, which is cheap once per
error and too dear once per call.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: where a caller finds each skill's payload fields and input schema, on every surface
SKILL_FIELDS_LISTED = "list_skills, `magsag catalog skills --json` and skills.list() show each skill's input_schema"


def nearest(name: object, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name`` (a misspelling of it), or None when none is close."""
    if not isinstance(name, str):
        return None
    close = difflib.get_close_matches(name, [k for k in known if k != name], n=1, cutoff=cutoff)
    return close[0] if close else None


#: how many unknown keys a message names (the rest are counted): a payload may hold thousands
NAMED_AT_MOST = 10


#: keywords of a JSON Schema itself: found where the keys of what wraps a schema go (``response_format.json_schema``
#: takes name, description, schema, strict), the schema was written in the wrapper's place
SCHEMA_KEYWORDS = frozenset(
    {"type", "properties", "required", "items", "$schema", "$defs", "definitions", "additionalProperties", "enum"}
    | {"anyOf", "oneOf", "allOf", "$ref", "const", "title"}
)


def named(unknown: Iterable[object], known: Iterable[str]) -> str:
    """``'max_token' (did you mean 'max_tokens'?), 'zzz'``: each unknown key with its nearest valid one,
    misspellings first, at most :data:`NAMED_AT_MOST` of them (``..., and 12 more``)."""
    candidates = list(known)
    pairs = sorted(((key, nearest(key, candidates)) for key in unknown), key=lambda p: (p[1] is None, str(p[0])))
    out = [f"{key!r} (did you mean {close!r}?)" if close else repr(key) for key, close in pairs[:NAMED_AT_MOST]]
    more = f", and {len(pairs) - len(out)} more" if len(pairs) > len(out) else ""
    return ", ".join(out) + more


def unknown_field(model: type[Any], loc: Sequence[Any]) -> str:
    """For pydantic's ``extra_forbidden`` at ``loc`` in ``model`` (a catalog file's): the nearest key
    accepted there and the ones that are, to follow its message: " (did you mean 'max_cost_per_run_usd'?);
    accepted here: ..."."""
    known = _fields_at(model, loc[:-1])
    if not known or not loc:
        return ""
    close = nearest(loc[-1], known)
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"{hint}; accepted here: {', '.join(known)}"


def _fields_at(model: type[Any], loc: Sequence[Any]) -> list[str]:
    """The keys accepted at ``loc`` in ``model``: a list's index, a mapping's key and the name pydantic
    gives a union's branch step into the items' model."""
    current: Any = model
    keyed = False  # the last field was a mapping: the next part is one of its keys
    for part in loc:
        if isinstance(part, int) or current is None or part == getattr(current, "__name__", None):
            continue
        fields = getattr(current, "model_fields", {})
        found = next((f for name, f in fields.items() if part in (name, f.alias)), None)
        if found is None:
            if keyed:
                keyed = False
                continue
            return []
        keyed = _is_mapping(found.annotation)
        current = _model_in(found.annotation)
    fields = getattr(current, "model_fields", None) or {}
    return [f.alias or name for name, f in fields.items()]


def _is_mapping(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (dict, Mapping):
        return True
    return any(_is_mapping(arg) for arg in typing.get_args(annotation)) if origin is not None else False


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds (itself, or inside a union, a list or a mapping), or None."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
