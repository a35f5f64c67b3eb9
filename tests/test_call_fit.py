"""``check_budget(skill=...)``: whether a call of a skill fits what the budget has left, not just what is left.

A limit's remaining_usd is not what the next call may spend: each attempt reserves its worst case first. Before,
check_budget said ``status: ok`` with a little left while every call of a skill was refused for its reservation."""

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

METERED = {"provider": "compat", "model": "metered"}


def setup(catalog: Path, thresholds: str, *, extra: str = "") -> None:
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: caps\n    thresholds: {{{thresholds}}}\n{extra}"
    )


async def open_service(catalog: Path, tmp_path: Path, upstream) -> Service:
    return await Service.open(catalog=catalog, db=tmp_path / "fit.db", env=upstream.env())


def limit(status: dict, kind: str) -> dict:
    return next(lim for lim in status["limits"] if lim["limit"] == kind)


async def test_a_run_with_less_left_than_a_call_reserves_says_the_call_does_not_fit(catalog_copy, tmp_path, upstream):
    # $1 per million tokens: a call of max_tokens 1000 reserves just over $0.001; the run limit is $0.0015
    setup(catalog_copy, "max_cost_per_run_usd: 0.0015")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"data": "x", "model_config": {**METERED, "max_tokens": 10}}
    for _ in range(12):  # spends part of the limit, leaving less than one call of max_tokens 1000 reserves
        await svc.invoke_skill("skill.analysis", payload, run_id="r")
    status = await svc.check_budget(run_id="r", skill="skill.analysis", model="compat:metered", max_tokens=1000)
    run = limit(status, "run")
    assert status["status"] == "ok" and Decimal(run["remaining_usd"]) > 0  # what it said before, and nothing else
    call = status["call"]
    assert call["fits"] is False and run["call_fits"] is False
    assert call["target"] == "compat:metered" and Decimal(call["reservation_usd"]) > Decimal(run["remaining_usd"])
    assert call["max_output_tokens"] == 1000
    assert f"has ${run['remaining_usd']} left, below the least a call of skill.analysis reserves" in call["reason"]
    assert "lower max_tokens" in call["reason"] and "raise max_cost_per_run_usd on policy 'caps'" in call["reason"]
    BudgetResult.model_validate(status)  # the tool's result model takes it
    # and the call it describes is indeed refused; a smaller one, which it says fits, is not
    big = {"data": "", "model_config": {**METERED, "max_tokens": 1000}}
    with pytest.raises(E.BudgetExceeded):
        await svc.invoke_skill("skill.analysis", big, run_id="r")
    small = await svc.check_budget(run_id="r", skill="skill.analysis", model="compat:metered", max_tokens=10)
    assert small["call"]["fits"] is True and small["call"]["reason"] is None and limit(small, "run")["call_fits"]
    await svc.invoke_skill("skill.analysis", {"data": "", "model_config": {**METERED, "max_tokens": 10}}, run_id="r")
    await svc.aclose()


async def test_a_call_above_the_call_limit_does_not_fit_whatever_was_spent(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_call_usd: 0.0005")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(skill="skill.analysis", model="compat:metered", max_tokens=1000)
    assert status["call"]["fits"] is False and limit(status, "call")["call_fits"] is False
    assert "above caps's call limit $0.0005 whatever was spent" in status["call"]["reason"]
    # a new run's limit is met by a call without a run id too: it counts, with nothing spent
    await svc.aclose()


async def test_a_run_limit_applies_to_a_call_that_starts_a_run(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_run_usd: 0.0005")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(skill="skill.analysis", model="compat:metered", max_tokens=1000)
    assert status["limits"] == [] and status["call"]["fits"] is False
    assert "max_cost_per_run_usd" in status["call"]["reason"]
    await svc.aclose()


async def test_a_day_limit_that_does_not_fit_says_when_the_day_ends(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_day_usd: 0.0015", extra="    timezone: Europe/Berlin\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    for _ in range(12):
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {**METERED, "max_tokens": 10}})
    status = await svc.check_budget(skill="skill.analysis", model="compat:metered", max_tokens=1000)
    assert status["call"]["fits"] is False and "wait for the day to end at" in status["call"]["reason"]
    assert "(Europe/Berlin)" in status["call"]["reason"]
    await svc.aclose()


async def test_a_model_the_policy_forbids_is_said_not_to_fit(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_run_usd: 5", extra="  - name: only\n    allowed_models: [gpt-4o]\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(skill="skill.analysis", model="compat:metered")
    assert status["call"]["fits"] is False and status["call"]["target"] is None
    assert "policy 'only' forbids compat:metered" in status["call"]["reason"]
    await svc.aclose()


async def test_a_misspelt_model_the_policy_refuses_is_told_the_one_it_nearly_is(catalog_copy, tmp_path, upstream):
    # as the call's refusal, explain, doctor and catalog validate tell it: check_budget said only that the policy
    # forbids openai:gpt-4o-mni, with no word of the gpt-4o-mini meant
    setup(catalog_copy, "max_cost_per_run_usd: 5", extra="  - name: only\n    allowed_models: [gpt-4o-mini]\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        status = await svc.check_budget(skill="skill.analysis", model="gpt-4o-mni")
        with pytest.raises(E.PolicyDenied) as refused:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o-mni"}})
    finally:
        await svc.aclose()
    assert status["call"]["fits"] is False
    assert "policy 'only' forbids openai:gpt-4o-mni" in status["call"]["reason"]
    assert "(did you mean 'gpt-4o-mini'?)" in status["call"]["reason"]
    assert "(did you mean 'gpt-4o-mini'?)" in status["call"]["targets"][0]["reason"]
    assert "(did you mean 'gpt-4o-mini'?)" in refused.value.message


async def test_model_without_a_skill_is_refused_with_the_fix(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_run_usd: 5")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.InputError, match="name the skill too"):
        await svc.check_budget(model="compat:metered")
    status = await svc.check_budget()
    assert "call" not in status and all("call_fits" not in lim for lim in status["limits"])
    await svc.aclose()


def test_cli_budget_skill_says_whether_a_call_fits(catalog_copy, tmp_path, monkeypatch, capsys):
    setup(catalog_copy, "max_cost_per_call_usd: 0.0005")
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    # compat configured (an endpoint): a call of it can be sent, so the budget's word is the whole answer
    monkeypatch.setenv("MAGSAG_COMPAT_BASE_URL", "https://llm.example.com/v1")
    args = ["budget", "--skill", "skill.analysis", "--model", "compat:metered", "--max-tokens", "1000"]
    # a call that does not fit exits 1 (before: 0, so `magsag budget --skill S && magsag invoke S` could not gate)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "call of skill.analysis does not fit:" in out and "whatever was spent" in out
    assert main([*args, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["call"]["fits"] is False
    assert main(["budget", "--skill", "skill.analysis", "--model", "compat:metered", "--max-tokens", "100"]) == 0
    assert "call of skill.analysis fits (compat:metered reserves $0.000177)" in capsys.readouterr().out


async def test_the_mcp_tool_takes_a_skill_and_says_whether_its_call_fits(catalog_copy, tmp_path):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    setup(catalog_copy, "max_cost_per_call_usd: 0.0005")
    async with Client(build_server(catalog=catalog_copy, db=tmp_path / "m.db", env={})) as client:
        args = {"skill": "skill.analysis", "model": "compat:metered", "max_tokens": 1000}
        result = await client.call_tool("check_budget", args)
        assert not result.is_error
        call = result.structured_content["call"]
        assert call["fits"] is False and "above caps's call limit $0.0005" in call["reason"]
        assert result.structured_content["limits"][0]["call_fits"] is False
        plain = await client.call_tool("check_budget", {})
        assert plain.structured_content["call"] is None  # no skill, no call to fit
        bad = await client.call_tool("check_budget", {"skill": "analysis"})
        assert bad.is_error and "did you mean 'skill.analysis'?" in bad.structured_content["error"]["message"]


async def test_max_tokens_that_is_not_a_positive_integer_is_refused_by_its_name(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_run_usd: 5")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    for bad in (0, -5, True):
        with pytest.raises(E.InputError, match="max_tokens must be a positive integer"):
            await svc.check_budget(skill="skill.analysis", max_tokens=bad)
    await svc.aclose()


async def test_a_model_of_no_provider_it_can_tell_is_refused_as_the_model_argument(catalog_copy, tmp_path):
    """check_budget's model (`magsag budget --model`) was refused as a payload's: "invalid_payload: model_config:
    cannot tell which provider serves model 'my-model'; name it explicitly (e.g. 'local:my-model' or model_config
    {'provider': ..., 'model': 'my-model'})". The tool takes no model_config (a client doing as told was refused its
    arguments), nor a provider beside the model: the fix that works there is the provider:model form alone."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    setup(catalog_copy, "max_cost_per_run_usd: 5")
    async with Client(build_server(catalog=catalog_copy, db=tmp_path / "m.db", env={})) as client:
        result = await client.call_tool("check_budget", {"skill": "skill.analysis", "model": "my-model"})
    error = result.structured_content["error"]
    assert result.is_error and error["type"] == "input_error"
    assert error["message"] == (
        "model: cannot tell which provider serves model 'my-model'; name it explicitly (e.g. 'local:my-model')"
    )
    # a call's own model_config still says both ways, as it takes both
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "m.db", env={})
    with pytest.raises(E.PayloadError) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "my-model"}})
    said = info.value.message
    assert said.startswith("model_config: cannot tell") and "or model_config {'provider'" in said
    await svc.aclose()


async def test_a_target_too_dear_is_passed_over_for_the_next_that_fits_as_the_cascade_does(
    catalog_copy, tmp_path, upstream
):
    # skill.analysis routes to gpt-4o, then claude-3-5-sonnet, then gemini-1.5-pro; at max_tokens 1500 only gemini's
    # worst case fits a $0.01 day limit: the call reserves there, as the cascade skips the dearer ones
    setup(catalog_copy, "max_cost_per_day_usd: 0.01")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(skill="skill.analysis")
    call = status["call"]
    assert [t["fits"] for t in call["targets"]] == [False, False, True]
    assert call["fits"] is True and call["target"] == call["targets"][2]["target"] and call["reason"] is None
    assert call["reservation_usd"] == call["targets"][2]["reservation_usd"]
    # each target's reason says what that target reserves (it said "below the least a call of skill.analysis
    # reserves" of each, the dearest too: changed on purpose, see the next test)
    gpt = call["targets"][0]
    assert f"below what {gpt['target']} reserves: ${gpt['reservation_usd']} (" in gpt["reason"]
    await svc.aclose()


@pytest.mark.parametrize("thresholds", ["max_cost_per_run_usd: 0.00001", "max_cost_per_call_usd: 0.0005"])
async def test_the_least_a_call_reserves_is_said_once_when_no_target_fits(catalog_copy, tmp_path, upstream, thresholds):
    # skill.analysis routes to three targets, none of which fits. Each target's reason said "below the least a call
    # of skill.analysis reserves: openai:gpt-4o reserves $0.0151925", the same words three times, of reservations
    # that were not the least; the least (gemini's) is the call's, said there once
    setup(catalog_copy, thresholds)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    call = (await svc.check_budget(skill="skill.analysis", run_id="r"))["call"]
    await svc.aclose()
    targets = call["targets"]
    assert [t["fits"] for t in targets] == [False, False, False] and call["fits"] is False
    least = min(targets, key=lambda t: Decimal(t["reservation_usd"]))
    assert (call["target"], call["reservation_usd"]) == (least["target"], least["reservation_usd"])
    said = [call["reason"], *(t["reason"] for t in targets)]
    assert sum(r.count("the least a call of skill.analysis reserves") for r in said) == 1, said
    reserves = f"{least['target']}'s ${least['reservation_usd']} (77 input tokens with an empty payload, 1500 output"
    assert call["reason"].startswith("no target of its route fits; ") and reserves in call["reason"], call["reason"]
    # nothing lost: each target's own reservation, the limit, what is left or the limit's amount, and the fixes
    limit = "max_cost_per_run_usd" if "run" in thresholds else "max_cost_per_call_usd"
    for t in targets:
        assert f"{t['target']} reserves" in t["reason"] and f"${t['reservation_usd']} (" in t["reason"], t["reason"]
        assert "lower max_tokens or choose a cheaper model" in t["reason"]
        assert f"raise {limit} on policy 'caps'" in t["reason"] and f"raise {limit} on policy 'caps'" in call["reason"]
        left = "caps's run limit for run r has $0.00001 left" if "run" in thresholds else "above caps's call limit"
        assert left in t["reason"] and left in call["reason"]


async def test_an_unpriced_model_fits_only_where_a_limit_allows_unpriced(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_run_usd: 5")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(skill="skill.analysis", model="compat:unknown-model")
    call = status["call"]
    assert call["fits"] is False and call["reservation_usd"] is None and "has no known price" in call["reason"]
    await svc.aclose()
    setup(catalog_copy, "max_cost_per_run_usd: 5", extra="    allow_unpriced: true\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    call = (await svc.check_budget(skill="skill.analysis", model="compat:unknown-model"))["call"]
    assert call["fits"] is True and call["reservation_usd"] is None and call["target"] == "compat:unknown-model"
    await svc.aclose()


@pytest.mark.parametrize("without", [(), ("OPENAI_API_KEY",), ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")])
async def test_the_reservation_said_is_the_one_a_real_call_of_the_skill_makes(
    catalog_copy, tmp_path, upstream, without
):
    # Before: a target the cascade never tries (its provider has no key, so it is skipped unsent) was taken for the one
    # the call reserves on: with no OpenAI key, check_budget named gpt-4o and its reservation while the call reserved
    # on claude, and said a call fits (or not) by a target it would never reach.
    setup(catalog_copy, "max_cost_per_day_usd: 100")
    env = {k: v for k, v in upstream.env().items() if k not in without}
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "fit.db", env=env)
    admitted = []
    admit = svc.governance.admit

    async def spy(ctx):
        admission = await admit(ctx)
        admitted.append((ctx.target.label, admission.reserved_usd))
        return admission

    svc.governance.admit = spy
    call = (await svc.check_budget(skill="skill.analysis"))["call"]
    await svc.invoke_skill("skill.analysis", {"data": ""})  # the least call: every field empty
    target, reserved = admitted[0]
    assert (call["target"], call["reservation_usd"]) == (target, format(reserved, "f"))
    assert call["fits"] is True
    skipped = [t for t in call["targets"] if t["target"].startswith(("openai:", "anthropic:")[: len(without)])]
    assert len(skipped) == len(without) and all("not configured" in t["reason"] for t in skipped)
    await svc.aclose()


async def test_a_target_that_fits_but_is_not_configured_does_not_make_the_call_fit(catalog_copy, tmp_path, upstream):
    # at max_tokens 1500 only gemini's worst case fits a $0.01 day limit (as above); without a Gemini key the cascade
    # passes gemini over, and the call is refused on the others: before, check_budget said it fits, on gemini
    setup(catalog_copy, "max_cost_per_day_usd: 0.01")
    env = {k: v for k, v in upstream.env().items() if k != "GEMINI_API_KEY"}
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "fit.db", env=env)
    call = (await svc.check_budget(skill="skill.analysis"))["call"]
    assert call["fits"] is False and call["target"] == call["targets"][0]["target"]
    # (the least said once, in the call's words: "the least: " and a target's reason before, changed on purpose)
    least = f"below the least a call of skill.analysis reserves: {call['target']}'s ${call['reservation_usd']} ("
    assert call["reason"].startswith("no target of its route fits; ") and least in call["reason"], call["reason"]
    gemini = call["targets"][2]
    assert gemini["fits"] is False and "not configured" in gemini["reason"] and "passes it over" in gemini["reason"]
    with pytest.raises(E.BudgetExceeded):
        await svc.invoke_skill("skill.analysis", {"data": ""})
    await svc.aclose()


async def test_a_route_none_of_whose_targets_is_configured_is_judged_as_if_it_were(catalog_copy, tmp_path):
    setup(catalog_copy, "max_cost_per_day_usd: 0.01")
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "fit.db", env={})
    call = (await svc.check_budget(skill="skill.analysis"))["call"]
    assert [t["fits"] for t in call["targets"]] == [False, False, True] and call["fits"] is True
    await svc.aclose()


async def test_a_route_none_of_whose_targets_can_be_sent_says_so_beside_fits(catalog_copy, tmp_path):
    # With no key set, check_budget(skill=...) said fits: true and `magsag budget --skill` "call of skill.analysis
    # fits (openai:gpt-4o reserves $...)", no word that a call fails before any request: the budget's word (for once
    # a provider is configured) is kept, and `unsendable` says why none can be sent now, with the fix
    setup(catalog_copy, "max_cost_per_day_usd: 100")
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "fit.db", env={})
    status = await svc.check_budget(skill="skill.analysis")
    await svc.aclose()
    call = status["call"]
    assert call["fits"] is True
    said = call["unsendable"]
    assert said.startswith("no target of skill.analysis's route can be sent now, so a call fails before any request")
    assert "openai:gpt-4o: not configured: openai: no API key; set OPENAI_API_KEY in the environment" in said
    BudgetResult.model_validate(status)


def test_magsag_budget_says_no_provider_is_configured_beside_fits(catalog_copy, tmp_path, capsys, monkeypatch):
    setup(catalog_copy, "max_cost_per_day_usd: 100")
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MAGSAG_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "fit.db"))
    assert main(["budget", "--skill", "skill.analysis", "--catalog", str(catalog_copy)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("call of")][0]
    assert line.startswith("call of skill.analysis would fit (openai:gpt-4o reserves $")
    assert "once a provider is configured, but no target of" in line and "set OPENAI_API_KEY" in line


async def test_a_route_with_a_target_to_send_to_has_no_unsendable(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_day_usd: 100")
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "fit.db", env=upstream.env())
    call = (await svc.check_budget(skill="skill.analysis"))["call"]
    await svc.aclose()
    assert call["fits"] is True and call.get("unsendable") is None


async def test_an_unpriced_model_does_not_fit_a_limit_with_nothing_left_even_where_it_allows_unpriced(
    catalog_copy, tmp_path, upstream
):
    # Before: a model of unknown price under allow_unpriced was "fits" (reserving $0) beside a day limit already
    # used up, and the call itself went through, its $0 placeholder counted in no limit. allow_unpriced counts such a
    # call at $0: a limit with nothing left refuses it, as it refuses a call of any price.
    setup(catalog_copy, "max_cost_per_day_usd: 5", extra="    allow_unpriced: true\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    for _ in range(3):
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {**METERED, "max_tokens": 10}})
    spent = Decimal(limit(await svc.check_budget(), "day")["spent_usd"])
    await svc.aclose()
    assert spent > 0
    setup(catalog_copy, f"max_cost_per_day_usd: {spent / 2}", extra="    allow_unpriced: true\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    unknown = {"data": "x", "model_config": {"model": "compat:unknown-model"}}
    try:
        status = await svc.check_budget(skill="skill.analysis", model="compat:unknown-model")
        with pytest.raises(E.BudgetExceeded) as refused:
            await svc.invoke_skill("skill.analysis", unknown)
    finally:
        await svc.aclose()
    assert limit(status, "day")["status"] == "exceeded"
    call = status["call"]
    assert call["fits"] is False and call["reservation_usd"] is None and call["unpriced"] is True
    assert limit(status, "day")["call_fits"] is False
    assert "compat:unknown-model has no known price" in call["reason"]
    assert "caps's day limit for all calls today" in call["reason"] and "has $0 left" in call["reason"]
    assert "raise max_cost_per_day_usd on policy 'caps'" in call["reason"]
    assert "wait for the day to end" in call["reason"]
    assert "lower max_tokens" not in call["reason"]  # no way past a limit with nothing left
    BudgetResult.model_validate(status)
    said = refused.value.message
    assert "day limit" in said and "has no known price" in said and "nothing is left" in said, said
    assert "reserves up to $0" not in said  # not a $0 worst case: no worst case at all


async def test_an_unpriced_model_a_limit_lets_through_is_said_plainly_not_just_fits(catalog_copy, tmp_path, upstream):
    setup(catalog_copy, "max_cost_per_day_usd: 5", extra="    allow_unpriced: true\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        call = (await svc.check_budget(skill="skill.analysis", model="compat:unknown-model"))["call"]
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "compat:unknown-model"}})
        priced = (await svc.check_budget(skill="skill.analysis", model="compat:metered"))["call"]
    finally:
        await svc.aclose()
    # the call is let through (as it was, just above), at no known price: said so, not a bare "fits"
    assert call["fits"] is True and call["unpriced"] is True and call["reservation_usd"] is None
    assert "compat:unknown-model has no known price" in call["reason"] and "counted at $0" in call["reason"]
    assert "allow_unpriced" in call["reason"] and "no limit bounds what it spends" in call["reason"]
    assert priced["unpriced"] is False and priced["reason"] is None


def test_cli_budget_skill_says_an_unpriced_call_is_let_through_at_no_known_price(
    catalog_copy, tmp_path, monkeypatch, capsys
):
    setup(catalog_copy, "max_cost_per_day_usd: 5", extra="    allow_unpriced: true\n")
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_COMPAT_BASE_URL", "https://llm.example.com/v1")
    assert main(["budget", "--skill", "skill.analysis", "--model", "compat:unknown-model"]) == 0
    out = capsys.readouterr().out
    assert "call of skill.analysis is let through at no known price:" in out and " fits" not in out, out


def test_cli_budget_skill_says_why_an_unpriced_call_is_let_through_with_no_provider_configured(
    catalog_copy, tmp_path, monkeypatch, capsys
):
    # with no provider configured it said "would be let through at no known price once a provider is configured",
    # without the reason the configured case gives (counted at $0 under allow_unpriced: no limit bounds it)
    setup(catalog_copy, "max_cost_per_day_usd: 5", extra="    allow_unpriced: true\n")
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.delenv("MAGSAG_COMPAT_BASE_URL", raising=False)
    assert main(["budget", "--skill", "skill.analysis", "--model", "compat:unknown-model"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("call of")][0]
    said = "call of skill.analysis would be let through at no known price once a provider is configured:"
    assert line.startswith(said), line
    assert "compat:unknown-model has no known price" in line and "no limit bounds what it spends" in line, line
    assert "; but no target of skill.analysis's route can be sent now" in line and "MAGSAG_COMPAT_BASE_URL" in line
