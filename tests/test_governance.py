"""Governance before spend: allowed models and data residency, whoever chose the model.

Budgets, reservations, explain, the policy files and the gate are tested in tests/test_governance_*.py."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.ledger import UsageFilters
from tests.governance_helpers import open_service, policy, prices

pytestmark = pytest.mark.anyio


async def test_pii_skill_reaches_only_the_local_model_even_with_magsag_model(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MODEL="gpt-4o")
    result = await svc.invoke_skill("skill.pii-redaction", {"text": "Call Ann at 555-0100"})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("local", "llama3.1:70b")
    assert upstream.calls["gpt-4o"] == 0
    skipped = result.trace["skipped"][0]
    assert skipped["target"] == "openai:gpt-4o" and skipped["policy"] == "data_residency"


async def test_explicit_override_to_a_forbidden_model_fails_with_the_policy(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.PolicyDenied) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    # per-call override on a pii skill to a cloud model: fails too, it does not silently reroute
    with pytest.raises(E.PolicyDenied) as pii:
        await svc.invoke_skill("skill.pii-redaction", {"text": "x", "model_config": {"model": "gpt-4o"}})
    runs = await svc.query_runs(UsageFilters(status="policy_denied"))
    await svc.aclose()
    assert info.value.kind == "policy_denied" and info.value.policy == "production_models"
    assert "policy 'production_models' forbids openai:gpt-3.5-turbo (chosen by an explicit override)" in str(info.value)
    assert pii.value.policy == "data_residency"
    assert upstream.calls["gpt-3.5-turbo"] == 0 and upstream.calls["gpt-4o"] == 0
    assert len(runs) == 2


@pytest.mark.parametrize(
    ("env", "model_config", "how", "fix"),
    [
        (
            {"MAGSAG_PROVIDER": "compat"},
            None,
            "MAGSAG_PROVIDER in the environment",
            "set MAGSAG_PROVIDER to a provider it allows for these models, or unset it",
        ),
        ({"MAGSAG_MODEL": "compat:gpt-4o"}, None, "MAGSAG_MODEL in the environment", "set MAGSAG_MODEL to one of them"),
        ({}, {"model": "compat:gpt-4o"}, "an explicit override", "name one of them in the call"),
    ],
    ids=["MAGSAG_PROVIDER", "MAGSAG_MODEL", "call"],
)
async def test_a_refusal_of_a_chosen_model_names_who_chose_it_and_what_the_policy_allows(
    catalog_copy, tmp_path, upstream, env, model_config, how, fix
):
    # A target MAGSAG_PROVIDER put on the routing policy's models was said to be "chosen by an explicit
    # override" (there was none to find in the call), and no refusal said what the policy allows.
    policy(catalog_copy, "policies:\n  - name: vendors_only\n    allowed_models: ['openai:*', 'claude-*']\n")
    svc = await open_service(catalog_copy, tmp_path, upstream, **env)
    payload = {"data": "x", **({"model_config": model_config} if model_config else {})}
    with pytest.raises(E.PolicyDenied) as info:
        await svc.invoke_skill("skill.analysis", payload)
    await svc.aclose()
    assert info.value.policy == "vendors_only"
    assert f"policy 'vendors_only' forbids compat:gpt-4o (chosen by {how}): " in info.value.message
    assert (
        f"compat:gpt-4o is not in vendors_only.allowed_models, at {catalog_copy / 'policies'}/model_governance.yaml: "
        f"policies.0.allowed_models; it allows openai:*, claude-*: {fix}, "
        "or add compat:gpt-4o to vendors_only.allowed_models)"
    ) in info.value.message
    assert upstream.calls["gpt-4o"] == 0


@pytest.mark.parametrize(
    ("env", "model_config"), [({"MAGSAG_PROVIDER": "compat"}, None), ({}, {"provider": "compat"})], ids=["env", "call"]
)
async def test_a_routed_model_the_policy_refuses_anywhere_is_skipped_under_a_chosen_provider(
    catalog_copy, tmp_path, upstream, env, model_config
):
    # MAGSAG_PROVIDER (or a call naming only a provider) serves routing's models. One the policy refuses on
    # any provider failed the call, where without MAGSAG_PROVIDER it was skipped: skill.coding's first model
    # failed every call though the next was allowed, and a rate limit on the first model came back as a
    # policy denial of the second.
    policy(catalog_copy, "policies:\n  - name: openai_models\n    allowed_models: [gpt-4o, gpt-4o-mini]\n")
    svc = await open_service(catalog_copy, tmp_path, upstream, **env)
    extra = {"model_config": model_config} if model_config else {}
    result = await svc.invoke_skill("skill.coding", {"task": "x", **extra})
    upstream.plan("gpt-4o", 429, 429, 429)
    with pytest.raises(E.RateLimitError) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", **extra})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("compat", "gpt-4o")
    [skipped] = result.trace["skipped"]
    assert skipped["target"] == "compat:claude-3-5-sonnet-20241022" and skipped["policy"] == "openai_models"
    assert "(chosen by routing)" in skipped["reason"]
    assert info.value.kind == "all_targets_failed" and not isinstance(info.value, E.PolicyDenied)
    assert upstream.calls["claude-3-5-sonnet-20241022"] == upstream.calls["gemini-1.5-pro"] == 0


@pytest.mark.parametrize(
    ("env", "model_config"), [({"MAGSAG_PROVIDER": "openai"}, None), ({}, {"provider": "openai"})], ids=["env", "call"]
)
async def test_a_routed_vendor_model_the_policy_refuses_is_skipped_under_that_vendor(
    catalog_copy, tmp_path, upstream, env, model_config
):
    # MAGSAG_PROVIDER=openai keeps the route's own openai models. With o1-preview taken out of the allowed
    # models, skill.reasoning failed every call "chosen by MAGSAG_PROVIDER" and told the user to unset it,
    # though routing's next model, openai:gpt-4o, was allowed (and served the call without MAGSAG_PROVIDER).
    text = (catalog_copy / "policies" / "model_governance.yaml").read_text()
    policy(catalog_copy, text.replace("      - o1-preview\n", ""))
    svc = await open_service(catalog_copy, tmp_path, upstream, **env)
    extra = {"model_config": model_config} if model_config else {}
    result = await svc.invoke_skill("skill.reasoning", {"problem": "x", **extra})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("openai", "gpt-4o")
    [skipped] = result.trace["skipped"]
    assert skipped["target"] == "openai:o1-preview" and "(chosen by routing)" in skipped["reason"]
    assert upstream.calls["o1-preview"] == 0


async def test_a_provider_chosen_for_routed_models_that_the_policy_refuses_still_fails(
    catalog_copy, tmp_path, upstream
):
    # the refusal is of the provider MAGSAG_PROVIDER chose (routing's own openai:gpt-4o is allowed): said loudly
    policy(catalog_copy, "policies:\n  - name: openai_only\n    allowed_models: ['openai:*']\n")
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_PROVIDER="compat")
    with pytest.raises(E.PolicyDenied, match="chosen by MAGSAG_PROVIDER in the environment"):
        await svc.invoke_skill("skill.analysis", {"data": "x"})
    await svc.aclose()
    assert upstream.calls["gpt-4o"] == 0


async def test_a_vendor_the_call_names_for_a_confined_data_class_is_refused_not_served_elsewhere(
    catalog_copy, tmp_path, upstream
):
    # the vendor's own models are routing's, only fewer: a data class refusing them refuses the call's choice
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.PolicyDenied, match="data_residency") as info:
        await svc.invoke_skill("skill.pii-redaction", {"text": "x", "model_config": {"provider": "openai"}})
    await svc.aclose()
    assert "(chosen by an explicit override)" in info.value.message
    assert upstream.calls["llama3.1:70b"] == upstream.calls["gpt-4o"] == 0


#: the users' guide's data_residency as written there, beside its production_models with llama3.1:70b allowed too (so
#: the class's model can be called at all), without its cost_limits (governance_helpers.GUIDE_POLICY is the guide's)
GUIDE_RESIDENCY_POLICY = """policies:
  - name: production_models
    description: Allowed models in production
    allowed_models:
      - gpt-4o
      - gpt-4o-mini
      - claude-3-5-sonnet-20241022
      - llama3.1:70b
  - name: data_residency
    description: Models for sensitive data
    requirements:
      pii_processing: ["llama3.1:70b"]  # Local only
      financial_data: ["gpt-4o"]  # Approved providers
"""


@pytest.mark.parametrize("provider", ["compat", "azure"])
async def test_the_guides_local_only_class_keeps_its_data_local_whatever_magsag_provider_says(
    catalog_copy, tmp_path, upstream, provider
):
    # The guide's "Local only" pii_processing: ["llama3.1:70b"] matched the model on any provider: with
    # MAGSAG_PROVIDER=compat (or azure), routing's local:llama3.1:70b became compat:llama3.1:70b, which the
    # class allowed, and the PII went to the hosted endpoint. Now the class's tagged model is the local one's.
    policy(catalog_copy, GUIDE_RESIDENCY_POLICY)
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_PROVIDER=provider)
    result = await svc.invoke_skill("skill.pii-redaction", {"text": "Jane Doe, 555-0100"})
    explained = svc.explain("skill.pii-redaction", {"text": "x"})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("local", "llama3.1:70b")
    [skipped] = result.trace["skipped"]
    assert skipped["target"] == f"{provider}:llama3.1:70b" and skipped["policy"] == "data_residency"
    assert "data class 'pii_processing' may only use local:llama3.1:70b" in skipped["reason"]
    assert [(t["label"], t["policy"]["allowed"]) for t in explained["targets"]] == [
        (f"{provider}:llama3.1:70b", False),
        ("local:llama3.1:70b", True),
    ]


async def test_env_override_to_a_forbidden_model_fails(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MODEL="gpt-3.5-turbo")
    with pytest.raises(E.PolicyDenied, match="production_models"):
        await svc.invoke_skill("skill.analysis", {"data": "x"})
    await svc.aclose()


async def test_routed_target_outside_policy_is_skipped(catalog_copy, tmp_path, upstream):
    policy(catalog_copy, "policies:\n  - name: claude_only\n    allowed_models: ['claude-*']\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    result = await svc.invoke_skill("skill.analysis", {"data": "x"})
    plan = svc.explain("skill.analysis", {"data": "x"})
    await svc.aclose()
    assert result.result.model == "claude-3-5-sonnet-20241022"
    assert result.trace["skipped"] == [
        {
            "target": "openai:gpt-4o",
            "reason": "policy 'claude_only' forbids openai:gpt-4o (chosen by routing): "
            "openai:gpt-4o is not in claude_only.allowed_models, at "
            f"{catalog_copy / 'policies' / 'model_governance.yaml'}: policies.0.allowed_models",
            "policy": "claude_only",
        }
    ]
    assert [t["policy"]["allowed"] for t in plan["targets"]] == [False, True, False]


async def test_a_call_stopped_by_its_budget_says_so_though_a_routed_target_after_it_was_forbidden(
    catalog_copy, tmp_path, upstream
):
    # The primary fails, the budget refuses the fallback, and a last routed target is outside the
    # allowed models (skipped, as routed targets are): the call was stopped by the budget, and its
    # error says budget_exceeded rather than the routine skip after it.
    (catalog_copy / "routing" / "default.yaml").write_text("default: [compat:a, compat:b, compat:c]\n")
    prices(catalog_copy, '"compat:a": {input: 0.1, output: 0.1}\n"compat:*": {input: 500, output: 500}\n')
    policy(
        catalog_copy,
        "policies:\n  - name: models\n    allowed_models: ['compat:a', 'compat:b']\n"
        "  - name: daily\n    thresholds: {max_cost_per_agent_daily_usd: 0.05}\n",
    )
    (catalog_copy / "skills" / "analysis.yaml").write_text(
        (catalog_copy / "skills" / "analysis.yaml").read_text().replace("task_type: analysis", "task_type: other")
    )
    upstream.plan("a", 500, 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.BudgetExceeded) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "max_tokens": 200}, agent="bob")
    await svc.aclose()
    err = info.value
    assert isinstance(err, E.AllTargetsFailed)
    assert err.kind == "budget_exceeded" and err.policy == "daily"
    assert err.details["last_error_type"] == "budget_exceeded"
    assert "compat:c skipped (policy 'models' forbids compat:c (chosen by routing)" in err.message
    assert upstream.calls["b"] == upstream.calls["c"] == 0


async def test_a_caller_cannot_relax_a_skills_data_class(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "gpt-4o"}
    # financial_data allows gpt-4o; the skill's pii_processing does not, and both apply
    with pytest.raises(E.PolicyDenied) as info:
        await svc.invoke_skill(
            "skill.pii-redaction",
            {"text": "Ann, 555-0100", "model_config": mc},
            context={"data_class": "financial_data"},
        )
    plan = svc.explain("skill.pii-redaction", {"text": "x"}, context={"data_class": "financial_data"})
    # a class no policy names would restrict nothing (a typo, or a hope): refused before any call
    with pytest.raises(E.PayloadError) as unknown:
        await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": mc}, context={"data_class": "pii_procesing"}
        )
    await svc.aclose()
    assert info.value.policy == "data_residency" and upstream.calls["gpt-4o"] == 0
    assert plan["data_classes"] == ["pii_processing", "financial_data"]
    # (it named the file that declares the classes: the server's path, which a caller can neither see nor edit)
    assert unknown.value.message == (
        "context.data_class: data class 'pii_procesing' is named in no policy's requirements, so it would "
        "restrict nothing (did you mean 'pii_processing'?); known data classes: financial_data, "
        "pii_processing. Name one of them, or leave context.data_class out to declare none; a new class is "
        "declared by the server's operator, with the models it may use, under a policy's requirements (magsag "
        "doctor names the catalog in use)"
    )


async def test_a_skill_whose_data_class_no_policy_names_is_a_catalog_problem(catalog_copy, tmp_path):
    from magsag_mcp.catalog import validate_catalog
    from magsag_mcp.service import Service

    skill = catalog_copy / "skills" / "pii-redaction.yaml"
    skill.write_text(skill.read_text().replace("data_class: pii_processing", "data_class: pii_procesing"))
    expected = (
        f"{skill}: skill.pii-redaction: data class 'pii_procesing' is named in no policy's requirements, so it "
        "would restrict nothing (did you mean 'pii_processing'?)"
    )  # with its file, as every catalog problem
    assert any(p.startswith(expected) for p in validate_catalog(catalog_copy, env={}))
    with pytest.raises(E.CatalogError) as info:
        await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={})
    assert info.value.problems[0].startswith(expected)


async def test_the_shipped_pii_class_stays_local_even_on_a_priced_hosted_provider(catalog_copy, tmp_path, upstream):
    # The shipped policy says pii_processing is "Local only": a hosted OpenAI-compatible endpoint that
    # happens to serve a model of the same name, priced so that no cost limit stops it, is not local.
    # MAGSAG_PROVIDER, like MAGSAG_MODEL, then gives way to the data class's own model.
    prices(catalog_copy, '"compat:*": {input: 0.1, output: 0.1}\n"local:*": {input: 0, output: 0}\n')
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_PROVIDER="compat")
    result = await svc.invoke_skill("skill.pii-redaction", {"text": "Call Ann at 555-0100"})
    plan = svc.explain("skill.pii-redaction", {"text": "x"})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("local", "llama3.1:70b")
    assert upstream.calls["llama3.1:70b"] == 1
    skipped = result.trace["skipped"][0]
    assert skipped["target"] == "compat:llama3.1:70b" and skipped["policy"] == "data_residency"
    assert [(t["label"], t["policy"]["allowed"]) for t in plan["targets"]] == [
        ("compat:llama3.1:70b", False),
        ("local:llama3.1:70b", True),
    ]


async def test_a_forbidden_provider_in_the_call_still_fails(catalog_copy, tmp_path, upstream):
    # model_config.provider is the caller's explicit choice: a data class that forbids it fails the call.
    prices(catalog_copy, '"compat:*": {input: 0.1, output: 0.1}\n')
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.AllTargetsFailed, match="data_residency"):
        await svc.invoke_skill("skill.pii-redaction", {"text": "x", "model_config": {"provider": "compat"}})
    await svc.aclose()
    assert upstream.calls["llama3.1:70b"] == 0


async def test_a_hosted_model_named_like_a_local_target_does_not_pass_as_local(catalog_copy, tmp_path, upstream):
    # pii_processing allows "local:llama3.1:70b" and "fake:*": provider:model patterns that pin who serves
    # the model. A hosted OpenAI-compatible server's model *named* "fake:x" is neither local nor fake.
    prices(catalog_copy, '"compat:*": {input: 0.1, output: 0.1}\n')
    svc = await open_service(catalog_copy, tmp_path, upstream)
    payload = {"text": "Ann, 555-0100", "model_config": {"model": "compat:fake:x"}}
    with pytest.raises(E.PolicyDenied, match="forbids compat:fake:x"):
        await svc.invoke_skill("skill.pii-redaction", payload)
    await svc.aclose()
    assert upstream.calls["fake:x"] == 0


async def test_a_forbidden_override_to_an_unconfigured_provider_names_the_policy(catalog_copy, tmp_path, upstream):
    # The guide: an explicit override to a forbidden model fails with the policy's name. With no OpenAI
    # key it failed as "not configured ... set OPENAI_API_KEY" (authentication_error) instead: advice
    # that, followed, would only lead to the policy's refusal.
    svc = await open_service(catalog_copy, tmp_path, upstream, OPENAI_API_KEY="")
    with pytest.raises(E.PolicyDenied) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    await svc.aclose()
    assert info.value.kind == "policy_denied" and info.value.policy == "production_models"
    assert "OPENAI_API_KEY" not in info.value.message


async def test_a_forbidden_fallback_the_call_lists_is_skipped_for_the_next_one_the_policy_allows(
    catalog_copy, tmp_path, upstream
):
    # A call's own fallbacks are a cascade it wrote out, as the guide's fallback loop is: one a policy forbids failed
    # the whole call (policy_denied) before the allowed one after it was tried. It is skipped now, said in the
    # warnings and recorded; the model the call names first is still refused outright (see below).
    upstream.plan("gpt-4o", 500, 500, 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {"model": "gpt-4o", "fallbacks": ["gpt-3.5-turbo", "gpt-4o-mini"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    (run,) = await svc.query_runs(UsageFilters(run_id=result.run_id))
    only_forbidden = {**mc, "fallbacks": ["gpt-3.5-turbo"]}
    upstream.plan("gpt-4o", 500, 500, 500, 500)
    with pytest.raises(E.AllTargetsFailed) as nothing_left:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": only_forbidden})
    with pytest.raises(E.PolicyDenied) as first:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {**mc, "model": "gpt-3.5-turbo"}})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("openai", "gpt-4o-mini")
    assert upstream.calls["gpt-3.5-turbo"] == 0 and upstream.calls["gpt-4o-mini"] == 1
    said = "policy 'production_models' forbids openai:gpt-3.5-turbo (chosen by the call's fallbacks): "
    (skipped,) = [w for w in result.warnings if w.startswith("skipped ")]
    assert skipped.startswith(f"skipped openai:gpt-3.5-turbo: {said}openai:gpt-3.5-turbo is not in production_models.")
    assert [(a.model, a.outcome) for a in result.attempts][-2:] == [
        ("gpt-3.5-turbo", "policy_denied"),
        ("gpt-4o-mini", "ok"),
    ]
    recorded = [(a["model"], a["outcome"]) for a in run["attempts"]]
    assert ("gpt-3.5-turbo", "policy_denied") in recorded and ("gpt-4o-mini", "ok") in recorded
    # nothing allowed left after the failed model: the call fails, saying what the policy refused and why
    assert f"openai:gpt-3.5-turbo skipped ({said}" in nothing_left.value.message
    # the model the call asked for by name, refused: not replaced by its fallback
    assert first.value.policy == "production_models" and upstream.calls["gpt-4o-mini"] == 1
    assert "forbids openai:gpt-3.5-turbo (chosen by an explicit override)" in first.value.message
