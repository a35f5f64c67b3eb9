"""explain (MCP's explain_route, ``magsag explain``) against what the call does: for call shapes drawn from a seeded
generator (a model of the call's own or a routed one, a cost tier, a data class, a preferred model, MAGSAG_MODEL or
MAGSAG_PROVIDER, fallbacks, an agent and its daily limit, a model a policy forbids, one of a provider with no key, one
over a cost limit or of no known price, one left resting for a wait within the retry cap or past it, one whose server
fails once), the plan explain shows (its targets in order, each one skipped and why, a rest waited out or come back
to, whether the call fails) is what the call then does against the loopback upstream (the ledger's attempts and
their outcomes, whether it raised). A disagreement found here is fixed with a test of its own beside the code it fixes
(test_resting_cost_refusals.py, test_resting_before_cost_refusals.py,
test_explain_unwaited_rests.py); this one keeps the two from drifting apart again.
Seeded, so every run draws the same cases; virtual time, so no rest is waited for."""

from __future__ import annotations

import random
from typing import Any

import pytest

from magsag_mcp.cascade_waits import TargetRests
from magsag_mcp.errors import MagsagError, RateLimitError
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.targets import parse_target
from tests.cascade_helpers import Clock
from tests.governance_helpers import open_service, policy

pytestmark = pytest.mark.anyio

#: gpt-4o-mini and gpt-4-turbo forbidden (the economy tier's first is one); a call limit that 4000 tokens out of gpt-4o
#: ($0.04), claude-3-5-sonnet ($0.06) and o1-preview ($0.24) pass and gemini-1.5-pro ($0.02) and claude-3-haiku do not,
#: and an agent's daily limit that gemini-1.5-pro passes too (each case's agent its own, so that no spend of another
#: case counts in it); financial data to gpt-4o and claude-3-haiku alone
POLICY = """
policies:
  - name: production_models
    allowed_models: [gpt-4o, o1-preview, claude-3-5-sonnet-20241022, claude-3-haiku-20240307, gemini-1.5-pro,
                     "compat:*"]
  - name: cost_limits
    thresholds: {max_cost_per_call_usd: 0.03, max_cost_per_agent_daily_usd: 0.015}
  - name: data_residency
    requirements:
      financial_data: [gpt-4o, claude-3-haiku-20240307]
      pii_processing: ["local:llama3.1:70b"]
"""
MODELS = [
    "anthropic:claude-3-haiku-20240307",  # allowed and cheap
    "google:gemini-1.5-pro",  # allowed; no key in the "no gemini" environment
    "openai:gpt-4o",  # over the limit at 4000 tokens out
    "openai:o1-preview",  # over it at 4000
    "openai:gpt-4o-mini",  # forbidden
    "openai:gpt-4-turbo",  # forbidden
    "compat:unpriced",  # no known price under a strict limit
]
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "plain": {},
    "no gemini": {"GEMINI_API_KEY": ""},
    "MAGSAG_MODEL": {"MAGSAG_MODEL": "openai:gpt-4o"},
    "MAGSAG_PROVIDER": {"MAGSAG_PROVIDER": "anthropic"},
    "MAGSAG_PROVIDER google": {"MAGSAG_PROVIDER": "google"},
}
SEED, CASES = 53, 200


def shapes() -> list[tuple[str, dict[str, Any], dict[str, Any] | None, str | None, str | None, bool]]:
    """(environment, payload, context, the model left resting, the model whose server fails once, whether the call
    names an agent) for each case."""
    rng = random.Random(SEED)
    cases = []
    for _ in range(CASES):
        mc: dict[str, Any] = {"max_tokens": rng.choice([100, 4000])}
        if rng.random() < 0.6:
            mc["model"] = rng.choice(MODELS)
            if rng.random() < 0.7:
                mc["fallbacks"] = rng.sample(MODELS, rng.randint(1, 3))
        context: dict[str, Any] = {}
        if rng.random() < 0.3:
            context["tier"] = rng.choice(["premium", "standard", "economy"])
        if rng.random() < 0.2:
            context["data_class"] = "financial_data"
        if rng.random() < 0.15:
            context["preferred_model"] = rng.choice(MODELS)
        resting = (rng.choice(MODELS), rng.choice([5, 300])) if rng.random() < 0.25 else None
        failing = rng.choice(MODELS) if rng.random() < 0.2 else None
        payload = {"data": "x", "model_config": mc}
        agent = rng.random() < 0.3
        cases.append((rng.choice(list(ENVIRONMENTS)), payload, context or None, resting, failing, agent))
    return cases


def said(plan: dict[str, Any], failing: str | None) -> tuple[list[tuple[str, str]], bool]:
    """What explain's plan says the call does, read from the plan alone (its targets' entries and its warnings): each
    target it reaches and that attempt's outcome, and whether it fails. ``failing``: the target whose server answers
    its one try with a 500, which no plan can know: the call goes on to the next target."""
    warnings = plan["warnings"]
    ends = next((w for w in warnings if w.startswith("the call fails with policy_denied at ")), None)
    reached: list[tuple[str, str]] = []
    left: str | None = None  # a resting target left for the ones after it, which the call comes back to if none is sent
    for target in plan["targets"]:
        label, verdict = target["label"], target["policy"]
        # in the cascade's order: a policy's refusal, whatever the target's configuration; no key or no feature; a
        # cost limit's refusal, said in the warnings; a rest; then it is sent
        if not verdict["allowed"] and verdict["policy"] != "cost_limits":
            reached.append((label, "policy_denied"))
            if ends is not None and ends.startswith(f"the call fails with policy_denied at {label}"):
                return reached, True
        elif target["unavailable"] or target["missing_features"]:
            reached.append((label, "skipped"))
        elif not verdict["allowed"]:
            cost = any(w.startswith(f"{label}, ") and " is not tried: a cost limit " in w for w in warnings)
            reached.append((label, "budget_exceeded" if cost else "refused for its cost, with no word of it"))
        elif target.get("resting") and "which a call now waits out and then sends it" not in target["resting"]:
            reached.append((label, "skipped"))
            if "comes back to it after the wait if none can be sent" in target["resting"]:
                left = label
        else:
            if target.get("resting"):  # the last target left: its rest waited out, then sent
                reached.append((label, "skipped"))
            left = None
            reached.append((label, "error" if label == failing else "ok"))
            if label != failing:
                return reached, False
    if left is not None:  # none after it sent: its rest waited out, then sent
        reached.append((left, "error" if left == failing else "ok"))
        return reached, left == failing
    return reached, True


def refused_for_cost(plan: dict[str, Any], start: int) -> bool:
    """Whether a target of ``plan`` from position ``start`` on is one a cost limit refuses whatever was spent."""
    return any(not t["policy"]["allowed"] and t["policy"]["policy"] == "cost_limits" for t in plan["targets"][start:])


def claims_failure(plan: dict[str, Any]) -> bool:
    """Whether explain's warnings say the call fails."""
    return any(w.startswith("the call fails") for w in plan["warnings"])


async def test_explain_says_what_the_call_does_for_every_generated_call_shape(catalog_copy, tmp_path, upstream):
    policy(catalog_copy, POLICY)
    services = {}
    clock = Clock(1000.0)  # a rest within the retry cap is waited out in no time
    for name, env in ENVIRONMENTS.items():
        (tmp_path / name).mkdir()
        services[name] = svc = await open_service(
            catalog_copy, tmp_path / name, upstream, MAGSAG_MAX_RETRIES="0", MAGSAG_RETRY_MAX_DELAY="20", **env
        )
        svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    disagreements = []
    seen: set[str] = set()  # what the cases covered: each outcome, a call that fails and one that does not
    try:
        for number, (env, payload, context, resting, failing, named) in enumerate(shapes()):
            agent = f"agent-{number}" if named else None
            svc = services[env]
            svc.cascade.rests = TargetRests()
            upstream.plans.clear()
            if resting is not None:  # its server asked a call before for 5s (within the retry cap) or 5 minutes
                target = parse_target(resting[0])
                refusal = RateLimitError(
                    "slow down", provider=target.provider, model=target.model, retry_after=resting[1]
                )
                svc.cascade.rests.note(target, refusal, svc.cascade.clock())
            if failing is not None:
                upstream.plan(parse_target(failing).model, 500)
            plan = svc.explain("skill.analysis", payload, context=context, agent=agent)
            run_id = f"case-{number}"
            try:
                await svc.invoke_skill("skill.analysis", payload, context=context, run_id=run_id, agent=agent)
                failed = False
            except MagsagError:
                failed = True
            (run,) = await svc.query_runs(UsageFilters(run_id=run_id))
            did = [(f"{a['provider']}:{a['model']}", a["outcome"]) for a in run["attempts"]]
            expected, fails = said(plan, failing)
            seen.update({outcome for _, outcome in did} | {f"fails {failed}"})
            for position, rest in ((p, t["resting"]) for p, t in enumerate(plan["targets"]) if t.get("resting")):
                seen.add("resting")
                seen.update({"waited out"} if "which a call now waits out and then sends it" in rest else set())
                seen.update({"come back to"} if "comes back to it after the wait if none can be" in rest else set())
                if "which a call now waits out and then sends it" in rest and refused_for_cost(plan, position + 1):
                    seen.add("waited out before a cost refusal")  # none after it left: a cost limit refuses them
            # (a server's failure no plan can know: where one failed the call, explain's warnings could not say so)
            unforeseen = failed and any(outcome == "error" for _, outcome in expected)
            if did != expected or failed != fails or (failed != claims_failure(plan) and not unforeseen):
                disagreements.append(
                    f"case {number} ({env}, {payload['model_config']}, {context}, resting {resting}, failing "
                    f"{failing}, agent {agent}):\n  explain: {expected}, fails {fails}, says it fails "
                    f"{claims_failure(plan)}\n"
                    f"  the call: {did}, fails {failed}\n  warnings: {plan['warnings']}"
                )
    finally:
        for svc in services.values():
            await svc.aclose()
    assert not disagreements, "\n".join(disagreements)
    assert seen == {
        "ok",
        "error",
        "skipped",
        "policy_denied",
        "budget_exceeded",
        "fails True",
        "fails False",
        "resting",
        "waited out",
        "come back to",
        "waited out before a cost refusal",
    }
