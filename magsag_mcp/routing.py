"""Which targets a call may go to, in what order: resolution, before anything is called.

Highest first:

1. explicit overrides in the call: ``payload["model_config"]`` (``model``, ``provider``,
   ``base_url``, ``fallbacks``), then ``context["llm_overrides"]``, then ``context["preferred_model"]``
   (a level that names no model still sets the rest for the model named below it);
2. ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` (``MAGSAG_PROVIDER`` alone keeps the policy's models and
   swaps their provider, a vendor taking routing's ``provider_defaults`` where the route and the default chain
   name none of its models; a call naming only a provider gets ``MAGSAG_MODEL`` when that provider serves it,
   and a call naming only a model gets ``MAGSAG_PROVIDER`` when that serves it, see
   :func:`_env_provider_serves`);
3. the routing policy: a cost tier (``context["tier"]`` or the skill's ``tier``), else the first
   route matching the skill's ``task_type`` by priority;
4. the default chain.

Governance sits above all of them: it is checked per attempt by the cascade, and a data class with
required models (e.g. ``pii_processing: [llama3.1:70b]``) adds those models to the end of the plan so
that a call which policy keeps away from other models can still be served (a pattern such as
``local:*`` allows models but names none, so it adds nothing).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .call_request import build_request, optional_str
from .call_targets import NAMED_ROUTES_KEPT, call_targeting, explicit_target, named_route_key
from .call_urls import CallURLs
from .catalog import Catalog
from .env_routing import (
    _env_override,
    _env_provider_serves,
    _served_by,
    _swap_provider,
    check_call_target,
    check_env_pair,
)
from .env_routing import check_env_override as check_env_override  # where callers import it from
from .errors import ConfigError, PayloadError
from .payload_checks import check_nesting
from .payload_warnings import CONTEXT_KEYS as CONTEXT_KEYS  # where callers import it from
from .payload_warnings import check_context_keys, near_misses
from .providers import canonical_provider
from .rates import bare_model
from .skills import Skill
from .targets import parse_target, provider_prefix, register_call_credentials
from .text import check_text
from .types import LLMRequest, Target
from .types import TargetSource as Source  # (in types.py, light, for result_dicts' explain result to name)

#: target params that configure magsag itself rather than being sent to the vendor
RESERVED_PARAMS = frozenset({"api", "capabilities"})


@dataclass(slots=True, frozen=True)
class Candidate:
    target: Target
    source: Source
    #: chosen by the caller or the environment: a policy denial fails the call instead of skipping
    explicit: bool
    #: chosen by the environment (MAGSAG_MODEL, MAGSAG_PROVIDER), not by the call: a data class that
    #: forbids it skips it for the class's own models, as a deployment-wide setting cannot know them
    by_env: bool = False
    #: the routing policy's own target, when MAGSAG_PROVIDER or the call (without a model) named the provider
    #: of routing's models: a hosting provider serving its model, or a vendor keeping the route's own models
    #: of its own. A policy that refuses that target too refuses routing's choice of model, which is skipped
    #: as routing's are, not the provider's
    routed: Target | None = None
    #: one of the call's own ``fallbacks`` (not its model): a cascade the caller wrote out, each tried if the ones
    #: before it fail, so a policy that forbids one skips it for the next, as the guide's fallback loop moves on; the
    #: model the call names first is refused outright, as the caller asked for that model
    fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = self.target.to_dict()  # its own dict: added to, not copied into another
        data["source"] = self.source
        data["explicit"] = self.explicit
        return data


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
    pinned: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)
    #: the skill's :meth:`~.skills.CallParts.answer_text` for a text answer that may copy an escaped value, else None
    answer_text: Callable[[str], str] | None = None
    #: the skill's :meth:`~.skills.CallParts.answer_stream` where :attr:`answer_text` is given: an attempt's progress
    #: that writes the streamed text back as answer_text writes the final text
    answer_stream: Callable[[Any], Any] | None = None
    #: the resolution ``candidates`` were copied from (shared by the calls of a cached route), where what the trace
    #: shows of them is kept once made (see :func:`~.cascade_report.shown_candidates`)
    resolution: Resolution | None = None

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


@dataclass(slots=True)
class Resolution:
    """Where a call goes, before any payload is seen: the targets in order, the rule that chose them,
    and the data classes whose requirements apply."""

    candidates: list[Candidate]
    rule: str
    data_classes: tuple[str, ...]
    #: what every call's trace shows of ``candidates``, made by the first call of a cached route and read by the
    #: next ones: (the candidates it was made of, their labels, their dicts); see
    #: :func:`~.cascade_report.shown_candidates`
    shown: tuple[list[Candidate], list[str], list[dict[str, Any]]] | None = None
    #: what resolving said to the caller: a cost tier the call asked for that a model named above it left unused
    warnings: tuple[str, ...] = ()


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
) -> Plan:
    """``explaining``: the plan is explain's, which sends nothing (a refusal says what was not done).

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
        raise PayloadError(f"{skill_id}: payload must be a JSON object, got {type(payload).__name__}")
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
    if not mc and not lo and not context:
        cache, key = caches[0], parts.id
    else:
        cache, key = caches[1], named_route_key(parts.id, mc, lo, context)
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
    return Plan(
        parts.id,
        parts.task_type,
        chosen.rule,
        list(chosen.candidates),  # the plan's own list: a cached resolution is shared
        request,
        chosen.data_classes,
        frozenset(pinned),
        warnings,
        parts.answer_text if escaped else None,
        parts.answer_stream if escaped else None,
        chosen if cache is not None and key is not None else None,  # (a route made for this call alone: nothing kept)
    )


_CACHING = threading.Lock()  # held while a route is cached (only then: a cache hit takes no lock)

#: fnmatch's special characters: a requirement holding one is a pattern, not a model (model_patterns.matches)
_GLOB = re.compile(r"[*?[]")


def route(
    catalog: Catalog,
    skill_id: str,
    *,
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None = None,
) -> Resolution:
    """The route a call to ``skill_id`` takes when neither its payload nor its context names a model:
    the same resolution :func:`plan_call` makes (``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL``, the skill's
    tier, routes, data-class models), for showing it without a payload to check."""
    return _route(
        catalog,
        catalog.skill(skill_id),
        mc={},
        lo={},
        context={},
        env=env,
        data_class_models=data_class_models,
        call_urls=None,
    )


def _route(
    catalog: Catalog,
    skill: Skill,
    *,
    mc: Mapping[str, Any],
    lo: Mapping[str, Any],
    context: Mapping[str, Any],
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None,
    call_urls: CallURLs | None,
) -> Resolution:
    candidates: list[Candidate] = []
    #: MAGSAG_PROVIDER names no model for the task: the error, raised unless a data class names models
    no_env_model: ConfigError | None = None
    yielded = ""  # why the data class's models serve a call then
    #: targets the call itself named, with the field they came from (their base URLs are checked)
    from_call: list[tuple[Target, str]] = []
    rule = ""
    call, wheres = call_targeting(mc, lo, context)
    # the caller's cost tier is checked whichever level names the model: an unknown one is the caller's mistake
    # even where a model named above it leaves it unused (which the call's warnings then say)
    asked = context.get("tier")
    if asked and (not isinstance(asked, str) or asked not in catalog.routing.tiers):
        raise PayloadError(_unknown_tier(asked, catalog.routing.tiers))  # the caller's word, not the catalog's
    env_provider, env_model = _env_override(env)
    by_env_provider = bool(env_provider and _env_provider_serves(call, env_provider))
    if by_env_provider:
        # the call named a model and left its provider open: MAGSAG_PROVIDER fills it in
        call = {**call, "provider": env_provider}
    explicit = explicit_target(call, wheres)
    explicit_where = wheres.get("base_url") or wheres.get("model", "model_config")
    call_provider = optional_str(call, "provider", wheres.get("provider", "model_config"))

    if explicit is not None:
        rule = "override:call" + (f" (provider:{env_provider} from MAGSAG_PROVIDER)" if by_env_provider else "")
        check_call_target(env, explicit, wheres.get("model", "model_config"))
        candidates.append(Candidate(explicit, "call", True))
        from_call.append((explicit, explicit_where))
        fallbacks = call.get("fallbacks") or []
        fb_where = wheres.get("fallbacks", "model_config")
        if not isinstance(fallbacks, list):
            raise PayloadError(
                f"{fb_where}.fallbacks must be a list of targets, e.g. ['claude-3-5-sonnet-20241022'], "
                f"got {type(fallbacks).__name__}"
            )
        for i, fb in enumerate(fallbacks):
            named = fb if isinstance(fb, Mapping) else {"model": fb}
            if env_provider and _env_provider_serves(named, env_provider):
                fb = {**named, "provider": env_provider}
            try:
                target = parse_target(fb, by_call=True)
            except ConfigError as exc:
                raise PayloadError(f"{fb_where}.fallbacks[{i}]: {exc.message}") from None
            check_call_target(env, target, f"{fb_where}.fallbacks[{i}]")
            candidates.append(Candidate(target, "call", True, fallback=True))
            from_call.append((target, f"{fb_where}.fallbacks[{i}]"))
    elif env_model and (not call_provider or _served_by(call_provider, env_model)):
        rule = "override:env"
        # under a provider the call names (which it can serve), MAGSAG_MODEL still beats the policy's models
        provider = call_provider or env_provider
        try:
            if call_provider:  # served by it (a hosting provider takes "openai:gpt-4o" as the name gpt-4o)
                pinned = provider_prefix(env_model.strip())
                target = parse_target({"provider": call_provider, "model": pinned[1] if pinned else env_model})
            else:
                target = parse_target({"provider": provider, "model": env_model} if provider else env_model)
        except ConfigError as exc:
            raise ConfigError(f"MAGSAG_MODEL={env_model!r}: {exc.message}") from None
        if not call_provider:
            try:
                check_env_pair(env, env_provider, env_model)
            except ConfigError as exc:
                # no call can be sent with the two settings: a data class's own models serve its calls, as when
                # MAGSAG_PROVIDER names no model for the task; any other call fails with the settings' fix
                no_env_model, yielded = exc, f"MAGSAG_MODEL names no {env_provider} model"
        if call_provider:
            rule += f" (provider:{target.provider} from call)"
            call_base = optional_str(call, "base_url", wheres.get("base_url", "model_config"))
            if call_base:
                target = Target(target.provider, target.model, call_base, target.params)
                from_call.append((target, wheres["base_url"]))
        if no_env_model is None:
            candidates.append(Candidate(target, "env", True, by_env=True))
    else:
        chain, rule = catalog.routing.chain_for(skill.task_type, tier=asked or skill.tier)
        source: Source = "tier" if rule.startswith("tier:") else "route" if rule.startswith("route:") else "default"
        provider = call_provider or env_provider
        pairs: list[tuple[Target, Target | None]] = [(t, None) for t in chain]
        if provider:
            by = wheres["provider"] if call_provider else None
            try:
                provider = canonical_provider(provider)
            except ConfigError as exc:
                raise PayloadError(f"{by}.provider: {exc.message}") from None  # MAGSAG_PROVIDER was checked
            routing = catalog.routing
            try:
                pairs = _swap_provider(chain, routing.default, provider, skill.task_type, by, routing.provider_defaults)
            except ConfigError as exc:
                if by is not None:
                    raise
                # MAGSAG_PROVIDER has no model for this task: a deployment-wide setting yields to a data class's
                # own models (as a model it chose does), so a call of such a class goes to them; any other fails
                pairs, no_env_model = [], exc
            rule += f" (provider:{provider} from {'call' if call_provider else 'MAGSAG_PROVIDER'})"
            if pairs and all(own is None for _, own in pairs):
                # the chain named none of the vendor's models: the default chain's serve, else provider_defaults'
                if any(t.provider == provider for t in routing.default):
                    if source != "default":
                        rule += f"; it names no {provider} model, so the default chain's serve it"
                else:
                    said = "it names no" if source == "default" else "neither it nor the default chain names a"
                    rule += f"; {said} {provider} model, so routing's provider_defaults.{provider} serves it"
                    source = "provider_default"
        call_base = optional_str(call, "base_url", wheres.get("base_url", "model_config"))
        if call_provider and call_base:
            # {"provider": "local", "base_url": ...}: the policy's models, on the server the call names.
            pairs = [(Target(t.provider, t.model, call_base, t.params), own) for t, own in pairs]
            from_call.extend((t, wheres["base_url"]) for t, _ in pairs)
        by_env = bool(env_provider and not call_provider)
        explicit_provider = bool(call_provider or env_provider)
        candidates.extend(Candidate(t, source, explicit_provider, by_env, own) for t, own in pairs)

    # A target named twice (a call's fallback repeating its model, a chain listing one twice) is tried
    # once: retries already cover trying it again, and a second turn would pay for the same failure. A
    # server named two ways (the guide's http://localhost:11434, and the local default .../v1) is one.
    urls = call_urls or CallURLs(env, catalog.routing.all_targets)
    place = _place(candidates, urls)
    firsts: dict[Target, Candidate] = {}
    for cand in candidates:
        firsts.setdefault(place(cand.target), cand)
    candidates = list(firsts.values())
    declared = context.get("data_class")
    if declared is not None and (not isinstance(declared, str) or not declared):
        from .payload_warnings import one_of_many

        many = one_of_many("data_class", declared) if isinstance(declared, list) else None
        # an empty one (a form's field left blank) is refused, not taken for none as an empty tier is: a class the
        # caller meant to declare and lost would have sent its data wherever routing goes. Said with both fixes
        none = "; leave it out to declare none" if declared == "" else ""
        raise PayloadError(
            "context.data_class must be a data class name such as 'pii_processing'"
            + (f"; {many}" if many else none)
        )
    if declared and data_class_models and declared not in data_class_models:
        from .governance.data_classes import unknown_data_class

        raise PayloadError(f"context.data_class: {unknown_data_class(declared, data_class_models)}")
    # Both apply: a caller may add a stricter class, never relax the skill's own.
    data_classes = tuple(dict.fromkeys(c for c in (skill.data_class, declared) if c))
    confined = [c for c in data_classes if data_class_models and c in data_class_models]
    urls.check(from_call, confined)
    for data_class in data_classes:
        if data_class_models and data_class in data_class_models:
            # the class's model already in the plan on the server it would be called at (whatever its params)
            # (by the model's bare name: Gemini's models/gemini-1.5-pro is the route's gemini-1.5-pro)
            have = {
                (t.provider, bare_model(t.provider, t.model), t.base_url) for t in (place(c.target) for c in candidates)
            }
            for model in data_class_models[data_class]:
                if _GLOB.search(model):
                    continue  # a pattern ("local:*") allows models but names none to call
                try:
                    target = parse_target(model)
                except ConfigError:
                    # a bare name no provider can be told from ("my-model"): it allows that model on whichever
                    # provider serves it (compat:my-model, azure:my-model) and, like a pattern, names none to call
                    continue
                at = place(target)
                if (at.provider, bare_model(at.provider, at.model), at.base_url) not in have:
                    candidates.append(Candidate(target, "data_class", False))
    if no_env_model is not None:
        if not candidates:
            raise no_env_model
        rule += f"; {yielded or f'it names no {provider} model for this task'}, so the data class's models serve it"
    unused = _unused_tier(asked, rule, wheres, env_model) if asked else None
    return Resolution(candidates, rule, data_classes, warnings=(unused,) if unused else ())


def _unused_tier(asked: str, rule: str, wheres: Mapping[str, str], env_model: str | None) -> str | None:
    """The call asked for a cost tier that a model chosen above it (the call's own, or ``MAGSAG_MODEL``) left
    unused: said, since the caller asked for the tier's cost and got another model's."""
    if rule.startswith("override:call"):
        named = wheres.get("model", "model_config")
        field = named if named == "context.preferred_model" else f"{named}.model"
        return (
            f"context.tier {asked!r} was not used: the call's own model ({field}) goes above a cost tier; leave "
            f"{field} out to have the tier choose the model"
        )
    if rule.startswith("override:env"):
        return (
            f"context.tier {asked!r} was not used: MAGSAG_MODEL={env_model!r} in the environment goes above a cost "
            "tier; unset MAGSAG_MODEL to have the tier choose the model, or name the model in the call "
            "(model_config.model or context.preferred_model), which goes above the environment"
        )
    return None


def _place(candidates: Sequence[Candidate], urls: CallURLs) -> Callable[[Target], Target]:
    """A target as where it is called: its base URL the one its provider sends it to. Only a plan in which a
    target names a base URL can name one server two ways; the others compare as they are (no lookup)."""
    if not any(c.target.base_url for c in candidates):
        return lambda target: target
    return lambda target: Target(target.provider, target.model, urls.called_at(target), target.params)


def _unknown_tier(asked: object, tiers: Mapping[str, Any]) -> str:
    """``context.tier`` names no cost tier of the catalog: the nearest one, and those there are."""
    from .suggest import named

    defined = sorted(tiers)
    if not isinstance(asked, str):
        return f"context.tier must be the name of a cost tier, one of {defined or 'none'}; got {type(asked).__name__}"
    from .text import NAME_MAX, shown_name

    said = named([asked], defined) if len(asked) <= NAME_MAX else shown_name(asked)  # a caller's text, unbounded
    return f"context: unknown cost tier {said}; the catalog defines: {defined or 'none'}"
