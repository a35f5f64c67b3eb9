"""An Azure deployment's name is the operator's choice: "gpt-4o-mini" may serve gpt-4o. A policy matches the name a
call gives; once the deployment's answer has named the model that served it, that model must pass the policy too."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

MINI_ONLY = "policies:\n  - name: small_models\n    allowed_models: [gpt-4o-mini]\n"


def azure_env(fake: FakeOpenAI) -> dict[str, str]:
    return {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake.url + "/"}


async def test_a_deployment_named_for_an_allowed_model_that_serves_a_forbidden_one_is_refused_once_known(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # azure:gpt-4o-mini passed a policy allowing gpt-4o-mini alone on every call, while the deployment served gpt-4o
    # (its answers said so, and were priced as gpt-4o): the policy's name check was all there was.
    policy(catalog_copy, MINI_ONLY)
    fake_openai.queue(
        R.reply("from gpt-4o", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"),
        R.reply("never sent", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"),
    )
    call = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=azure_env(fake_openai)) as svc:
        first = await svc.invoke_skill("skill.analysis", call)
        with pytest.raises(E.PolicyDenied) as info:
            await svc.invoke_skill("skill.analysis", call)
        explained = svc.explain("skill.analysis", call)
        denied = await svc.query_runs(UsageFilters(status="policy_denied"))
    assert first.result.text == "from gpt-4o"  # sent before anything said what the deployment serves
    # the answer that said so says what it means: a forbidden model served it, and the next calls are refused
    [said] = [w for w in first.warnings if w.startswith("policy 'small_models' forbids")]
    assert "azure:gpt-4o-mini answered as gpt-4o-2024-08-06" in said and "its next calls are refused" in said
    assert len(fake_openai.requests) == 1
    message = info.value.message
    assert info.value.policy == "small_models" and info.value.details["rule"] == "served_model"
    assert "azure:gpt-4o-mini answered as gpt-4o-2024-08-06" in message
    assert "not in small_models.allowed_models" in message
    assert "point the deployment at a model the policy allows" in message
    assert len(denied) == 1
    [target] = explained["targets"]
    assert target["policy"]["allowed"] is False and "answered as gpt-4o-2024-08-06" in target["policy"]["reason"]


@pytest.mark.parametrize(
    ("allowed", "deployment", "served"),
    [
        ("[gpt-4o-mini]", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),  # its own model's snapshot
        ("[gpt-4o]", "gpt-4o", "gpt-4o-2024-05-13"),  # one genai-prices lists apart, at prices of its own
        ("[gpt-35-turbo]", "gpt-35-turbo", "gpt-35-turbo-0125"),  # Azure's name of a model, and its snapshot
        ("[gpt-4o-mini, gpt-4o]", "gpt-4o-mini", "gpt-4o-2024-05-13"),  # a snapshot of another model allowed
        ("[gpt-4o-mini, gpt-4o]", "gpt-4o-mini", "gpt-4o-2024-08-06"),  # another model the policy allows
        ("['azure:prod-*']", "prod-chat", "gpt-4o-2024-08-06"),  # a name of no model, which the policy names
    ],
)
async def test_a_deployment_whose_answers_name_what_the_policy_allows_goes_on_serving(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, allowed: str, deployment: str, served: str
):
    policy(catalog_copy, f"policies:\n  - name: models\n    allowed_models: {allowed}\n")
    fake_openai.queue(*(R.reply(f"answer {i}", usage=R.tokens(20, 5), model=served) for i in range(2)))
    call = {"data": "x", "model_config": {"model": f"azure:{deployment}"}}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=azure_env(fake_openai)) as svc:
        answers = [(await svc.invoke_skill("skill.analysis", call)).result.text for _ in range(2)]
    assert answers == ["answer 0", "answer 1"]


def test_what_a_deployment_serves_is_checked_once_for_each_set_of_models_it_answered_as(
    catalog_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    # allowed() runs on every attempt: the served-model check read genai-prices' ids of each model answered each time
    from magsag_mcp.governance import load_policies
    from magsag_mcp.governance import policy as policy_module
    from magsag_mcp.types import Target

    policy(catalog_copy, MINI_ONLY)
    policies = load_policies(catalog_copy, env={})
    answered = {"gpt-4o-mini": frozenset({"gpt-4o-mini-2024-07-18"})}
    policies.answered_as = lambda target: answered.get(target.model, frozenset())
    worked_out = []
    served = policy_module.other_models_served
    monkeypatch.setattr(
        policy_module, "other_models_served", lambda *args: worked_out.append(args) or served(*args)
    )
    target = Target("azure", "gpt-4o-mini")
    assert [policies.allowed(target, None)[0] for _ in range(3)] == [True, True, True]
    assert len(worked_out) == 1
    answered["gpt-4o-mini"] |= {"gpt-4o-2024-08-06"}  # its answers now name another model: worked out again
    assert [policies.allowed(target, None)[3] for _ in range(2)] == ["served_model", "served_model"]
    assert len(worked_out) == 2
    assert policies.allowed(target, ["internal"])[3] == "served_model"  # (classes as a list: not kept, still checked)


async def test_the_gate_judges_an_azure_deployment_by_the_model_each_attempt_says_served_it(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # The deployment gpt-4o-mini served gpt-4o, which the policy forbids; the ledger, and so the summary, kept the
    # deployment's name alone, and `flow gate` passed it by that name with a note. Each attempt now records the model
    # its answer said it came from (0026), which the summary shows and the gate judges.
    import sqlite3

    from magsag_mcp.governance import load_policies
    from magsag_mcp.governance.gate import check_summary_with_notes

    policy(catalog_copy, "policies:\n  - name: small_models\n    allowed_models: [gpt-4o-mini, 'azure:prod-*']\n")
    fake_openai.queue(*(R.reply("answer", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06") for _ in range(2)))
    db = tmp_path / "l.db"
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        for deployment in ("gpt-4o-mini", "prod-chat"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": f"azure:{deployment}"}})
        summary = await svc.summarize(UsageFilters())
        # what the note says to search for finds them: `data search` did not read an attempt's warnings, so the
        # note pointed to a CSV export, and an auditor's search for the warning found nothing
        found = (await svc.search_page("azure:.* answered as", 50, None, None))["hits"]
    conn = sqlite3.connect(db)
    recorded = conn.execute("SELECT model, served_model FROM attempts ORDER BY id").fetchall()
    conn.close()
    assert recorded == [("gpt-4o-mini", "gpt-4o-2024-08-06"), ("prod-chat", "gpt-4o-2024-08-06")]
    mini = summary["model_stats"]["gpt-4o-mini"]
    assert mini["providers"] == ["azure"]
    assert mini["served_as"] == {"gpt-4o-2024-08-06": 1} and mini["served_unknown"] == 0
    policies = load_policies(catalog_copy, env={})
    violations, notes = check_summary_with_notes(summary, policies)
    host = fake_openai.url.split("//", 1)[1]  # (the endpoint each attempt recorded: 0029)
    assert violations == [
        f"small_models: Azure deployment 'gpt-4o-mini' at {host} answered as gpt-4o-2024-08-06 (1 attempt), which is "
        "not in allowed_models: a deployment's name is its operator's choice, and this is the model that served it "
        "(`magsag data query --provider azure --model gpt-4o-mini --format csv` lists its attempts, each with its "
        "endpoint and served_model)"
    ]
    # a summary written before attempts recorded their endpoint: judged at any endpoint, and says so
    unplaced = {k: v for k, v in summary["model_stats"]["gpt-4o-mini"].items() if k != "served_as_by_endpoint"}
    violations, _ = check_summary_with_notes({"model_stats": {"gpt-4o-mini": unplaced}}, policies)
    assert violations == [
        "small_models: Azure deployment 'gpt-4o-mini' answered as gpt-4o-2024-08-06 (1 attempt), which is not in "
        "allowed_models: a deployment's name is its operator's choice, and this is the model that served it (at any "
        "endpoint: these attempts were recorded without the endpoint they went to (by a magsag before the ledger's "
        "0029, or a summary written before it), so deployments of that name at several are counted together; "
        "`magsag azure served` lists each endpoint's, with the model it was last seen serving)"
    ]
    assert not [n for n in notes if "Azure deployment" in n]  # judged by what served it: nothing passed by name
    [hit] = found  # (prod-chat, named for no model, is priced as the model it answered as: no warning)
    assert hit["kind"] == "attempt" and hit["model"] == "gpt-4o-mini"
    assert any(w.startswith("azure:gpt-4o-mini answered as gpt-4o-2024-08-06") for w in hit["warnings"])
    # a deployment serving its own model's snapshot passes, with no note
    own = {
        **mini,
        "served_as": {"gpt-4o-mini-2024-07-18": 1},
        "served_as_by_endpoint": {host: {"gpt-4o-mini-2024-07-18": 1}},
    }
    assert check_summary_with_notes({"model_stats": {"gpt-4o-mini": own}}, policies) == ([], [])
    # answers recorded without the model that served them (an older version's): those alone are passed by name, noted
    older = {**own, "served_unknown": 2}
    violations, notes = check_summary_with_notes({"model_stats": {"gpt-4o-mini": older}}, policies)
    [said] = [n for n in notes if "Azure deployment" in n]
    assert violations == [] and said.startswith("small_models: Azure deployment 'gpt-4o-mini' passed allowed_models")
    assert "recorded without the model that served them" in said and "magsag data query --provider azure" in said
    # a summary written before they were recorded (no served_as): the note as before
    before = {k: v for k, v in mini.items() if k not in ("served_as", "served_unknown", "served_as_by_endpoint")}
    violations, notes = check_summary_with_notes({"model_stats": {"gpt-4o-mini": before}}, policies)
    [said] = [n for n in notes if "Azure deployment" in n]
    assert violations == [] and "the gate did not check it" in said
    assert "`magsag azure served` the model each deployment was last seen serving" in said  # (kept in the ledger)
    assert "`magsag data search 'azure:.* answered as'` finds them" in said
    assert "prod-chat" not in said
    # nor is a vendor's own model, which is the model its name says
    openai_row = {"model_stats": {"gpt-4o-mini": {**before, "providers": ["openai"]}}}
    assert not [n for n in check_summary_with_notes(openai_row, policies)[1] if "Azure" in n]


async def test_an_older_version_s_azure_attempts_are_summarized_as_served_by_a_model_unknown(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    # the version before 0026, still running beside this one on the migrated ledger, records no served_model: its
    # answers are counted as served by a model unknown, and the gate passes them by name with its note
    from tests.older_version import write_without_served_model

    fake_openai.queue(*(R.reply("answer", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18") for _ in range(2)))
    db = tmp_path / "l.db"
    call = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}}
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        await svc.invoke_skill("skill.analysis", call)
        with monkeypatch.context() as m:
            write_without_served_model(m.setattr)
            await svc.invoke_skill("skill.analysis", call)
        summary = await svc.summarize(UsageFilters())
    mini = summary["model_stats"]["gpt-4o-mini"]
    assert mini["served_as"] == {"gpt-4o-mini-2024-07-18": 1} and mini["served_unknown"] == 1


def test_a_summary_of_azure_calls_alone_that_names_no_providers_gets_the_same_note():
    # (written by hand, or by an older magsag: its filter says who served every row)
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary_with_notes

    row = {"calls": 1, "errors": 0, "cost_usd": 0.1}
    summary = {"model_stats": {"gpt-4o-mini": row}, "period": {"filters": {"provider": "azure"}}}
    policies = PolicySet([Policy(name="small_models", allowed_models=["gpt-4o-mini"])])
    violations, notes = check_summary_with_notes(summary, policies)
    assert violations == [] and any(n.startswith("small_models: Azure deployment 'gpt-4o-mini'") for n in notes)


def test_a_summary_naming_its_providers_in_another_case_is_read_as_the_ledger_names_them():
    # (written by hand: "Azure") the note was left out, and a pin "azure:gpt-4o-mini" refused what it allows, where a
    # provider filter in any case was read as the provider it names
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary_with_notes

    row = {"calls": 1, "errors": 0, "cost_usd": 0.1, "providers": ["Azure"]}
    policies = PolicySet([Policy(name="small_models", allowed_models=["azure:gpt-4o-mini"])])
    violations, notes = check_summary_with_notes({"model_stats": {"gpt-4o-mini": row}}, policies)
    assert violations == [] and any(n.startswith("small_models: Azure deployment 'gpt-4o-mini'") for n in notes)


def test_an_older_summary_that_names_no_models_providers_says_any_azure_deployment_of_the_names_passed_by_name(
    tmp_path: Path, monkeypatch, capsys
):
    # An older magsag's summary names no model's providers, and its by_provider said Azure served some calls: the
    # gate said "gate: pass" alone, the note left to summaries that name them. Piped, as CI runs it.
    import io
    import json
    import sys

    from magsag_mcp.cli import main

    row = {"calls": 1, "errors": 0, "cost_usd": 0.1}
    summary = {"model_stats": {"gpt-4o-mini": row, "prod-chat": row}, "by_provider": {"azure": row, "openai": row}}
    (tmp_path / "p.yaml").write_text("policies:\n  - name: small_models\n    allowed_models: [gpt-4o-mini, prod-*]\n")
    for by_provider, noted in ((summary["by_provider"], True), ({"openai": row}, False)):
        text = json.dumps({**summary, "by_provider": by_provider})
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8"))
        assert main(["flow", "gate", "-", "--policy", str(tmp_path / "p.yaml")]) == 0
        out = capsys.readouterr()
        said = [line for line in (out.out + out.err).splitlines() if "Azure" in line]
        if not noted:  # no Azure call in it: nothing to say
            assert said == []
            continue
        [line] = said
        assert "small_models: this summary names no model's providers (written by an older magsag) and Azure " in line
        assert "any of 'gpt-4o-mini' that an Azure deployment of that name served passed allowed_models by name" in line
        assert "prod-chat" not in line  # named for no model: passed by the pattern naming it
