"""What ``explain`` warns of the targets a call would pass over or be failed at: a fallback a policy forbids or a cost
limit refuses (skipped for the next), a refusal of the caller's own choice that ends the call, and a plan none of
whose targets can be sent. Kept apart from :mod:`.route_explanation`, which lists each target's verdicts: these read
those verdicts, and the plan, as the cascade will act on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

from .cascade_report import labels
from .governance import refusal_ends_call
from .providers.capabilities import cannot_honour
from .routing import Candidate, Plan


def targets_skipped(governance: Any, plan: Plan, targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each of the call's own ``fallbacks`` a policy forbids, which the call skips for the next target (a cascade
    the caller wrote out: see :func:`~.governance.refusal_ends_call`), up to a refusal that ends the call first
    (:func:`refusal_ending` says that one). Its target was marked not allowed and nothing more: a reader took
    it for the end of the call, which it no longer is, or did not see that it will be passed over. So is one a
    cost limit refuses whatever was spent (``targets``' verdicts: its worst case above a limit, or no known price),
    which the call skips as well, recorded as budget_exceeded; explain said nothing of it (where it is not
    configured or lacks a feature, the call skips it for that first, which its target's entry says). A cost limit's
    refusal never ends a call (:meth:`Governance.admit` raises BudgetExceeded, which the cascade skips whoever
    chose the target), so the call's own first model, MAGSAG_MODEL's and routing's targets are said to be
    skipped the same way: only the fallbacks were, and a call whose first model was over a limit was shown
    nothing but that target's verdict, while the call went on to the next."""
    policies = governance.policies
    skipped = []
    # (named as the call's warnings name it: with its server where the plan holds its model on another too, the
    # class's own on the server configured for it, which is tried)
    shown = labels(plan)
    for position, (cand, entry) in enumerate(zip(plan.candidates, targets, strict=True)):
        if cand.refused is not None:  # (a refusal that ends the call was raised while it was planned)
            skipped.append(
                f"{shown[position]}, {_role(cand)}, is not tried: {cand.refused.message}: a call that reaches it "
                f"{_then(position, plan)} (recorded as policy_denied, named in its warnings)"
            )
            continue
        ok, policy, reason, rule = policies.allowed(cand.target, plan.data_classes)
        if ok:
            verdict = entry["policy"]
            sendable = not entry["unavailable"] and not entry["missing_features"]
            if sendable and not verdict["allowed"]:
                # a known worst case above a limit, or no known price (whose refusal says its own fix)
                fix = (
                    f"; to have it tried, lower max_tokens or list a cheaper model, or raise the limit on policy "
                    f"{verdict['policy']!r}"
                    if entry["estimated_max_cost_usd"] is not None
                    else ""
                )
                reaches = "the call" if position == 0 else "a call that reaches it"
                skipped.append(
                    f"{shown[position]}, {_role(cand)}, is not tried: a cost limit of policy "
                    f"{verdict['policy']!r} refuses it ({verdict['reason']}): {reaches} "
                    f"{_then(position, plan)} (recorded as budget_exceeded, named in its warnings){fix}"
                )
            continue
        if _unreached(governance, cand, plan):  # (skipped as its server not running, which its entry says)
            continue
        by_routing = cand.routed is not None and not policies.allowed(cand.routed, plan.data_classes)[0]
        if refusal_ends_call(cand, plan.candidates, by_routing=by_routing, rule=rule):
            break
        if not cand.fallback:
            continue
        skipped.append(
            f"{shown[position]}, one of the call's fallbacks, is not tried: policy {policy!r} forbids it "
            f"({reason}): a call that reaches it {_then(position, plan)} (recorded as policy_denied, named in its "
            "warnings); to have it tried, list a model the policy allows"
        )
    return skipped


def refusal_ending(governance: Any, plan: Plan) -> list[str]:
    """Where a policy's refusal would fail the call (:func:`~.governance.refusal_ends_call`, as the cascade
    asks it): the first target the caller or the environment chose that a policy forbids. The targets after
    it are listed (they serve the call if one before it fails), but a refused choice is not replaced."""
    policies = governance.policies
    for position, cand in enumerate(plan.candidates):
        ok, policy, reason, rule = policies.allowed(cand.target, plan.data_classes)
        if ok or cand.refused is not None:  # (a refused server's that ends the call was raised when planned)
            continue
        if _unreached(governance, cand, plan):  # (skipped as its server not running, which its entry says)
            continue
        by_routing = cand.routed is not None and not policies.allowed(cand.routed, plan.data_classes)[0]
        if refusal_ends_call(cand, plan.candidates, by_routing=by_routing, rule=rule):
            how = "MAGSAG_MODEL" if cand.source == "env" else "MAGSAG_PROVIDER" if cand.by_env else "the call"
            return [
                f"the call fails with policy_denied at {cand.target.label}"
                f"{' if the targets before it fail' if position else ''}, which {how} chose and policy "
                f"{policy!r} forbids ({reason}): a choice of the caller's or the environment's is refused, not "
                "replaced, so the targets after it are not tried; choose a model the policy allows"
            ]
    return []


def _unreached(governance: Any, cand: Candidate, plan: Plan) -> bool:
    """Whether the policies refuse ``cand`` only for want of its server's answer, which a server not running could
    not give: the call skips it as a connection error, not as a refusal (see
    :meth:`~.governance.policy.PolicySet.unreached_refusal`)."""
    policies = getattr(governance, "policies", None)
    return policies is not None and policies.unreached_refusal(cand.target, plan.data_classes) is not None


#: who chose a target, as a note of its skip names it (route_resolution.Source; a fallback is the call's too)
_CHOSEN_BY = {
    "call": "the call's own model",
    "env": "the model MAGSAG_MODEL chose",
    "tier": "a target of the call's cost tier",
    "route": "a target of its route",
    "default": "a target of routing's default chain",
    "data_class": "a model of its data class",
    "provider_default": "routing's model for the provider named",
}


def _role(cand: Candidate) -> str:
    """Who chose ``cand``, as a note of its skip says it: one of the call's fallbacks, its own model, routing's."""
    return "one of the call's fallbacks" if cand.fallback else _CHOSEN_BY.get(cand.source, "a target of its route")


def _then(position: int, plan: Plan) -> str:
    """What a call does at a fallback it skips: the next target, or, at the last, fails."""
    if position + 1 < len(plan.candidates):
        return "skips it for the next target"
    return "skips it and fails, no target being left after it"


def none_sendable(
    targets: list[dict[str, Any]],
    unwaited: Set[int] = frozenset(),
    priced_out: Set[int] = frozenset(),
    unreached: Set[int] = frozenset(),
) -> list[str]:
    """Where no target of the plan can be sent (each refused by a policy or a cost limit, not configured, or lacking a
    feature the call needs, as the cascade skips them, in that order, or left resting for a wait no call waits out:
    ``unwaited``'s positions), that the call fails and each one's fix: the targets listed their reasons, but the
    warnings were empty, and a client reading the plan of a call made with no key set saw a route and no word that
    the call could only fail. A resting target was taken for one that is sent: a call whose other targets a cost
    limit refused, its last one resting past the retry cap, failed with no warning saying so. A target not
    configured whose cost limit would refuse it too (``priced_out``: the policies allow it) is said as the call says
    it, "not configured (...); once it is, ...": said only as the cost limit's refusal, the fix made (its price
    added) met the missing key or endpoint next. ``unreached``'s positions are local targets whose server is not
    running, which the policies refuse for want of its answer alone:
    the call skips them as the connection error their entry's ``unavailable`` says, not as a policy's refusal."""
    reasons = []
    for position, target in enumerate(targets):
        verdict = target["policy"]
        if position in unreached:
            reasons.append(f"{target['label']}: its server is not reached ({target['unavailable']})")
        elif not verdict["allowed"] and target["unavailable"] and position in priced_out:
            reasons.append(
                f"{target['label']} is not configured ({target['unavailable']}); once it is, it is refused by policy "
                f"{verdict['policy']!r} ({verdict['reason']})"
            )
        elif not verdict["allowed"]:
            reasons.append(f"{target['label']} is refused by policy {verdict['policy']!r} ({verdict['reason']})")
        elif target["unavailable"]:
            reasons.append(f"{target['label']} is not configured ({target['unavailable']})")
        elif target["missing_features"]:
            reasons.append(f"{target['label']} {cannot_honour(target['missing_features'])}")
        elif position in unwaited:
            reasons.append(
                f"{target['label']} is left alone for a wait its server asked, which no call waits out (its "
                "entry's resting says until when and why)"
            )
        else:
            return []
    if not reasons:
        return []
    return [
        f"the call fails: none of its targets can be sent: {'; '.join(reasons)}; fix one of them (`magsag doctor`, "
        "run with the environment the calls are made in, shows which providers it configures), or name a model "
        "that can be sent"
    ]
