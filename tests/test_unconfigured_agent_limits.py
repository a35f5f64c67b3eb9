"""A target passed over as not configured (no key, no endpoint) names beside the fix the cost limit that would refuse
it once configured; for a call of an agent, that agent's daily limit is among the limits asked, as its admission
asks it (before, the note asked the limits without the agent: a fix made, the next call was refused for the daily
limit no call had named)."""

from __future__ import annotations

import pytest

from magsag_mcp.errors import AllTargetsFailed
from magsag_mcp.ledger import UsageFilters
from tests.governance_helpers import open_service, policy

pytestmark = pytest.mark.anyio

#: gemini-1.5-pro's worst case at 4000 tokens out ($0.02) is within the call limit and above the agent's daily limit
CAPPED = """
policies:
  - name: cost_limits
    thresholds: {max_cost_per_call_usd: 0.03, max_cost_per_agent_daily_usd: 0.015}
"""
CALL = {"data": "x", "model_config": {"model": "google:gemini-1.5-pro", "max_tokens": 4000}}


async def skipped_for_no_key(catalog_copy, tmp_path, upstream, agent: str | None) -> str:
    """The error message a call of ``agent`` to gemini-1.5-pro, with no Gemini key, records for its skip."""
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, GEMINI_API_KEY="")
    try:
        with pytest.raises(AllTargetsFailed):
            await svc.invoke_skill("skill.analysis", CALL, run_id="keyless", agent=agent)
        (run,) = await svc.query_runs(UsageFilters(run_id="keyless"))
    finally:
        await svc.aclose()
    (attempt,) = run["attempts"]
    assert attempt["outcome"] == "skipped"
    return attempt["error_message"]


async def test_a_keyless_target_names_the_agents_daily_limit_it_would_meet_once_configured(
    catalog_copy, tmp_path, upstream
):
    said = await skipped_for_no_key(catalog_copy, tmp_path, upstream, "alice")
    assert said.startswith("not configured: google: no API key")
    assert "; once it is, cost_limits: " in said and "above the agent-day limit $0.015" in said


async def test_a_keyless_target_of_a_call_of_no_agent_names_no_daily_limit(catalog_copy, tmp_path, upstream):
    said = await skipped_for_no_key(catalog_copy, tmp_path, upstream, None)
    assert said.startswith("not configured: google: no API key")
    assert "once it is" not in said  # within the call limit, and no agent's daily limit applies


async def test_check_budget_names_the_agents_daily_limit_beside_a_keyless_target(catalog_copy, tmp_path, upstream):
    # check_budget(skill=...) says why the cascade passes a target over in the call's own words: for an agent, the
    # daily limit the target meets once configured (before: not named, as in the call's skip)
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, GEMINI_API_KEY="")
    try:
        # (skill.analysis's route: gpt-4o, claude-3-5-sonnet, then gemini-1.5-pro, passed over for its missing key)
        status = await svc.check_budget(agent="alice", skill="skill.analysis", max_tokens=4000)
    finally:
        await svc.aclose()
    (target,) = [t for t in status["call"]["targets"] if t["target"] == "google:gemini-1.5-pro"]
    assert target["fits"] is False
    assert "once it is, cost_limits: " in target["reason"] and "agent-day limit $0.015" in target["reason"]
