"""``check_budget`` given a call's context (``context``: tier, data_class, preferred_model; ``model_config``), as
invoke_skill takes them: would such a call be allowed, and would it fit now, at what worst case? Before, it took the
skill, a model and max_tokens alone, so a platform team could not ask it of a call of a data class or a cost tier:
the route, the policies' verdict and the reservation were those of a call of neither."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from magsag_mcp.mcp_server.budget_results import BudgetResult
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

SKILL = "skill.analysis"


async def test_a_data_class_s_call_names_the_target_the_router_picks_and_its_worst_case(tmp_path: Path, upstream):
    async with await Service.open(db=tmp_path / "l.db", env=upstream.env()) as svc:
        status = await svc.check_budget(agent="ops", skill=SKILL, context={"data_class": "financial_data"})
        call = status["call"]
        assert call["data_classes"] == ["financial_data"] and call["rule"] == "route:analysis"
        assert call["allowed"] is True and call["fits"] is True and call["target"] == "openai:gpt-4o"
        # its worst case is that of the same call naming gpt-4o: what the budget reserves before anything is sent
        named = (await svc.check_budget(agent="ops", skill=SKILL, model="openai:gpt-4o"))["call"]
        assert call["reservation_usd"] == named["reservation_usd"] and Decimal(call["reservation_usd"]) > 0
        # the route's targets the class forbids are said so, with the policy and the class
        refused = {t["target"]: t["reason"] for t in call["targets"] if not t["fits"]}
        # (and where the class is confined, with what to do: a class's refusal named neither the file nor a fix)
        at = f"{svc.catalog.root / 'policies' / 'model_governance.yaml'}: policies.2.requirements.financial_data"
        assert refused["anthropic:claude-3-5-sonnet-20241022"] == (
            "policy 'data_residency' forbids anthropic:claude-3-5-sonnet-20241022: data class 'financial_data' may "
            f"only use gpt-4o (data_residency.requirements, at {at}): name one of them for the call, or add "
            "anthropic:claude-3-5-sonnet-20241022 there"
        )
        BudgetResult.model_validate(status)
        # the class a call does not declare is not held to: the same route, all three allowed
        free = (await svc.check_budget(agent="ops", skill=SKILL))["call"]
        assert free["data_classes"] == [] and all(t["fits"] for t in free["targets"])


async def test_a_tier_and_a_data_class_s_routes_are_the_ones_invoke_skill_takes(tmp_path: Path, upstream):
    async with await Service.open(db=tmp_path / "l.db", env=upstream.env()) as svc:
        economy = (await svc.check_budget(skill=SKILL, context={"tier": "economy"}))["call"]
        assert economy["rule"] == "tier:economy" and economy["target"] == "openai:gpt-4o-mini"
        assert [t["target"] for t in economy["targets"]] == ["openai:gpt-4o-mini", "anthropic:claude-3-haiku-20240307"]
        pii = (await svc.check_budget(skill=SKILL, context={"data_class": "pii_processing"}))["call"]
        assert pii["target"] == "local:llama3.1:70b" and pii["allowed"] is True
        plan = svc.explain(SKILL, {"data": ""}, context={"data_class": "pii_processing"})
        allowed = [t["label"] for t in plan["targets"] if t["policy"]["allowed"]]
        assert allowed == ["local:llama3.1:70b"]  # explain's verdict, and check_budget's target


async def test_a_model_the_call_names_that_its_data_class_forbids_is_not_allowed(tmp_path: Path, upstream):
    async with await Service.open(db=tmp_path / "l.db", env=upstream.env()) as svc:
        status = await svc.check_budget(
            skill=SKILL, context={"data_class": "financial_data"}, model_config={"model": "claude-3-haiku-20240307"}
        )
        call = status["call"]
        assert call["allowed"] is False and call["fits"] is False and call["target"] is None
        assert call["rule"] == "override:call" and call["reservation_usd"] is None
        at = f"{svc.catalog.root / 'policies' / 'model_governance.yaml'}: policies.2.requirements.financial_data"
        assert call["reason"] == (
            "policy 'data_residency' forbids anthropic:claude-3-haiku-20240307: data class 'financial_data' may only "
            f"use gpt-4o (data_residency.requirements, at {at}): name one of them for the call, or add "
            "anthropic:claude-3-haiku-20240307 there (a model the call or the environment chose is refused, not "
            "replaced)"
        )
        # and the call itself is refused so, nothing sent
        payload = {"data": "x", "model_config": {"model": "claude-3-haiku-20240307"}}
        with pytest.raises(E.MagsagError, match="data class 'financial_data' may only use"):
            await svc.invoke_skill(SKILL, payload, context={"data_class": "financial_data"})
        # a run's classes, as invoke_skill's run_classes: the two classes share no target, said once
        context, run_classes = {"data_class": "financial_data"}, ("pii_processing",)
        apart = (await svc.check_budget(skill=SKILL, context=context, run_classes=run_classes))["call"]
        assert apart["allowed"] is False
        assert apart["reason"].startswith("data classes 'pii_processing' (the agent run's: local:llama3.1:70b, fake:*")


async def test_a_call_s_context_is_checked_as_invoke_skill_checks_it(tmp_path: Path, upstream):
    async with await Service.open(db=tmp_path / "l.db", env=upstream.env()) as svc:
        with pytest.raises(E.InputError, match=r"^context say what a call of a skill would be: name the skill too"):
            await svc.check_budget(context={"data_class": "pii_processing"})
        with pytest.raises(E.InputError, match=r"^context must be an object, as invoke_skill takes it .*not str$"):
            await svc.check_budget(skill=SKILL, context="pii_processing")  # type: ignore[arg-type]
        with pytest.raises(E.InputError, match="model is given twice, as 'gpt-4o' and as model_config.model"):
            await svc.check_budget(skill=SKILL, model="gpt-4o", model_config={"model": "gpt-4o-mini"})
        with pytest.raises(E.PayloadError, match=r"cost tier 'cheapest'; the catalog defines: economy, premium"):
            await svc.check_budget(skill=SKILL, context={"tier": "cheapest"})
        with pytest.raises(E.PayloadError, match=r"data class 'pii_procesing' is named in no policy's requirements"):
            await svc.check_budget(skill=SKILL, context={"data_class": "pii_procesing"})
        with pytest.raises(E.PayloadError) as misspelt:
            await svc.check_budget(skill=SKILL, context={"data_clas": "pii_processing"})
        assert misspelt.value.message == (
            "unknown context key 'data_clas' (did you mean 'data_class'?); the call was not checked: the key would "
            "have chosen its route; write it 'data_class' and ask again"
        )


async def test_the_mcp_tool_takes_invoke_skill_s_context_and_model_config(tmp_path: Path, upstream):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    async with Client(build_server(db=tmp_path / "m.db", env=upstream.env())) as client:
        args = {"skill": SKILL, "context": {"data_class": "financial_data"}, "model_config": {"max_tokens": 100}}
        result = await client.call_tool("check_budget", args)
        assert not result.is_error, result
        call = result.structured_content["call"]
        assert call["target"] == "openai:gpt-4o" and call["allowed"] is True and call["fits"] is True
        assert call["data_classes"] == ["financial_data"] and call["max_output_tokens"] == 100
        forbidden = {**args, "model_config": {"model": "claude-3-haiku-20240307"}}
        call = (await client.call_tool("check_budget", forbidden)).structured_content["call"]
        assert call["allowed"] is False and "data class 'financial_data' may only use gpt-4o" in call["reason"]
        # its context is invoke_skill's: a key misspelt is refused with the one meant, by the schema
        bad = await client.call_tool("check_budget", {"skill": SKILL, "context": {"data_clas": "pii_processing"}})
        assert bad.is_error and "did you mean 'data_class'?" in bad.structured_content["error"]["message"]
        alone = await client.call_tool("check_budget", {"context": {"tier": "economy"}})
        assert alone.is_error and "name the skill too" in alone.structured_content["error"]["message"]


def test_magsag_budget_takes_a_context_and_a_model_config(tmp_path: Path, capsys, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MAGSAG_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    context = '{"data_class": "financial_data"}'
    assert main(["budget", "--skill", SKILL, "--context", context, "--json"]) == 0
    call = json.loads(capsys.readouterr().out)["call"]
    assert call["data_classes"] == ["financial_data"] and call["target"] == "openai:gpt-4o" and call["allowed"]
    refused = ["budget", "--skill", SKILL, "--context", context, "--model-config", '{"model": "gpt-4o-mini"}']
    assert main(refused) == 1  # the answer is no: a script gates on it
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("call of"))
    assert line.startswith(
        "call of skill.analysis (data class financial_data) does not fit: policy 'data_residency' forbids "
        "openai:gpt-4o-mini: data class 'financial_data' may only use gpt-4o"
    ), line
    assert main(["budget", "--context", context]) == 2
    assert "add --skill SKILL" in capsys.readouterr().err
