"""A target left resting (its server asked an earlier call for a wait) whose only targets after it are ones a cost
limit refuses whatever was spent (a worst case above a limit, the call's agent's daily limit among them; no known
price) is the last target left: its rest is waited out, when that fits the retry cap, and it is sent, with no attempt
at the refused ones. Passed over for them, the call recorded each refusal and only then came back to it, after the
same wait; and explain said the same detour. So for a retry, which a rate limit gets only on the last target left."""

from __future__ import annotations

import pytest

from magsag_mcp.ledger import UsageFilters
from magsag_mcp.types import Target
from tests.cascade_helpers import Clock
from tests.governance_helpers import open_service, policy, rest

pytestmark = pytest.mark.anyio

CAPPED = """
policies:
  - name: cost_limits
    thresholds: {max_cost_per_call_usd: 0.03, max_cost_per_agent_daily_usd: 0.015}
"""
HAIKU = "anthropic:claude-3-haiku-20240307"


async def run_resting_haiku(catalog_copy, tmp_path, upstream, fallbacks, agent=None):
    """claude-3-haiku (within every limit at 4000 tokens out) left resting for 5s, then a call of it with
    ``fallbacks``: explain's plan, the call's attempts' outcomes and the waits it slept."""
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_RETRY_MAX_DELAY="20")
    clock = Clock(1000.0)
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    call = {"data": "x", "model_config": {"model": HAIKU, "max_tokens": 4000, "fallbacks": fallbacks}}
    try:
        rest(svc, Target("anthropic", "claude-3-haiku-20240307"), 5)
        plan = svc.explain("skill.analysis", call, agent=agent)
        await svc.invoke_skill("skill.analysis", call, run_id="rested", agent=agent)
        (run,) = await svc.query_runs(UsageFilters(run_id="rested"))
    finally:
        await svc.aclose()
    return plan, [(f"{a['provider']}:{a['model']}", a["outcome"]) for a in run["attempts"]], clock.sleeps


async def test_a_resting_target_before_targets_over_the_call_limit_is_waited_out_and_sent(
    catalog_copy, tmp_path, upstream
):
    # Before: [haiku skipped, gpt-4o budget_exceeded, o1-preview budget_exceeded, haiku ok]: passed over for two
    # targets whose $0.04 and $0.24 worst cases the $0.03 call limit refuses however little was spent
    plan, attempts, sleeps = await run_resting_haiku(
        catalog_copy, tmp_path, upstream, ["openai:gpt-4o", "openai:o1-preview"]
    )
    assert attempts == [(HAIKU, "skipped"), (HAIKU, "ok")]
    assert len(sleeps) == 1 and 5 <= sleeps[0] < 6  # its rest (and the backoff's jitter), once
    assert "which a call now waits out and then sends it" in plan["targets"][0]["resting"]


async def test_a_resting_target_before_one_over_the_agents_daily_limit_is_waited_out_and_sent(
    catalog_copy, tmp_path, upstream
):
    # gemini-1.5-pro's $0.02 worst case is within the call limit but above alice's $0.015 daily limit: for her call
    # it is refused outright, so haiku is the last target left (before: passed over for it, then come back to)
    plan, attempts, sleeps = await run_resting_haiku(
        catalog_copy, tmp_path, upstream, ["google:gemini-1.5-pro"], agent="alice"
    )
    assert attempts == [(HAIKU, "skipped"), (HAIKU, "ok")]
    assert len(sleeps) == 1 and 5 <= sleeps[0] < 6  # its rest (and the backoff's jitter), once
    assert "which a call now waits out and then sends it" in plan["targets"][0]["resting"]


async def test_a_resting_target_is_still_passed_over_for_a_target_within_the_limits(catalog_copy, tmp_path, upstream):
    # without an agent, gemini-1.5-pro's $0.02 is within the call limit and no daily limit applies: it is tried first
    plan, attempts, sleeps = await run_resting_haiku(catalog_copy, tmp_path, upstream, ["google:gemini-1.5-pro"])
    assert attempts == [(HAIKU, "skipped"), ("google:gemini-1.5-pro", "ok")]
    assert sleeps == []
    assert "comes back to it after the wait if none can be sent" in plan["targets"][0]["resting"]


async def test_a_rate_limited_target_is_retried_there_when_every_target_after_it_is_refused_for_its_cost(
    catalog_copy, tmp_path, upstream
):
    # A 429 is retried only on the last target left; gpt-4o's $0.04 worst case the call limit refuses whatever was
    # spent, so haiku is that target. Before: [haiku error, gpt-4o budget_exceeded, haiku ok], left for gpt-4o and
    # come back to
    policy(catalog_copy, CAPPED)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_RETRY_MAX_DELAY="20")
    clock = Clock(1000.0)
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    upstream.plan("claude-3-haiku-20240307", 429)
    call = {"data": "x", "model_config": {"model": HAIKU, "max_tokens": 4000, "fallbacks": ["openai:gpt-4o"]}}
    try:
        await svc.invoke_skill("skill.analysis", call, run_id="retried")
        (run,) = await svc.query_runs(UsageFilters(run_id="retried"))
    finally:
        await svc.aclose()
    assert [(f"{a['provider']}:{a['model']}", a["outcome"]) for a in run["attempts"]] == [
        (HAIKU, "error"),
        (HAIKU, "ok"),
    ]
    assert upstream.calls["gpt-4o"] == 0
