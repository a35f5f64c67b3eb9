"""Tool arguments that fail validation, explained to the caller (usually a model) so it can fix them.

The SDK answers a bad argument with pydantic's own report ("2 validation errors for InvokeSkillArgs
... Extra inputs are not permitted [type=extra_forbidden, input_value=...] For further information
visit https://errors.pydantic.dev/..."). That names the problem but not the fix, and echoes the
rejected value. :func:`explain` says, for each problem, which argument, what was wrong, and what is
accepted there: the close match for a misspelt name, the names that exist, the type expected.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import json
import re
import typing
from collections.abc import Collection, Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import redact
from ..suggest import status_word
from ..suggest import vendor_parameter_hint as vendor_parameter_hint  # (the tools' models import it from here)
from ..text import NAME_MAX, of_length, shown_key

#: pydantic's error types that mean "the value has the wrong JSON type", with what was expected
_EXPECTED = {
    "dict_type": "an object",
    "model_type": "an object",
    "list_type": "an array",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def explain(tool: str, exc: ValidationError, args: type[BaseModel], skill_fields: Collection[str] = ()) -> str:
    """One clause per problem, at most eight, beginning with the tool's name. ``skill_fields``: the input fields of
    the skill the call names, each of which, written beside ``payload``, goes in it."""
    tags = _union_tags(args)
    by_place: dict[tuple[str, ...], list[Any]] = {}
    for err in exc.errors(include_url=False):
        # pydantic names the branch of a union it tried (``fallbacks.0.str``, ``fallbacks.0.TargetArg``):
        # the caller wrote one value, so the branches' errors are one problem at one place
        place = [str(p) for p in err["loc"]]
        # (an unknown key is the caller's, last in its place, whatever its name: one named as a branch, "none" or
        # "str", or holding a "[", was dropped too, and its place left empty raised IndexError in _problem)
        key = place.pop() if err["type"] == "extra_forbidden" and place else None
        loc = tuple(p for p in place if p not in tags and "[" not in p) + ((key,) if key is not None else ())
        by_place.setdefault(loc, []).append(err)
    # a union's branch that took the value's type went deeper (fallbacks[0] as a target object): the other
    # branches' "expected a string" at the value's own place is no problem of what was written
    # (every place's prefixes gathered once: comparing each place with every other took time that grew with
    # the square of their number, and a request of thousands of bad fallbacks held the event loop for seconds)
    inner = {place[:k] for place in by_place for k in range(len(place))}
    for loc in [place for place in by_place if place in inner]:
        if all(_expected(e) for e in by_place[loc]):
            del by_place[loc]
    places = list(by_place.items())
    problems = [  # only those shown
        _problem(args, list(loc), errs, skill_fields) + _as_skill_field(args, list(loc), errs, skill_fields)
        for loc, errs in places[:8]
    ]
    if len(places) > 8:
        problems.append(f"and {len(places) - 8} more")
    accepted = ", ".join(_names(args))
    takes = f"{tool} takes: {accepted}" if accepted else f"{tool} takes no arguments: call it with {{}}"
    said = "; ".join(problems)
    return f"invalid_arguments: {tool}: {said}{'' if said.endswith('?') else '.'} {takes}"


def shown_place(loc: list[str]) -> str:
    """The dotted place of an argument, as the server's log names it: a name longer than any argument's by its
    length (a key the caller sent may be a megabyte long)."""
    return ".".join(shown_key(part) for part in loc)


def _problem(args: type[BaseModel], loc: list[str], errs: list[Any], skill_fields: Collection[str] = ()) -> str:
    where = ".".join(loc) or "(arguments)"
    err = errs[0]
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(args, loc[:-1])
        known = _names(model) if model is not None else []
        if len(loc[-1]) > NAME_MAX:  # no argument's name is near as long: quoted (twice, in its hint), a megabyte
            # sent as a key was the error's text, and the server log's
            inside = f" in {'.'.join(loc[:-1])}" if len(loc) > 1 else ""
            accepted = f"accepted here: {', '.join(known)}" if known else "nothing is accepted here"
            return f"unknown argument {of_length(loc[-1])}{inside} ({accepted})"
        home = _home(model, loc[-1]) if model is not None else None
        outer = _model_at(args, loc[:-2]) if len(loc) > 1 else None
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        # what the model says a key it does not take means (a JSON Schema keyword where a schema's wrapper is),
        # from the value given too (preferred_models' list: the fix quotes its names)
        hook = getattr(model, "unknown_key_hint", None) if model is not None else None
        own = hook(loc[-1], err.get("input")) if hook is not None else None
        if len(loc) == 1 and loc[0] in skill_fields:
            # the named skill's own field, however near an argument's name it is: summarization's text was told
            # "did you mean 'context'?", and extraction's fields "did you mean 'payload'?". One named as a setting
            # too (a conversation's messages, a customer's tier) was told only the setting's place, where it is
            # another thing (model_config's further turns, a routing tier): both are said, the skill's first
            hint = payload_field(loc[0])
            if home:
                hint += f'; {home}\'s own {loc[0]} goes in {home}: {{"{home}": {{"{loc[0]}": ...}}}}'
        elif home:  # a filter beside filters, a setting beside model_config: where it goes
            hint = f'it goes in {home}: {{"{home}": {{"{loc[-1]}": ...}}}}'
        elif own:
            hint = own
        elif outer is not None and _field(outer, loc[-1]) is not None:  # limit inside filters
            hint = f"it goes beside {loc[-2]}, not in it"
        elif close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = f"accepted here: {', '.join(known)}" if known else "nothing is accepted here"
        return f"unknown argument {where!r} ({hint})"
    if kind == "missing":
        description = _description(args, loc)
        return f"missing required argument {where!r}" + (f" ({description})" if description else "")
    expected = [_expected(e) for e in errs]
    if all(expected):
        value = err.get("input")
        if offered := _model_says(args, loc, "value_choices", value):
            # the words a field offers where it takes more (a provider's test-only fake, taken, offered to no one)
            expected = [offered if e.startswith("one of ") else e for e in expected]  # type: ignore[union-attr]
        got = "null" if value is None else _JSON_TYPES.get(type(value), "another type")
        if isinstance(value, str) and kind in ("int_parsing", "float_parsing"):
            # a number written as text is taken ("5"): "got a string" alone told the caller that text was refused
            got += (
                ' that is no whole number (digits as text, "5", are taken)'
                if kind == "int_parsing"
                else ' that is no number (a number as text, "0.5", is taken)'
            )
        if isinstance(value, str) and all(e.startswith("one of ") for e in expected if e):
            # a word outside a choice of words (a status of 'bogus'): "got a string" alone, when every choice is one,
            # read as the wrong type. The word is not quoted back: it may be a key pasted into the wrong place
            got += " that is none of them"
        said = f"{where}: expected {' or '.join(dict.fromkeys(expected))}, got {got}"  # type: ignore[arg-type]
        # what the model says such a value there meant (a list of models for preferred_model: a model and its
        # fallbacks)
        own = _model_says(args, loc, "value_type_hint", value)
        return (
            said
            + (_value_hint(args, loc, value) or _literal_hint(errs, value))
            + _shape_hint(args, loc, value, expected)
            + (f": {own}" if own else "")
        )
    if kind in _RANGE_ERRORS and (span := _range(args, loc)):
        # pydantic's sentence names the one bound missed ("greater than or equal to 1"): a caller that then sent
        # 10000 met the other; both, and what the number counts
        description = _description(args, loc)
        return f"{where}: out of range: give {span}" + (f" ({description})" if description else "")
    if kind == "int_parsing_size" and (span := _range(args, loc)):
        # a whole number past 64 bits written as a float (1e30: JSON.stringify's big numbers, a model's guess at
        # "no limit") met pydantic's "unable to parse input string as an integer, exceeded maximum size", which
        # called the number a string and named no number that fits
        description = f" ({description})" if (description := _description(args, loc)) else ""
        if re.search(r" to | at most | less than ", f" {span} "):
            return f"{where}: out of range: too large a number; give {span}{description}"
        # (a field of no upper bound, max_tokens: the number is past what a float is read as, not past the field's)
        return f"{where}: too large a number to read as a whole one; give a whole number, {span}{description}"
    if kind == "string_too_short" and err.get("input") == "" and (description := _description(args, loc)):
        return f"{where} is empty: give {description}"  # pydantic's "at least 1 character" said nothing of what
    # a constraint (a pattern, a range): pydantic's sentence says which, without the value
    said = "; ".join(f"{where}: {e['msg'][0].lower()}{e['msg'][1:]}" for e in errs)
    if kind == "string_pattern_mismatch" and (description := _description(args, loc)):
        said += f" ({description})"  # a pattern alone shows no value that fits it
    model = _model_at(args, loc[:-1]) if kind == "string_pattern_mismatch" and loc else None
    if model is not None and (fits := getattr(model, "pattern_hint", lambda *_: None)(loc[-1], err.get("input"))):
        said += f": {fits}"  # the value that fits, when what was written says which
    return said


def _as_skill_field(args: type[BaseModel], loc: list[str], errs: list[Any], skill_fields: Collection[str]) -> str:
    """Where an argument (``context``) refused as written is also the named skill's input field (a passage to answer
    from): that field goes in payload. The argument's own fix alone sent the skill nothing."""
    if not loc or loc[0] not in skill_fields or _field(args, loc[0]) is None or errs[0]["type"] == "missing":
        return ""  # (an unknown argument that is a skill's field is told so by _problem)
    return f"; or, as the skill's input field, it goes in payload: {{\"payload\": {{\"{loc[0]}\": ...}}}}"


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _range(args: type[BaseModel], loc: list[str]) -> str | None:
    """The numbers the field at ``loc`` takes, as its bounds say (``1 to 500``, ``more than 0``), or None."""
    model = _model_at(args, loc[:-1])
    f = _field(model, loc[-1]) if model is not None and loc else None
    if f is None:
        return None
    bounds: dict[str, Any] = {}
    for item in _constraints(f):
        for name in ("ge", "gt", "le", "lt"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    bounds = {name: str(v) if isinstance(v, int) else f"{v:g}" for name, v in bounds.items()}  # 10**12 not 1e+12
    low, high = bounds.get("ge"), bounds.get("le")
    if low is not None and high is not None:
        return f"{low} to {high}"
    parts = [f"more than {bounds['gt']}"] if "gt" in bounds else [f"{low} or more"] if low is not None else []
    parts += [f"less than {bounds['lt']}"] if "lt" in bounds else [f"at most {high}"] if high is not None else []
    return " and ".join(parts) or None


def _constraints(f: Any) -> list[Any]:
    """A field's constraints: its own, or those of the number an optional one holds (``Annotated[int, Field(gt=0)] |
    None``, as a bound on a type that refuses a boolean is written), which pydantic keeps on that union's member."""
    if f.metadata:
        return list(f.metadata)
    found: list[Any] = []
    for member in typing.get_args(f.annotation):
        for item in getattr(member, "__metadata__", ()):
            found.extend(getattr(item, "metadata", None) or [item])
    return found


def _value_hint(args: type[BaseModel], loc: list[str], value: Any) -> str:
    """`` (did you mean 'json_object'? ...)``: what the model at ``loc`` says a value it refuses was written for, where
    no spelling brings it near (a response_format type of ``json``), or ``""``."""
    hint = _model_says(args, loc, "value_hint", value)
    return f" ({hint})" if hint else ""


def _model_says(args: type[BaseModel], loc: list[str], hook: str, value: Any) -> str | None:
    """What the model holding ``loc`` says, by its ``hook`` (``value_hint``: what a value it refuses was written for;
    ``value_type_hint``: what a value of another type there meant), of ``value`` refused at ``loc``; None where it has
    no such hook or nothing to say."""
    model = _model_at(args, loc[:-1]) if loc else None
    return getattr(model, hook, lambda *_: None)(loc[-1], value) if model is not None else None


def _literal_hint(errs: list[Any], value: Any) -> str:
    """`` (did you mean 'error'?)``: the allowed value a text given for one of a list was written for (another case,
    a plural: a status filter's 'Error' or 'errors'), quoting that value, never the one sent."""
    if not isinstance(value, str):
        return ""
    allowed = [v for e in errs if e["type"] == "literal_error" for v in re.findall(r"'([^']*)'", e["ctx"]["expected"])]
    if value.casefold() in allowed:
        return f" (did you mean {value.casefold()!r}?)"
    if len(value) > 200:
        return ""
    close = difflib.get_close_matches(value.casefold(), allowed, n=1, cutoff=0.6) or [status_word(value, allowed)]
    return f" (did you mean {close[0]!r}?)" if close[0] else ""


def _shape_hint(args: type[BaseModel], loc: list[str], value: Any, expected: list[Any]) -> str:
    """What to write where text came in place of an object or a list: the value a model meant, written bare
    (``model_config="gpt-4o"``, ``fallbacks="fake:second"``), or an object written as text that is no JSON
    (``"{'data': 'x'}"``). Never the value itself: it may be a key pasted into the wrong place."""
    wanted = "an object" if "an object" in expected else "an array" if "an array" in expected else None
    if not isinstance(value, str) or wanted is None or not loc:
        return ""
    if value.strip()[:1] in ("{", "["):
        try:
            json.loads(value)
        except (ValueError, RecursionError):
            return " that is not JSON: send the value itself in JSON (double quotes, no trailing commas), not text"
        return ": send the value itself, not its JSON as text"
    if wanted == "an array":
        return ': write a list, ["..."]'
    model = _model_at(args, loc)
    key = getattr(model, "bare_value_key", None) if model is not None else None
    if key:
        return f': write {{"{key}": "..."}}'
    description = _description(args, loc)
    if any(e.startswith("one of ") for e in expected if e):  # a word would do too (tool_choice's "auto")
        return f": give {description}" if description else ""
    return f": write an object of {description}" if description else ": write an object, {...}"


def _expected(err: Any) -> str | None:
    if err["type"] == "literal_error":
        return f"one of {err['ctx']['expected']}"
    return _EXPECTED.get(err["type"])


def _union_tags(args: type[BaseModel]) -> set[str]:
    """What pydantic may put in an error's location for a union's branch, and is not a field name."""
    fields: set[str] = set()
    tags: set[str] = {"str", "int", "float", "bool", "list", "dict", "none"}
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        tags.add(model.__name__)
        for name, f in model.model_fields.items():
            fields.update({name, f.alias or name})
            for inner in _models_in(f.annotation):
                walk(inner)

    walk(args)
    return tags - fields


def _names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _home(model: type[BaseModel], name: str) -> str | None:
    """The argument of ``model`` whose object takes ``name`` (``filters`` for ``agent``), if one does."""
    for field_name, f in model.model_fields.items():
        if any(_field(inner, name) is not None for inner in _models_in(f.annotation)):
            return f.alias or field_name
    return None


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, f in model.model_fields.items():
        if name in (field_name, f.alias):
            return f
    return None


def _model_at(args: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The model that validates the object at ``loc`` (nested arguments such as ``filters``)."""
    model: type[BaseModel] | None = args
    for part in loc:
        if part.isdigit():  # an item of a list (fallbacks.0): the list's model
            continue
        f = _field(model, part) if model is not None else None
        model = _model_in(f.annotation) if f is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    return next(iter(_models_in(annotation)), None)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation admits: itself, or a union's or a list's members."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _description(args: type[BaseModel], loc: list[str]) -> str | None:
    model = _model_at(args, loc[:-1])
    f = _field(model, loc[-1]) if model is not None and loc else None
    return f.description if f is not None else None


#: what a caller may name the skill's input when it means ``payload``
_PAYLOAD_NAMES = frozenset({"input", "inputs", "arguments", "args", "params", "parameters", "body", "fields"})


#: the catalog's skill ids while a rejected call is explained (None: not known), which :func:`skill_id_meant` offers
_KNOWN_SKILLS: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar("known_skills", default=None)


@contextlib.contextmanager
def known_skills(skills: frozenset[str] | None) -> Iterator[None]:
    """The catalog's ``skills`` known to the hints made within (see :func:`skill_id_meant`)."""
    token = _KNOWN_SKILLS.set(skills)
    try:
        yield
    finally:
        _KNOWN_SKILLS.reset(token)


def skill_id_meant(value: Any, pattern: str) -> str | None:
    """The skill id ``value`` means, when it misses ``pattern`` by its form only: a skill's name without its
    prefix, in capitals, after another separator or with an accent ("summarization", "Skill:Coding", "document
    analysis", "skill.analysïs"). Where the catalog's skills are known (:func:`known_skills`), only one of them is
    offered: "nope" was offered 'skill.nope', which no catalog had, and the call made so was refused again."""
    # the id offered is lower-cased: a key sent here would be shown in a case that redaction no longer knows
    if not isinstance(value, str) or len(value) > NAME_MAX or redact(value) != value:  # no skill id is longer
        return None
    from ..suggest import unaccented  # ("skill.analysïs": an accent alone misses the pattern)

    name = re.sub(r"^skills?\s*[.:/_ -]\s*", "", unaccented(value.strip()).lower())
    meant = "skill." + re.sub(r"\s+", "-", name)
    if name in ("skill", "skills") or not re.fullmatch(pattern, meant):
        return None
    known = _KNOWN_SKILLS.get()
    if known is not None and meant not in known:
        close = difflib.get_close_matches(meant, sorted(known), n=1, cutoff=0.75)
        if close:
            return f"did you mean {close[0]!r}?"
        return f"the catalog has no skill {meant!r} either: list_skills names those it has"
    return f"did you mean {meant!r}?"


def payload_field_hint(key: str, names: list[str]) -> str | None:
    """What an unknown key beside a skill call's ``payload`` is: most likely one of the skill's input fields
    (``data``), written as an argument of the tool, or the payload under another name (``input``). A misspelt
    argument (``skil_id``) is left to the close match."""
    if key.lower() in _PAYLOAD_NAMES:
        return "did you mean 'payload'? it holds the skill's input fields"
    if difflib.get_close_matches(key, names, n=1, cutoff=0.6):
        return None
    return payload_field(key)


def payload_field(key: str) -> str:
    return f'a skill\'s input field goes in payload: {{"payload": {{"{key}": ...}}}}'


def explain_not_an_object(tool: str, value: Any, args: type[BaseModel]) -> str:
    """tools/call's ``arguments`` sent as no object (the values as an array, the object's JSON as text, a number),
    which the SDK refused as a bare "Invalid request parameters": which argument, what was given, and the fix, as
    :func:`explain` says them of one argument. ``value`` is not quoted (it may be a prompt, or a key)."""
    given = "null" if value is None else _JSON_TYPES.get(type(value), f"a {type(value).__name__}")
    if isinstance(value, str) and _holds_json_object(value):
        given = "a string holding an object's JSON"
        fix = "send the object itself, not its JSON as text"
    elif isinstance(value, list):
        fix = "write them as one object of names and values, not an array of the values"
    else:
        fix = "write them as one object of names and values"
    required = [f.alias or name for name, f in args.model_fields.items() if f.is_required()]
    shape = "{" + ", ".join(f'"{name}": ...' for name in required) + "}" if required else "{}"
    accepted = ", ".join(_names(args))
    takes = f"{tool} takes: {accepted}" if accepted else f"{tool} takes no arguments: call it with {{}}"
    return f"{tool}: arguments: expected an object, got {given}: {fix}, e.g. {shape}. {takes}"


def _holds_json_object(text: str) -> bool:
    if not text.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
