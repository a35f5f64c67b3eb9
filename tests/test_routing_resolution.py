"""Model choice, case by case: call overrides > MAGSAG_PROVIDER/MAGSAG_MODEL > routing > default.

How a target is named is in test_routing_target_names.py, which servers and keys a call reaches in
test_routing_servers.py, the request it sends in test_routing_requests.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import ConfigError, PayloadError
from magsag_mcp.routing import plan_call
from magsag_mcp.types import Target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def labels(plan):
    return [c.target.label for c in plan.candidates]


@pytest.fixture
def unmapped(unmapped_catalog):
    """The shipped catalog without routing's provider_defaults: MAGSAG_PROVIDER=google has no model for most tasks
    (tests/test_provider_defaults.py covers the shipped catalog, whose provider_defaults names one)."""
    return load_catalog(unmapped_catalog, env={})


def test_default_route_by_task_type(catalog):
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={})
    assert plan.rule == "route:analysis"
    assert labels(plan) == ["openai:gpt-4o", "anthropic:claude-3-5-sonnet-20241022", "google:gemini-1.5-pro"]
    assert all(not c.explicit for c in plan.candidates)


def test_glob_route_and_priority(catalog):
    plan = plan_call(catalog, "skill.document-analysis", {"document": "x"}, context=None, env={})
    assert plan.rule == "route:document-*"
    plan = plan_call(catalog, "skill.pii-redaction", {"text": "x"}, context=None, env={})
    assert labels(plan) == ["local:llama3.1:70b"]


def test_route_naming_a_tier(catalog):
    plan = plan_call(catalog, "skill.summarization", {"text": "x"}, context=None, env={})
    assert labels(plan) == ["openai:gpt-4o-mini", "anthropic:claude-3-haiku-20240307"]


def test_tier_from_context_beats_route(catalog):
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context={"tier": "premium"}, env={})
    assert plan.rule == "tier:premium"
    assert labels(plan) == ["openai:o1-preview", "openai:gpt-4o"]


def test_unknown_tier_is_a_clear_error(catalog):
    # the caller's context names it: an error in the call (InputError), not in the catalog (ConfigError)
    with pytest.raises(PayloadError, match="unknown cost tier 'gold'.*economy") as caught:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"tier": "gold"}, env={})
    assert not isinstance(caught.value, ConfigError)


def test_a_misspelt_tier_in_the_context_names_the_tier_meant(catalog):
    with pytest.raises(PayloadError, match=r"'premum' \(did you mean 'premium'\?\)"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"tier": "premum"}, env={})
    with pytest.raises(PayloadError, match="context.tier must be the name of a cost tier.*got list"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"tier": ["premium"]}, env={})


def test_env_model_beats_routing(catalog):
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_MODEL": "gpt-4o-mini"})
    assert plan.rule == "override:env"
    assert labels(plan) == ["openai:gpt-4o-mini"]
    assert plan.candidates[0].explicit


def test_env_provider_and_model(catalog):
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_MODEL": "llama3.1:70b"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env)
    assert labels(plan) == ["local:llama3.1:70b"]


def test_env_provider_alone_keeps_policy_models(catalog):
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": "openai"})
    assert labels(plan) == ["openai:gpt-4o"]
    # a hosting provider serves the policy's model names as they are (deployments, local tags)
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": "azure"})
    assert labels(plan) == ["azure:gpt-4o", "azure:claude-3-5-sonnet-20241022", "azure:gemini-1.5-pro"]


def test_a_registered_provider_that_hosts_other_models_is_swapped_in_as_the_built_in_ones_are(catalog, monkeypatch):
    # whether a provider serves other vendors' models is its class's to say, not a list kept in routing.py:
    # a gateway registered by the user was refused ("the routing policy names no gateway model")
    from magsag_mcp import providers
    from magsag_mcp.providers.fake import FakeProvider
    from magsag_mcp.targets import forget_parsed_targets

    class Gateway(FakeProvider):
        hosts_other_models = True

    monkeypatch.setitem(providers._REGISTRY, "gateway", Gateway)
    forget_parsed_targets()
    try:
        plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": "gateway"})
        assert labels(plan) == ["gateway:gpt-4o", "gateway:claude-3-5-sonnet-20241022", "gateway:gemini-1.5-pro"]
    finally:
        monkeypatch.undo()
        forget_parsed_targets()


def test_env_provider_with_no_model_of_its_own_says_what_to_do(unmapped):
    with pytest.raises(ConfigError, match="set MAGSAG_MODEL"):
        plan_call(unmapped, "skill.pii-redaction", {"text": "x"}, context=None, env={"MAGSAG_PROVIDER": "google"})


def test_env_provider_with_no_model_for_a_confined_data_class_yields_to_the_class_models(unmapped):
    catalog = unmapped
    # MAGSAG_PROVIDER=google (the guide's "use Google for all tasks") failed every skill.pii-redaction call with
    # "set MAGSAG_MODEL", where MAGSAG_PROVIDER=openai (whose models the data class refuses) and MAGSAG_MODEL set
    # to a Gemini model both went to the class's own local:llama3.1:70b: a deployment-wide setting yields to it.
    classes = {"pii_processing": ["local:llama3.1:70b", "fake:*"]}
    for env in ({"MAGSAG_PROVIDER": "google"}, {"MAGSAG_PROVIDER": "openai"}, {"MAGSAG_MODEL": "gemini-1.5-pro"}):
        plan = plan_call(
            catalog, "skill.pii-redaction", {"text": "x"}, context=None, env=env, data_class_models=classes
        )
        assert labels(plan)[-1] == "local:llama3.1:70b" and plan.candidates[-1].source == "data_class"
    assert plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x"},
        context=None,
        env={"MAGSAG_PROVIDER": "google"},
        data_class_models=classes,
    ).rule == (
        "route:pii-* (provider:google from MAGSAG_PROVIDER); it names no google model for this task, so the data "
        "class's models serve it"
    )
    # a call naming the provider itself asked for it: refused, not served elsewhere
    with pytest.raises(PayloadError, match="model_config.provider 'google': the routing policy names no google model"):
        plan_call(
            catalog,
            "skill.pii-redaction",
            {"text": "x", "model_config": {"provider": "google"}},
            context=None,
            env={},
            data_class_models=classes,
        )
    # a skill without such a class still fails with what to do
    with pytest.raises(ConfigError, match="names no google model for task 'coding'; also set MAGSAG_MODEL"):
        plan_call(
            catalog,
            "skill.coding",
            {"task": "x"},
            context=None,
            env={"MAGSAG_PROVIDER": "google"},
            data_class_models=classes,
        )


def test_bad_env_provider(catalog):
    with pytest.raises(ConfigError, match="MAGSAG_PROVIDER='nope'.*unknown provider.*openai"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": "nope"})


def test_model_config_beats_env(catalog):
    payload = {"data": "x", "model_config": {"model": "claude-3-5-sonnet-20241022"}}
    plan = plan_call(catalog, "skill.analysis", payload, context=None, env={"MAGSAG_MODEL": "gpt-4o-mini"})
    assert plan.rule == "override:call"
    assert labels(plan) == ["anthropic:claude-3-5-sonnet-20241022"]


def test_model_config_beats_llm_overrides_beats_preferred_model(catalog):
    ctx = {"llm_overrides": {"model": "gpt-4o-mini"}, "preferred_model": "gemini-1.5-pro"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}}, context=ctx, env={})
    assert labels(plan) == ["openai:gpt-4o"]
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=ctx, env={})
    assert labels(plan) == ["openai:gpt-4o-mini"]
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context={"preferred_model": "gemini-1.5-pro"}, env={})
    assert labels(plan) == ["google:gemini-1.5-pro"]


@pytest.mark.parametrize(
    ("env_provider", "named", "expected"),
    [
        # a hosting provider serves the cloud vendor's model name the call gives (an Azure deployment)
        ("azure", {"model_config": {"model": "gpt-4o"}}, "azure:gpt-4o"),
        ("azure", {"context": {"preferred_model": "gpt-4o"}}, "azure:gpt-4o"),
        ("fake", {"context": {"preferred_model": "claude-3-5-sonnet-20241022"}}, "fake:claude-3-5-sonnet-20241022"),
        # a name no provider can be inferred from: MAGSAG_PROVIDER is the one said
        ("local", {"model_config": {"model": "qwen2.5-coder"}}, "local:qwen2.5-coder"),
        ("openai", {"context": {"llm_overrides": {"model": "computer-use-preview"}}}, "openai:computer-use-preview"),
        # what MAGSAG_PROVIDER cannot serve, or the call pinned, keeps the call's provider
        ("anthropic", {"model_config": {"model": "gpt-4o"}}, None),
        ("azure", {"model_config": {"model": "llama3.1:70b"}}, None),
        ("azure", {"model_config": {"model": "openai:gpt-4o"}}, None),
        ("azure", {"model_config": {"model": "gpt-4o", "provider": "openai"}}, None),
    ],
)
def test_a_call_naming_only_a_model_is_served_by_magsag_provider(catalog, env_provider, named, expected):
    # The call chose the model and left its provider open; the deployment's MAGSAG_PROVIDER was ignored (as
    # MAGSAG_MODEL once was under a call naming only a provider): gpt-4o went to OpenAI from an Azure-only
    # deployment, `MAGSAG_PROVIDER=fake magsag run my-mag` failed for want of an Anthropic key, and a model
    # named like no vendor's was refused with "cannot tell which provider serves model" under MAGSAG_PROVIDER.
    payload = {"data": "x"}
    if "model_config" in named:
        payload["model_config"] = named["model_config"]
    context = named.get("context")
    plan = plan_call(catalog, "skill.analysis", payload, context=context, env={"MAGSAG_PROVIDER": env_provider})
    unset = plan_call(catalog, "skill.analysis", payload, context=context, env={}) if expected is None else None
    assert labels(plan) == [expected or unset.candidates[0].target.label]  # None: as without MAGSAG_PROVIDER
    assert plan.candidates[0].source == "call" and plan.candidates[0].explicit
    by_env = f" (provider:{env_provider} from MAGSAG_PROVIDER)" if expected else ""
    assert plan.rule == "override:call" + by_env


def test_a_misspelt_provider_prefix_is_refused_under_magsag_provider_too(catalog):
    # not sent to the environment's provider as a model named "opnai:gpt-4o"
    env = {"MAGSAG_PROVIDER": "azure"}
    for mc in ({"model": "opnai:gpt-4o"}, {"model": "gpt-4o", "fallbacks": ["anthropc:claude-3-haiku"]}):
        with pytest.raises(PayloadError, match="unknown provider"):
            plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)


def test_magsag_provider_serves_the_fallbacks_a_call_names_without_a_provider(catalog):
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-haiku-20240307", "llama3.1:70b", "openai:gpt-4o-mini"]}
    env = {"MAGSAG_PROVIDER": "azure"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert labels(plan) == ["azure:gpt-4o", "azure:claude-3-haiku-20240307", "local:llama3.1:70b", "openai:gpt-4o-mini"]
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert labels(plan)[:2] == ["openai:gpt-4o", "anthropic:claude-3-haiku-20240307"]


def test_explicit_provider_wins_over_inference_and_base_url_carried(catalog):
    mc = {"model": "gpt-4o", "provider": "azure", "base_url": "https://r.openai.azure.com"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert plan.candidates[0].target == Target("azure", "gpt-4o", "https://r.openai.azure.com")


def test_local_model_inferred_from_tag(catalog):
    mc = {"model": "llama3.1:70b", "base_url": "http://localhost:11434"}
    plan = plan_call(catalog, "skill.pii-redaction", {"text": "x", "model_config": mc}, context=None, env={})
    assert plan.candidates[0].target == Target("local", "llama3.1:70b", "http://localhost:11434")


def test_a_gemini_resource_name_is_inferred_as_google(catalog):
    # "models/gemini-2.5-flash" (how Google's ListModels and docs name a model, which its path and price take):
    # refused with "cannot tell which provider serves model ...; name it explicitly (e.g. 'local:models/...')"
    mc = {"model": "models/gemini-2.5-flash"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert plan.candidates[0].target == Target("google", "models/gemini-2.5-flash")


def test_call_fallbacks(catalog):
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o", "openai:gpt-4o-mini"]}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert labels(plan) == ["anthropic:claude-3-5-sonnet-20241022", "openai:gpt-4o", "openai:gpt-4o-mini"]


@pytest.mark.parametrize(
    ("model_config", "context", "expected"),
    [
        # the call's provider (model_config) for a model named lower down (llm_overrides, preferred_model):
        # it was dropped, and the provider inferred from the name served the call instead
        ({"provider": "azure"}, {"llm_overrides": {"model": "gpt-4o"}}, Target("azure", "gpt-4o")),
        ({"provider": "azure"}, {"preferred_model": "gpt-4o"}, Target("azure", "gpt-4o")),
        ({}, {"llm_overrides": {"provider": "azure"}, "preferred_model": "gpt-4o"}, Target("azure", "gpt-4o")),
        (
            {},
            {
                "llm_overrides": {"provider": "local", "base_url": "http://gpu-box:11434"},
                "preferred_model": "llama3.1:70b",
            },
            Target("local", "llama3.1:70b", "http://gpu-box:11434"),
        ),
        (
            {"params": {"seed": 7}},
            {"llm_overrides": {"model": "gpt-4o"}},
            Target("openai", "gpt-4o", None, (("seed", 7),)),
        ),
    ],
    ids=["mc-provider/lo-model", "mc-provider/preferred", "lo-provider/preferred", "lo-base_url/preferred", "params"],
)
def test_a_call_level_without_a_model_shapes_the_model_named_below_it(catalog, model_config, context, expected):
    payload = {"data": "x", "model_config": model_config}
    plan = plan_call(catalog, "skill.analysis", payload, context=context, env={})
    assert plan.rule == "override:call"
    assert [c.target for c in plan.candidates] == [expected]


def test_model_config_fallbacks_follow_a_model_named_in_llm_overrides(catalog):
    payload = {"data": "x", "model_config": {"fallbacks": ["claude-3-haiku-20240307"]}}
    plan = plan_call(catalog, "skill.analysis", payload, context={"llm_overrides": {"model": "gpt-4o"}}, env={})
    assert labels(plan) == ["openai:gpt-4o", "anthropic:claude-3-haiku-20240307"]


def test_a_lower_call_level_does_not_change_the_model_named_above_it(catalog):
    # llm_overrides' own pair (and fallbacks) belong to its model, which model_config replaced
    ctx = {"llm_overrides": {"provider": "anthropic", "model": "claude-3-haiku-20240307", "fallbacks": ["gpt-4o"]}}
    payload = {"data": "x", "model_config": {"model": "gpt-4o-mini"}}
    plan = plan_call(catalog, "skill.analysis", payload, context=ctx, env={})
    assert labels(plan) == ["openai:gpt-4o-mini"]


def test_a_bad_provider_in_a_call_without_a_model_is_the_calls_error(catalog, unmapped):
    # it was a ConfigError ("fix the configuration") that named neither the field nor the call
    with pytest.raises(PayloadError, match=r"model_config.provider: unknown provider 'nope'"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": {"provider": "nope"}}, context=None, env={})
    ctx = {"llm_overrides": {"provider": "google"}}
    with pytest.raises(PayloadError, match=r"context.llm_overrides.provider 'google'.*names no google model"):
        plan_call(unmapped, "skill.pii-redaction", {"text": "x"}, context=ctx, env={})


def test_magsag_model_beats_the_policy_under_a_provider_the_call_names(catalog):
    # The call chose the provider only: its model comes from the next level, MAGSAG_MODEL, not from the
    # routing policy (MAGSAG_MODEL was ignored whenever the call named a provider).
    payload = {"data": "x", "model_config": {"provider": "openai"}}
    plan = plan_call(catalog, "skill.analysis", payload, context=None, env={"MAGSAG_MODEL": "gpt-4o-mini"})
    assert labels(plan) == ["openai:gpt-4o-mini"]
    assert plan.rule.startswith("override:env") and plan.candidates[0].explicit
    # the guide's local setup, run on the server the call names
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_MODEL": "llama3.1:70b"}
    mc = {"provider": "local", "base_url": "http://gpu-box:11434"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert [c.target for c in plan.candidates] == [Target("local", "llama3.1:70b", "http://gpu-box:11434")]
    mc = {"provider": "azure"}
    env = {"MAGSAG_MODEL": "openai:gpt-4o-mini"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert labels(plan) == ["azure:gpt-4o-mini"]
    # a MAGSAG_MODEL the call's provider cannot serve leaves the policy's models of that provider
    payload = {"data": "x", "model_config": {"provider": "anthropic"}}
    plan = plan_call(catalog, "skill.analysis", payload, context=None, env={"MAGSAG_MODEL": "gpt-4o-mini"})
    assert labels(plan) == ["anthropic:claude-3-5-sonnet-20241022"]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("local", "meta-llama/Llama-3.1-8B-Instruct"),  # vLLM serves a model by its Hugging Face name
        ("compat", "meta-llama/Llama-3.1-8B-Instruct"),
        ("compat", "llama3.1:70b"),  # an Ollama on another machine, reached as an OpenAI-compatible endpoint
        ("compat", "qwen2.5-coder:7b-instruct-q4_K_M"),
    ],
)
def test_magsag_model_of_any_name_runs_on_the_hosting_provider_the_call_names(catalog, provider, model):
    # MAGSAG_MODEL is a model the hosting provider the call names serves. A name without a tag (vLLM's
    # meta-llama/...) cannot be inferred, and a tagged one infers local: either was taken as "not served by
    # it", and the policy's gpt-4o, claude-3-5-sonnet and gemini-1.5-pro were sent to the user's server.
    mc = {"provider": provider, "base_url": "http://gpu-box:8000/v1"}
    env = {"MAGSAG_MODEL": model}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert [c.target for c in plan.candidates] == [Target(provider, model, "http://gpu-box:8000/v1")]
    assert plan.rule == f"override:env (provider:{provider} from call)"


def test_magsag_model_pinned_to_another_host_leaves_the_policys_models():
    from magsag_mcp.routing import _served_by

    assert not _served_by("compat", "local:llama3.1:70b") and not _served_by("local", "azure:gpt-4o")
    assert _served_by("azure", "openai:gpt-4o") and _served_by("local", "local:llama3.1:70b")
    assert not _served_by("openai", "meta-llama/Llama-3.1-8B-Instruct") and not _served_by("anthropic", "gpt-4o")


@pytest.mark.parametrize("key", ["model", "provider", "fallbacks", "max_tokens"])
def test_an_override_put_in_the_context_itself_is_said_to_have_been_ignored(catalog, key):
    # context={"model": "gpt-4o-mini"} went to the routing policy's gpt-4o without a word: the key is close
    # to none of the context's own, so not even a near-miss warning said it was read by no one.
    value = {"model": "gpt-4o-mini", "provider": "anthropic", "fallbacks": ["gpt-4o-mini"], "max_tokens": 50}[key]
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context={key: value, "user_id": 7}, env={})
    assert labels(plan)[0] == "openai:gpt-4o"
    [warning] = plan.warnings
    assert warning.startswith(f"context key {key!r} is not one magsag reads: the call's {key} goes in ")
    assert "context['llm_overrides']" in warning and warning.endswith("and was not applied")


@pytest.mark.parametrize(
    ("model_config", "context", "expected"),
    [
        ({"model": ""}, {"preferred_model": "gemini-1.5-pro"}, ["google:gemini-1.5-pro"]),
        ({"model": ""}, {"llm_overrides": {"model": "gpt-4o-mini"}}, ["openai:gpt-4o-mini"]),
        ({}, {"llm_overrides": {"model": ""}, "preferred_model": "gemini-1.5-pro"}, ["google:gemini-1.5-pro"]),
        ({"model": "", "provider": "azure"}, {"preferred_model": "gpt-4o"}, ["azure:gpt-4o"]),
    ],
    ids=["mc/preferred", "mc/llm_overrides", "lo/preferred", "mc-provider/preferred"],
)
def test_an_empty_model_names_no_model_and_leaves_the_one_named_below_it(catalog, model_config, context, expected):
    # "" is no model (what a form or an unset variable sends): it took the place of the model named lower down,
    # and the call went to routing's gpt-4o instead of the model its context asked for
    payload = {"data": "x", "model_config": model_config}
    plan = plan_call(catalog, "skill.analysis", payload, context=context, env={})
    assert plan.rule == "override:call"
    assert labels(plan) == expected


@pytest.mark.parametrize(("key", "value"), [("fallbacks", ["gpt-4o-mini"]), ("params", {"seed": 7})])
def test_fallbacks_or_params_beside_an_empty_model_are_refused(catalog, key, value):
    # they were dropped without a word: the call went to routing's chain, neither its fallbacks nor its params
    payload = {"data": "x", "model_config": {"model": "", key: value}}
    with pytest.raises(PayloadError, match=rf"model_config.{key} needs model_config.model"):
        plan_call(catalog, "skill.analysis", payload, context=None, env={})


@pytest.mark.parametrize(
    ("env", "context", "rule"),
    [
        (
            {"MAGSAG_PROVIDER": "anthropic"},
            {"tier": "premium"},
            "tier:premium (provider:anthropic from MAGSAG_PROVIDER); it names no anthropic model, so the default "
            "chain's serve it",
        ),
        (
            {},
            {"tier": "premium", "llm_overrides": {"provider": "anthropic"}},
            "tier:premium (provider:anthropic from call); it names no anthropic model, so the default chain's serve it",
        ),
        # the tier's own models of the provider: no word of the default chain
        (
            {"MAGSAG_PROVIDER": "anthropic"},
            {"tier": "economy"},
            "tier:economy (provider:anthropic from MAGSAG_PROVIDER)",
        ),
    ],
)
def test_a_rule_says_when_the_provider_named_takes_the_default_chains_models(catalog, env, context, rule):
    # premium names no Anthropic model: the default chain's Claude served the call, and the plan said only
    # "tier:premium", as though the tier had chosen it
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=context, env=env)
    assert plan.rule == rule
    assert all(c.target.provider == "anthropic" for c in plan.candidates)


def test_a_key_both_call_levels_set_is_the_higher_levels(catalog):
    # model_config names no model but a provider; llm_overrides names the model and a provider of its own: the model
    # comes from llm_overrides, the provider from model_config, the higher level winning key by key
    payload = {"data": "x", "model_config": {"provider": "azure"}}
    ctx = {"llm_overrides": {"model": "gpt-4o", "provider": "openai"}}
    plan = plan_call(catalog, "skill.analysis", payload, context=ctx, env={})
    assert [c.target for c in plan.candidates] == [Target("azure", "gpt-4o")]


def test_fallbacks_in_a_lower_modelless_level_under_a_model_named_above_are_refused(catalog):
    # llm_overrides' fallbacks without a model of its own, under model_config's model: they would be dropped unsaid
    payload = {"data": "x", "model_config": {"model": "gpt-4o-mini"}}
    ctx = {"llm_overrides": {"fallbacks": ["claude-3-haiku-20240307"]}}
    with pytest.raises(PayloadError, match=r"context\.llm_overrides\.fallbacks needs context\.llm_overrides\.model"):
        plan_call(catalog, "skill.analysis", payload, context=ctx, env={})


def test_the_callers_tier_beats_the_skills_own(catalog_copy):
    skill_file = catalog_copy / "skills" / "analysis.yaml"
    skill_file.write_text(skill_file.read_text() + "tier: economy\n")
    tiered = load_catalog(catalog_copy, env={})
    assert plan_call(tiered, "skill.analysis", {"data": "x"}, context=None, env={}).rule == "tier:economy"
    plan = plan_call(tiered, "skill.analysis", {"data": "x"}, context={"tier": "premium"}, env={})
    assert plan.rule == "tier:premium"
    assert labels(plan) == ["openai:o1-preview", "openai:gpt-4o"]


def test_a_provider_the_call_names_beside_magsag_provider_is_not_the_environments(catalog):
    # the call's provider serves the policy's models: a refusal of them is the call's choice, not MAGSAG_PROVIDER's
    payload = {"data": "x", "model_config": {"provider": "anthropic"}}
    plan = plan_call(catalog, "skill.analysis", payload, context=None, env={"MAGSAG_PROVIDER": "openai"})
    assert labels(plan) == ["anthropic:claude-3-5-sonnet-20241022"]
    assert [c.by_env for c in plan.candidates] == [False]
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": "openai"})
    assert [c.by_env for c in plan.candidates] == [True]


def test_magsag_provider_written_as_a_prefix_alone_is_not_told_to_set_an_empty_model(catalog):
    # "openai:" names no model: the fix is the provider's name, not "MAGSAG_MODEL=" with nothing after it
    with pytest.raises(ConfigError) as caught:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": "openai:"})
    assert "did you mean 'openai'" in caught.value.message
    assert "MAGSAG_MODEL" not in caught.value.message


def test_a_base_url_that_cannot_be_read_is_taken_for_a_gateway_not_refused_as_the_wrong_vendor():
    # its own problem is said where the URL is read; here it may point anywhere, so another vendor's model may be served
    from magsag_mcp.env_routing import model_of_another

    claude = "claude-3-5-sonnet-20241022"
    assert model_of_another({}, "openai", claude) == "anthropic"
    assert model_of_another({"OPENAI_BASE_URL": "http://[::1"}, "openai", claude) is None
    assert model_of_another({}, "openai", claude, "http://[::1") is None


@pytest.mark.parametrize(
    ("env", "providers"),
    [
        ({}, set()),
        ({"MAGSAG_PROVIDER": "Anthropic"}, {"anthropic"}),
        ({"MAGSAG_MODEL": "local:llama3.1:8b"}, {"local"}),
        ({"MAGSAG_PROVIDER": "local", "MAGSAG_MODEL": "Llama3.1:8B"}, {"local"}),
        ({"MAGSAG_MODEL": "gpt-4o"}, {"openai"}),
        ({"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "claude-3-5-sonnet-20241022"}, set()),  # refused: none
        ({"MAGSAG_MODEL": "GPT-4o"}, set()),  # refused in that case
        ({"MAGSAG_PROVIDER": "nosuch"}, set()),
    ],
)
def test_the_providers_the_overrides_name_are_read_by_the_one_reader_of_their_target(env, providers):
    # (doctor --probe's: route_explanation parsed the two variables again beside env_routing.env_target)
    from magsag_mcp.env_routing import override_providers

    assert override_providers(env) == frozenset(providers)
