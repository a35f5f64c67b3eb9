"""The options of ``skills.invoke`` and ``skills.ainvoke`` (:class:`~magsag_mcp.api.Skills`): what each
call may name besides the skill and its payload, checked before anything is sent, and a context as a dict;
and the :class:`Delegation` ``runner.invoke_sag`` takes."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .call_targets import TARGET_KEYS
from .errors import InputError
from .plurals import agreeing

#: the options invoke takes by name
INVOKE_OPTIONS = frozenset({"agent", "run_id", "context", "progress"})

#: what a progress callback is, as a type checker is told: ``progress(event, data)``, sync or async
Progress = Callable[[str, dict[str, Any]], object]


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse an option invoke does not take, before the call: a misspelt option must not cost a paid
    answer that is then lost."""
    unknown = sorted(options.keys() - INVOKE_OPTIONS)
    if unknown:
        hints = [option_hint(name) for name in unknown]
        raise InputError(
            f"unknown {agreeing(len(hints), 'option')} for invoke: {', '.join(hints)}; use agent, run_id, context, "
            "progress",
            options=unknown,
        )


def check_progress(progress: Any) -> None:
    """Refuse a ``progress`` that cannot be called, before the call: at its first event it would fail it."""
    if progress is not None and not callable(progress):
        raise InputError(
            f"progress must be a function called as progress(event, data), sync or async, got "
            f"{type(progress).__name__}: pass the function itself (progress=print), not its result or name"
        )
    if progress is not None:
        _check_progress_takes_event_and_data(progress)


def _check_progress_takes_event_and_data(progress: Callable[..., object]) -> None:
    """Refuse a ``progress`` that cannot be called with an event and its data, before the call: at its first event
    it failed it with Python's bare TypeError ("<lambda>() takes 1 positional argument but 2 were given"), the run
    recorded as failed. One whose signature Python cannot tell (some built-ins) is taken as it is."""
    try:
        signature = inspect.signature(progress)
    except (TypeError, ValueError):
        return
    try:
        signature.bind("attempt", {})
    except TypeError as why:
        name = getattr(progress, "__qualname__", None) or type(progress).__name__
        raise InputError(
            f"progress must be a function called as progress(event, data), sync or async, but {name}{signature} "
            f"cannot be ({why}): give it two parameters, as in `def progress(event, data): ...` "
            "(or `lambda event, data: ...`)"
        ) from None


def option_hint(name: str) -> str:
    """An unknown invoke option, with where it goes when it is routing's (MCP takes model_config beside
    the payload; here, as in the guide, it is in it) or the option it is a misspelling of."""
    from .call_request import MODEL_CONFIG_KEYS
    from .routing import CONTEXT_KEYS

    if name == "model_config":
        return f"{name!r} (it goes in the payload: {{..., 'model_config': {{'model': ...}}}})"
    if name in MODEL_CONFIG_KEYS:
        return f"{name!r} (it goes in the payload's model_config: {{..., 'model_config': {{{name!r}: ...}}}})"
    if name in CONTEXT_KEYS:
        return f"{name!r} (it goes in the context: context={{{name!r}: ...}})"
    if close := difflib.get_close_matches(name, INVOKE_OPTIONS, 1):
        return f"{name!r} (did you mean {close[0]!r}?)"
    return repr(name)


def as_context(value: Any, where: str) -> dict[str, Any]:
    """A call's or a delegation's context as a dict (None is empty): anything else is refused by name,
    not a TypeError from merging it with the bound context."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(
            f"{where} must be a mapping such as {{'preferred_model': 'gpt-4o'}} or {{'tier': 'economy'}}, "
            f"got {type(value).__name__}"
        )
    return dict(value)


def merged_context(bound: Mapping[str, Any], given: Any, where: str) -> dict[str, Any]:
    """The context of a call of skills bound to ``bound`` (a delegation's): the call's own (``given``) over it,
    a key it gives as None keeping the bound value (None is "not given", as for an option: a helper's
    ``data_class=None`` must not lift the class the data came with), and the two ``llm_overrides`` merged key
    by key, the call's winning, so that a SAG setting a temperature of its own keeps the model it was given.
    A model the call's ``llm_overrides`` names replaces the bound one with its target keys (provider, base_url,
    params, fallbacks: they were that model's, as between model_config and llm_overrides); a key given as None
    there too keeps the bound value. "" gives nothing either (:func:`unsaid`)."""
    context = dict(bound)
    given = as_context(given, where)
    for key, value in given.items():
        if not unsaid(value) or key not in bound:
            context[key] = value
    ours, theirs = bound.get("llm_overrides"), context.get("llm_overrides")
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):  # anything else is routing's to refuse
        if not unsaid(theirs.get("model")):
            ours = {key: value for key, value in ours.items() if key not in TARGET_KEYS}
        context["llm_overrides"] = {**ours, **{k: v for k, v in theirs.items() if not unsaid(v) or k not in ours}}
    return context


def run_classes(bound: tuple[str, ...], given: Any, where: str) -> tuple[str, ...]:
    """The data classes of an agent's run: ``bound``, those of the run it was delegated from (its data came with
    them), and ``given``, the class its own context names, which applies beside them. Data of two classes is held to
    both: another class named in a run adds its requirements, never lifts those the data came with (financial_data
    named by a SAG given pii_processing data took that class's place, and the data went to gpt-4o, past
    pii_processing's models). Refused here, not at a call: a class that is no name would go unsaid to the runs
    delegated from this one."""
    if unsaid(given):
        return bound
    if not isinstance(given, str):
        raise InputError(
            f"{where}: data_class must be a data class name such as 'pii_processing', not a "
            f"{type(given).__name__}; the run keeps it for its data, and applies it beside the classes of the runs "
            "it was delegated from"
        )
    return bound if given in bound else (*bound, given)


def unsaid(value: Any) -> bool:
    """A context's value that gives nothing: None, or "" (a form's empty field, an unset variable), which routing
    reads as no model and no class: it keeps the bound value, where "" took its place (the delegation's model and
    fallbacks dropped for no model; its data class for a refused one)."""
    return value is None or (isinstance(value, str) and not value)


@dataclass(slots=True)
class Delegation:
    """A MAG handing a task to a SAG. ``context`` may carry ``preferred_model`` or ``llm_overrides``."""

    task_id: str
    sag_id: str
    input: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)


def as_delegation(given: Any) -> Delegation:
    """A delegation written as a dict (``{"task_id", "sag_id", "input", "context"}``, as a MAG building one from
    JSON would): read as the :class:`Delegation` it spells; anything else is refused naming what is wanted."""
    fields = ("task_id", "sag_id", "input", "context")
    if isinstance(given, Mapping):
        unknown = sorted(str(k) for k in given if k not in fields)
        missing = [k for k in fields[:3] if k not in given]
        if not unknown and not missing:
            return Delegation(**given)
        raise InputError(
            "a delegation needs task_id, sag_id and input (context optional); "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}")
            + ": pass Delegation(task_id=..., sag_id=..., input=...)"
        )
    raise InputError(
        f"invoke_sag takes a Delegation (or a dict of its fields), not a {type(given).__name__}: pass "
        "Delegation(task_id=..., sag_id=..., input=...)"
    )
