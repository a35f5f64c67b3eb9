"""A policy problem names the file and the key it is at (``policies/team.yaml: policies.1.allowed_models.0``), as a
routing problem does (``routing/default.yaml: routes.0.chain.1``): in validate, doctor, flow gate and at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.catalog import validate_catalog
from magsag_mcp.governance import load_policies, load_policy_file
from magsag_mcp.service import Service

TEAM = """\
policies:
  - name: team_limits
    thresholds: {max_cost_per_run_usd: 2}
  - name: team_models
    allowed_models: [gpt-4o, gtp-4o-mini, claude-3-5-sonnet-20241022, "fake:*", "local:*"]
  - name: team_residency
    requirements:
      team_data: [o1-preview]
"""


def test_problems_of_a_second_policy_file_name_it_and_the_key(catalog_copy: Path):
    # Before: "<catalog>/policies: policy 'team_models' allows 'gtp-4o-mini', ..." and "<catalog>/policies: data class
    # 'financial_data' may only use ...": which of the folder's files, and where in it, the user had to find.
    team = catalog_copy / "policies" / "team.yaml"
    team.write_text(TEAM)
    problems = validate_catalog(catalog_copy, env={})
    assert any(
        p.startswith(f"{team}:5: policies.1.allowed_models.1: policy 'team_models' allows 'gtp-4o-mini'")
        for p in problems
    ), problems
    classes = [p for p in problems if "data class 'team_data'" in p]
    assert classes and classes[0].startswith(f"{team}: policies.2.requirements.team_data: "), problems
    assert not [p for p in problems if p.startswith(f"{catalog_copy / 'policies'}:")], problems


def test_a_setting_on_the_wrong_policy_is_named_at_its_key(catalog_copy: Path):
    (catalog_copy / "policies" / "team.yaml").write_text(
        "policies:\n  - name: t\n    allowed_models: [gpt-4o]\n    timezone: Europe/Berlin\n    allow_unpriced: true\n"
    )
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    team = catalog_copy / "policies" / "team.yaml"
    assert [p.split(": ")[1] for p in info.value.problems] == ["policies.0.timezone", "policies.0.allow_unpriced"]
    assert [p.split(": ")[0] for p in info.value.problems] == [f"{team}:4", f"{team}:5"]  # FILE:LINE of each key


@pytest.mark.anyio
async def test_doctor_names_the_policy_file_and_key(catalog_copy: Path, tmp_path: Path):
    team = catalog_copy / "policies" / "team.yaml"
    team.write_text(TEAM)
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        problems = svc.doctor()["problems"]
    assert any(p.startswith(f"{team}:5: policies.1.allowed_models.1: ") for p in problems), problems


def test_the_gate_names_a_policy_used_twice_at_both_places(tmp_path: Path):
    path = tmp_path / "gate.yaml"
    path.write_text("policies:\n  - name: a\n    allowed_models: [gpt-4o]\n  - name: b\n  - name: a\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    assert info.value.problems == [
        f"{path}:5: policies.2.name: policy name 'a' is also used in {path}:2: policies.0; give each policy a name of "
        "its own (a denial or a limit names the policy that set it)"
    ]
    ok = tmp_path / "ok.yaml"
    ok.write_text("policies:\n  - name: a\n    allowed_models: [gpt-4o]\n")
    assert load_policy_file(ok).place("a", "allowed_models.0") == f"{ok}: policies.0.allowed_models.0"


@pytest.mark.parametrize(
    ("old", "new", "place"),
    [
        ("  openai: gpt-4o\n", "  openai: gpt-4o-typo\n", "provider_defaults.openai"),
        ("  economy: [openai:gpt-4o-mini,", "  economy: [openai:gpt-4o-mini-typo,", "tiers.economy.0"),
        (
            "chain: [openai:o1-preview, openai:gpt-4o]",
            "chain: [openai:o1-preview, openai:gpt-4o-typo]",
            "routes.0.chain.1",
        ),
    ],
)
def test_an_unpriced_routed_target_is_named_where_it_is_written(catalog_copy: Path, old: str, new: str, place: str):
    # Before: "<catalog>/routing: target openai:gpt-4o-typo has no known price, ...": the folder, not the entry
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    assert old in text
    routing.write_text(text.replace(old, new, 1))
    problems = [p for p in validate_catalog(catalog_copy, env={}) if "has no known price" in p]
    assert len(problems) == 1 and problems[0].startswith(f"{routing}: {place}: target openai:"), problems


@pytest.mark.parametrize(
    ("key", "period", "day"),
    [
        ("max_cost_per_week_usd", "weekly", "max_cost_per_day_usd"),
        ("max_cost_per_agent_weekly_usd", "weekly", "max_cost_per_agent_daily_usd"),
        ("max_cost_per_hour_usd", "hourly", "max_cost_per_day_usd"),
    ],
)
def test_a_limit_for_a_period_magsag_does_not_limit_is_not_offered_a_run_limit(
    tmp_path: Path, key: str, period: str, day: str
):
    # Before: "max_cost_per_month_usd: Extra inputs are not permitted (did you mean 'max_cost_per_run_usd'?)":
    # following it made a month's budget the limit of every run.
    path = tmp_path / "p.yaml"
    path.write_text(f"policies:\n  - name: budget\n    thresholds: {{{key}: 1000}}\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:3: policies.0.thresholds.{key}: magsag keeps no {period} limit")
    month = day.replace("daily", "monthly").replace("per_day", "per_month")
    assert "did you mean" not in problem and f"hold the budget as a day or month limit ({day} or {month}" in problem


def test_a_skills_unknown_data_class_names_where_the_classes_are_listed(catalog_copy: Path):
    # Before: "... or list the models it may use under a policy's requirements in catalog/policies", wherever the
    # catalog was and whichever file held the classes
    skill = catalog_copy / "skills" / "pii-redaction.yaml"
    skill.write_text(skill.read_text().replace("data_class: pii_processing", "data_class: pii_procesing"))
    [problem] = [p for p in validate_catalog(catalog_copy, env={}) if "pii_procesing" in p]
    shipped = catalog_copy / "policies" / "model_governance.yaml"
    # (it ended "list the models it may use in FILE: policies.2.requirements": now the file is named with the
    # classes it declares, then the fix)
    assert problem.endswith(
        "known data classes: financial_data, pii_processing, all declared in "
        f"{shipped}: policies.2.requirements. Correct the name, or list the models it may use there"
    ), problem


#: a second policy file declaring a data class of its own
TEAM_CLASSES = 'policies:\n  - name: team_residency\n    requirements:\n      team_data: ["local:*"]\n'


def test_an_unknown_data_class_names_each_file_that_declares_classes_with_its_classes(catalog_copy: Path):
    # Before: the first policy with requirements alone (model_governance.yaml), while team_data was in team.yaml
    (catalog_copy / "policies" / "team.yaml").write_text(TEAM_CLASSES)
    skill = catalog_copy / "skills" / "pii-redaction.yaml"
    skill.write_text(skill.read_text().replace("data_class: pii_processing", "data_class: team_dta"))
    [problem] = [p for p in validate_catalog(catalog_copy, env={}) if "team_dta" in p]
    shipped, team = catalog_copy / "policies" / "model_governance.yaml", catalog_copy / "policies" / "team.yaml"
    assert problem.endswith(
        "(did you mean 'team_data'?); known data classes: financial_data, pii_processing, team_data, "
        f"declared in {shipped}: policies.2.requirements (financial_data, pii_processing); "
        f"{team}: policies.0.requirements (team_data). Correct the name, or list the models it may use in one of "
        "those"
    ), problem


@pytest.mark.anyio
async def test_a_calls_unknown_data_class_names_the_known_classes_and_no_server_path(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Before: "... all declared in /srv/.../catalog/policies/model_governance.yaml: policies.2.requirements. Correct
    # the name, or list the models it may use there": the server's path, to an MCP client that can neither see nor
    # edit it (and into the ledger, which query_runs reads back to clients). A skill's unknown class, a catalog
    # problem, keeps its files (above)
    monkeypatch.chdir(tmp_path)
    svc = await Service.open(catalog=Path("catalog"), db=tmp_path / "l.db", env={})
    try:
        with pytest.raises(E.PayloadError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"}, context={"data_class": "pii_procesing"})
    finally:
        await svc.aclose()
    assert info.value.message.endswith(
        "(did you mean 'pii_processing'?); known data classes: financial_data, pii_processing. Name one of "
        "them, or leave context.data_class out to declare none; a new class is declared by the server's operator, "
        "with the models it may use, under a policy's requirements (magsag doctor names the catalog in use)"
    ), info.value.message
    assert str(tmp_path) not in info.value.message and ".yaml" not in info.value.message


@pytest.mark.parametrize("key", ["denied_models", "blocked_models", "forbidden_models", "excludedModels"])
def test_a_list_of_forbidden_models_is_not_offered_allowed_models(tmp_path: Path, key: str):
    # Before: "denied_models: Extra inputs are not permitted (did you mean 'allowed_models'?)": renamed as told, the
    # models the compliance owner meant to forbid became the only models the policy allowed.
    path = tmp_path / "p.yaml"
    path.write_text(f"policies:\n  - name: compliance\n    {key}: [gpt-4o, o1-preview]\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:3: policies.0.{key}: magsag has no list of forbidden models"), problem
    assert "did you mean" not in problem
    assert "renamed allowed_models, this list would allow only the models it names" in problem


@pytest.mark.parametrize(
    ("key", "says"),
    [
        # a skill's (model's, provider's) budget: the nearest key was the day limit of every call, or a run's
        ("max_cost_per_skill_daily_usd", "magsag keeps no per-skill limit"),
        ("max_cost_per_model_usd", "magsag keeps no per-model limit"),
        ("max_cost_per_provider_usd", "magsag keeps no per-provider limit"),
        ("max_cost_per_tenant_usd", "magsag keeps no per-tenant limit"),
        # tokens: renamed max_cost_per_call_usd as told, 4000 tokens became $4000 a call
        ("max_tokens_per_call", "magsag keeps no token limit in a policy"),
    ],
)
def test_a_limit_of_a_scope_magsag_does_not_limit_is_not_offered_another_limit(tmp_path: Path, key: str, says: str):
    path = tmp_path / "p.yaml"
    path.write_text(f"policies:\n  - name: budget\n    thresholds: {{{key}: 4000}}\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:3: policies.0.thresholds.{key}: {says}"), problem
    assert "did you mean" not in problem and "max_cost_per_agent_daily_usd" in problem


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("max_daily_cost_usd", "max_cost_per_day_usd"),  # was offered max_cost_per_run_usd: a day's budget per run
        ("max_cost_per_request_usd", "max_cost_per_call_usd"),  # was offered max_cost_per_run_usd
        ("daily_budget_usd", "max_cost_per_day_usd"),  # was offered nothing
        ("max_cost_per_agnet_daily_usd", "max_cost_per_agent_daily_usd"),  # a misspelt word: the nearest spelling
    ],
)
def test_a_limit_named_in_other_words_is_offered_the_limit_its_words_name(tmp_path: Path, key: str, meant: str):
    path = tmp_path / "p.yaml"
    path.write_text(f"policies:\n  - name: budget\n    thresholds: {{{key}: 500}}\n")
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    assert f"thresholds.{key}: Extra inputs are not permitted (did you mean {meant!r}?)" in problem, problem


def test_a_catalog_policy_with_a_deny_list_is_a_problem_saying_so(catalog_copy: Path):
    path = catalog_copy / "policies" / "model_governance.yaml"
    path.write_text(
        path.read_text().replace("    allowed_models:\n", "    blocked_models: [o1-preview]\n    allowed_models:\n", 1)
    )
    problems = [p for p in validate_catalog(catalog_copy, env={}) if "blocked_models" in p]
    assert problems == [
        f"{path}:6: policies.0.blocked_models: magsag has no list of forbidden models: a policy's allowed_models lists "
        "the only models it allows, and refuses every other (renamed allowed_models, this list would allow only the "
        "models it names); list the models to allow under allowed_models (a name, a glob such as 'claude-*', or "
        "'provider:*' for every model of a provider), leaving out those to forbid"
    ]


@pytest.mark.parametrize(
    ("yaml", "where", "says"),
    [
        # indented one level too deep: was told "magsag keeps no per-model limit ... keep costly models out with
        # allowed_models", of the very key it had written
        (
            "    thresholds:\n      max_cost_per_run_usd: 5\n      allowed_models: [gpt-4o]\n",
            "thresholds.allowed_models",
            "allowed_models is a key of the policy, not of its thresholds: write it level with thresholds",
        ),
        # was told only "accepted here: max_cost_per_call_usd, ...", nothing of where timezone goes
        (
            "    thresholds:\n      max_cost_per_day_usd: 5\n      timezone: Europe/Berlin\n",
            "thresholds.timezone",
            "timezone is a key of the policy, not of its thresholds: write it level with thresholds",
        ),
        # a limit written on the policy itself: was told only "accepted here: name, description, ..."
        (
            "    max_cost_per_day_usd: 5\n",
            "max_cost_per_day_usd",
            "max_cost_per_day_usd is a threshold: write it under the policy's thresholds "
            "(thresholds: {max_cost_per_day_usd: 5.0})",
        ),
        # a monthly limit on the policy itself: told it is a threshold, as a day limit is
        (
            "    max_cost_per_month_usd: 5\n",
            "max_cost_per_month_usd",
            "max_cost_per_month_usd is a threshold: write it under the policy's thresholds",
        ),
        # a weekly one: was offered nothing, and is told there is no such limit
        ("    max_cost_per_week_usd: 5\n", "max_cost_per_week_usd", "magsag keeps no weekly limit"),
        # a provider's limit on the policy itself: was told allowed_models takes providers as patterns
        ("    max_cost_per_provider_usd: 5\n", "max_cost_per_provider_usd", "magsag keeps no per-provider limit"),
    ],
)
def test_a_key_written_at_the_wrong_level_is_told_where_it_goes(tmp_path: Path, yaml: str, where: str, says: str):
    path = tmp_path / "p.yaml"
    path.write_text("policies:\n  - name: budget\n" + yaml)
    with pytest.raises(E.CatalogError) as info:
        load_policy_file(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:{2 + yaml.count(chr(10))}: policies.0.{where}: {says}"), problem
    assert "per-model" not in problem


def test_the_policy_keys_policy_keys_knows_are_the_policys():
    from magsag_mcp.governance.policy import Policy
    from magsag_mcp.governance.policy_keys import POLICY_KEYS

    assert set(POLICY_KEYS) == set(Policy.model_fields)


def test_a_refusal_naming_the_policy_file_redacts_a_key_shaped_folder_in_its_path(tmp_path: Path):
    # the refusals name the policy file now (FILE: policies.N.allowed_models): a catalog kept under a folder named by a
    # credential (a CI job's checkout named by its token) put the token in explain's reasons and warnings, which
    # are results, not errors, so the errors' redaction never saw them
    import shutil

    from magsag_mcp import Magsag
    from tests.conftest import CATALOG

    token = "sk-proj-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"
    catalog = tmp_path / token / "catalog"
    shutil.copytree(CATALOG, catalog, ignore=shutil.ignore_patterns("__pycache__"))
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env={"OPENAI_API_KEY": "sk-test-not-a-real-key-0000"}) as mg:
        plan = mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    reason = plan["targets"][0]["policy"]["reason"]
    assert "/catalog/policies/model_governance.yaml: policies.0.allowed_models" in reason, reason
    assert token not in str(plan), plan
    assert token not in load_policies(catalog, env={}).place("production_models")
