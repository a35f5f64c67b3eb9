"""Explain and a skill's route show the verdicts invoke_skill would give: limits, agents and refused choices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from tests.governance_helpers import open_service, policy, prices

pytestmark = pytest.mark.anyio


async def test_explain_shows_the_refusals_no_spend_can_change(catalog_copy, tmp_path, upstream):
    # explain_route promises the policy verdicts of where invoke_skill would go: a target the limits
    # refuse whatever was spent (no known price; a worst case above the call limit) is not "allowed".
    prices(catalog_copy, '"compat:dear": {input: 1000, output: 1000}\n')
    policy(
        catalog_copy,
        "policies:\n  - name: capped\n    thresholds: {max_cost_per_call_usd: 1, max_cost_per_run_usd: 5}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"provider": "compat", "model": "unpriced", "fallbacks": ["compat:dear", "openai:gpt-4o-mini"]}
    plan = svc.explain("skill.analysis", {"data": "x", "model_config": mc})
    refused = {**mc, "fallbacks": mc["fallbacks"][:1]}  # both refused by invoke_skill too
    with pytest.raises(E.AllTargetsFailed):
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": refused})
    await svc.aclose()
    verdicts = [t["policy"] for t in plan["targets"]]
    assert verdicts[0]["allowed"] is False and verdicts[0]["policy"] == "capped"
    assert "no known price" in verdicts[0]["reason"]
    assert verdicts[1]["allowed"] is False and "call limit $1" in verdicts[1]["reason"]
    assert verdicts[2] == {"allowed": True, "policy": None, "reason": None}


async def test_explain_refuses_a_worst_case_above_the_run_limit_too(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, '"compat:dear": {input: 1000, output: 1000}\n')
    policy(catalog_copy, "policies:\n  - name: capped\n    thresholds: {max_cost_per_run_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "x", "model_config": {"model": "compat:dear"}}
    [target] = svc.explain("skill.analysis", payload)["targets"]
    with pytest.raises(E.BudgetExceeded):
        await svc.invoke_skill("skill.analysis", payload)
    await svc.aclose()
    assert target["policy"]["allowed"] is False and "above the run limit $1" in target["policy"]["reason"]


async def test_explain_for_an_agent_refuses_a_worst_case_above_its_daily_limit(catalog_copy, tmp_path, upstream):
    # An agent's call is held to max_cost_per_agent_daily_usd, and explain said such a target was allowed: an agent's
    # skills.explain (and explain_route, `magsag explain`, which took no agent) showed a plan invoke then refused.
    from mcp.client import Client

    from magsag_mcp.api import Skills
    from magsag_mcp.mcp_server import build_server

    prices(catalog_copy, '"compat:dear": {input: 1000, output: 1000}\n')
    policy(catalog_copy, "policies:\n  - name: capped\n    thresholds: {max_cost_per_agent_daily_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "x", "model_config": {"model": "compat:dear"}}
    with pytest.raises(E.BudgetExceeded):
        await svc.invoke_skill("skill.analysis", payload, agent="bot")
    [for_agent] = svc.explain("skill.analysis", payload, agent="bot")["targets"]
    [bound] = Skills(svc, None, agent="bot").explain("skill.analysis", payload)["targets"]  # type: ignore[arg-type]
    [no_agent] = svc.explain("skill.analysis", payload)["targets"]
    await svc.aclose()
    env = {**upstream.env()}
    async with Client(build_server(catalog=catalog_copy, db=tmp_path / "mcp.db", env=env)) as client:
        shown = await client.call_tool(
            "explain_route", {"skill_id": "skill.analysis", "payload": payload, "agent": "bot"}
        )
    [over_mcp] = shown.structured_content["targets"]
    for target in (for_agent, bound, over_mcp):
        assert target["policy"]["allowed"] is False, target
        assert "above the agent-day limit $1" in target["policy"]["reason"]
    assert no_agent["policy"]["allowed"] is True  # a call without an agent has no daily limit of its own


def test_magsag_explain_takes_the_calls_agent(catalog_copy, tmp_path, monkeypatch, capsys):
    prices(catalog_copy, '"compat:dear": {input: 1000, output: 1000}\n')
    policy(catalog_copy, "policies:\n  - name: capped\n    thresholds: {max_cost_per_agent_daily_usd: 1}\n")
    monkeypatch.setenv("MAGSAG_COMPAT_BASE_URL", "http://127.0.0.1:9/v1")
    payload = json.dumps({"data": "x", "model_config": {"model": "compat:dear"}})
    where = ["--catalog", str(catalog_copy), "--db", str(tmp_path / "l.db")]
    assert main(["explain", "skill.analysis", "--payload", payload, "--agent", "bot", *where]) == 0
    [target] = json.loads(capsys.readouterr().out)["targets"]
    assert target["policy"]["allowed"] is False and "agent-day limit $1" in target["policy"]["reason"]


async def test_a_skills_route_shows_an_unpriced_target_refused(catalog_copy, tmp_path, upstream):
    # The skill resource (magsag://skills/{id}) shows "whether policy allows" each target of its route:
    # one of no known price under the shipped cost limits is refused by every call, whatever its payload.
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_PROVIDER="compat")
    route = svc.route("skill.coding")
    await svc.aclose()
    assert route["chain"][0] == "compat:claude-3-5-sonnet-20241022"
    assert {t["policy"]["policy"] for t in route["targets"]} == {"cost_limits"}
    assert all(not t["policy"]["allowed"] and "no known price" in t["policy"]["reason"] for t in route["targets"])


@pytest.mark.parametrize(
    ("env", "model_config", "stops_at"),
    [
        ({}, {"model": "claude-3-haiku-20240307"}, "anthropic:claude-3-haiku-20240307"),
        # a fallback the call lists that the policy forbids is skipped for the class's own model: no end there
        ({}, {"model": "fake:a", "fallbacks": ["openai:gpt-4o"]}, None),
        ({"MAGSAG_MODEL": "gpt-5"}, None, "openai:gpt-5"),  # allowed_models refuses it for every call
        ({"MAGSAG_MODEL": "gpt-4o"}, None, None),  # the data class's own models serve it
    ],
    ids=["call-override", "call-fallback", "env-not-allowed", "env-residency"],
)
def test_explain_says_where_a_refused_choice_ends_the_call(tmp_path: Path, env, model_config, stops_at):
    # A model the call (or MAGSAG_*) chose that policy forbids fails the call with policy_denied: it is not
    # replaced by a model no one asked for. explain_route listed the targets after it (a data class's own
    # model) as allowed and said nothing, so the plan promised an answer the call then refused.
    from magsag_mcp import Magsag

    payload: dict[str, Any] = {"data": "x"} | ({"model_config": model_config} if model_config else {})
    context = {"data_class": "pii_processing"}
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=env) as mg:
        plan = mg.skills.explain("skill.analysis", payload, context=context)
        try:
            mg.skills.invoke("skill.analysis", payload, context=context)
            failed = None
        except E.MagsagError as exc:
            failed = exc
    ends = [w for w in plan["warnings"] if w.startswith("the call fails with policy_denied at ")]
    if stops_at is None:
        assert ends == []
        return
    [end] = ends
    assert "is refused, not replaced, so the targets after it are not tried" in end
    labels = [t["label"] for t in plan["targets"]]
    if labels[0] != stops_at:  # fake:a answers first: the refusal is not reached
        assert end.startswith(f"the call fails with policy_denied at {stops_at} if the targets before it fail, ")
        assert failed is None
        return
    assert end.startswith(f"the call fails with policy_denied at {stops_at}, which ")
    assert isinstance(failed, E.PolicyDenied) and failed.details["trace"]["attempts"] == []
    assert len(labels) > 1  # the later targets are still shown


async def test_explain_refuses_an_agent_name_invoke_would_refuse(catalog_copy, tmp_path, upstream):
    # explain took any agent (a number, a key pasted in the wrong place) where invoke refuses it before anything
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        key = "sk-proj-0123456789abcdefghijklmnop"
        for bad, said in ((5, "agent must be a string"), (key, "looks like an API key")):
            with pytest.raises(E.InputError, match=said):
                svc.explain("skill.analysis", {"data": "x"}, agent=bad)  # type: ignore[arg-type]
            with pytest.raises(E.InputError, match=said):
                await svc.invoke_skill("skill.analysis", {"data": "x"}, agent=bad)  # type: ignore[arg-type]
    finally:
        await svc.aclose()


async def test_explain_says_a_forbidden_fallback_of_the_calls_is_skipped_for_the_next(catalog_copy, tmp_path, upstream):
    # Since a call skips one of its own fallbacks that a policy forbids (it failed the call before), explain marked
    # that target not allowed and said nothing more: a reader could not tell it from a refusal that ends the call.
    upstream.plan("gpt-4o", 500, 500, 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "gpt-4o", "fallbacks": ["gpt-3.5-turbo", "gpt-4o-mini"]}
    plan = svc.explain("skill.analysis", {"data": "x", "model_config": mc})
    last = svc.explain("skill.analysis", {"data": "x", "model_config": {**mc, "fallbacks": ["gpt-3.5-turbo"]}})
    first = svc.explain("skill.analysis", {"data": "x", "model_config": {**mc, "model": "gpt-3.5-turbo"}})
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    await svc.aclose()
    said = (
        "openai:gpt-3.5-turbo, one of the call's fallbacks, is not tried: policy 'production_models' forbids it "
        f"(openai:gpt-3.5-turbo is not in production_models.allowed_models, at {catalog_copy / 'policies'}"
        "/model_governance.yaml: policies.0.allowed_models): a call that reaches it "
    )
    skips = [w for w in plan["warnings"] if "one of the call's fallbacks" in w]
    assert skips == [
        f"{said}skips it for the next target (recorded as policy_denied, named in its warnings); to have it tried, "
        "list a model the policy allows"
    ]
    assert not [w for w in plan["warnings"] if w.startswith("the call fails")]
    # as the call does: skipped, and answered by the next
    assert any(w.startswith("skipped openai:gpt-3.5-turbo: ") for w in result.warnings)
    assert result.result.model == "gpt-4o-mini"
    # the last target: nothing left to skip it for
    assert [w for w in last["warnings"] if "one of the call's fallbacks" in w] == [
        f"{said}skips it and fails, no target being left after it (recorded as policy_denied, named in its "
        "warnings); to have it tried, list a model the policy allows"
    ]
    # the model the call names first is refused outright, which the end of the call says, not this
    assert not [w for w in first["warnings"] if "one of the call's fallbacks" in w]
    assert any(w.startswith("the call fails with policy_denied at openai:gpt-3.5-turbo") for w in first["warnings"])
