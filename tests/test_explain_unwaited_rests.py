"""explain (MCP's explain_route, ``magsag explain``) says a call fails where the targets it could send are left resting
for a wait no call waits out (past the retry cap or the deadline), the others refused or not configured: a resting
target was taken for one that is sent, and its warnings said nothing of the failure
(``test_explain_agrees_with_calls.py`` found it)."""

from __future__ import annotations

import pytest

from magsag_mcp.errors import MagsagError, RateLimitError
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.types import Target
from tests.cascade_helpers import Clock
from tests.governance_helpers import open_service, policy, rest

pytestmark = pytest.mark.anyio

CAPPED = """
policies:
  - name: cost_limits
    thresholds: {max_cost_per_call_usd: 0.03}
"""
HAIKU = Target("anthropic", "claude-3-haiku-20240307")
FAILS = "the call fails: none of its targets can be sent: "


async def test_a_call_whose_last_target_rests_past_the_retry_cap_after_a_cost_refusal_is_said_to_fail(
    catalog_copy, tmp_path, upstream
):
    # Before: the warnings said compat:unpriced is skipped and nothing more; the call failed on the rest
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_RETRY_MAX_DELAY="20")
    call = {"data": "x", "model_config": {"model": "compat:unpriced", "fallbacks": [HAIKU.label]}}
    try:
        rest(svc, HAIKU, 300)
        plan = svc.explain("skill.analysis", call)
        with pytest.raises(MagsagError):
            await svc.invoke_skill("skill.analysis", call, run_id="rests")
        (run,) = await svc.query_runs(UsageFilters(run_id="rests"))
    finally:
        await svc.aclose()
    assert [a["outcome"] for a in run["attempts"]] == ["budget_exceeded", "skipped"]
    note = plan["warnings"][-1]
    assert note.startswith(FAILS + "compat:unpriced is refused by policy 'cost_limits' ("), note
    assert (
        "; anthropic:claude-3-haiku-20240307 is left alone for a wait its server asked, which no call waits out (its "
        "entry's resting says until when and why); fix one of them" in note
    ), note
    assert "longer than the retry cap of 20s" in plan["targets"][1]["resting"]


async def test_a_call_whose_only_target_rests_within_the_retry_cap_is_not_said_to_fail(
    catalog_copy, tmp_path, upstream
):
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_RETRY_MAX_DELAY="20")
    clock = Clock(1000.0)
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    call = {"data": "x", "model_config": {"model": HAIKU.label}}
    try:
        rest(svc, HAIKU, 5)
        plan = svc.explain("skill.analysis", call)
        result = await svc.invoke_skill("skill.analysis", call)
    finally:
        await svc.aclose()
    assert not any(w.startswith("the call fails") for w in plan["warnings"]), plan["warnings"]
    assert "which a call now waits out and then sends it" in plan["targets"][0]["resting"]
    assert result.result.model == HAIKU.model and len(clock.sleeps) == 1


async def test_a_call_whose_only_target_rests_past_the_deadline_is_said_to_fail(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_RETRY_MAX_DELAY="600", MAGSAG_CALL_DEADLINE="30")
    call = {"data": "x", "model_config": {"model": HAIKU.label}}
    try:
        rest(svc, HAIKU, 300)
        plan = svc.explain("skill.analysis", call)
        with pytest.raises(RateLimitError):
            await svc.invoke_skill("skill.analysis", call)
    finally:
        await svc.aclose()
    assert plan["warnings"][-1].startswith(FAILS + "anthropic:claude-3-haiku-20240307 is left alone for a wait ")
