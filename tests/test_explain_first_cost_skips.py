"""explain (MCP's explain_route, ``magsag explain``) says of the call's own first model, and of a target routing, a cost
tier or MAGSAG_MODEL chose, that a cost limit refuses whatever was spent (a worst case above a limit, no known price),
what the call does there: skips it for the next target, recorded as budget_exceeded. A cost limit's refusal ends no
call, whoever chose the target (``test_explain_cost_skips.py`` says it of the call's fallbacks)."""

from __future__ import annotations

import pytest

from magsag_mcp.errors import BudgetExceeded
from magsag_mcp.ledger import UsageFilters
from tests.governance_helpers import open_service, policy

pytestmark = pytest.mark.anyio


def capped(limit: str) -> str:
    return f"""
policies:
  - name: production_models
    allowed_models: [gpt-4o-mini, gpt-4o, o1-preview, claude-3-haiku-20240307, "claude-3-5-sonnet*", "gemini*",
                     "compat:*"]
  - name: cost_limits
    thresholds: {{max_cost_per_call_usd: {limit}}}
"""


def skip_notes(plan: dict) -> list[str]:
    return [w for w in plan["warnings"] if " is not tried: a cost limit " in w]


async def explain_and_call(svc, call: dict, context: dict | None = None) -> tuple[dict, object, list]:
    plan = svc.explain("skill.analysis", call, context=context)
    result = await svc.invoke_skill("skill.analysis", call, context=context)
    (run,) = await svc.query_runs(UsageFilters())
    return plan, result, [(a["model"], a["outcome"]) for a in run["attempts"]]


async def test_the_calls_own_model_over_the_call_limit_is_said_to_be_skipped_as_the_call_skips_it(
    catalog_copy, tmp_path, upstream
):
    # Before: its target was marked not allowed and the warnings were empty, while the call skipped it for its fallback
    policy(catalog_copy, capped("0.01"))
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "openai:o1-preview", "max_tokens": 4000, "fallbacks": ["anthropic:claude-3-haiku-20240307"]}
    try:
        plan, result, attempts = await explain_and_call(svc, {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    [note] = skip_notes(plan)
    assert note.startswith(
        "openai:o1-preview, the call's own model, is not tried: a cost limit of policy 'cost_limits' refuses it "
        "(openai:o1-preview may cost up to $"
    ), note
    assert note.endswith(
        "above the call limit $0.01): the call skips it for the next target (recorded as budget_exceeded, named in "
        "its warnings); to have it tried, lower max_tokens or list a cheaper model, or raise the limit on policy "
        "'cost_limits'"
    ), note
    assert not any(w.startswith("the call fails") for w in plan["warnings"])
    # what the call did: the first model skipped, not sent, its fallback answered
    assert (result.result.provider, result.result.model) == ("anthropic", "claude-3-haiku-20240307")
    assert upstream.calls["o1-preview"] == 0
    assert attempts == [("o1-preview", "budget_exceeded"), ("claude-3-haiku-20240307", "ok")]


async def test_the_calls_own_model_of_no_known_price_is_said_to_be_skipped(catalog_copy, tmp_path, upstream):
    policy(catalog_copy, capped("0.01"))
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "compat:unpriced", "fallbacks": ["anthropic:claude-3-haiku-20240307"]}
    try:
        plan, result, attempts = await explain_and_call(svc, {"data": "x", "model_config": mc})
    finally:
        await svc.aclose()
    [note] = skip_notes(plan)
    assert note.startswith(
        "compat:unpriced, the call's own model, is not tried: a cost limit of policy 'cost_limits' refuses it "
        "(cost_limits: compat:unpriced has no known price"
    ), note
    assert note.endswith("the call skips it for the next target (recorded as budget_exceeded, named in its warnings)")
    assert attempts == [("unpriced", "budget_exceeded"), ("claude-3-haiku-20240307", "ok")]


async def test_routed_targets_over_the_call_limit_are_said_to_be_skipped_up_to_the_one_that_answers(
    catalog_copy, tmp_path, upstream
):
    # analysis's route: gpt-4o ($0.04 at 4000 tokens out), claude-3-5-sonnet ($0.06), gemini-1.5-pro ($0.02)
    policy(catalog_copy, capped("0.03"))
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        plan, result, attempts = await explain_and_call(svc, {"data": "x", "model_config": {"max_tokens": 4000}})
    finally:
        await svc.aclose()
    first, second = skip_notes(plan)
    assert first.startswith("openai:gpt-4o, a target of its route, is not tried: a cost limit of policy "), first
    assert "): the call skips it for the next target (recorded as budget_exceeded" in first
    assert second.startswith("anthropic:claude-3-5-sonnet-20241022, a target of its route, is not tried: "), second
    assert "): a call that reaches it skips it for the next target (recorded as budget_exceeded" in second
    assert (result.result.provider, result.result.model) == ("google", "gemini-1.5-pro")
    assert attempts == [
        ("gpt-4o", "budget_exceeded"),
        ("claude-3-5-sonnet-20241022", "budget_exceeded"),
        ("gemini-1.5-pro", "ok"),
    ]


async def test_a_cost_tiers_first_target_over_the_limit_is_said_to_be_skipped(catalog_copy, tmp_path, upstream):
    # the premium tier: o1-preview ($0.24 at 4000 tokens out), then gpt-4o ($0.04)
    policy(catalog_copy, capped("0.05"))
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        plan, result, attempts = await explain_and_call(
            svc, {"data": "x", "model_config": {"max_tokens": 4000}}, {"tier": "premium"}
        )
    finally:
        await svc.aclose()
    [note] = skip_notes(plan)
    assert note.startswith("openai:o1-preview, a target of the call's cost tier, is not tried: "), note
    assert attempts == [("o1-preview", "budget_exceeded"), ("gpt-4o", "ok")]


async def test_magsag_models_target_over_the_limit_is_said_to_be_skipped_and_the_call_to_fail(
    catalog_copy, tmp_path, upstream
):
    # MAGSAG_MODEL alone: its target is the call's only one, which the call skips for the limit, and fails
    policy(catalog_copy, capped("0.05"))
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MODEL="openai:o1-preview")
    try:
        plan = svc.explain("skill.analysis", {"data": "x", "model_config": {"max_tokens": 4000}})
        with pytest.raises(BudgetExceeded):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"max_tokens": 4000}})
        (run,) = await svc.query_runs(UsageFilters())
    finally:
        await svc.aclose()
    assert [t["label"] for t in plan["targets"]] == ["openai:o1-preview"]
    [note] = skip_notes(plan)
    assert note.startswith("openai:o1-preview, the model MAGSAG_MODEL chose, is not tried: "), note
    assert "): the call skips it and fails, no target being left after it (recorded as budget_exceeded" in note
    assert plan["warnings"][-1].startswith("the call fails: none of its targets can be sent: openai:o1-preview is ")
    assert [a["outcome"] for a in run["attempts"]] == ["budget_exceeded"]
