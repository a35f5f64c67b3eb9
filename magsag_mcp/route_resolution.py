"""Which targets a call may go to, in what order (a :class:`Resolution`), before anything is called: the overrides'
precedence, and the models a data class adds.

Highest first:

1. explicit overrides in the call: ``payload["model_config"]`` (``model``, ``provider``,
   ``base_url``, ``fallbacks``), then ``context["llm_overrides"]``, then ``context["preferred_model"]``
   (a level that names no model still sets the rest for the model named below it);
2. ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` (``MAGSAG_PROVIDER`` alone keeps the policy's models and
   swaps their provider, a vendor taking routing's ``provider_defaults`` where the route and the default chain
   name none of its models; a call naming only a provider gets ``MAGSAG_MODEL`` when that provider serves it,
   and a call naming only a model gets ``MAGSAG_PROVIDER`` when that serves it, see
   :func:`~.env_routing._env_provider_serves`);
3. the routing policy: a cost tier (``context["tier"]`` or the skill's ``tier``), else the first
   route matching the skill's ``task_type`` by priority;
4. the default chain.

Governance sits above all of them: it is checked per attempt by the cascade, and a data class with
required models (e.g. ``pii_processing: [llama3.1:70b]``) adds those models to the end of the plan so
that a call which policy keeps away from other models can still be served (a pattern such as
``local:*`` allows models but names none, so it adds nothing).

:mod:`.routing` makes a call's :class:`~.routing.Plan` of a resolution, and keeps a service's resolutions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .call_request import optional_str
from .call_targets import call_targeting, explicit_target
from .call_urls import CallURLs
from .catalog import Catalog
from .env_routing import (
    _env_override,
    _env_provider_serves,
    _served_by,
    _swap_provider,
    check_call_target,
    check_env_pair,
    env_model_refused,
    refuse_blank,
)
from .errors import ConfigError, PayloadError, PolicyDenied
from .providers import canonical_provider
from .rates import bare_model
from .skills import Skill
from .targets import check_base_url_length, parse_target, provider_prefix
from .types import Target
from .types import TargetSource as Source  # (in types.py, light, for result_dicts' explain result to name)


@dataclass(slots=True, frozen=True)
class PlannedRefusal:
    """What a policy said of a target it refused while the call was planned, kept in the plan (a resolution may
    serve many calls): each call that reaches the target gets an error of its own (:meth:`error`)."""

    message: str
    policy: str
    rule: str

    @classmethod
    def of(cls, denied: PolicyDenied) -> PlannedRefusal:
        return cls(denied.message, denied.policy, str(denied.details.get("rule", "")))

    def error(self, target: Target) -> PolicyDenied:
        return PolicyDenied(
            self.message,
            policy=self.policy,
            rule=self.rule,
            target=target.label,
            provider=target.provider,
            model=target.model,
        )


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
    #: a policy's refusal of it made while the call was planned (its server is not one the operator configured for
    #: the call's confined data class: see call_urls), where the refusal does not end the call: the cascade skips it
    #: as it skips a fallback a policy forbids by its model, and explain says so
    refused: PlannedRefusal | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.target.to_dict()  # its own dict: added to, not copied into another
        data["source"] = self.source
        data["explicit"] = self.explicit
        return data


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
    #: where two of the call's data classes share no target of its route, why every target is refused, in one sentence
    #: (see :func:`~.governance.data_classes.classes_apart`), which the call's refusal says in place of each target's
    classes_apart: str | None = None


#: fnmatch's special characters: a requirement holding one is a pattern, not a model (model_patterns.matches)
_GLOB = re.compile(r"[*?[]")


def route(
    catalog: Catalog,
    skill_id: str,
    *,
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None = None,
    data_class: str | None = None,
) -> Resolution:
    """The route a call to ``skill_id`` takes when neither its payload nor its context names a model:
    the same resolution :func:`~.routing.plan_call` makes (``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL``, the skill's
    tier, routes, data-class models), for showing it without a payload to check. ``data_class``: one the call's
    context declares (``context.data_class``), whose models the route then ends with."""
    return _route(
        catalog,
        catalog.skill(skill_id),
        mc={},
        lo={},
        context={"data_class": data_class} if data_class else {},
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
    run_classes: Sequence[str] = (),
) -> Resolution:
    """``run_classes``: the data classes of the agent's run the call is made in (each given to it, or to a run it was
    delegated from, in its context's data_class), which apply beside the skill's and the call's own."""
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
        catalog_named = catalog.routing.all_targets  # (read only for a capitalised name: see in_another_case)
        check_call_target(env, explicit, wheres.get("model", "model_config"), catalog_named)
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
                # (its details too: a length's max_length, as model_config's own model says it)
                raise PayloadError(f"{fb_where}.fallbacks[{i}]: {exc.message}", **exc.details) from None
            check_call_target(env, target, f"{fb_where}.fallbacks[{i}]", catalog_named)
            candidates.append(Candidate(target, "call", True, fallback=True))
            from_call.append((target, f"{fb_where}.fallbacks[{i}]"))
    elif env_model and (not call_provider or _served_by(call_provider, env_model)):
        rule = "override:env"
        refuse_blank("MAGSAG_MODEL", env_model)
        # under a provider the call names (which it can serve), MAGSAG_MODEL still beats the policy's models
        provider = call_provider or env_provider
        try:
            if call_provider:  # served by it (a hosting provider takes "openai:gpt-4o" as the name gpt-4o)
                pinned = provider_prefix(env_model.strip())
                target = parse_target({"provider": call_provider, "model": pinned[1] if pinned else env_model})
            else:
                target = parse_target({"provider": provider, "model": env_model} if provider else env_model)
        except ConfigError as exc:
            raise env_model_refused(env, provider, env_model, exc, catalog.routing.all_targets) from None
        if not call_provider:
            try:
                # (resolved once a skill, kept by a service; the catalog's targets are read only for a capitalised name)
                check_env_pair(env, env_provider, env_model, catalog.routing.all_targets)
            except ConfigError as exc:
                # no call can be sent with the two settings: a data class's own models serve its calls, as when
                # MAGSAG_PROVIDER names no model for the task; any other call fails with the settings' fix
                no_env_model, yielded = exc, f"MAGSAG_MODEL names no {env_provider or target.provider} model"
        if call_provider:
            rule += f" (provider:{target.provider} from call)"
            call_base = _call_base_url(call, wheres)
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
        call_base = _call_base_url(call, wheres)
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
    for given in run_classes:  # (checked as a call's own class is, where its run was given it)
        _check_declared(given, data_class_models, "the agent run's context.data_class")
    _check_declared(declared, data_class_models, "context.data_class")
    # Every class applies: a caller may add a stricter class, never relax the skill's own, nor one its agent's run
    # was given for its data (a SAG handed personal data under pii_processing naming financial_data for a call)
    data_classes = tuple(dict.fromkeys(c for c in (skill.data_class, *run_classes, declared) if c))
    confined = [c for c in data_classes if data_class_models and c in data_class_models]
    confining: dict[str, list[str]] = getattr(data_class_models, "policies", {})
    refused: dict[Target, PolicyDenied] = {}
    urls.check(from_call, confined, [name for c in confined for name in confining.get(c, ())], refused)
    for denied in refused.values():  # (the call's record of such a refusal names the classes it was refused for)
        denied.unplanned_classes = data_classes
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
    if refused:
        candidates = _refused_servers(candidates, refused)
    if no_env_model is not None:
        if not candidates:
            raise no_env_model
        rule += f"; {yielded or f'it names no {provider} model for this task'}, so the data class's models serve it"
    unused = _unused_tier(asked, rule, wheres, env_model) if asked else None
    resolution = Resolution(candidates, rule, data_classes, warnings=(unused,) if unused else ())
    if len(confined) > 1:  # (two classes confining the call: may they share none of its targets?)
        from .governance.data_classes import classes_apart

        origins: dict[str, str] = {}
        for cls, whose in (
            (skill.data_class, "the skill's"),
            *((c, "the agent run's") for c in run_classes),
            (declared, "the call's context.data_class"),
        ):
            if cls:
                origins.setdefault(cls, whose)
        resolution.classes_apart = classes_apart([c.target for c in candidates], origins, data_class_models or {})
    return resolution


def _check_declared(declared: Any, data_class_models: Mapping[str, Sequence[str]] | None, where: str) -> None:
    """Refuse a declared data class that is not a class's name, or one no policy's requirements define."""
    if declared is not None and (not isinstance(declared, str) or not declared):
        from .payload_warnings import one_of_many

        many = one_of_many("data_class", declared) if isinstance(declared, list) else None
        # an empty one (a form's field left blank) is refused, not taken for none as an empty tier is: a class the
        # caller meant to declare and lost would have sent its data wherever routing goes. Said with both fixes
        none = "; leave it out to declare none" if declared == "" else ""
        raise PayloadError(
            f"{where} must be a data class name such as 'pii_processing'" + (f"; {many}" if many else none)
        )
    if declared and data_class_models and declared not in data_class_models:
        from .governance.data_classes import unknown_call_data_class

        raise PayloadError(f"{where}: {unknown_call_data_class(declared, data_class_models)}")


def _refused_servers(candidates: list[Candidate], refused: Mapping[Target, PolicyDenied]) -> list[Candidate]:
    """``candidates`` with the policy's refusals of their servers (a confined data class's call naming a server the
    operator did not configure): one of the call's own ``fallbacks`` is kept, marked refused, for the cascade to skip
    and record as policy_denied, as it skips a fallback a policy forbids by its model (a cascade the caller wrote out
    goes on to the next target it allows: :func:`~.governance.refusal_ends_call`); any other is raised, ending the
    call: the server the call named for its own model (or for routing's, ``{"provider": "local", "base_url": ...}``)
    is the caller's choice, refused, not replaced by another server."""
    from dataclasses import replace

    marked = []
    for cand in candidates:
        denied = refused.get(cand.target)
        if denied is None:
            marked.append(cand)
        elif not cand.fallback:
            raise denied
        else:
            marked.append(replace(cand, refused=PlannedRefusal.of(denied)))
    return marked


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
    """``context.tier`` names no cost tier of the catalog: the nearest one, and those there are (as words: a list's
    repr, "['economy', 'premium']", read as Python's)."""
    from .suggest import named

    defined = sorted(tiers)
    listed = ", ".join(defined) or "none"
    if not isinstance(asked, str):
        return f"context.tier must be the name of a cost tier, one of {listed}; got {type(asked).__name__}"
    from .text import NAME_MAX, shown_name

    said = named([asked], defined) if len(asked) <= NAME_MAX else shown_name(asked)  # a caller's text, unbounded
    return f"context: unknown cost tier {said}; the catalog defines: {listed}"


def _call_base_url(call: Mapping[str, Any], wheres: Mapping[str, str]) -> str | None:
    """The base URL a call gives beside a provider and no model, held to the limit a target's is
    (:func:`~.targets.check_base_url_length`): the policy's models go to it, and into the trace with it."""
    where = wheres.get("base_url", "model_config")
    base_url = optional_str(call, "base_url", where)
    if base_url is not None:
        try:
            check_base_url_length(base_url)
        except ConfigError as exc:
            raise PayloadError(f"{where}: {exc.message}", **exc.details) from None
    return base_url
