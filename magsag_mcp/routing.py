"""A call's plan: its payload checked, the request it sends, and where it goes, resolved (or kept from a call
before it that named the same: see :func:`plan_call`).

Where it goes, highest first (see :mod:`.route_resolution`): the call's own overrides (``model_config``, then
``context["llm_overrides"]``, then ``context["preferred_model"]``), ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL``, the
routing policy (a cost tier, else the first route matching the skill's ``task_type``), the default chain; then the
models a data class requires. Governance sits above all of them: it is checked per attempt by the cascade.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .call_request import build_request
from .call_targets import NAMED_ROUTES_KEPT, named_route_key
from .call_urls import CallURLs
from .catalog import Catalog
from .env_routing import _served_by as _served_by  # (tests import it from here)
from .env_routing import check_env_override as check_env_override  # where callers import it from
from .errors import PayloadError
from .payload_checks import check_nesting
from .payload_warnings import CONTEXT_KEYS as CONTEXT_KEYS  # where callers import it from
from .payload_warnings import check_context_keys, near_misses
from .route_resolution import Candidate as Candidate  # where callers import it from
from .route_resolution import Resolution as Resolution  # where callers import it from
from .route_resolution import _route  # (called by its name here: a test counts the resolutions by replacing it)
from .route_resolution import route as route  # where callers import it from
from .targets import register_call_credentials
from .text import check_text
from .types import LLMRequest, Target

if TYPE_CHECKING:
    from .answer_flights import Flight
    from .paused_calls import PausedCall

#: target params that configure magsag itself rather than being sent to the vendor
RESERVED_PARAMS = frozenset({"api", "capabilities"})
#: the settings a call pinned where it pinned none (most calls): one set for them all. ``frozenset(set())`` is a new
#: object each time, tracked by the cyclic collector, which walked and promoted each plan's at 200 callers
#: (benchmarks/ROUNDS.md, the fiftieth round)
NONE_PINNED: frozenset[str] = frozenset()


@dataclass(slots=True)
class Plan:
    skill_id: str
    task_type: str
    rule: str
    candidates: list[Candidate]
    request: LLMRequest
    #: every data class that applies: the skill's, then the caller's if it declared another one
    data_classes: tuple[str, ...] = ()
    #: request fields the call set explicitly; they beat per-target params
    pinned: frozenset[str] = NONE_PINNED
    warnings: list[str] = field(default_factory=list)
    #: the skill's :meth:`~.skills.CallParts.answer_text` for a text answer that may copy an escaped value, else None
    answer_text: Callable[[str], str] | None = None
    #: the skill's :meth:`~.skills.CallParts.answer_stream` where :attr:`answer_text` is given: an attempt's progress
    #: that writes the streamed text back as answer_text writes the final text
    answer_stream: Callable[[Any], Any] | None = None
    #: the resolution ``candidates`` were copied from (shared by the calls of a cached route), where what the trace
    #: shows of them is kept once made (see :func:`~.cascade_report.shown_candidates`)
    resolution: Resolution | None = None
    #: how long an answer found in the answer cache may be old to answer this call (seconds), None: the cache is not
    #: used (see answer_cache.py; set by Service.plan from the call's context and the routing catalog)
    cache_ttl: float | None = None
    #: the answer-cache key this call is sending now, which other calls of the process wait for (see answer_flights.py;
    #: landed by the cascade when it leaves the target, else by Service.invoke_skill once the answer is stored)
    flight: Flight | None = None
    #: the resolution's :attr:`~.route_resolution.Resolution.classes_apart`: why two data classes of the call refuse
    #: every target, in one sentence (None: they do not, or the call has fewer than two)
    classes_apart: str | None = None
    #: the call's context.pause_continuations: how many requests may continue a turn Claude paused, None: the
    #: setting's (MAGSAG_PAUSE_CONTINUATIONS; see cascade_paused.py)
    continuations: int | None = None
    #: the call that left a turn paused, which this one sends back to go on with (see paused_calls.py); None for a
    #: call of its own
    resumed: PausedCall | None = None

    @property
    def data_class(self) -> str | None:
        return self.data_classes[0] if self.data_classes else None

    def request_for(self, target: Target) -> LLMRequest:
        """The request as this target should receive it: target params fill what the call left open."""
        if not target.params:  # most targets have none
            return self.request
        params = {k: v for k, v in target.params if k not in RESERVED_PARAMS}
        if not params:
            return self.request
        req = LLMRequest(
            messages=self.request.messages,
            system=self.request.system,
            tools=self.request.tools,
            tool_choice=self.request.tool_choice,
            json_output=self.request.json_output,
            json_schema=self.request.json_schema,
            json_schema_name=self.request.json_schema_name,
            json_validator=self.request.json_validator,
            max_tokens=self.request.max_tokens,
            temperature=self.request.temperature,
            stop=self.request.stop,
            stream=self.request.stream,
            extra=dict(self.request.extra),
            json_schema_strict=self.request.json_schema_strict,
            json_schema_description=self.request.json_schema_description,
            json_schema_given=self.request.json_schema_given,
        )
        for key, value in params.items():
            if key in ("max_tokens", "temperature", "stop"):
                if key not in self.pinned:
                    # one stop sequence is a list of one: as a bare string, a wire taking a list gets its characters
                    setattr(req, key, [value] if key == "stop" and isinstance(value, str) else value)
            else:
                req.extra.setdefault(key, value)
        return req


def _not_a_mapping(skill_id: str, fields: tuple[str, ...], payload: Any) -> str:
    """A payload that is no mapping refused with the one it should be: "got str" said what was wrong and not the
    fix, for a caller who passed the text the skill reads (``invoke("skill.analysis", "Q3 revenue ...")``)."""
    example = ", ".join(f"{name!r}: ..." for name in dict.fromkeys(fields)) or "'model_config': {...}"
    return (
        f"{skill_id}: payload must be a JSON object (a dict of the fields its prompt reads), got "
        f"{type(payload).__name__}; pass {{{example}}}"
    )


def plan_call(
    catalog: Catalog,
    skill_id: str,
    payload: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None,
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None = None,
    call_urls: CallURLs | None = None,
    route_cache: dict[str, Resolution] | None = None,
    named_routes: dict[tuple[Any, ...], Resolution] | None = None,
    explaining: bool = False,
    run_classes: tuple[str, ...] = (),
) -> Plan:
    """``explaining``: the plan is explain's, which sends nothing (a refusal says what was not done).

    ``run_classes``: the data classes of the agent's run the call is made in (see :class:`~.api.Runner`), which
    confine it beside the skill's and the context's own.

    ``call_urls``: where this configuration lets a call's base URLs go; a :class:`Service` passes the
    one it built when it opened, and without it ``env`` and ``catalog`` are read for this call.

    ``route_cache``: a :class:`Service`'s resolutions of calls that name nothing themselves (no
    ``model_config``, ``llm_overrides`` nor context). Such a call's route depends only on the catalog, the
    environment and the policies, which a service never changes, so it is resolved once per skill.
    ``named_routes``: its resolutions of calls that do, by what they name (:func:`~.call_targets.named_route_key`), the
    latest :data:`NAMED_ROUTES_KEPT` of them."""
    skill = catalog.skill(skill_id)
    # (a dict, as almost every payload is, is a Mapping without asking the ABC: some 800 instructions each time)
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise PayloadError(_not_a_mapping(skill_id, skill.field_names, payload))
    context = context or {}
    check_text(payload, "payload", PayloadError)
    if context:  # (an empty one holds no text)
        check_text(context, "context", PayloadError)
    mc = payload.get("model_config") or {}
    if type(mc) is not dict and not isinstance(mc, Mapping):
        raise PayloadError("payload.model_config must be an object, e.g. {'model': 'gpt-4o'}")
    mc = check_nesting(mc, "model_config")
    if context:
        check_context_keys(context, explaining=explaining)
    lo = context.get("llm_overrides") or {}
    if type(lo) is not dict and not isinstance(lo, Mapping):
        raise PayloadError("context.llm_overrides must be an object, e.g. {'model': 'gpt-4o-mini'}")
    lo = check_nesting(lo, "context.llm_overrides")
    request, pinned = build_request(skill, payload, mc, lo)
    parts = skill.call_parts  # plain attributes: a pydantic model's cost several times as much to read
    key: str | tuple[Any, ...] | None  # (a skill's id, or what a call names; None: not cached)
    # (either cache, typed for both keys without typing.cast: a Python call, some 880 instructions, on every call)
    caches: tuple[dict[Any, Resolution] | None, dict[Any, Resolution] | None] = (route_cache, named_routes)
    if not mc and not lo and not context and not run_classes:
        cache, key = caches[0], parts.id
    else:
        cache, key = caches[1], named_route_key(parts.id, mc, lo, context)
        if key is not None and run_classes:  # (its run's classes confine it too: a route of their own)
            key = (*key, run_classes)
    chosen = cache.get(key) if cache is not None and key is not None else None
    if chosen is None:
        chosen = _route(
            catalog,
            skill,
            mc=mc,
            lo=lo,
            context=context,
            env=env,
            data_class_models=data_class_models,
            call_urls=call_urls,
            run_classes=run_classes,
        )
        if cache is not None and key is not None:
            with _CACHING:  # skills.explain plans on its caller's thread: two dropping one oldest failed (KeyError)
                if isinstance(key, tuple) and len(cache) >= NAMED_ROUTES_KEPT:  # (named_routes')
                    del cache[next(iter(cache))]  # the oldest: what calls name is the callers' to choose
                cache[key] = chosen
    if mc or lo:  # only a call's own targets have credentials of the call's
        for cand in chosen.candidates:
            if cand.source == "call" and cand.target.params:
                # its credentials are kept out of this call's messages (a cached route's targets are not parsed again)
                register_call_credentials(cand.target.param_dict())
    # (only where the prompt escaped something: else an escape-like text in the answer is the model's own)
    escaped = parts.answer_unescape is not None and parts.escapes(payload)
    warnings = near_misses(payload, context, parts)
    if chosen.warnings:  # (a new list: near_misses' own is not the route's, which a cached route shares)
        warnings += chosen.warnings
    # positional, in the field order: a class called with keywords builds and unpacks a dict of them
    # (Python 3.11), on every call
    plan = Plan(
        parts.id,
        parts.task_type,
        chosen.rule,
        list(chosen.candidates),  # the plan's own list: a cached resolution is shared
        request,
        chosen.data_classes,
        frozenset(pinned) if pinned else NONE_PINNED,
        warnings,
        parts.answer_text if escaped else None,
        parts.answer_stream if escaped else None,
        chosen if cache is not None and key is not None else None,  # (a route made for this call alone: nothing kept)
    )
    if chosen.classes_apart is not None:
        plan.classes_apart = chosen.classes_apart
    return plan


_CACHING = threading.Lock()  # held while a route is cached (only then: a cache hit takes no lock)
