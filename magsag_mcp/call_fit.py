"""Whether a call of a skill fits what the budget has left: ``check_budget``'s ``call`` (``check_budget(skill=...)``,
``magsag budget --skill``).

A limit's ``remaining_usd`` is not what one more call may spend: each attempt first reserves its worst case (its
input estimate and its max_tokens at the target's price), and is refused when that does not fit. ``status: ok``
with $0.004 left of a run limit read as "go on" while every call of a skill reserving $0.0153 was refused. So the
caller names the skill (and the model, the max_tokens it would give) and is told the least such a call reserves
(the skill's prompt with an empty payload: a payload adds to it), on which target, whether that fits every limit,
and if not which limit refuses it and how to get past it. The targets are tried as the cascade tries them: one a
policy forbids is skipped (or ends the call, where the caller or the environment chose it), one refused for its
cost is skipped for the next, and one the cascade never sends to (its provider has no key or endpoint, or lacks a
feature the call needs) is passed over, as the cascade passes it over (where the route has no other, each is judged
as if it were configured). Nothing is reserved or called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from .attempt_cost import input_tokens_reserved_parts, output_tokens_reserved
from .call_request import build_request
from .errors import InputError, PayloadError
from .governance import refusal_ends_call
from .governance.budget import window_bounds
from .governance.policy import BY_AGENT, WINDOWED, Limit, limit_key, window_word
from .governance.refusals import unpriced_refusal
from .ledger.money import to_pusd
from .payload_checks import check_nesting
from .payload_warnings import check_context_keys
from .route_resolution import _route
from .routing import Plan
from .targets import or_provider_key
from .text import check_text

#: how a refusal of the call's model begins (call_targets.explicit_target's)
_IN_MODEL_CONFIG = "model_config: "


def floor_plan(
    svc: Any,
    skill_id: str,
    model: str | None,
    max_tokens: int | None,
    *,
    model_config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    run_classes: tuple[str, ...] = (),
) -> Plan:
    """The plan of the smallest call of ``skill_id``: its prompt with every field empty (its input schema not held
    to: a payload that meets it only adds to the prompt), naming ``model`` and ``max_tokens`` if given, as
    ``model_config`` names them. ``model_config`` and ``context`` (its ``tier``, ``data_class``, ``preferred_model``,
    ``llm_overrides``) and ``run_classes`` are a call's own, as :meth:`~.service.Service.invoke_skill` takes them: the
    plan is the one such a call's route gives, checked as the call's are (a misspelt context key, an unknown tier or
    data class is refused, not planned without it)."""
    skill = svc.catalog.skill(skill_id)
    parts = replace(skill.call_parts, input_schema=None)
    mc = dict(model_config or {})
    for key, value in (("model", model), ("max_tokens", max_tokens)):
        if value is not None:
            mc[key] = value
    mc = check_nesting(mc, "model_config") if mc else mc
    context = dict(context or {})
    if context:
        check_text(context, "context", PayloadError)
        check_context_keys(context, budgeting=True)
    lo = context.get("llm_overrides") or {}
    if not isinstance(lo, Mapping):
        raise PayloadError("context.llm_overrides must be an object, e.g. {'model': 'gpt-4o-mini'}")
    lo = check_nesting(lo, "context.llm_overrides") if lo else {}
    request, pinned = build_request(SimpleNamespace(call_parts=parts), dict.fromkeys(parts.field_names, ""), mc, lo)
    try:
        chosen = _route(
            svc.catalog,
            skill,
            mc=mc,
            lo=lo,
            context=context,
            env=svc.env,
            data_class_models=svc._data_class_models,
            call_urls=svc.call_urls,
            run_classes=run_classes,
        )
    except PayloadError as exc:
        # the model is check_budget's own argument (`--model`): its refusal spoke of a payload's model_config, which
        # the caller has not got, and offered its provider key, which check_budget does not take
        if model is None or not exc.message.startswith(_IN_MODEL_CONFIG):
            raise
        said = exc.message.removeprefix(_IN_MODEL_CONFIG).replace(or_provider_key(model), "")
        raise InputError(f"model: {said}", **exc.details) from None  # (max_length, as model_config's says it)
    plan = Plan(
        parts.id, parts.task_type, chosen.rule, list(chosen.candidates), request, chosen.data_classes, frozenset(pinned)
    )
    plan.classes_apart = chosen.classes_apart
    return plan


def call_fit(
    governance: Any, plan: Plan, status: dict[str, Any], *, agent: str | None, skip: Callable[..., Any]
) -> dict[str, Any]:
    """``status`` (:func:`.governance.status.budget_status`'s) with ``call``: whether the smallest call of ``plan``
    fits, and each limit's ``call_fits`` for the target it would reserve on. ``skip``: the cascade's
    :meth:`~.cascade.Cascade.skip_reason`, why a target is not tried at all (None: it is)."""
    now = time.time()
    policies, pricer = governance.policies, governance.pricer
    # the limits the call meets: a run limit always (a call without a run id starts a run with nothing spent)
    limits = [lim for lim in policies.limits if lim.kind not in BY_AGENT or agent]
    used = {
        (e["policy"], e["limit"]): sum(
            (Decimal(e[k]) for k in ("spent_usd", "unknown_cost_bound_usd", "reserved_usd")), Decimal(0)
        )
        for e in status["limits"]
        if e["limit"] != "call"
    }
    targets: list[dict[str, Any]] = []
    ended: str | None = None  # a policy's refusal of a target the caller or the environment chose: the call fails
    for cand in plan.candidates:
        ok, policy, reason, rule = policies.allowed(cand.target, plan.data_classes)
        if not ok:
            by_routing = cand.routed is not None and not policies.allowed(cand.routed, plan.data_classes)[0]
            refused = f"policy {policy!r} forbids {cand.target.label}: {reason}"
            targets.append({"target": cand.target.label, "reservation_usd": None, "fits": False, "reason": refused})
            if refusal_ends_call(cand, plan.candidates, by_routing=by_routing, rule=rule):
                ended = refused + " (a model the call or the environment chose is refused, not replaced)"
                break
            continue
        req = plan.request_for(cand.target)
        tokens_in, pictures = input_tokens_reserved_parts(req, cand.target)
        tokens_out = output_tokens_reserved(req, cand.target)
        worst = pricer.reserved_worst_case(
            cand.target, tokens_in, tokens_out, params=req.extra, picture_tokens=pictures
        )
        words: tuple[str, str] | None = None  # the first refusing limit's (clause, fix), for the call's reason
        if worst is None:
            refusal = unpriced_refusal(limits, cand.target, pricer)
            if refusal is not None:
                blocked = {(refusal.details["policy"], refusal.details["limit"]): refusal.message}
            else:  # every limit allows it, counted at $0 (no worst case, not one of $0): one with nothing left refuses
                label = cand.target.label
                blocked = {
                    key: f"{label} has no known price (allow_unpriced counts it at $0) and {clause}; {fix}"
                    for key, (clause, fix) in _blocked(limits, used, None, status, now).items()
                }
        else:
            refusing = _blocked(limits, used, worst, status, now)
            words = next(iter(refusing.values()), None)
            label = cand.target.label
            blocked = {key: _target_reason(label, worst, tokens_in, tokens_out, *w) for key, w in refusing.items()}
        targets.append(
            {
                "target": cand.target.label,
                "reservation_usd": None if worst is None else format(worst, "f"),
                "input_tokens": tokens_in,
                "max_output_tokens": tokens_out,
                "fits": not blocked,
                "reason": next(iter(blocked.values()), None),
                "_blocked": blocked,
                "_words": words,
                # (a target the policies forbid is refused as such above, however it is configured)
                "_skipped": skip(cand, plan, agent),
            }
        )
    priced = [t for t in targets if "_blocked" in t]
    unsendable = None
    if priced and all(t["_skipped"] is not None for t in priced):
        # judged below as if they could be sent (the budget's word once one is): that is said with the reason each
        # cannot be now, or "fits" read as "a call would go" while every call failed before any request (no key)
        why = "; ".join(f"{t['target']}: {t['_skipped'][0]}" for t in priced)
        unsendable = f"no target of {plan.skill_id}'s route can be sent now, so a call fails before any request ({why})"
    if any(t["_skipped"] is None for t in priced):
        # the cascade passes over a target it cannot send to, and reserves on the next: a target that fits there
        # is of no use to the call (where none of them can be sent to, each is judged as if it could: the budget's
        # word on the call once its provider is configured)
        for t in priced:
            if t["_skipped"] is not None:
                t["fits"], t["reason"], t["_words"] = False, f"{t['_skipped'][0]}: the call passes it over", None
        priced = [t for t in priced if t["_skipped"] is None]
    chosen = next((t for t in priced if t["fits"]), None)
    if chosen is None and priced:
        # none fits: the one needing the least, which says how far off the call is
        chosen = min(priced, key=lambda t: Decimal(t["reservation_usd"] or "Infinity"))
    blocked_by = chosen.pop("_blocked") if chosen is not None else {}
    words = chosen.get("_words") if chosen is not None else None
    for t in targets:
        t.pop("_blocked", None)
        t.pop("_skipped", None)
        t.pop("_words", None)
    fits = chosen is not None and chosen["fits"]
    unpriced = chosen is not None and chosen["reservation_usd"] is None
    if chosen is None:
        reason = ended or plan.classes_apart or _all_forbidden(plan.skill_id, targets)
    elif fits:
        reason = _let_through_unpriced(chosen["target"], limits) if unpriced else None
    elif words is not None:  # the skill's least reservation, said once (each target's reason says its own)
        reason = _call_reason(plan.skill_id, chosen, *words, alone=len(priced) == 1)
        if ended:
            reason += f"; and then {ended}"
    else:
        reason = chosen["reason"] if len(priced) == 1 else f"no target of its route fits; the least: {chosen['reason']}"
        if ended:
            reason += f"; and then {ended}"
    call = {
        "skill": plan.skill_id,
        # the route the router gives the call (its rule, as explain says it) and the data classes held to on it
        "rule": plan.rule,
        "data_classes": list(plan.data_classes),
        "target": chosen["target"] if chosen is not None else None,
        # whether the policies (allowed_models, each data class's requirements) let the call reach a target: false,
        # it fails before the budget is asked, whatever fits says
        "allowed": chosen is not None,
        "reservation_usd": chosen["reservation_usd"] if chosen is not None else None,
        "input_tokens": chosen["input_tokens"] if chosen is not None else None,
        "max_output_tokens": chosen["max_output_tokens"] if chosen is not None else None,
        "fits": bool(fits),
        "unpriced": unpriced,
        "reason": reason,
        "unsendable": unsendable,
        "targets": targets,
    }
    for entry in status["limits"]:
        entry["call_fits"] = chosen is not None and (entry["policy"], entry["limit"]) not in blocked_by
    return {**status, "call": call}


def _let_through_unpriced(target: str, limits: list[Limit]) -> str:
    """What a call that fits at no known price is told: it is sent, but nothing bounds its cost (a bare "fits",
    with no reservation, read as a call of $0)."""
    if not limits:
        return f"{target} has no known price: the call is sent (no cost limit applies); its cost is recorded as null"
    policies = ", ".join(dict.fromkeys(lim.policy for lim in limits))
    return (
        f"{target} has no known price: the call is sent, counted at $0 against the limits (allow_unpriced on "
        f"{policies}), so no limit bounds what it spends; its cost is recorded as null (unpriced_attempts)"
    )


def _all_forbidden(skill: str, targets: list[dict[str, Any]]) -> str:
    """Why no call of ``skill`` fits where the policies forbid every target of its route: each refusal (the policy
    and its rule), and the fix, as `magsag doctor` says it of such a route; "the policies forbid every target" alone
    named neither the policy nor what to change."""
    refusals = "; ".join(t["reason"] for t in targets if t["reason"])
    said = f" ({refusals})" if refusals else ""
    return (
        f"the policies forbid every target of {skill}'s route{said}; add one of them to the allowed_models (or the "
        "data class's models under requirements) of the policy that forbids it, or route the task to a model the "
        "policies allow"
    )


def _reserves(worst: Decimal, tokens_in: int, tokens_out: int) -> str:
    return f"${worst:f} ({tokens_in} input tokens with an empty payload, {tokens_out} output tokens)"


def _target_reason(label: str, worst: Decimal, tokens_in: int, tokens_out: int, clause: str, fix: str) -> str:
    """Why a limit refuses a target's reservation, said of that target (the least a call of the skill reserves, which
    may be another target's, is said once, in the call's reason)."""
    reserves = _reserves(worst, tokens_in, tokens_out)
    if clause.startswith("above"):  # the call limit, whatever was spent
        return f"{label} reserves {reserves}, {clause}; {fix}"
    if clause.startswith("while"):  # a call of no bound in flight: whatever it reserves
        return f"{clause}, {label}'s too; {fix}"
    return f"{clause}, below what {label} reserves: {reserves}; {fix}"


def _call_reason(skill: str, chosen: dict[str, Any], clause: str, fix: str, *, alone: bool) -> str:
    """Why the call does not fit: the least it reserves (``chosen``, the target needing the least; ``alone``: its
    route's one target priced), the limit that refuses it and the fix."""
    reserves = _reserves(Decimal(chosen["reservation_usd"]), chosen["input_tokens"], chosen["max_output_tokens"])
    if alone:
        least, lead = f"{chosen['target']} reserves {reserves}", ""
    else:
        least, lead = f"{chosen['target']}'s {reserves}", "no target of its route fits; "
    if clause.startswith("above"):  # the call limit, whatever was spent
        least = f"a call of {skill}: {least}" if alone else f"the least a call of {skill} reserves is {least}"
        return f"{lead}{least}, {clause}; {fix}"
    if clause.startswith("while"):  # a call of no bound in flight: whatever it reserves
        return f"{lead}{clause}, a call of {skill} too; {fix}"
    return f"{lead}{clause}, below the least a call of {skill} reserves: {least}, so the call is refused; {fix}"


def _blocked(
    limits: list[Limit],
    used: dict[tuple[str, str], Decimal],
    worst: Decimal | None,
    status: dict[str, Any],
    now: float,
) -> dict[tuple[str, str], tuple[str, str]]:
    """(policy, limit kind) -> why it refuses a reservation of ``worst`` (the limit's clause: "above caps's call
    limit $X whatever was spent", "caps's run limit for run r has $Y left") and the fix, as
    :meth:`Governance.admit` and the ledger's reservation compare it (in pico-USD: what is reserved). ``worst``
    None: a model of unknown price every limit allows, counted at $0, which a limit with nothing left refuses."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    need = to_pusd(worst) or 0
    cheaper = "lower max_tokens or choose a cheaper model" if worst is not None else ""
    for lim in limits:
        raise_it = f"raise {limit_key(lim)}"
        if lim.kind == "call" or (lim.policy, lim.kind) not in used:
            # the call limit, and a run limit asked of no run (a new run, with nothing spent)
            if worst is not None and worst > lim.amount:
                kind = lim.kind.replace("_", "-")
                out[(lim.policy, lim.kind)] = (
                    f"above {lim.policy}'s {kind} limit ${lim.amount:f} whatever was spent",
                    f"lower max_tokens or choose a cheaper model, or {raise_it}",
                )
            continue
        spent = used[(lim.policy, lim.kind)]
        entry: dict[str, Any] = next(
            (e for e in status["limits"] if (e["policy"], e["limit"]) == (lim.policy, lim.kind)), {}
        )
        scope = entry.get("scope", lim.kind)
        if not lim.allow_unpriced and (entry.get("reserved_by") or {}).get("unbounded"):
            # a call in flight of no known bound (another process's, whose policy allows unpriced models): the
            # reservation refuses whatever is left (see budget.unbounded_in_scope)
            out[(lim.policy, lim.kind)] = (
                f"while a call of no known price is in flight in {scope}, {lim.policy}'s "
                f"{lim.kind.replace('_', '-')} limit refuses every call",
                f"try again once it is recorded, or set allow_unpriced: true on {lim.policy}",
            )
            continue
        after = (to_pusd(spent) or 0) + need
        if after < (to_pusd(lim.amount) or 0) or (worst is not None and after == (to_pusd(lim.amount) or 0)):
            continue
        left = max(Decimal(0), lim.amount - spent)
        # (a smaller call or a cheaper model is no way past a limit with nothing left to a call of no known price)
        fixes = [cheaper] if cheaper else []
        if lim.kind in WINDOWED:
            ends = datetime.fromtimestamp(window_bounds(lim, now)[1], ZoneInfo(lim.zone))
            fixes.append(
                f"wait for the {window_word(lim.kind)} to end at {ends.isoformat(timespec='minutes')} ({lim.zone})"
            )
        out[(lim.policy, lim.kind)] = (
            f"{lim.policy}'s {lim.kind.replace('_', '-')} limit for {scope} has ${left:f} left",
            ", or ".join(filter(None, (", ".join(fixes), raise_it))),
        )
    return out
