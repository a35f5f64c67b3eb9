"""Did you mean ...? The nearest valid name for a misspelt key, worked out only when an error is raised.

Nothing here runs on a valid call: difflib compares every pair of names, which is cheap once per
error and too dear once per call.
"""

from __future__ import annotations

import datetime
import difflib
import re
import typing
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .text import NAME_MAX
from .zone_offsets import abbreviation_hint, offset_hint

#: where a caller finds each skill's payload fields and input schema, on every surface
SKILL_FIELDS_LISTED = "list_skills, `magsag catalog skills --json` and skills.list() show each skill's input_schema"


def nearest(name: object, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name`` (a misspelling of it), or None when none is close: first one that is
    ``name`` in another case or without the spaces around it (:func:`same_folded`), which difflib's ratio put far
    (``ALICE`` is not 60% ``alice``: no letter matches)."""
    if not isinstance(name, str):
        return None
    others = [k for k in known if k != name]
    folded = same_folded(name, others)
    if folded is not None:
        return folded
    close = difflib.get_close_matches(name, others, n=1, cutoff=cutoff)
    return close[0] if close else None


def same_folded(name: str, known: Iterable[str]) -> str | None:
    """The first of ``known`` (other than ``name``) that is ``name`` in another case, with other spaces around it, or
    with its accents dropped (:func:`unaccented`)."""
    folded = unaccented(name.strip()).casefold()
    for k in known:
        if k != name and unaccented(k.strip()).casefold() == folded:
            return k
    return None


def unaccented(name: str) -> str:
    """``name`` with the accents of its letters dropped (``analysïs`` -> ``analysis``, ``économie`` -> ``economie``):
    a keyboard's dead key or a language's spelling puts one on a letter of an ASCII name, and difflib counts the
    letter as another one, which puts a short name (``gpt-4ö``) below every closeness a suggestion asks of it."""
    if name.isascii():
        return name
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` is ``b`` with one letter added, dropped or changed, or two adjacent letters swapped: a slip of the
    keys, where a name two edits away or more (``analytics`` beside ``analysis``) is most often a word of its own."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i in range(len(short)) if short[i] != long[i]), len(short))
    return short[i:] == long[i + 1 :]


#: a status (a run's: the ``status`` filter) written as another word, which no spelling brings near the one meant:
#: ``failed`` for ``error`` (the guide's "errors: Failed calls"), ``success`` for ``ok``
_STATUS_WORDS = {
    "fail": "error",
    "failed": "error",
    "failure": "error",
    "failures": "error",
    "errored": "error",
    "success": "ok",
    "succeeded": "ok",
    "successful": "ok",
    "done": "ok",
    "denied": "policy_denied",
    "over_budget": "budget_exceeded",
    "aborted": "cancelled",
    "in_flight": "running",
    "pending": "running",
}


def status_word(value: str, allowed: Iterable[str]) -> str | None:
    """The one of ``allowed`` (a status filter's values) that ``value`` names in another word, or None."""
    meant = _STATUS_WORDS.get(value.strip().casefold().replace("-", "_").replace(" ", "_"))
    return meant if meant in set(allowed) else None


def meant_id(name: object, known: Iterable[str]) -> str | None:
    """The catalog id (a skill's, an agent's) that ``name``, an unknown one, was written for, or None.

    Tried in turn: the id in another case or with ``_`` for ``-`` (``Skill.Analysis``, ``my_mag``); the id whose
    name after its prefix ``name``'s is (``analysis``, ``skills.analysis``); the one id whose name holds ``name``'s
    (``pii``, ``data-analysis``); then a misspelling of that name (``skill.analysys``, ``skill.summarize``). A name
    that several ids hold (``a``) gets none, rather than one of them at random."""
    if not isinstance(name, str) or not name or _unbounded(name):
        return None
    ids = sorted(k for k in known if k != name)
    given = _folded(name)
    tail = given.rsplit(".", 1)[-1]
    tails = {k: _folded(k).rsplit(".", 1)[-1] for k in ids}
    for found in (
        [k for k in ids if _folded(k) == given],
        [k for k in ids if tails[k] == tail],
        [k for k in ids if len(tail) >= 3 and tail in tails[k]],
    ):
        if len(found) == 1:
            return found[0]
    # the name after the prefix alone: every skill's id begins 'skill.', which would make 'skill.x' look close to all.
    # A near name that begins as the given one does is its misspelling ('analyze', 'code', 'summary'); one that does
    # not must be nearer, or 'translation' would be offered 'extraction'
    close = nearest(tail, [t for t in tails.values() if t[:2] == tail[:2]], cutoff=0.6) or nearest(
        tail, tails.values(), cutoff=0.8
    )
    return next((k for k in ids if tails[k] == close), None)


def _folded(name: str) -> str:
    return unaccented(name).lower().replace("_", "-")


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
    pairs = sorted(
        ((key, None if _unbounded(key) else nearest(key, candidates)) for key in unknown),
        key=lambda p: (p[1] is None, str(p[0])[:QUOTED_AT_MOST]),
    )
    out = [
        f"{_quoted(key)} (did you mean {close!r}?)" if close else _quoted(key) for key, close in pairs[:NAMED_AT_MOST]
    ]
    more = f", and {len(pairs) - len(out)} more" if len(pairs) > len(out) else ""
    return ", ".join(out) + more


#: the keys of a call's context that say where it goes, beside ``llm_overrides`` (``payload_warnings.CONTEXT_KEYS``,
#: which imports this module)
CALL_CONTEXT_KEYS = frozenset({"preferred_model", "tier", "data_class"})


def vendor_parameter_hint(key: str, names: list[str]) -> str | None:
    """What an unknown key of a call's settings (``model_config``, a fallback target) is: a key of the call's context
    (``tier``), which goes there; a misspelling of a key they take (``temprature``: left to the close match), else
    most likely a vendor's own parameter (``top_p``, ``seed``, ``reasoning_effort``), which ``params`` passes through.
    The close match alone sent ``top_p`` to ``stop``, and a model that followed it was refused again."""
    from .target_params import ROUTER_FIELDS, UNPRICED_PARAMS

    if key in CALL_CONTEXT_KEYS:
        # the call's context, written among its model's settings: params would send it to the vendor, which refuses
        # a word it does not know or (a local server) drops it, a data class with it
        return f"it goes in the call's context: {{{key!r}: ...}}"  # (every surface has one: context=, --context)
    if difflib.get_close_matches(key, names, n=1, cutoff=0.8):
        return None
    if key in ROUTER_FIELDS or key in UNPRICED_PARAMS:
        # params refuses it too (max_output_tokens: a field magsag writes itself): the close match, if any, is the
        # key meant (max_tokens), and pointing to params sent the caller on to a second refusal
        return None
    hint = f'a vendor parameter goes in params: {{"params": {{"{key}": ...}}}}'
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f"{hint}; or did you mean {close[0]!r}?" if close else hint


def named_settings(unknown: Iterable[object], known: Iterable[str]) -> str:
    """:func:`named` for the keys of a call's settings (``model_config``, ``context.llm_overrides``): a key no
    misspelling of one they take (``top_p``, ``seed``) is a vendor's parameter, pointed into ``params`` as the MCP
    tools' schema points it, rather than to the key it is least unlike (``top_p``: "did you mean 'stop'?")."""
    names, keys = list(known), sorted(unknown, key=lambda k: str(k)[:QUOTED_AT_MOST])
    out = []
    for key in keys[:NAMED_AT_MOST]:
        hint = None if not isinstance(key, str) or _unbounded(key) else vendor_parameter_hint(key, names)
        out.append(named([key], names) if hint is None else f"{_quoted(key)} ({hint})")
    more = f", and {len(keys) - len(out)} more" if len(keys) > len(out) else ""
    return ", ".join(out) + more


#: the longest key :func:`named` quotes (a name's cap): a caller's key may be a megabyte long, and a message names
#: it, and a warning is recorded with the call and shown by every report
QUOTED_AT_MOST = NAME_MAX


def _unbounded(key: object) -> bool:
    return isinstance(key, str) and len(key) > QUOTED_AT_MOST


def _quoted(key: object) -> str:
    from .text import of_length

    return f"a key {of_length(key)}" if isinstance(key, str) and _unbounded(key) else repr(key)


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


#: what each key of a routing or policy file holds, said where pydantic found another shape there ("Input should be
#: a valid list"): by the key, and by the mapping whose entries hold it (``tiers.gold``, ``requirements.pii``)
_TARGETS = "a list of targets, e.g. [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022]"
_HOLDS = {
    "default": _TARGETS,
    "chain": _TARGETS,
    "tiers": "a mapping of tier names to lists of targets, e.g. {economy: [openai:gpt-4o-mini]}",
    "routes": "a list of routes, each a mapping such as {match: analysis, chain: [openai:gpt-4o]}",
    "policies": "a list of policies, each a mapping with a name, such as {name: production_models, allowed_models: "
    "[gpt-4o]}",
    "allowed_models": "a list of model names or patterns, e.g. [gpt-4o, 'claude-*']",
    "requirements": "a mapping of data classes to lists of models, e.g. {pii_processing: ['local:llama3.1:70b']}",
    "thresholds": "a mapping of limits, e.g. {max_cost_per_run_usd: 5.0}",
}
_ENTRY_HOLDS = {"tiers": _TARGETS, "requirements": "a list of model names or patterns, e.g. ['local:llama3.1:70b']"}
_ITEM_IS = {
    "routes": "each route as a mapping such as {match: analysis, chain: [openai:gpt-4o]} (or tier: economy in place "
    "of the chain)",
    "policies": "each policy as a mapping with a name, such as {name: production_models, allowed_models: [gpt-4o]}",
}
_SHAPE_ERRORS = frozenset({"list_type", "dict_type", "model_type", "model_attributes_type"})


def wrong_shape(loc: Sequence[Any], error_type: str, message: str) -> str:
    """pydantic's ``message`` for a value of the wrong shape at ``loc`` of a routing or policy file, with what to
    write there; a model's class ("a valid dictionary or instance of Route") is no word of the file's."""
    if error_type not in _SHAPE_ERRORS or not loc:
        return message
    if error_type != "list_type":
        message = "Input should be a mapping"
    keys = [part for part in loc if isinstance(part, str)]
    if isinstance(loc[-1], int) and keys and keys[-1] in _ITEM_IS:
        return f"{message}; write {_ITEM_IS[keys[-1]]}"
    if len(keys) >= 2 and keys[-2] in _ENTRY_HOLDS and keys[-1] not in _HOLDS:
        return f"{message}; write {_ENTRY_HOLDS[keys[-2]]}"
    if keys and keys[-1] in _HOLDS:
        return f"{message}; write {_HOLDS[keys[-1]]}"
    return message


#: what to write for a value pydantic refused as of the wrong kind (its error type -> the kind wanted)
_KIND_WANTED = {
    "int_parsing": "a whole number, digits alone (e.g. 10)",
    "int_type": "a whole number, digits alone (e.g. 10)",
    "int_from_float": "a whole number, digits alone (e.g. 10)",
    "float_parsing": "a plain number alone (e.g. 0.2)",
    "float_type": "a plain number alone (e.g. 0.2)",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
}
#: a bound pydantic refused a number for (its error type -> the ctx key and how it reads)
_BOUND = {"greater_than": ("gt", "above"), "greater_than_equal": ("ge", "at least"), "less_than": ("lt", "below")}
_BOUND |= {"less_than_equal": ("le", "at most")}


def value_fix(err: Mapping[str, Any]) -> str:
    """What follows pydantic's message for a catalog file's key that is missing, or whose value is of the wrong kind
    or out of bounds: the value as read and what to write ("max_tokens: Input should be a valid integer, unable to
    parse string as an integer" said neither what was read nor what to write, in a file edited by hand)."""
    from .redaction import excerpt
    from .text import said_number
    from .yaml_kinds import yaml_kind, yaml_kind_word

    kind, value = err["type"], err.get("input")
    key = next((str(part) for part in reversed(err["loc"]) if isinstance(part, str)), "")
    if kind == "missing":
        return f"; add the key {key!r}" if key else ""
    # as the file wrote it: YAML read 2025-01-01 as a date and 42 as a number, whose repr() the file never held
    # (an int of more than 4,300 digits has no str(): it raised ValueError out of the file's load; said by its size)
    written = repr(value) if isinstance(value, str) else said_number(value) if isinstance(value, int) else str(value)
    got = f"got {excerpt(written, 60)}"
    if value is None:  # ("got None, which YAML reads as a NoneType; write it in quotes: "None"": no None was written)
        got = "got no value: YAML reads one left empty, ~ and null as none"
    if kind in _KIND_WANTED:
        if isinstance(value, (float, bytes, set, datetime.date)):  # ("got 1000.5; write a whole number": say which)
            got = f"got {yaml_kind(value)}"
        return f" ({got}); write {_KIND_WANTED[kind]}"
    if kind in _BOUND:
        key, reads = _BOUND[kind]
        bound = err.get("ctx", {}).get(key)
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        return f" ({got}); write a number {reads} {bound}"
    if kind == "string_type":
        if value is None:
            return f" ({got}); write the value"
        if isinstance(value, (list, dict)):
            return f" ({got}, {'a list' if isinstance(value, list) else 'a mapping'}); write one text value"
        if isinstance(value, bool):  # YAML 1.1 reads yes, no, on, off as true or false: the word is not known here
            return f" ({got}: YAML reads yes, no, on, off, true and false so); write the word in quotes"
        # (a date, a date and time, a decimal number: "a datetime" was Python's name, "a number" no kind of number)
        return f' ({got}, which YAML reads as {yaml_kind_word(value)}); write it in quotes: "{excerpt(str(value), 60)}"'
    return ""


def id_fix(written: Any, *, skill: bool) -> str:
    """What an id that does not match its pattern should be: ``analysis2`` -> ``skill.analysis2``, ``My Agent`` ->
    ``my-agent`` (lower case; letters, digits, '.', '_' and '-'), as calls and delegations name it."""
    name = str(written).strip().lower()
    if skill:
        name = name.removeprefix("skill.").removeprefix("skill_").removeprefix("skill-")
    name = re.sub(r"[^a-z0-9._-]+", "-", name).strip("._-") or "name"
    what = "a skill's id is 'skill.' then a name" if skill else "an agent's id is a name"
    return (
        f"; {what} in lower case (letters, digits, '.', '_' and '-', starting with a letter or digit), as calls "
        f"name it: write {'skill.' if skill else ''}{name}"
    )


#: the keywords that constrain what a JSON Schema (draft 2020-12) accepts; a key near one of them is its misspelling
_CONSTRAINING = (
    "$dynamicRef $ref additionalProperties allOf anyOf const contains dependentRequired dependentSchemas enum "
    "exclusiveMaximum exclusiveMinimum format if then else items maxItems maxLength maxProperties maximum minItems "
    "minLength minProperties minimum multipleOf not oneOf pattern patternProperties prefixItems properties "
    "propertyNames required type unevaluatedItems unevaluatedProperties uniqueItems"
).split()
#: the other keywords of the draft (annotations, identifiers) and the older drafts' names: never a misspelling
_OTHER_KEYWORDS = frozenset(
    "$schema $id $anchor $dynamicAnchor $vocabulary $comment $defs definitions dependencies title description "
    "default deprecated readOnly writeOnly examples contentMediaType contentEncoding contentSchema".split()
)
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_ONE = (
    "additionalProperties unevaluatedProperties items contains propertyNames not if then else unevaluatedItems "
    "contentSchema".split()
)


def misspelt_keyword(schema: Any, at: str = "") -> str | None:
    """The first key of ``schema`` (or a schema inside it) that is no JSON Schema keyword but nearly names one that
    constrains (``propertes``, ``requried``, ``minlength``), as "at properties.name: 'requried' (did you mean
    'required'?)"; None when there is none. A validator ignores a key it does not know, so the constraint it was
    meant to be checks nothing. ``x-`` keys and keys near no keyword (annotations of one's own) are left alone."""
    if not isinstance(schema, Mapping):
        return None
    for key in schema:
        if isinstance(key, str) and key not in _CONSTRAINING and key not in _OTHER_KEYWORDS and key[:2] != "x-":
            close = nearest(key, _CONSTRAINING, cutoff=0.75)
            if close is not None:
                return f"at {at or 'the top level'}: {key!r} is no JSON Schema keyword (did you mean {close!r}?)"
    for keyword in _SCHEMA_MAPS:
        subs = schema.get(keyword)
        for name, sub in subs.items() if isinstance(subs, Mapping) else ():
            found = misspelt_keyword(sub, f"{at}.{keyword}.{name}".lstrip("."))
            if found:
                return found
    for keyword in _SCHEMA_LISTS:
        subs = schema.get(keyword)
        for i, sub in enumerate(subs if isinstance(subs, list) else ()):
            found = misspelt_keyword(sub, f"{at}.{keyword}.{i}".lstrip("."))
            if found:
                return found
    for keyword in _SCHEMA_ONE:
        found = misspelt_keyword(schema.get(keyword), f"{at}.{keyword}".lstrip("."))
        if found:
            return found
    return None


def meant_zone(name: object) -> str | None:
    """The IANA time zone ``name``, an unknown one, was written for: the zone in another case (``europe/berlin``), the
    one zone of that city (``Berlin``, ``new york``), or a misspelling of one (``America/New_Yrok``); None if none."""
    if not isinstance(name, str) or not name.strip() or _unbounded(name):
        return None
    import zoneinfo

    zones = sorted(zoneinfo.available_timezones())
    key = name.strip().replace(" ", "_").casefold()
    same = [z for z in zones if z.casefold() == key]
    city = [z for z in zones if "/" in z and z.rsplit("/", 1)[1].casefold() == key]
    for found in (same, city):
        if len(found) == 1:
            return found[0]
    folded = {z.casefold(): z for z in zones}
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
    return folded[close[0]] if close else None


#: a zone written as an offset from UTC or GMT ("GMT+3", "UTC-05:00", "GMT+0530"), or as an ISO time's offset alone
#: ("+01:00", copied from a timestamp), which no IANA name reads as written (Etc/GMT+15 is not one: written with its
#: Etc/, it is IANA's sign already, only past IANA's range)
_OFFSET_WRITTEN = re.compile(r"(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d\d))?", re.IGNORECASE)


def zone_hint(name: object) -> str:
    """`` (did you mean 'Europe/Berlin'?)`` for a time zone :func:`meant_zone` finds, else ``""``; for one written as
    an offset, the IANA name of that offset, or the places on it (:func:`~.zone_offsets.offset_hint`)."""
    offset = _OFFSET_WRITTEN.fullmatch(name.strip()) if isinstance(name, str) else None
    if offset is not None:
        sign, hours, minutes = offset.groups()
        return offset_hint(sign, hours, minutes)
    if isinstance(name, str) and (abbreviation := abbreviation_hint(name)):
        return abbreviation
    meant = meant_zone(name)
    return f" (did you mean {meant!r}?)" if meant else ""
