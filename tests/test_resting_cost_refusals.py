"""A target left resting (its server asked an earlier call for a wait) that a cost limit refuses whatever was spent (its
worst case above a limit, no known price) is refused at once, recorded as budget_exceeded, as one a policy forbids is:
the call neither passes it over as resting nor waits its rest out to be refused after it; and explain says what the
call does (``test_explain_agrees_with_calls.py`` found it)."""

from __future__ import annotations

import pytest

from magsag_mcp.errors import BudgetExceeded
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


async def test_a_resting_last_target_over_the_call_limit_is_refused_at_once_not_waited_for(
    catalog_copy, tmp_path, upstream
):
    # Before: the call waited the 5s rest out (within the retry cap) and then was refused for the cost all the same:
    # attempts [skipped, budget_exceeded] after a wait for nothing; explain said budget_exceeded alone
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_RETRY_MAX_DELAY="20")
    clock = Clock(1000.0)
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    call = {"data": "x", "model_config": {"model": "openai:gpt-4o", "max_tokens": 4000}}  # worst case $0.04
    try:
        rest(svc, Target("openai", "gpt-4o"), 5)
        plan = svc.explain("skill.analysis", call)
        with pytest.raises(BudgetExceeded):
            await svc.invoke_skill("skill.analysis", call, run_id="resting")
        (run,) = await svc.query_runs(UsageFilters(run_id="resting"))
    finally:
        await svc.aclose()
    assert clock.sleeps == []
    assert [a["outcome"] for a in run["attempts"]] == ["budget_exceeded"]
    assert upstream.calls["gpt-4o"] == 0
    assert plan["warnings"][-1].startswith("the call fails: none of its targets can be sent: openai:gpt-4o is ")


async def test_a_resting_target_over_the_call_limit_is_refused_and_its_fallback_answers(
    catalog_copy, tmp_path, upstream
):
    # Before: recorded as a rest (skipped, its server's wait named), where explain said a cost limit refuses it
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "openai:gpt-4o", "max_tokens": 4000, "fallbacks": ["anthropic:claude-3-haiku-20240307"]}
    try:
        rest(svc, Target("openai", "gpt-4o"), 300)
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="fell-back")
        (run,) = await svc.query_runs(UsageFilters(run_id="fell-back"))
    finally:
        await svc.aclose()
    assert result.result.model == "claude-3-haiku-20240307"
    assert [a["outcome"] for a in run["attempts"]] == ["budget_exceeded", "ok"]
    assert "call limit $0.03 would be exceeded" in run["attempts"][0]["error_message"]


async def test_a_resting_target_within_the_limits_is_still_left_for_its_rest(catalog_copy, tmp_path, upstream):
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "openai:gpt-4o", "max_tokens": 100, "fallbacks": ["anthropic:claude-3-haiku-20240307"]}
    try:
        rest(svc, Target("openai", "gpt-4o"), 300)
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="rests")
        (run,) = await svc.query_runs(UsageFilters(run_id="rests"))
    finally:
        await svc.aclose()
    assert [a["outcome"] for a in run["attempts"]] == ["skipped", "ok"]
    assert "not sent: its server asked" in run["attempts"][0]["error_message"]


async def test_a_resting_target_over_the_agents_daily_limit_is_refused_at_once(catalog_copy, tmp_path, upstream):
    # Before: the check asked the limits without the call's agent: gemini-1.5-pro's $0.02 worst case, within the call
    # limit but above the agent's daily limit, was passed over as resting where explain (asked with the agent) said
    # budget_exceeded, as its admission records it
    policy(
        catalog_copy,
        "policies:\n  - name: cost_limits\n"
        "    thresholds: {max_cost_per_call_usd: 0.03, max_cost_per_agent_daily_usd: 0.015}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "google:gemini-1.5-pro", "max_tokens": 4000, "fallbacks": ["anthropic:claude-3-haiku-20240307"]}
    call = {"data": "x", "model_config": mc}
    try:
        rest(svc, Target("google", "gemini-1.5-pro"), 300)
        plan = svc.explain("skill.analysis", call, agent="alice")
        await svc.invoke_skill("skill.analysis", call, run_id="alice-1", agent="alice")
        (run,) = await svc.query_runs(UsageFilters(run_id="alice-1"))
    finally:
        await svc.aclose()
    assert "above the agent-day limit $0.015" in plan["targets"][0]["policy"]["reason"]
    assert [a["outcome"] for a in run["attempts"]] == ["budget_exceeded", "ok"]
