"""A payload checked against its schema, for a skill's call or an agent's run: :func:`check_payload` raises a
:class:`~.errors.PayloadError` that names the first problem and says how to fix it (a missing field with its
description, a field the payload has that the schema does not know with the nearest name it does). Skills, their
templates and the prompt a call sends are in skills.py, which re-exports :func:`check_payload`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .errors import PayloadError
from .plurals import agreeing
from .prompt_values import PLACEHOLDER_FIX, example_placeholder, placeholder_said
from .suggest import named, nearest


def check_payload(
    owner: str,
    schema: Mapping[str, Any] | None,
    validator: Any,
    data: Any,
    *,
    quick: Callable[[Any], bool] | None = None,
    listed: str | None = None,
    **details: Any,
) -> None:
    """Raise a :class:`PayloadError` that names ``owner`` (a skill or an agent) and the first problem,
    when ``data`` fails ``validator`` (``schema``, compiled). ``quick``: the schema's
    :func:`~.quick_schema.quick_check`, which passes common payloads without running jsonschema.
    ``listed``: where the caller finds the fields (said with a field the schema does not know)."""
    if quick is not None and quick(data):
        return
    if validator.is_valid(data):  # the common case: one pass, no error objects
        return
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "(payload)"
    if first.validator == "required" and not first.path:
        missing = [r for r in first.validator_value if r not in data]
        props = (schema or {}).get("properties", {})
        hint = props.get(missing[0], {}).get("description") if missing else None
        detail = f" ({hint})" if hint else ""
        required = list(first.validator_value)
        known = {*required, *(props if isinstance(props, Mapping) else ())}
        # every field missing, not the first alone: a caller who adds it was refused again for the next
        others = "".join(f", {m!r}" for m in missing[1:])
        fields = "fields" if others else "field"
        text = f"{owner}: payload is missing {fields} {missing[0]!r}{detail}{others}; required: {required}"
        text += _stray_fields(data, known, listed, missing)
    elif first.validator in ("additionalProperties", "unevaluatedProperties") and first.validator_value is False:
        text = _closed_schema_problem(owner, first, listed)
    else:
        text = f"{owner}: payload field {where}: {first.message}"
    raise PayloadError(
        text,
        **details,
        errors=[f"{'/'.join(str(p) for p in e.path) or '(payload)'}: {e.message}" for e in errors[:10]],
    )


def _declared(schema: Any, branches: bool) -> set[str]:
    """The property names a schema declares; with ``branches``, its ``allOf``/``anyOf``/``oneOf``
    branches' too (what ``unevaluatedProperties`` counts as known)."""
    if not isinstance(schema, Mapping):
        return set()
    names = {k for k in schema.get("properties") or () if isinstance(k, str)}
    for keyword in ("allOf", "anyOf", "oneOf") if branches else ():
        for branch in schema.get(keyword) or ():
            names |= _declared(branch, branches)
    return names


def _stray_fields(data: Any, known: set[str], listed: str | None, missing: Sequence[str] = ()) -> str:
    """For a payload that lacks a field: the fields it has that ``known`` does not (a misspelling of a
    missing one, most often), each with the nearest valid name. One such field where one is ``missing``, near it or
    not, is that field under another name (``body``, ``content`` or ``input`` for ``text``): said to be. Empty when
    the payload has no field ``known`` does not."""
    if not isinstance(data, Mapping):
        return ""
    stray = [k for k in data if k not in known and k != "model_config"]
    if not stray:
        return ""
    where = f" ({listed})" if listed else ""
    said = named(stray, known)
    if len(stray) == 1 and len(missing) == 1 and not nearest(stray[0], known):
        # the one field the caller sent in the one field's place: the name alone was left for the caller to match
        # with "required: ['text']" (examples/mcp's {"body": ...})
        said += f" (did you mean {missing[0]!r}?)"
    return f"; it takes no field {said}{where}"


#: a name as repr() quotes it, in jsonschema's "('a', 'b' were unexpected)"
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _closed_schema_problem(owner: str, error: Any, listed: str | None) -> str:
    """``additionalProperties: false`` (or ``unevaluatedProperties``) refused a field: name each field
    refused, the nearest one the schema declares, and what it declares."""
    at = "/".join(str(p) for p in error.path)
    known = _declared(error.schema, error.validator == "unevaluatedProperties")
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    # the fields jsonschema refused, as its message names them (patternProperties and $refs counted): the
    # names it quotes, read once (a search of the message per field took time that grew with the square
    # of their number, and found a field quoted inside another's name)
    quoted = set(_QUOTED.findall(error.message))
    unknown = [k for k in instance if k not in known and repr(k) in quoted]
    if not unknown:
        return f"{owner}: payload field {at or '(payload)'}: {error.message}"
    where = f"payload field {at}" if at else "payload"
    takes = f"; it takes: {sorted(known)}" if known else ""
    hint = f" ({listed})" if listed else ""
    fields = agreeing(len(unknown), "field")
    return f"{owner}: {where} has {fields} the schema does not allow: {named(unknown, known)}{takes}{hint}"


#: how deep a call's settings (``model_config``) may nest objects and lists: a response_format schema about 30
#: objects deep, past what any vendor takes (OpenAI's structured outputs stop at 10). The checks that read a schema
#: and the params (jsonschema's check of a schema, the params a trace shows) walk them recursively, and some 200
#: levels took them past Python's recursion limit: the call failed as a bug in magsag, with nothing said of the fix
MAX_NESTING = 64
#: how deep ``messages`` may nest: a message's content is sent as its JSON text, which no vendor limits the depth of,
#: and a tool's result (a page's elements, a folder's files, each node with its children) may be a deep document;
#: its limit only keeps the JSON encoder (some 1,800 levels) from Python's recursion limit
MAX_MESSAGE_NESTING = 512


def check_nesting(settings: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``settings`` (``where``: ``model_config``), checked: raise a :class:`PayloadError` naming the key whose value
    nests objects and lists deeper than :data:`MAX_NESTING` (``messages``: :data:`MAX_MESSAGE_NESTING`). Walked
    without recursion: its own depth is the input's. Settings holding a mapping that is no dict (a
    ``MappingProxyType`` or a frozen mapping Python code handed on) or a tuple come back as the dicts and lists JSON
    would hold: handed on as they were, the target's params could not be hashed and the call failed as a bug in
    magsag. What JSON cannot write (a set, a Decimal) is refused, naming where it is (:func:`_plain`)."""
    odd = type(settings) is not dict
    for key, value in settings.items():
        if not isinstance(value, _NESTED):
            odd = odd or not isinstance(value, _JSON_SCALARS) or type(key) is not str
            continue
        odd = odd or type(key) is not str
        limit = MAX_MESSAGE_NESTING if key == "messages" else MAX_NESTING
        level = [value]
        depth = 1
        while level:
            if depth > limit:
                raise PayloadError(
                    f"{where}.{key} is nested more than {limit} levels deep (objects and lists within each other), "
                    f"and a call's {key} are at most {limit}: "
                    + (
                        "flatten the deepest tool result or content, or send it as text"
                        if key == "messages"
                        else "no vendor takes a schema or parameter so deep; flatten it (a schema can name a part "
                        "once under $defs and $ref it)"
                    )
                )
            below = []
            children: Iterable[Any]
            for node in level:
                if isinstance(node, dict):
                    odd = odd or any(type(name) is not str for name in node)  # (a logit_bias of int token ids)
                    children = node.values()
                else:
                    children = node
                for child in children:
                    if isinstance(child, _NESTED):
                        below.append(child)
                    elif not odd and not isinstance(child, _JSON_SCALARS):
                        odd = True
            level = below
            depth += 1
    if odd:  # (rare: a Python caller's own mapping, tuple or object; JSON from an MCP client or a file is plain)
        try:
            plain = {_key(key, where): _plain(value, f"{where}.{key}") for key, value in settings.items()}
        except RecursionError:
            raise PayloadError(f"{where} is nested too deeply to read: flatten it") from None
        return check_nesting(plain, where)
    return settings  # type: ignore[return-value]  # (a dict: odd is set for any other mapping)


def _plain(value: Any, where: str) -> Any:
    """``value`` with each mapping a dict and each tuple a list, as JSON would read them back. What JSON cannot write
    (a set, a Decimal, an object) is refused, naming where it is: the settings are sent as JSON, and such a value
    failed as a bug in magsag (hashing a set for the target's key, writing a Decimal into the request)."""
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, Mapping):
        return {_key(k, where): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if example_placeholder(value):
        raise PayloadError(_placeholder_refused(value, where))
    raise PayloadError(
        f"{where} is of type {type(value).__name__}, which is no JSON value: give objects, lists, strings, numbers, "
        "true, false and null"
    )


def _placeholder_refused(value: Any, where: str) -> str:
    """The refusal of an example's ``{...}`` left where a setting's value goes (see :func:`example_placeholder`)."""
    said = placeholder_said(value)
    what = " (a tool's function: its name, description and parameters)" if where.endswith(".function") else ""
    return f"{where} is {said}, an example's placeholder rather than a value: {PLACEHOLDER_FIX}{what}"


def _key(name: Any, where: str) -> str:
    """An object's key as JSON writes it: text as it is, a number (a logit_bias's token id), true, false or null as its
    JSON text; anything else (a tuple) is refused, naming where: writing the request raised TypeError, a bug of ours."""
    if type(name) is str:
        return name
    if isinstance(name, _JSON_SCALARS):
        return json.dumps(name)
    raise PayloadError(
        f"{where} has a key of type {type(name).__name__}, which JSON cannot write: give its keys as strings"
    )


#: the values JSON writes as they are (bool is an int): passed at once by the look for a mapping or a tuple
_JSON_SCALARS = (str, int, float, type(None))
#: what nests (a tuple: ``dict | list`` in the check built a union on each use, for each of a call's settings and
#: each value within them)
_NESTED = (dict, list)


class _NoJson(TypeError):
    """A value JSON has no way to write (its type's name)."""


def json_text(value: Any, where: str) -> str:
    """``value`` as JSON text, a mapping that is no dict (a ``MappingProxyType`` Python code handed on, as a payload
    may be) written as the object it holds: handed on as it was, writing the request raised TypeError, a bug of
    ours to the caller. What is no JSON value at all (a set, an object) is refused here, naming where it is."""

    def as_object(part: Any) -> Any:
        if isinstance(part, Mapping):
            return dict(part)
        if example_placeholder(part):
            raise PayloadError(_placeholder_refused(part, where))
        raise _NoJson(type(part).__name__)

    try:
        return json.dumps(value, ensure_ascii=False, default=as_object)
    except _NoJson as exc:
        raise PayloadError(
            f"{where} holds a {exc}, which is no JSON value: give objects, lists, strings, numbers, true, false "
            "and null"
        ) from None
    except TypeError:  # ("keys must be str, int, float, bool or None, not tuple")
        raise PayloadError(
            f"{where} holds an object whose key is no string, which JSON cannot write: give its keys as strings"
        ) from None
    except (ValueError, RecursionError):  # (a mapping that holds itself; one nested past the interpreter's depth)
        raise PayloadError(f"{where} holds itself or is nested too deeply to write as JSON") from None
