"""What a call's payload and context say that magsag does not read, said in the result's warnings: a key that looks
like one magsag reads but is not (modelConfig, a caller's own context key near a routing key), a routing or record
key written among the skill's fields, a field the skill's prompt never reads. Each went where the key meant to keep it
from going, or was paid for without reaching the model. Made by :func:`~.routing.plan_call` on every call; cheap when
nothing is amiss. A routing key of the context misspelt is no warning but refused, before anything is sent
(:func:`check_context_keys`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from .call_request import MODEL_CONFIG_KEYS
from .errors import InputError, PayloadError
from .redaction import redact
from .suggest import named, one_edit

__all__ = ["CONTEXT_KEYS", "check_context_keys", "misspelt_context_key", "near_misses", "one_of_many", "plural_of"]

#: the context keys routing reads (and cache_ttl, the answer cache's: see answer_cache.py; pause_continuations, the
#: cascade's: see cascade_paused.py)
CONTEXT_KEYS = ("llm_overrides", "preferred_model", "tier", "data_class", "cache_ttl", "pause_continuations")


#: the keys of a call's context and model_config, and the context itself: beside the skill's fields in a payload,
#: routing reads none of them
_ROUTING_KEYS = frozenset(CONTEXT_KEYS) | MODEL_CONFIG_KEYS | {"context"}
#: what a call is recorded under, given beside its payload: in it, the ledger and the budgets read neither
_RECORD_KEYS = {
    "agent": "the call was not recorded under that agent, and its limits did not apply to it",
    "run_id": "the call did not join that run, and its limits did not apply to it",
}
#: both, looked for in every payload: one set, not their union made again on each call
_STRAY_KEYS = _ROUTING_KEYS | frozenset(_RECORD_KEYS)


def near_misses(payload: Mapping[str, Any], context: Mapping[str, Any], skill: Any = None) -> list[str]:
    """Keys that look like the ones magsag reads but are not (modelConfig, a context's ``timer`` or ``tier1``, a
    payload's own data_class or model that the skill does not read): said in the result's warnings, since the call
    then went where the key meant to keep it from going. ``skill``: its :class:`~.skills.CallParts`. The warnings
    quote the caller's keys redacted, as an error quoting them is: a credential pasted as a key is not shown back."""
    out = []
    if "model_config" not in payload:
        for key in payload:
            # (a key shorter than "modelconfig" is none: the call made and the text folded for it, not asked)
            if isinstance(key, str) and len(key) >= _MODEL_CONFIG_LEN and _model_config_like(key):
                out.append(f"payload key {key!r} is not 'model_config': it went to the skill as data, not routing")
    # asked first whether any key is one (a lookup a key): the intersection made a set and looked up each of the
    # ~20 keys in the payload, about 3,400 instructions on every call, where almost none has one
    stray = payload.keys() & _STRAY_KEYS if skill is not None and not _STRAY_KEYS.isdisjoint(payload) else ()
    if stray:  # (rare: the skill's fields read only then)
        read = {*skill.field_names, *((skill.input_schema or {}).get("properties") or ())}
        for key in sorted(stray - read):
            if key in _RECORD_KEYS:
                out.append(
                    f"payload key {key!r} went to the skill as data: {_RECORD_KEYS[key]}; the call's {key} goes "
                    f"beside its payload (invoke's {key}=, invoke_skill's {key})"
                )
                continue
            goes = f"context['{key}']" if key in CONTEXT_KEYS else f"payload['model_config']['{key}']"
            if key == "context":
                goes = "the call's own context, beside its payload (invoke's context=, invoke_skill's context)"
            elif key == "llm_overrides":  # over MCP the context takes only its three: told context['llm_overrides'],
                # a client sent it there and was refused
                goes = "context['llm_overrides'] (invoke_skill's: its model_config argument)"
            out.append(
                f"payload key {key!r} went to the skill as data, not routing, which did not apply it: a call's "
                f"{key} goes in {goes}"
            )
    if skill is not None:
        out.extend(_unread_fields(payload, skill))
    unknown = [k for k in context if k not in CONTEXT_KEYS and isinstance(k, str)] if context else ()
    if unknown:
        for key in unknown:
            # context={"model": ...} or a payload's model_config (in a Delegation's context): read by no one
            if key in MODEL_CONFIG_KEYS or key == "model_config":
                also = " or context['preferred_model']" if key == "model" else ""
                goes = (
                    "a call's model_config goes in its payload (payload['model_config']), or its keys in "
                    "context['llm_overrides']"
                    if key == "model_config"
                    else f"the call's {key} goes in context['llm_overrides']{also} (or payload['model_config'])"
                )
                out.append(f"context key {key!r} is not one magsag reads: {goes}, and was not applied")
                continue
            if _cache_setting_like(key, context[key]):  # a route's `cache: {ttl: 1h}` in a call's context, or its ttl
                # (not "the cache was left alone": a route's or skill's cache still applied to the call, unchanged)
                out.append(
                    f"context key {key!r} is not one magsag reads, and was not applied: a call's answer cache is "
                    "context['cache_ttl'], in seconds (3600 for an hour, 0 for none; a route's cache: {ttl: 1h} is "
                    "the routing catalog's)"
                )
                continue
            # a caller's own key near a routing key (a misspelt one is refused: check_context_keys): it may have
            # been meant as one, and the call went where routing sent it
            close = difflib.get_close_matches(key, CONTEXT_KEYS, n=1, cutoff=0.75)
            if close:
                out.append(f"context key {key!r} is not one magsag reads; did you mean {close[0]!r}?")
    if out:  # (rare: a clean call redacts nothing)
        out = [redact(w) for w in out]
    return out


def _cache_setting_like(key: str, value: Any) -> bool:
    """Whether a context key names the answer cache's setting in other words than ``cache_ttl`` (``cache``, as a
    route writes it, or its ``ttl`` alone): too far from it for difflib's closeness, and no misspelling of it
    (:func:`misspelt_context_key` refuses those: ``cache_ttl_s``), it would pass unread, each call paid for again.
    Only with a value a cache setting could be (``{ttl: ...}``, a duration, seconds, ``true``): the context is the
    caller's own too (a delegation's carries what its agents pass on), and a ``cache`` of documents or a session's
    ``ttl`` word is no setting of magsag's, warned of on every call."""
    folded = _folded(key)
    if folded == "cache":
        if isinstance(value, Mapping):
            return any(isinstance(k, str) and _folded(k) in ("ttl", "cachettl") for k in value)
        return isinstance(value, bool) or _a_duration(value)
    return folded == "ttl" and _a_duration(value)


def _a_duration(value: Any) -> bool:
    """Whether ``value`` reads as a route's cache ttl does: seconds, or a duration (90s, 30m, 1h, 7d)."""
    from .ledger.times import parse_duration_seconds

    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    try:
        float(value)  # ("3600": seconds, as a string)
    except ValueError:
        try:
            parse_duration_seconds(value)
        except InputError:
            return False
    return True


def check_context_keys(context: Mapping[str, Any], *, explaining: bool = False, budgeting: bool = False) -> None:
    """Refuses a context key that is a routing key misspelt (``preferred_modle``, ``Tier``): the call would go where
    routing sends it, paid for, not where the key meant, as a warning said only after. MCP's invoke_skill refuses
    it by its schema, in these words ("(did you mean 'preferred_model'?)"). Any other key is the caller's own (a
    delegation's context carries what its agents pass on) and passes, one near a routing key with a warning
    (:func:`near_misses`). ``explaining``: the context is explain's, which sends no call (it said "the call was not
    sent"), and whose route the key would have chosen. ``budgeting``: check_budget's, which asks whether such a call
    would fit."""
    for key in context:
        if isinstance(key, str) and key not in CONTEXT_KEYS:
            meant = misspelt_context_key(key)
            if meant is not None:
                if budgeting:
                    done, again = "the call was not checked: the key would have chosen its route", "ask again"
                elif explaining:
                    done, again = "the route was not explained: the key would have chosen it", "run explain again"
                else:
                    done = "the call was not sent: the key would have chosen where it goes"
                    again = "send the call again"
                said = f"unknown context key {key!r} (did you mean {meant!r}?)"
                # several for a key that takes one (preferred_models: [a, b]): "write it 'preferred_model'" was
                # refused next as no model name
                many = one_of_many(meant, context[key]) if plural_of(key, meant, context[key]) else None
                fix = f"{many}, and {again}" if many else f"write it {meant!r} and {again}"
                raise PayloadError(redact(f"{said}; {done}; {fix}"))


def plural_of(key: str, meant: str, value: Any = None) -> bool:
    """Whether ``key``, routing key ``meant`` misspelt, was written for several values: a list, or its plural
    (``data_classes``; not ``data-class``, whose own name ends so)."""
    return isinstance(value, list) or _folded(key) in (_folded(meant) + "s", _folded(meant) + "es")


def one_of_many(meant: str, value: Any = None, *, mcp: bool = False) -> str | None:
    """What to write where a context key that takes one value (``preferred_model``, ``data_class``) was given
    several (``preferred_models: [a, b]``, ``data_classes``, or the key itself with a list), else None: an ordered
    preference is a call's model and its fallbacks (``llm_overrides``, or MCP's ``model_config`` argument), each
    tried if the ones before it fail; a call declares one data class, beside its skill's own. ``value``: the
    caller's, whose names the fix shows (bounded: a refusal quotes no more than a few)."""
    names = [value] if isinstance(value, str) else value[:4] if isinstance(value, list) else []
    names = [v for v in names if isinstance(v, str) and 0 < len(v) <= 100]
    # MCP's caller writes JSON ("gpt-4o"), Python's a literal ('gpt-4o')
    quoted = json.dumps if mcp else repr
    if meant == "preferred_model":
        if len(names) == 1:
            return f"preferred_model names one model: write {quoted('preferred_model')}: {quoted(names[0])}"
        first, rest = (names[0], names[1:]) if names else ("gpt-4o", ["claude-3-5-sonnet-20241022"])
        if mcp:
            where = "the model_config argument " + json.dumps({"model": first, "fallbacks": rest})
        else:
            where = (
                f"context['llm_overrides'] = {{'model': {first!r}, 'fallbacks': {rest!r}}} (or payload['model_config'])"
            )
        return (
            f"preferred_model names one model, the call's target; for models tried in order write {where}: each "
            "is tried if the ones before it fail"
        )
    if meant == "data_class":
        if len(names) == 1:
            return f"data_class names one class: write {quoted('data_class')}: {quoted(names[0])}"
        return (
            "data_class names one class (the skill's own applies beside it): write 'data_class' with the one whose "
            "models every class of the data allows, or a class a policy's requirements define for such data"
        )
    return None


def misspelt_context_key(key: str) -> str | None:
    """The routing key ``key`` is a misspelling of, or None. A misspelling is the key's letters slipped, not another
    word: the same letters in another case or with other separators (``Tier``, ``preferredModel``, ``data-class``),
    a plural (``tiers``, ``llm_override``), or, in a key of eight letters or more, one letter added, dropped,
    changed, or two swapped (``prefered_model``, ``preferred_modle``); in a shorter one, two adjacent inner letters
    swapped (``teir``: its first and last letters stay, as a word of its own seldom keeps them, ``tire``).
    difflib's closeness (0.75) took words of their own for misspellings and refused them: ``time`` and ``timer`` as
    'tier', ``preferred_language`` and ``preferred_voice`` as 'preferred_model'."""
    if len(key) > _LONGEST_MISSPELLING:
        return None
    folded = _folded(key)
    for routing, meant in _FOLDED_CONTEXT_KEYS:
        if folded in (routing, routing + "s", routing + "es") or folded + "s" == routing:
            return meant
        if len(routing) >= 8 and one_edit(folded, routing):
            return meant
        if len(routing) < 8 and _inner_letters_swapped(folded, routing):
            return meant
    return None


def _folded(key: str) -> str:
    return key.casefold().translate(_SEPARATORS)


#: what a key's words are joined by, left out of its comparison with the routing keys
_SEPARATORS = str.maketrans("", "", "_- .")
#: the routing keys folded (:func:`_folded`), with their names
_FOLDED_CONTEXT_KEYS = tuple((_folded(k), k) for k in CONTEXT_KEYS)
#: longer than any misspelling of a routing key (the longest, llm_overrides, with separators and a letter more)
_LONGEST_MISSPELLING = 40


def _inner_letters_swapped(a: str, b: str) -> bool:
    """Whether ``a`` is ``b`` with two adjacent letters swapped, neither of them its first or last (``teir``)."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and 0 < diff[0]
        and diff[1] < len(a) - 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


#: the length of "modelconfig": a key that reads as it once "_" and "-" are taken out is no shorter
_MODEL_CONFIG_LEN = len("modelconfig")


def _model_config_like(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "") == "modelconfig"


def _unread_fields(payload: Mapping[str, Any], skill: Any) -> list[str]:
    """The payload's fields that the skill's prompt does not read (``{"document": ..., "question": ...}`` to a skill
    whose template reads only ``{document}``): no part of the request carries them, so the model answered without
    them, and was paid to. Said in the warnings; a routing or record key among them has a warning of its own."""
    fields = skill.field_names
    for key in payload:  # (a payload of the fields the prompt reads, most: no set made, none subtracted)
        if key not in fields:
            break
    else:
        return []
    unread = payload.keys() - fields
    if not unread or not (unread := unread - _STRAY_KEYS - {"model_config"}):
        return []
    # in the payload's order; a misspelt model_config (modelConfig) has a warning of its own
    names = [k for k in payload if k in unread and not _model_config_like(k)]
    if not names:
        return []
    reads = ", ".join(dict.fromkeys(skill.field_names)) or "no field"
    what = f"payload field {named(names, ())} was" if len(names) == 1 else f"payload fields {named(names, ())} were"
    return [
        f"{what} not sent: {skill.id}'s prompt reads only {reads}, so the model never saw "
        f"{'it' if len(names) == 1 else 'them'}; put what the model must read in a field the skill reads, or use a "
        "skill that takes it (list_skills shows each skill's payload_fields)"
    ]
