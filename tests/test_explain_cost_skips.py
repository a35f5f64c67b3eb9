"""explain (MCP's explain_route, ``magsag explain``) says of one of the call's fallbacks that a cost limit refuses
whatever was spent (a worst case above a limit, no known price) what the call does there: skips it for the next
target, recorded as budget_exceeded, as it says of one a policy forbids (``test_governance_explain.py``)."""

from __future__ import annotations

import pytest

from magsag_mcp.ledger import UsageFilters
from tests.governance_helpers import open_service, policy

pytestmark = pytest.mark.anyio

CAPPED = """
policies:
  - name: production_models
    allowed_models: [gpt-4o-mini, o1-preview, claude-3-haiku-20240307, "compat:*"]
  - name: cost_limits
    thresholds: {max_cost_per_call_usd: 0.01}
"""
SAID = (
    "openai:o1-preview, one of the call's fallbacks, is not tried: a cost limit of policy 'cost_limits' refuses it "
    "(openai:o1-preview may cost up to $"
)


def fallback_notes(plan: dict) -> list[str]:
    return [w for w in plan["warnings"] if "one of the call's fallbacks" in w]


async def test_a_fallback_over_the_call_limit_is_said_to_be_skipped_as_the_call_skips_it(
    catalog_copy, tmp_path, upstream
):
    # Before: the target was marked not allowed, and the warnings said nothing: a forbidden fallback was said to be
    # skipped for the next target, one over a cost limit (which the call skips the same way) was not
    policy(catalog_copy, CAPPED)
    upstream.plan("gpt-4o-mini", 500, 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MAX_RETRIES="0")
    mc = {
        "model": "openai:gpt-4o-mini",
        "max_tokens": 4000,
        "fallbacks": ["openai:o1-preview", "anthropic:claude-3-haiku-20240307"],
    }
    call = {"data": "x", "model_config": mc}
    try:
        plan = svc.explain("skill.analysis", call)
        last = svc.explain("skill.analysis", {**call, "model_config": {**mc, "fallbacks": mc["fallbacks"][:1]}})
        result = await svc.invoke_skill("skill.analysis", call)
        runs = await svc.query_runs(UsageFilters())
    finally:
        await svc.aclose()
    [note] = fallback_notes(plan)
    assert note.startswith(SAID), note
    assert ", above the call limit $0.01): a call that reaches it skips it for the next " in note
    assert note.endswith(
        "target (recorded as budget_exceeded, named in its warnings); to have it tried, lower max_tokens or list a "
        "cheaper model, or raise the limit on policy 'cost_limits'"
    ), note
    [note] = fallback_notes(last)
    assert "a call that reaches it skips it and fails, no target being left after it (recorded as " in note
    # what the call did: the first failed, the fallback over the limit skipped, the next answered
    assert (result.result.provider, result.result.model) == ("anthropic", "claude-3-haiku-20240307")
    assert any(w.startswith("skipped openai:o1-preview: cost_limits: call limit $0.01") for w in result.warnings)
    assert upstream.calls["o1-preview"] == 0
    (run,) = runs
    assert [a["outcome"] for a in run["attempts"]] == ["error", "budget_exceeded", "ok"]


async def test_a_fallback_of_no_known_price_is_said_to_be_skipped_with_its_own_fix(catalog_copy, tmp_path, upstream):
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "openai:gpt-4o-mini", "fallbacks": ["compat:unpriced", "anthropic:claude-3-haiku-20240307"]}
    try:
        plan = svc.explain("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    [note] = fallback_notes(plan)
    assert note.startswith(
        "compat:unpriced, one of the call's fallbacks, is not tried: a cost limit of policy 'cost_limits' refuses it "
        "(cost_limits: compat:unpriced has no known price"
    ), note
    # (no fix of its own after it: the refusal's says what to add, or to set)
    assert note.endswith(
        "a call that reaches it skips it for the next target (recorded as budget_exceeded, named in its warnings)"
    )
    assert f"add its price to {catalog_copy / 'prices.yaml'}" in note


async def test_a_fallback_within_the_limits_or_not_configured_is_not_said_to_be_refused(
    catalog_copy, tmp_path, upstream
):
    policy(catalog_copy, CAPPED)
    no_openai = {k: "" for k in upstream.env() if k.startswith("OPENAI_")}
    svc = await open_service(catalog_copy, tmp_path, upstream, **no_openai)
    mc = {"model": "anthropic:claude-3-haiku-20240307", "max_tokens": 4000, "fallbacks": ["openai:o1-preview"]}
    try:
        cheap = svc.explain("skill.analysis", {"data": "x", "model_config": {**mc, "max_tokens": 10}})
        unconfigured = svc.explain("skill.analysis", {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    assert fallback_notes(cheap) == []
    # the call skips it as not configured first (its entry says so, with the cost limit it meets once it is)
    assert fallback_notes(unconfigured) == []
    assert unconfigured["targets"][1]["unavailable"]
