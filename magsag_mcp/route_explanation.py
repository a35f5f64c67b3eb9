"""What a call would do, with nothing called: :class:`RouteExplanation`, the service's ``explain`` and ``route``
(the MCP tool ``explain_route`` and ``magsag explain``; ``route`` the ``magsag://skills/{skill_id}`` resource)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from .answer_cache import request_key, ttl_of_context
from .attempt_cost import output_tokens_reserved
from .call_entry import service_call
from .call_request import estimate_input_parts, estimate_input_tokens
from .cascade_report import CascadeState
from .cascade_waits import rest_then
from .catalog_edits import prices_file_of
from .env_routing import env_target
from .errors import ConfigError, InputError, redact
from .governance import refusal_ends_call
from .plurals import listed
from .providers import canonical_provider, prompt_overhead
from .providers.local_reach import UnreachedSlowly
from .result_dicts import CacheExplanationDict, RouteExplanationDict
from .route_local_reach import ask_local_servers, unasked_warnings
from .route_skips import none_sendable, refusal_ending, targets_skipped
from .routing import Candidate, Plan, check_env_override
from .routing import route as resolve_route
from .types import Target

if TYPE_CHECKING:
    from .providers.base import ProgressCallback

#: where the setting that turned the cache on is written, as the explanation's warning names it
_CACHE_SETTINGS = {
    "call": "the call's context.cache_ttl",
    "route": "the route's cache (routing YAML)",
    "skill": "the skill's cache",
}


class RouteExplanation:
    """The :class:`~magsag_mcp.service.Service`'s plans explained: targets in order, where each came from, whether
    it can be called, the policies' verdicts and the worst-case cost."""

    catalog: Any
    env: Mapping[str, str]
    providers: Any
    pricer: Any
    governance: Any
    _data_class_models: Any
    #: the service's own: where the targets left alone for their server's wait are kept
    cascade: Any
    #: the service's own: a call's plan, as invoke_skill would make it
    plan: Callable[..., Plan]  # (skill_id, payload, context, *, explaining, run_classes)

    @service_call  # in exact money; the call's own credentials kept out of its messages, and forgotten after it
    def explain(
        self,
        skill_id: str,
        payload: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        agent: str | None = None,
        run_classes: tuple[str, ...] = (),
    ) -> RouteExplanationDict:
        """The plan for a call and its estimated worst-case cost per target; nothing is called. ``agent``: the call's,
        whose daily limit then applies, as it does to :meth:`invoke_skill`'s call (and refused as it refuses it).
        ``run_classes``: the data classes of the agent's run it would be made in, as :meth:`invoke_skill`'s."""
        _check_agent(agent)
        plan = self.plan(skill_id, payload, context, explaining=True, run_classes=run_classes)
        return self._explained(plan, context, agent)

    @service_call
    async def explain_asking(
        self,
        skill_id: str,
        payload: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        agent: str | None = None,
        run_classes: tuple[str, ...] = (),
        progress: ProgressCallback | None = None,
    ) -> RouteExplanationDict:
        """:meth:`explain`, once each local target's server was asked where it runs the model, as the call asks
        before its attempt (bounded as the call's ask, see :mod:`.route_local_reach`): a model the server made from a
        cloud one is shown refused where the call would be. ``magsag explain`` and ``explain_route`` call this. The
        call is planned once: the plan the servers were asked for is the one explained. ``progress``: told ``asking``
        (its ``target``) before each server is asked, as :meth:`invoke_skill`'s is."""
        _check_agent(agent)
        plan = self.plan(skill_id, payload, context, explaining=True, run_classes=run_classes)
        await ask_local_servers(self.providers, plan, progress)
        return self._explained(plan, context, agent)

    def _explained(self, plan: Plan, context: Mapping[str, Any] | None, agent: str | None) -> RouteExplanationDict:
        """What :meth:`explain` returns for ``plan``, the call's (``context`` and ``agent`` its own)."""
        tokens_in = estimate_input_tokens(plan.request)
        images = any(m.parts for m in plan.request.messages)
        targets: list[Any] = []  # (each a PlannedTargetDict, built a key at a time: _candidate's and those below)
        unwaited: set[int] = set()  # the positions of the targets left resting for a wait no call waits out
        priced_out: set[int] = set()  # those the policies allow and a cost limit refuses (_add_spend_verdict)
        unreached: set[Target] = set()  # the local targets skipped as their server not running
        for position, cand in enumerate(plan.candidates):
            req = plan.request_for(cand.target)
            entry = self._candidate(cand, plan.data_classes, unreached)
            provider = self.providers.get(cand.target.provider)
            entry["missing_features"] = provider.capabilities(cand.target).missing(plan.request.needs())
            # its server asked an earlier call for a wait not over yet (cascade_waits.py), and what a call does then:
            # tries the targets after it, if the cascade would, or waits it out, or fails
            left = partial(self.cascade._another_target_left, plan, position, CascadeState(), agent or None)
            then = rest_then(self.cascade.retry, left)
            resting = self.cascade.rests.resting(cand.target, self.cascade.clock(), then)
            if resting is not None:
                entry["resting"] = resting.message
                if not _waited_out(self.cascade.retry, resting):
                    unwaited.add(position)
            if self.cascade.caps is not None and (pool := self.cascade.caps.of(cand.target)) is not None:
                entry["request_cap"] = pool.use(self.cascade.clock())  # its routing request_caps, and their use now
            # (a picture is counted at the most its target's vendor bills one as; tokens_in, at any vendor's most)
            text, pictures = estimate_input_parts(plan.request, cand.target) if images else (tokens_in, 0)
            worst = self.pricer.reserved_worst_case(
                cand.target,
                text + pictures + prompt_overhead(cand.target, req),
                output_tokens_reserved(req, cand.target),
                params=req.extra,
                picture_tokens=pictures,
            )
            entry["estimated_max_cost_usd"] = _fmt(worst)
            allowed = entry["policy"]["allowed"]
            self._add_spend_verdict(entry, cand.target, worst, agent or None)
            if allowed and not entry["policy"]["allowed"]:
                priced_out.add(position)
            targets.append(entry)
        unreached_at = {p for p, cand in enumerate(plan.candidates) if cand.target in unreached}
        cache, uncached = self._cache_explained(plan, context, agent or None)
        return {
            "skill": plan.skill_id,
            "task_type": plan.task_type,
            "rule": plan.rule,
            "data_class": plan.data_class,
            "data_classes": list(plan.data_classes),
            "estimated_input_tokens": tokens_in,
            "max_output_tokens": plan.request.max_tokens,
            "needs": sorted(plan.request.needs()),
            "targets": targets,
            "cache": cache,
            # what the call will say went unread (a payload's "modelConfig"): the plan shown is the one without it
            "warnings": [
                *plan.warnings,
                *targets_skipped(self.governance, plan, targets),
                *unasked_warnings(self.governance, plan, targets),
                *(
                    refusal_ending(self.governance, plan)
                    or _none_sendable(plan, targets, unwaited, priced_out, unreached_at)
                ),
                *uncached,
            ],
        }

    def _cache_explained(
        self, plan: Plan, context: Mapping[str, Any] | None, agent: str | None
    ) -> tuple[CacheExplanationDict, list[str]]:
        """Whether the answer cache is on for the call, its ttl, and which setting decided: the call's
        ``cache_ttl`` (0 too: it leaves the cache alone), else its route's ``cache``, else its skill's (as
        :meth:`~magsag_mcp.service.Service.plan` chose ``plan.cache_ttl``). On only where a target of the plan can be
        answered from it, as the cascade asks it (cascade_cache.py): one the policies allow, whose provider builds a
        wire body (the fake one builds none: no key, and its answers are not kept), and not after a refusal that fails
        the call (its targets after it are never tried). With the warning to give where a setting turns the cache on
        and the call sends only targets that cannot use it (none where it sends none: other warnings say why)."""
        source: Any = "call"
        if ttl_of_context(context) is None:
            skill_cache = self.catalog.skills[plan.skill_id].cache
            source = self.catalog.routing.cache_choice(plan.task_type, skill_cache)[1]
        if plan.cache_ttl is None:
            return {"on": False, "ttl_s": None, "source": source}, []
        why_not: list[str] = []
        sent_uncached = False  # (a target the call sends, whose answer is not kept)
        policies = self.governance.policies
        for cand in plan.candidates:
            target = cand.target
            if cand.refused is not None:  # its server, refused while the call was planned: skipped, never sent
                why_not.append(f"{target.label}: policy {cand.refused.policy!r} refuses its server")
                continue
            ok, policy, reason, rule = policies.allowed(target, plan.data_classes)
            if not ok:
                why_not.append(f"{target.label}: policy {policy!r} forbids it ({reason})")
                by_routing = cand.routed is not None and not policies.allowed(cand.routed, plan.data_classes)[0]
                if refusal_ends_call(cand, plan.candidates, by_routing=by_routing, rule=rule):
                    break  # the call fails here, as the cascade does (refusal_ending's warning): none after is tried
            elif request_key(self.providers.get(target.provider), plan.request_for(target), target, agent) is not None:
                return {"on": True, "ttl_s": plan.cache_ttl, "source": source}, []
            else:
                sent_uncached = True
                why_not.append(
                    f"{target.label}: magsag cannot key its request (its provider sends none over HTTP, as the fake)"
                )
        if not sent_uncached:  # no target is sent at all: the other warnings say why the call fails, not this one
            return {"on": False, "ttl_s": plan.cache_ttl, "source": source}, []
        setting = _CACHE_SETTINGS.get(source, "a cache setting")
        warning = (
            f"{setting} turns the answer cache on (ttl {plan.cache_ttl:g}s), but no target of this call can be "
            f"answered from it: {'; '.join(why_not)}. Each call is sent and paid for; to cache it, route it to a model "
            "the policies allow on an HTTP provider (openai, azure, compat, local, anthropic, google), or drop the "
            "setting"
        )
        return {"on": False, "ttl_s": plan.cache_ttl, "source": source}, [redact(warning)]

    def route(self, skill_id: str) -> dict[str, Any]:
        """Where a call to ``skill_id`` goes when it names no model: each target in order, where it came
        from, whether it can be called and whether policy allows it. Nothing is called."""
        chosen = resolve_route(
            self.catalog,
            skill_id,
            env=self.env,
            data_class_models=self._data_class_models,
        )
        targets = []
        for cand in chosen.candidates:
            entry = self._candidate(cand, chosen.data_classes)
            # without a payload there is no worst case; a target of no known price is refused regardless
            if self.pricer.reserved_worst_case(cand.target, 1, 1) is None:  # (as its params ask: see admit)
                self._add_spend_verdict(entry, cand.target, None)
            targets.append(entry)
        return {
            "rule": chosen.rule,
            "data_classes": list(chosen.data_classes),
            "chain": [c.target.label for c in chosen.candidates],
            "targets": targets,
        }

    def override_problems(self) -> list[str]:
        """What ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` make fail on every call that names no model of its own
        (``magsag doctor``): a skill whose task has no model of that provider, a model the policy refuses, a
        route whose every target it refuses. Without either variable, ``catalog validate`` says the rest."""
        if not (self.env.get("MAGSAG_PROVIDER") or self.env.get("MAGSAG_MODEL")):
            return []
        try:
            check_env_override(self.env, self.catalog.routing.all_targets)
        except ConfigError:
            return []  # the variable itself is wrong, which settings.setting_problems says
        env_refused: str | None = None
        no_model: list[str] = []
        other: list[str] = []
        refused: dict[tuple[str, str], list[str]] = {}  # (policy, the targets) -> the skills
        unpriced: dict[str, tuple[str, list[str]]] = {}  # the targets -> (the cost limits' policy, those unpriced)
        unconfigured: dict[str, list[str]] = {}  # why the first target cannot be called -> the skills
        for skill_id in sorted(self.catalog.skills):
            try:
                chosen = resolve_route(self.catalog, skill_id, env=self.env, data_class_models=self._data_class_models)
            except ConfigError as exc:
                if exc.details.get("task_type") is not None:  # routing._swap_provider's: no model of the provider
                    no_model.append(exc.details["task_type"])
                else:
                    other.append(f"{skill_id}: {exc.message}")
                continue
            reasons = [self.providers.get(c.target.provider).unavailable(c.target) for c in chosen.candidates]
            if reasons and all(reasons):
                unconfigured.setdefault(str(reasons[0]), []).append(skill_id)
            if self.governance is None:
                continue
            verdicts = [self._override_verdict(c.target, chosen.data_classes) for c in chosen.candidates]
            for cand, (ok, policy, reason, rule) in zip(chosen.candidates, verdicts, strict=True):
                if not ok and cand.source == "env" and rule == "allowed_models" and env_refused is None:
                    # refused whatever the skill: the call fails on it (see Governance.admit)
                    env_refused = (
                        f"MAGSAG_MODEL={self.env['MAGSAG_MODEL']!r}: policy {policy!r} refuses {cand.target.label} "
                        f"({reason}), so every call that "
                        "names no model of its own fails; set MAGSAG_MODEL to a "
                        f"model it allows, or add {cand.target.label} to {policy}.allowed_models"
                    )
            if verdicts and not any(ok for ok, *_ in verdicts) and not env_refused:
                labels = ", ".join(c.target.label for c in chosen.candidates)
                refused.setdefault((verdicts[0][1] or "", labels), []).append(skill_id)
                names = [
                    c.target.label for c, v in zip(chosen.candidates, verdicts, strict=True) if v[3] == "unknown_price"
                ]
                if names:
                    unpriced[labels] = (next(v[1] for v in verdicts if v[3] == "unknown_price"), names)
        problems = [env_refused] if env_refused else []
        problems += other
        if no_model:
            provider = canonical_provider(self.env["MAGSAG_PROVIDER"])
            tasks = [repr(t) for t in dict.fromkeys(no_model)]
            problems.append(
                f"MAGSAG_PROVIDER={self.env['MAGSAG_PROVIDER']!r}: the routing policy names no {provider} model for "
                f"{listed('task', tasks)}, so {'its' if len(tasks) == 1 else 'their'} calls fail unless they name "
                f"a model; also set MAGSAG_MODEL to a {provider} model, or name one in routing's provider_defaults "
                f"(provider_defaults: {{{provider}: MODEL}}) or in those routes"
            )
        # redacted as doctor's overrides are (a key-shaped MAGSAG_MODEL is refused above; this is the backstop)
        named = [f"{k}={self.env[k]!r}" for k in ("MAGSAG_PROVIDER", "MAGSAG_MODEL") if self.env.get(k)]
        variables = redact(" / ".join(named))
        for reason, skills in unconfigured.items():
            which = "every skill" if len(skills) == len(self.catalog.skills) else listed("skill", skills)
            problems.append(
                f"{variables}: no target it leaves {which} can be called ({reason}), so their calls fail unless "
                f"they name a model; configure that provider, or change or unset the variable"
            )
        for (policy, labels), skills in refused.items():
            fix = "change the variables or the policy"
            if labels in unpriced:
                # refused whatever was spent: a cost limit cannot bound what a model of unknown price costs
                limits, names = unpriced[labels]
                one = len(names) == 1
                fix = (
                    f"{', '.join(names)} {'has' if one else 'have'} no known price, which a cost limit without "
                    f"allow_unpriced refuses; add {'its price' if one else 'their prices'} to "
                    f"{prices_file_of(self.pricer)}, or set allow_unpriced: true on {limits}, or {fix}"
                )
            problems.append(
                f"{', '.join(skills)}: policy {policy!r} refuses every target the environment's MAGSAG_PROVIDER / "
                f"MAGSAG_MODEL leave ({labels}), so their calls fail unless they name a model; {fix}"
            )
        return problems

    def named_targets(self) -> list[Target]:
        """Every target the routing catalog names (its chains, tiers and provider_defaults), and each skill's route as
        it resolves (a data class's models, what ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` leave it): what a call that
        names no model of its own may be sent to (``magsag doctor``: where a key goes), with each data class it may
        declare (``context.data_class``): the guide's ``financial_data: ["gpt-4o"]`` sends one to OpenAI's own API."""
        targets = self.catalog.routing.all_targets()
        models = self._data_class_models
        for skill_id in sorted(self.catalog.skills):
            for declared in (None, *sorted(models or ())):
                try:
                    chosen = resolve_route(
                        self.catalog, skill_id, env=self.env, data_class_models=models, data_class=declared
                    )
                except (ConfigError, InputError):
                    continue  # a problem override_problems or catalog validate lists
                targets += [c.target for c in chosen.candidates]
        named = env_target(self.env)  # (whether or not a route resolves with it: see env_target)
        return targets + [named] if named is not None else targets

    def unserved_skills(self) -> list[str]:
        """The skills whose routed targets no configured provider can serve (no key, no endpoint), each
        group with the reasons: ``magsag doctor``'s notes. A note, not a problem: a skill may never be called,
        and a call naming a model goes elsewhere. With ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` set,
        :meth:`override_problems` says it instead."""
        if self.env.get("MAGSAG_PROVIDER") or self.env.get("MAGSAG_MODEL"):
            return []
        groups: dict[tuple[str, ...], list[str]] = {}
        for skill_id in sorted(self.catalog.skills):
            try:
                chosen = resolve_route(self.catalog, skill_id, env=self.env, data_class_models=self._data_class_models)
            except ConfigError:
                continue  # a catalog problem, which catalog validate lists
            reasons = [self.providers.get(c.target.provider).unavailable(c.target) for c in chosen.candidates]
            if reasons and all(reasons):
                groups.setdefault(tuple(sorted({str(r) for r in reasons})), []).append(skill_id)
        return [
            f"{', '.join(skills)}: none of the targets routing gives {'it' if len(skills) == 1 else 'them'} can be "
            f"called ({'; '.join(reasons)}), so {'its' if len(skills) == 1 else 'their'} calls fail unless they name "
            "a model; configure one of those providers, or route the task elsewhere"
            for reasons, skills in groups.items()
        ]

    def _override_verdict(self, target: Target, data_classes: Sequence[str]) -> tuple[bool, Any, Any, Any]:
        """``governance.policies.allowed``'s verdict on ``target``, or, where that allows it, a cost limit's
        refusal of a model of unknown price, which :meth:`Governance.admit` makes on every call (rule
        ``unknown_price``)."""
        ok, policy, reason, rule = self.governance.policies.allowed(target, data_classes)
        if ok and self.pricer.reserved_worst_case(target, 1, 1) is None:
            priced_ok, policy, reason = self.governance.spend_verdict(target, None)
            if not priced_ok:
                return False, policy, reason, "unknown_price"
        return ok, policy, reason, rule

    def _add_spend_verdict(
        self, entry: dict[str, Any], target: Target, worst: Decimal | None, agent: str | None = None
    ) -> None:
        """A target the policies allow may still be refused by a cost limit whatever was spent (an agent's daily
        limit too, for a call with an agent)."""
        if entry["policy"]["allowed"]:
            ok, policy, reason = self.governance.spend_verdict(target, worst, agent=agent)
            entry["policy"] = {"allowed": ok, "policy": policy, "reason": reason}

    def _candidate(
        self, cand: Candidate, data_classes: Sequence[str], down: set[Target] | None = None
    ) -> dict[str, Any]:
        """``cand``'s entry: its target, whether it is configured and whether the policies allow it; a local target
        skipped as its server not running is added to ``down``."""
        entry = cand.to_dict()
        entry["label"] = cand.target.label
        entry["unavailable"] = self.providers.get(cand.target.provider).unavailable(cand.target)
        if cand.refused is not None:  # its server, refused while the call was planned (call_urls): the call skips it
            entry["policy"] = {"allowed": False, "policy": cand.refused.policy, "reason": cand.refused.message}
            return entry
        if cand.target.provider == "azure":
            # what the ledger says the deployment serves, read (never written) as a call reads it before it is sent:
            # a deployment the call would refuse was shown as routable
            self.governance.served.look_read_only(self.governance.ledger, cand.target)
        ok, policy, reason, rule = self.governance.policies.allowed(cand.target, data_classes)
        unreached = None if ok else self.governance.policies.unreached_refusal(cand.target, data_classes)
        provider = self.providers.get(cand.target.provider)
        if unreached is not None:  # (its server not running: the call skips it as that, refused by nothing else)
            said = provider.unreached_error(cand.target, unreached.server_words)
        elif ok and (not_reached := getattr(provider, "unreached", lambda _t: None)(cand.target)) is not None:
            # allowed, its server not reached when asked (this process's last ask): the call skips it too, or is
            # refused connecting to it
            said = (
                provider.down_error(cand.target, not_reached)
                if isinstance(not_reached, UnreachedSlowly)
                else provider.unreached_error(cand.target, not_reached.server_words, asked_for_glob=False)
            )
        else:
            said = None
        if said is not None:
            entry["unavailable"] = said.message
            if down is not None:
                down.add(cand.target)
        if rule == "served_model":  # where and when it was seen, and how the refusal lifts, as the call says
            reason = f"{reason}{self.governance.served_seen(cand.target, reason)}"
        entry["policy"] = {"allowed": ok, "policy": policy, "reason": reason}
        return entry


def _waited_out(retry: Any, resting: Any) -> bool:
    """Whether a call waits out the rest of a target left resting, once no target after it is left (as
    :func:`~.cascade_waits.rest_wait` and the come-back of a target left decide it, and :func:`rest_then` says it): a
    refusal worth retrying whose wait left fits the retry cap and the call's deadline."""
    if resting.left_by_breaker:  # (sent once all the same: see cascade_waits.rest_wait)
        return True
    left = resting.retry_after or 0.0
    return bool(resting.retryable) and not retry.too_long(left) and left < retry.deadline


def _check_agent(agent: str | None) -> None:
    """An agent's name, checked as :meth:`~magsag_mcp.service.Service.invoke_skill` checks it (None: no agent)."""
    if agent is not None:
        from .text import check_name

        check_name(agent, "agent")


def _fmt(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")  # 0.0000007, not the 7E-7 str() writes


def _none_sendable(
    plan: Plan, targets: list[Any], unwaited: set[int], priced_out: set[int], unreached: set[int]
) -> list[str]:
    """:func:`~.route_skips.none_sendable`'s warning; where two data classes of the call share no target and the
    policies refuse each (:attr:`~.routing.Plan.classes_apart`), the one sentence the call's refusal says."""
    if plan.classes_apart is not None and targets and not any(t["policy"]["allowed"] for t in targets):
        return [f"the call fails: {plan.classes_apart}"]
    return none_sendable(targets, unwaited, priced_out, unreached)
