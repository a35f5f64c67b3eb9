"""``magsag flow gate``: check a ``flow summarize`` output against a policy's thresholds and models.

What each threshold means for a summary: ``max_cost_per_run_usd`` bounds the summary's total cost
(a summary filtered to one run is that run); ``max_cost_per_agent_daily_usd`` bounds each agent's cost
in ``by_agent`` (meaningful for a summary of one day, e.g. ``--since 24h``); ``max_cost_per_call_usd``
bounds each model's average cost per call. Unpriced calls under a cost threshold are a violation
unless the policy allows unpriced models. Every model with calls must be allowed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InputError
from ..types import Target
from .policy import PolicySet, matches, model_matches


def _cost(stats: dict[str, Any], where: str) -> Decimal:
    raw = stats.get("cost_usd_exact", stats.get("cost_usd", 0))
    try:
        return Decimal(str(raw if raw is not None else 0))
    except InvalidOperation:
        raise InputError(f"{where}.cost_usd is not a number: {raw!r}") from None


def check_summary(summary: Any, policies: PolicySet) -> list[str]:
    if not isinstance(summary, dict) or not isinstance(summary.get("model_stats"), dict):
        raise InputError("the summary must be a JSON object with 'model_stats' (the output of magsag flow summarize)")
    stats: dict[str, Any] = summary["model_stats"]
    violations: list[str] = []
    total = Decimal(0)
    unpriced = 0
    for model, s in stats.items():
        if not isinstance(s, dict) or "calls" not in s:
            raise InputError(f"model_stats[{model!r}] must be an object with calls, errors, tokens and cost_usd")
        total += _cost(s, f"model_stats[{model!r}]")
        unpriced += int(s.get("unpriced_calls") or 0)
        providers = s.get("providers") or []
        for p in policies.policies:
            if p.allowed_models is None or not s.get("calls", 0):
                continue
            if providers:  # summaries written by magsag say which providers served the model
                ok = all(matches(p.allowed_models, Target(prov, model)) for prov in providers)
            else:
                ok = model_matches(p.allowed_models, model)
            if not ok:
                where = f" (via {', '.join(providers)})" if providers else ""
                violations.append(f"{p.name}: model {model!r}{where} is not in allowed_models ({s['calls']} calls)")
    for p in policies.policies:
        t = p.thresholds
        if t is None:
            continue
        if unpriced and not p.allow_unpriced:
            violations.append(f"{p.name}: {unpriced} call(s) have no known price, so the cost limits cannot be checked")
        if t.max_cost_per_run_usd is not None and total > t.max_cost_per_run_usd:
            violations.append(f"{p.name}: total cost ${total} exceeds max_cost_per_run_usd ${t.max_cost_per_run_usd}")
        if t.max_cost_per_agent_daily_usd is not None:
            for agent, s in (summary.get("by_agent") or {}).items():
                cost = _cost(s, f"by_agent[{agent!r}]")
                if cost > t.max_cost_per_agent_daily_usd:
                    violations.append(
                        f"{p.name}: agent {agent!r} cost ${cost} exceeds max_cost_per_agent_daily_usd "
                        f"${t.max_cost_per_agent_daily_usd}"
                    )
        if t.max_cost_per_call_usd is not None:
            for model, s in stats.items():
                calls = int(s.get("calls") or 0)
                if calls and _cost(s, model) / calls > t.max_cost_per_call_usd:
                    violations.append(
                        f"{p.name}: {model} averaged ${(_cost(s, model) / calls).quantize(Decimal('0.000001'))} per "
                        f"call, above max_cost_per_call_usd ${t.max_cost_per_call_usd}"
                    )
    return violations
