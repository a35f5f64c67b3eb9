"""Model choice, case by case: call overrides > MAGSAG_PROVIDER/MAGSAG_MODEL > routing > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import ConfigError, PayloadError, UnknownSkillError
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target
from magsag_mcp.types import Target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def labels(plan):
    return [c.target.label for c in plan.candidates]


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


@pytest.fixture
def unmapped(unmapped_catalog):
    """The shipped catalog without routing's provider_defaults: MAGSAG_PROVIDER=google has no model for most tasks
    (tests/test_provider_defaults.py covers the shipped catalog, whose provider_defaults names one)."""
    return load_catalog(unmapped_catalog, env={})


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


def test_data_class_models_are_appended_for_routed_calls(catalog):
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x"},
        context=None,
        env={"MAGSAG_MODEL": "gpt-4o"},
        data_class_models={"pii_processing": ["llama3.1:70b"]},
    )
    assert labels(plan) == ["openai:gpt-4o", "local:llama3.1:70b"]
    assert [c.source for c in plan.candidates] == ["env", "data_class"]


def test_a_data_class_pattern_allows_models_but_names_no_target(catalog):
    # A requirement may be a glob ("local:*", "claude-*": model_patterns.matches reads them so). It was also
    # appended to the plan as a target: "local:*" called the model "*", and "llama*" (no provider to
    # infer) failed every call of the class with "cannot tell which provider serves model 'llama*'".
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x"},
        context=None,
        env={"MAGSAG_MODEL": "gpt-4o"},
        data_class_models={"pii_processing": ["local:*", "llama*", "claude-?-haiku", "llama3.1:70b"]},
    )
    assert labels(plan) == ["openai:gpt-4o", "local:llama3.1:70b"]


def test_a_target_whose_params_nest_plans_with_a_data_class(catalog):
    # Targets are compared and hashed (data-class routing, the catalog's base-URL check); params such as
    # capabilities: {tools: false} or a vendor's {reasoning: {effort: ...}} hold dicts and lists, and
    # the plan failed with "TypeError: unhashable type: 'dict'".
    params = {"capabilities": {"tools": False}, "reasoning": {"effort": "low"}, "stop": ["###"]}
    mc = {"model": "gpt-4o", "params": params}
    plan = plan_call(
        catalog,
        "skill.analysis",
        {"data": "x", "model_config": mc},
        context={"data_class": "pii_processing"},
        env={},
        data_class_models={"pii_processing": ["llama3.1:70b"]},
    )
    assert labels(plan) == ["openai:gpt-4o", "local:llama3.1:70b"]
    nested = plan.candidates[0].target
    assert nested.param_dict()["reasoning"] == {"effort": "low"}  # sent as given, an object
    same = parse_target({"model": "gpt-4o", "params": dict(reversed(params.items()))})
    assert same == nested and hash(same) == hash(nested) and len({nested, same}) == 1
    assert parse_target({"model": "gpt-4o", "params": {**params, "stop": ["!!!"]}}) not in {nested}


@pytest.mark.parametrize(
    ("payload", "context", "message"),
    [
        ({"model": "gpt-4o", "params": ["top_p", 0.5]}, None, "model_config.params must be an object"),
        ({"model": "gpt-4o", "params": "seed=1"}, None, "model_config.params must be an object"),
        ({"params": {"seed": 1}}, None, "model_config.params needs model_config.model"),
        ({"provider": "openai", "params": {"seed": 1}}, None, "model_config.params needs model_config.model"),
        ({}, {"llm_overrides": {"params": {"top_p": 0.1}}}, "context.llm_overrides.params needs"),
    ],
    ids=["list", "string", "no-model", "provider-only", "overrides"],
)
def test_call_params_that_would_be_dropped_are_refused(catalog, payload, context, message):
    # model_config.params reached a target only beside model_config.model, and only as an object:
    # otherwise the call went out without the seed, top_p or reasoning effort it asked for, unsaid.
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": payload}, context=context, env={})


def test_request_shape_from_model_config(catalog):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    mc = {
        "model": "gpt-4o",
        "tools": tools,
        "tool_choice": "required",
        "system": "S",
        "max_tokens": 77,
        "temperature": 0.3,
        "stop": "END",
        "response_format": {"type": "json_object"},
    }
    plan = plan_call(catalog, "skill.analysis", {"data": "numbers", "model_config": mc}, context=None, env={})
    req = plan.request
    assert req.system == "S" and req.max_tokens == 77 and req.temperature == 0.3 and req.stop == ["END"]
    assert req.tools[0].name == "lookup" and req.tool_choice == "required" and req.json_output
    assert "numbers" in req.messages[0].content
    assert req.needs() == {"tools", "json"}


def test_target_params_fill_only_what_the_call_left_open(catalog):
    plan = plan_call(catalog, "skill.extraction", {"text": "t", "fields": ["a"]}, context=None, env={})
    haiku = plan.candidates[1].target
    assert plan.request_for(haiku).temperature == 0
    plan = plan_call(
        catalog,
        "skill.extraction",
        {"text": "t", "fields": ["a"], "model_config": {"temperature": 0.9}},
        context=None,
        env={},
    )
    assert plan.request_for(haiku).temperature == 0.9


def test_a_target_stop_param_is_a_list_of_sequences_as_the_calls_own(catalog):
    # A target's params.stop of "###" went to the request as the string itself; Anthropic and Gemini
    # take a list and sent list("###"), three stop sequences "#", "#", "#": any '#' ended the answer.
    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat

    mc = {"model": "claude-3-5-sonnet-20241022", "params": {"stop": "###"}}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    req = plan.request_for(plan.candidates[0].target)
    assert req.stop == ["###"]
    body, _ = AnthropicMessagesFormat().build(req, "claude-3-5-sonnet-20241022", stream=False)
    assert body["stop_sequences"] == ["###"]


@pytest.mark.parametrize("stop", [5, "", [""], ["ok", 3]])
def test_a_target_stop_param_that_is_no_sequence_is_refused(stop):
    with pytest.raises(ConfigError, match="params.stop must be a string or a list of non-empty strings"):
        parse_target({"model": "gpt-4o", "params": {"stop": stop}})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "missing field 'data'"),
        ({"data": "x", "model_config": {"modle": "gpt-4o"}}, "unknown key.*modle"),
        ({"data": "x", "model_config": {"max_tokens": -1}}, "max_tokens must be a positive integer"),
        ({"data": "x", "model_config": {"model": "mystery-model"}}, "cannot tell which provider.*mystery-model"),
        ({"data": "x", "model_config": {"provider": "nope", "model": "m"}}, "unknown provider 'nope'"),
        ({"data": "x", "model_config": {"response_format": {"type": "xml"}}}, "response_format.type"),
        # a tool_choice whose function is not an object raised a bare AttributeError
        ({"data": "x", "model_config": {"tool_choice": {"function": "lookup"}}}, "tool_choice must be"),
        ({"data": "x", "model_config": {"tool_choice": {"function": ["lookup"]}}}, "tool_choice must be"),
        ({"data": "x", "model_config": "gpt-4o"}, "model_config must be an object"),
        ({"data": "x", "model_config": {"stop": 5}}, r"model_config.stop must be a string or a list"),
        (
            {"data": "x", "model_config": {"tools": [{"function": {"description": "d"}}]}},
            r"tools\[0\] needs a function",
        ),
        ({"data": "x", "model_config": {"tools": [{"name": "f", "parameters": "bad"}]}}, "parameters must be a JSON"),
        (
            {"data": "x", "model_config": {"messages": [{"role": "assistant", "tool_calls": [{"id": "1"}]}]}},
            r"messages\[0\].tool_calls\[0\] needs a function name",
        ),
        ({"data": "x", "model_config": {"stream": "yes"}}, "stream must be true or false"),
        (
            {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": "gpt-4o-mini"}},
            "fallbacks must be a list of targets",
        ),
        ({"data": "x", "model_config": {"fallbacks": ["gpt-4o-mini"]}}, "fallbacks needs model_config.model"),
        ({"data": "x", "model_config": {"base_url": "http://h:1/v1"}}, "base_url needs model_config.model or"),
        ({"data": "x", "model_config": {"temperature": True}}, "temperature must be a number"),
    ],
)
def test_bad_input_says_what_to_fix(catalog, payload, message):
    with pytest.raises((PayloadError, ConfigError), match=message):
        plan_call(catalog, "skill.analysis", payload, context=None, env={})


def test_unknown_skill_lists_known_ones(catalog):
    with pytest.raises(UnknownSkillError, match="unknown skill 'skill.analyse'.*skill.analysis"):
        plan_call(catalog, "skill.analyse", {}, context=None, env={})


@pytest.mark.parametrize(
    ("written", "meant"),
    [("opnai", "openai"), ("antropic", "anthropic"), ("Googel", "google"), ("olama", "ollama"), ("azur", "azure")],
)
def test_a_misspelt_provider_is_told_the_provider_it_means(catalog, written, meant):
    # `export MAGSAG_PROVIDER=opnai` (or a model_config's, a routing target's provider) was told "unknown provider
    # 'opnai'; use one of: ..." with no word of the one it nearly named, as a misspelt model or key is told.
    with pytest.raises(ConfigError) as info:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": written})
    assert f"unknown provider {written!r} (did you mean {meant!r}?); use one of: anthropic, azure" in str(info.value)
    assert "OpenAI-compatible" not in str(info.value)


@pytest.mark.parametrize("written", ["openrouter", "groq", "together"])
def test_a_service_magsag_has_no_provider_of_its_own_for_is_pointed_at_compat(catalog, written):
    # The guide's `compat - OpenAI-compatible providers`: MAGSAG_PROVIDER=openrouter was told to "use one of:
    # anthropic, azure, compat, ..." with nothing saying that compat is the one that serves it.
    with pytest.raises(ConfigError) as info:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_PROVIDER": written})
    message = str(info.value)
    assert "did you mean" not in message
    assert message.endswith("(compat: any OpenAI-compatible endpoint, at MAGSAG_COMPAT_BASE_URL)"), message


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("skill.analysys", "skill.analysis"),  # a typo
        ("skill.analyze", "skill.analysis"),  # American spelling
        ("skill.summarize", "skill.summarization"),  # the verb
        ("skill.code", "skill.coding"),
        ("Skill.Analysis", "skill.analysis"),  # the case
        ("skill.pii_redaction", "skill.pii-redaction"),  # '_' for '-'
        ("skill.document_analysis", "skill.document-analysis"),
        ("analysis", "skill.analysis"),  # the prefix left out
        ("pii", "skill.pii-redaction"),  # the part that names it
    ],
)
def test_a_misspelt_skill_id_is_told_the_skill_it_means(catalog, written, meant):
    # A new user's first typo: `magsag invoke skill.analysys ...` (or skill.summarize, skill.pii_redaction) was
    # answered "unknown skill 'skill.analysys'; known skills: ..." with no word of which one it nearly named, while
    # 'analysis' (no prefix) was told "did you mean 'skill.analysis'?": the hint matched only a name the id held.
    with pytest.raises(UnknownSkillError) as info:
        plan_call(catalog, written, {}, context=None, env={})
    assert f"unknown skill {written!r} (did you mean {meant!r}?); known skills: skill.analysis" in str(info.value)


@pytest.mark.parametrize("written", ["skill.a", "skill.x", "skill.translation", "skill.chat", "skill.foo"])
def test_a_skill_id_near_no_skill_is_offered_none(catalog, written):
    # Before: a letter the id held was enough: 'skill.a' was asked "did you mean 'skill.analysis'?" and 'skill.x'
    # "did you mean 'skill.extraction'?" (the first skill holding an 'x'); a wrong hint misleads more than none.
    with pytest.raises(UnknownSkillError) as info:
        plan_call(catalog, written, {}, context=None, env={})
    assert "did you mean" not in str(info.value) and "known skills: skill.analysis" in str(info.value)


def test_payload_schema_violation_names_the_field(catalog):
    with pytest.raises(PayloadError, match="payload field text: 5 is not of type 'string'"):
        plan_call(catalog, "skill.summarization", {"text": 5}, context=None, env={})


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("openai:gpt-4o", Target("openai", "gpt-4o")),
        ("gpt-4o", Target("openai", "gpt-4o")),
        ("o1-preview", Target("openai", "o1-preview")),
        ("o3-mini", Target("openai", "o3-mini")),
        ("claude-3-haiku-20240307", Target("anthropic", "claude-3-haiku-20240307")),
        ("gemini-1.5-pro", Target("google", "gemini-1.5-pro")),
        ("gemini:gemini-1.5-pro", Target("google", "gemini-1.5-pro")),
        ("llama3.1:70b", Target("local", "llama3.1:70b")),
        ("local:llama3.1:70b", Target("local", "llama3.1:70b")),
        (
            {"provider": "compat", "model": "my-model", "params": {"top_p": 0.5}},
            Target("compat", "my-model", None, (("top_p", 0.5),)),
        ),
    ],
)
def test_parse_target(spec, target):
    assert parse_target(spec) == target


@pytest.mark.parametrize("spec", ["azure:", "openai:", "Ollama:", " claude: ", {"model": "gemini:"}])
def test_a_provider_with_its_model_left_out_is_refused_not_taken_for_a_local_model(spec):
    # 'azure:' (MAGSAG_MODEL set to a provider and a colon) was parsed as a local model named 'azure:'
    head = (spec["model"] if isinstance(spec, dict) else spec).strip().removesuffix(":")
    with pytest.raises(ConfigError, match=f"names the provider '{head}' and no model: write the model after the colon"):
        parse_target(spec)


@pytest.mark.parametrize("alias", ["gemini", "ollama", "vllm", "lmstudio", "azure_openai", "azure-openai", "claude"])
def test_every_provider_alias_works_as_a_target_prefix(alias):
    # the prefixes a target may use are the registry's aliases, not a copy of them that can drift
    from magsag_mcp.providers import canonical_provider

    expected = Target(canonical_provider(alias), "some-model:v2")
    assert parse_target(f"{alias}:some-model:v2") == expected
    assert parse_target({"model": f"{alias}:some-model:v2"}) == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temperature": "hot"}, "context.llm_overrides.temperature must be a number"),
        ({"max_tokens": -5}, "context.llm_overrides.max_tokens must be a positive integer"),
        ({"modle": "x"}, r"context.llm_overrides has unknown key.*modle"),
    ],
)
def test_llm_overrides_are_checked_like_model_config(catalog, overrides, message):
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"llm_overrides": overrides}, env={})


def test_llm_overrides_shape_the_request_and_model_config_wins_key_by_key(catalog):
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ctx = {"llm_overrides": {"system": "from overrides", "tools": [tool], "temperature": 0.1, "max_tokens": 77}}
    plan = plan_call(
        catalog, "skill.analysis", {"data": "x", "model_config": {"temperature": 0.7}}, context=ctx, env={}
    )
    req = plan.request
    assert req.system == "from overrides" and [t.name for t in req.tools] == ["lookup"]
    assert req.temperature == 0.7 and req.max_tokens == 77
    assert {"temperature", "max_tokens"} <= plan.pinned


def test_provider_with_base_url_runs_the_policy_models_on_that_server(catalog):
    mc = {"provider": "local", "base_url": "http://gpu-box:11434"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert {c.target.base_url for c in plan.candidates} == {"http://gpu-box:11434"}
    assert {c.target.provider for c in plan.candidates} == {"local"}


KEYED = {"OPENAI_API_KEY": "sk-test-0123456789", "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}


def test_a_call_cannot_send_a_configured_key_to_its_own_base_url(catalog):
    mc = {"model": "openai:gpt-4o", "base_url": "https://collector.example.net/v1"}
    with pytest.raises(
        PayloadError,
        match=r"collector.example.net:443 is not an endpoint configured for openai.*"
        "MAGSAG_ALLOWED_BASE_URLS",
    ):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=KEYED)
    # the same through llm_overrides and through a fallback given as an object
    lo = {"model": "gpt-4o", "base_url": "http://10.0.0.9:8000/v1"}
    with pytest.raises(PayloadError, match="context.llm_overrides.base_url"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"llm_overrides": lo}, env=KEYED)
    mc = {
        "model": "gpt-4o",
        "fallbacks": [
            {
                "provider": "anthropic",
                "model": "claude-3-5-sonnet-20241022",
                "base_url": "https://collector.example.net",
            }
        ],
    }
    with pytest.raises(PayloadError, match=r"fallbacks\[0\].base_url.*configured for anthropic"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=KEYED)


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        ({}, "https://anywhere.example.net/v1"),  # no key configured: nothing to leak
        (KEYED, "https://api.openai.com/v1/"),  # the vendor's own endpoint
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/"),  # the same URL
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/team-a"),  # below it
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000"}, "http://127.0.0.1:4000/other"),  # the whole server
        (
            {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "openai=https://proxy.corp:8443, local=http://x"},
            "https://proxy.corp:8443/v1",
        ),
    ],
)
def test_call_base_urls_the_operator_allowed(catalog, env, base_url):
    mc = {"model": "openai:gpt-4o", "base_url": base_url}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert plan.candidates[0].target.base_url == base_url


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        # a gateway that serves its tenants under paths of one host: another account's path got the key
        (
            {**KEYED, "OPENAI_BASE_URL": "https://gateway.ai.cloudflare.com/v1/acct-mine/gw/openai"},
            "https://gateway.ai.cloudflare.com/v1/acct-theirs/gw/openai",
        ),
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/other"),
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/../other"),
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/%2e%2e/other"),
        ({**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "openai=https://apim.corp/team-a"}, "https://apim.corp/team-b/v1"),
    ],
)
def test_another_path_on_a_configured_server_does_not_get_the_key(catalog, env, base_url):
    # Before: a call's base URL was taken when its scheme, host and port were configured, whatever its path,
    # and the operator's key went to whoever answers at that other path (another tenant of a shared gateway).
    mc = {"model": "openai:gpt-4o", "base_url": base_url}
    with pytest.raises(PayloadError, match=r"is at no base URL configured for openai on that server") as caught:
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert "sk-" not in caught.value.message


def test_a_token_in_a_refused_base_urls_path_is_not_repeated(catalog):
    # the refusal is recorded in the ledger, which every caller can search (search_usage)
    env = {**KEYED, "OPENAI_BASE_URL": "https://gw.example/v1"}
    mc = {"model": "openai:gpt-4o", "base_url": "https://gw.example/gw7Qx2secretTOKEN9876/v1"}
    with pytest.raises(PayloadError) as caught:
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert "https://gw.example:443/[REDACTED]/v1 is at no base URL" in caught.value.message
    assert "gw7Qx2secretTOKEN9876" not in caught.value.message


def test_local_base_url_from_a_call_is_fine_without_a_local_key(catalog):
    mc = {"model": "llama3.1:70b", "base_url": "http://gpu-box:11434"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=KEYED)
    assert plan.candidates[0].target.base_url == "http://gpu-box:11434"
    # with a key for the local server, only its configured origin (default http://localhost:11434) gets it
    keyed_local = {"MAGSAG_LOCAL_LLM_API_KEY": "secret-local-key"}
    with pytest.raises(PayloadError, match="configured for local"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=keyed_local)
    mc = {"model": "llama3.1:70b", "base_url": "http://localhost:11434"}
    plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=keyed_local)


def test_a_bad_allow_list_names_the_entry(catalog):
    mc = {"model": "openai:gpt-4o", "base_url": "https://h.example/v1"}
    for value, bad in (
        ("openai=https://ok.example,openai=ftp://nope", "openai=ftp://nope"),
        ("openai=https://ok.example,https://no-provider", "https://no-provider"),
    ):
        env = {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": value}
        with pytest.raises(ConfigError, match=rf"MAGSAG_ALLOWED_BASE_URLS: entry 2 \('{bad}'\) is not provider=URL"):
            plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)


def test_an_origin_allowed_for_one_provider_does_not_receive_anothers_key(catalog):
    env = {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "local=http://127.0.0.1:8080"}
    mc = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "base_url": "http://127.0.0.1:8080"}
    with pytest.raises(PayloadError, match="configured for anthropic"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "gpt-4.5-preview"}, "params.model would replace a field magsag sets itself"),
        ({"max_completion_tokens": 100_000}, "params.max_completion_tokens would replace"),
        ({"n": 8}, "params.n would replace"),
        ({"generationConfig": {"maxOutputTokens": 99}}, "params.generationConfig would replace"),
        # the natural way to ask Gemini for a thinking budget: it says where the setting goes instead
        (
            {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
            "put its other settings at the top of params instead \\(e.g. thinkingConfig: ",
        ),
        ({"max_tokens": "lots"}, "params.max_tokens must be a positive integer"),
        ({"temperature": 9}, "params.temperature must be a number between 0 and 2"),
        # the two params the router reads itself: a wrong value was ignored without a word
        ({"api": "grpc"}, r"params.api must be one of \['chat', 'responses'\]"),
        ({"capabilities": {"tools": "maybe"}}, "params.capabilities.tools must be true or false"),
        ({"capabilities": {"vision": False}}, r"params.capabilities.vision is not a capability; known: \['json',"),
        ({"capabilities": ["tools"]}, "params.capabilities must be a mapping such as {tools: false}"),
        # billed beyond what magsag prices or reserves (an audit of budgets found them passing through)
        ({"service_tier": "priority"}, "params.service_tier 'priority' is billed above the standard rate"),
        # priority under other names: Chat's and Responses' "fast", Responses' "ultrafast"
        ({"service_tier": "fast"}, "params.service_tier 'fast' is billed above the standard rate"),
        ({"service_tier": "ultrafast"}, "params.service_tier 'ultrafast' is billed above the standard rate"),
        # Gemini's GenerateContentRequest.serviceTier ("standard", "flex", "priority"): the same premium by its name
        ({"serviceTier": "priority"}, "params.serviceTier 'priority' is billed above the standard rate"),
        # audio answers: billed at audio rates, and magsag returns only the text
        ({"audio": {"voice": "alloy", "format": "wav"}}, "params.audio: an audio answer is billed at audio rates"),
        ({"modalities": ["text", "audio"]}, "params.modalities: an audio answer is billed at audio rates"),
        # Gemini's GenerationConfig knobs reach its generationConfig: an audio answer there, and the fields magsag
        # sets itself (the response type and schema it parses the answer by, the stop sequences it caps at 5)
        ({"responseModalities": ["AUDIO"]}, "params.responseModalities: an audio answer is billed at audio rates"),
        ({"responseMimeType": "text/x.enum"}, "params.responseMimeType would replace a field magsag sets itself"),
        ({"response_schema": {"type": "STRING"}}, "params.response_schema would replace a field"),
        ({"stopSequences": ["a", "b"]}, "params.stopSequences would replace a field"),
        # GenerationConfig.responseFormat (newer than gemini.json): the response type and schema again, by another name
        (
            {"responseFormat": {"text": {"mimeType": "APPLICATION_JSON", "schema": {"type": "object"}}}},
            "params.responseFormat would replace a field magsag sets itself",
        ),
        ({"previous_response_id": "resp_abc"}, "params.previous_response_id: the Responses API would bill"),
        # a stored prompt template: its messages are billed as input the reservation never saw
        ({"prompt": {"id": "pmpt_abc", "version": "2"}}, "params.prompt: the Responses API would bill"),
        ({"cachedContent": "cachedContents/big"}, "params.cachedContent: Gemini would add the cached context"),
        # the Responses API's background mode answers "queued" at once and generates (and bills) later: magsag
        # took the empty queued response for the answer
        ({"background": True}, "params.background: the Responses API would answer at once with a queued response"),
    ],
)
def test_params_cannot_change_what_governance_checked(catalog, params, message):
    # Without this, params reached the vendor's body unchecked: another model, another output limit.
    mc = {"model": "gpt-4o-mini", "max_tokens": 16, "params": params}
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    fallback = {"model": "gpt-4o", "fallbacks": [{"model": "gpt-4o-mini", "params": params}]}
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": fallback}, context=None, env={})


def test_a_text_only_modalities_param_passes_through(catalog):
    mc = {"model": "gpt-4o-mini", "params": {"modalities": ["text"]}}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert plan.candidates[0].target.param_dict()["modalities"] == ["text"]


def test_standard_and_cheaper_service_tiers_pass_through(catalog):
    for tier in ("auto", "default", "flex"):
        mc = {"model": "gpt-4o-mini", "params": {"service_tier": tier}}
        plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
        assert plan.candidates[0].target.param_dict()["service_tier"] == tier


def test_a_non_string_base_url_is_a_clear_error(catalog):
    mc = {"model": "gpt-4o", "fallbacks": [{"model": "gpt-4o-mini", "base_url": 123}]}
    with pytest.raises(PayloadError, match="base_url must be a URL string"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})


def test_a_broken_output_schema_is_refused_before_any_call(catalog):
    rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "objekt"}}}
    with pytest.raises(PayloadError, match=r"json_schema\.schema: not a valid JSON Schema \(draft 2020-12\): at type:"):
        plan_call(
            catalog, "skill.analysis", {"data": "x", "model_config": {"response_format": rf}}, context=None, env={}
        )


def test_model_config_messages_replace_those_of_llm_overrides(catalog):
    history = [{"role": "assistant", "content": "earlier answer"}]
    ctx = {"llm_overrides": {"messages": history}}
    plan = plan_call(
        catalog, "skill.analysis", {"data": "x", "model_config": {"messages": history}}, context=ctx, env={}
    )
    assert [m.content for m in plan.request.messages].count("earlier answer") == 1


def test_a_route_cache_resolves_calls_that_name_nothing_once_per_skill(catalog):
    """A service resolves a call that names no model (no model_config, llm_overrides nor context) once per
    skill: the same answer as resolving it each time, in a list each plan owns; calls that name something
    are resolved each time and never stored."""
    env = {"MAGSAG_PROVIDER": "anthropic"}
    cache: dict = {}
    first = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env, route_cache=cache)
    assert list(cache) == ["skill.analysis"]
    uncached = plan_call(catalog, "skill.analysis", {"data": "y"}, context=None, env=env)
    first.candidates.clear()  # a caller may change its own plan; the next one is unaffected
    second = plan_call(catalog, "skill.analysis", {"data": "y"}, context=None, env=env, route_cache=cache)
    assert (second.rule, second.candidates) == (uncached.rule, uncached.candidates)
    assert labels(second)[0] == "anthropic:claude-3-5-sonnet-20241022"
    named = plan_call(
        catalog,
        "skill.analysis",
        {"data": "x", "model_config": {"model": "gpt-4o-mini"}},
        context=None,
        env=env,
        route_cache=cache,
    )
    tiered = plan_call(
        catalog, "skill.analysis", {"data": "x"}, context={"tier": "premium"}, env=env, route_cache=cache
    )
    assert labels(named) == ["openai:gpt-4o-mini"] and tiered.rule.startswith("tier:premium")
    assert list(cache) == ["skill.analysis"] and cache["skill.analysis"].rule == uncached.rule


def test_a_call_that_names_its_own_route_is_resolved_once_per_distinct_naming(catalog, monkeypatch):
    """A service keeps the routes of calls that name their own (model_config, llm_overrides, context) by
    what they name: the same answer as resolving each afresh, in a list each plan owns; what cannot be a
    key (params, a target written as an object) and what fails is resolved each time; the oldest go."""
    from magsag_mcp import routing

    env = {"MAGSAG_PROVIDER": "anthropic"}
    named: dict = {}

    def plan(mc=None, context=None, cache=True):
        payload = {"data": "x"} if mc is None else {"data": "x", "model_config": mc}
        return plan_call(
            catalog, "skill.analysis", payload, context=context, env=env, named_routes=named if cache else None
        )

    def same_as_afresh(mc=None, context=None):
        plan(mc, context)
        kept, afresh = plan(mc, context), plan(mc, context, cache=False)  # the second from what was kept
        assert (kept.rule, kept.candidates, kept.data_classes) == (afresh.rule, afresh.candidates, afresh.data_classes)
        return kept

    fallback = {"provider": "openai", "model": "gpt-4o", "fallbacks": ["anthropic:claude-3-5-haiku-latest"]}
    first = same_as_afresh(dict(fallback))
    first.candidates.clear()  # a caller may change its own plan; the next one is unaffected
    again = same_as_afresh({**fallback, "fallbacks": list(fallback["fallbacks"])})
    assert labels(again) == ["openai:gpt-4o", "anthropic:claude-3-5-haiku-latest"] and len(named) == 1
    # what else the call names makes another route: its provider under a tier, a data class, a lower level
    assert same_as_afresh({"provider": "anthropic"}, {"tier": "premium"}).rule.startswith("tier:premium")
    assert not same_as_afresh({"provider": "anthropic"}).rule.startswith("tier:premium")
    same_as_afresh(None, {"llm_overrides": {"model": "gpt-4o-mini"}, "data_class": "pii_processing"})
    assert len(named) == 4
    # not kept: params (1 and True would make one key), a target written as an object, a refused call
    same_as_afresh({"model": "gpt-4o", "params": {"seed": 1}})
    same_as_afresh({"model": "gpt-4o", "fallbacks": [{"provider": "openai", "model": "gpt-4o-mini"}]})
    for _ in range(2):
        with pytest.raises(PayloadError, match="fallbacks needs"):
            plan({"fallbacks": ["gpt-4o"]})
    assert len(named) == 4
    monkeypatch.setattr(routing, "NAMED_ROUTES_KEPT", 4)
    oldest = next(iter(named))
    same_as_afresh({"model": "gpt-4o-mini"})
    assert len(named) == 4 and oldest not in named


def test_an_openai_fine_tune_named_bare_goes_to_openai():
    # OpenAI names a fine-tune "ft:<base model>:<org>:<suffix>:<id>"; written bare it failed with
    # "unknown provider 'ft'" (only "openai:ft:..." worked), though genai-prices prices fine-tunes.
    fine_tune = "ft:gpt-4o-mini-2024-07-18:acme:support:9abc"
    assert parse_target(fine_tune) == Target("openai", fine_tune)
    assert parse_target({"model": fine_tune}) == Target("openai", fine_tune)
    assert parse_target(f"openai:{fine_tune}") == Target("openai", fine_tune)
    # a name of that shape on no OpenAI model keeps the reading of any other tagged name (Ollama's)
    assert parse_target("ft:llama3:acme") == Target("local", "ft:llama3:acme")


@pytest.mark.parametrize(
    ("payload", "env"),
    [
        ({"model_config": {"provider": "openai", "model": "openai:gpt-4o"}}, {}),
        ({"model_config": {"provider": "openai", "model": " gpt-4o "}}, {}),
        ({}, {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "openai:gpt-4o"}),
        ({}, {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": " gpt-4o "}),
    ],
)
def test_a_model_given_with_its_provider_prefix_and_the_same_provider_is_one_target(catalog, payload, env):
    plan = plan_call(catalog, "skill.analysis", {"data": "x", **payload}, context=None, env=env)
    assert labels(plan) == ["openai:gpt-4o"]


@pytest.mark.parametrize(
    ("payload", "env", "error", "message"),
    [
        (
            {"model_config": {"provider": "anthropic", "model": "openai:gpt-4o"}},
            {},
            PayloadError,
            r"model_config: model 'openai:gpt-4o' names provider 'openai'.*'anthropic'",
        ),
        (
            {},
            {"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": "openai:gpt-4o"},
            ConfigError,
            r"MAGSAG_MODEL='openai:gpt-4o'.*names provider 'openai'.*'anthropic'",
        ),
    ],
)
def test_a_model_prefixed_with_another_provider_than_the_one_given_is_refused(catalog, payload, env, error, message):
    with pytest.raises(error, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", **payload}, context=None, env=env)


@pytest.mark.parametrize(
    ("spec", "fix"),
    [
        # a vendor serves only its own models: the prefix's provider is the one to keep. Offered "model
        # 'claude-3-haiku-20240307' with provider 'openai'", a user got openai:claude-3-haiku-20240307, which fails
        # as "it is anthropic's model, not openai's: did you mean provider 'anthropic'?"
        (
            {"provider": "openai", "model": "anthropic:claude-3-haiku-20240307"},
            "model 'claude-3-haiku-20240307' with provider 'anthropic'",
        ),
        ({"provider": "anthropic", "model": "local:llama3.1:70b"}, "model 'llama3.1:70b' with provider 'local'"),
        # the provider given serves the model: a vendor its own, a hosting provider any
        ({"provider": "openai", "model": "azure:gpt-4o"}, "model 'gpt-4o' with provider 'openai'"),
        ({"provider": "azure", "model": "openai:gpt-4o"}, "model 'gpt-4o' with provider 'azure'"),
        (
            {"provider": "compat", "model": "anthropic:claude-3-haiku-20240307"},
            "model 'claude-3-haiku-20240307' with provider 'compat'",
        ),
    ],
)
def test_a_model_prefixed_with_another_provider_is_offered_a_pair_that_can_be_served(spec, fix):
    with pytest.raises(ConfigError) as refused:
        parse_target(spec)
    assert f"drop one of them (e.g. {fix}" in str(refused.value)


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("openai: gpt-4o", Target("openai", "gpt-4o")),
        ("openai :gpt-4o", Target("openai", "gpt-4o")),
        ("Anthropic : claude-3-haiku-20240307", Target("anthropic", "claude-3-haiku-20240307")),
        ({"provider": "openai", "model": "openai: gpt-4o"}, Target("openai", "gpt-4o")),
        ("llama3.1:70b", Target("local", "llama3.1:70b")),  # a local model's tag: its colon is the name's own
    ],
)
def test_spaces_around_a_target_s_provider_colon_name_that_provider_s_model(spec, target):
    # 'openai: gpt-4o' (quoted in YAML, or a call's model_config.model) was sent to OpenAI as the model ' gpt-4o', and
    # 'openai :gpt-4o' to the local server as the model 'openai :gpt-4o'; a policy reads such a pin as its model
    assert parse_target(spec) == target


def test_a_provider_and_a_space_before_its_colon_is_a_target_without_a_model():
    # 'openai :' went to the local server as the model 'openai :', where 'openai:' is refused naming the fix
    with pytest.raises(ConfigError, match="names the provider 'openai' and no model"):
        parse_target("openai :")


@pytest.mark.parametrize("spec", ["opnai: gpt-4o", "opnai :gpt-4o", "antropic : claude-3-haiku-20240307"])
def test_a_misspelt_provider_spaced_around_its_colon_is_refused_as_unspaced_it_is(spec):
    # 'opnai:gpt-4o' is refused naming 'openai'; 'opnai: gpt-4o' went to the local server as the model 'opnai: gpt-4o'
    # (the vendor's model behind the space was not seen), and 'opnai :gpt-4o' was told of provider 'opnai ', its space
    refused = r"unknown provider '(opnai|antropic)' \(did you mean '(openai|anthropic)'\?\)"
    with pytest.raises(ConfigError, match=refused):
        parse_target(spec)


@pytest.mark.parametrize("spec", [":", " : ", ":gpt-4o", " :llama3.1:70b", {"model": " : "}])
def test_a_target_with_nothing_before_its_colon_is_refused_naming_the_fix(spec):
    # ':' and ' : ' went to the local server as the model ':', ':llama3.1:70b' as the model ':llama3.1:70b', and
    # ':gpt-4o' was told of "unknown provider ''": a provider left out before the colon, or a colon left in
    with pytest.raises(ConfigError, match=r"has nothing before its colon: write 'provider:model'"):
        parse_target(spec)


def test_a_usage_filter_s_model_spaced_around_its_provider_colon_selects_that_target():
    from magsag_mcp.ledger.filters import UsageFilters

    filters = UsageFilters(model="openai: gpt-4o")
    assert (filters.provider, filters.model) == ("openai", "gpt-4o")


def test_the_env_pair_refused_for_its_prefix_is_offered_the_model_s_own_provider(catalog):
    env = {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "anthropic:claude-3-haiku-20240307"}
    with pytest.raises(ConfigError) as refused:
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env)
    assert "model 'claude-3-haiku-20240307' with provider 'anthropic'" in str(refused.value)
    assert "with provider 'openai'" not in str(refused.value)


def test_a_target_named_twice_is_tried_once(catalog):
    # a fallback repeating the model (or one already in the chain) would pay for the same failure again
    mc = {"model": "gpt-4o", "fallbacks": ["openai:gpt-4o", "gpt-4o-mini", "gpt-4o", "gpt-4o-mini"]}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert labels(plan) == ["openai:gpt-4o", "openai:gpt-4o-mini"]
    # the same target spelt with its provider apart
    plan = plan_call(
        catalog,
        "skill.analysis",
        {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "fallbacks": ["gpt-4o"]}},
        context=None,
        env={},
    )
    assert labels(plan) == ["openai:gpt-4o"]


def test_a_routing_chain_naming_a_target_twice_tries_it_once(tmp_path):
    import shutil

    root = tmp_path / "catalog"
    shutil.copytree(CATALOG, root)
    (root / "routing" / "default.yaml").write_text(
        "default: [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, gpt-4o]\n"
    )
    cat = load_catalog(root, env={})
    plan = plan_call(cat, "skill.analysis", {"data": "x"}, context=None, env={})
    assert labels(plan) == ["openai:gpt-4o", "anthropic:claude-3-5-sonnet-20241022"]


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


def test_planning_a_call_reads_its_skill_through_plain_attributes(monkeypatch):
    """A pydantic model's attribute costs several times a plain one's to read: a planned call reads its
    skill's fields from ``call_parts``, and the request it builds is the skill's."""
    from magsag_mcp.skills import Skill

    catalog = load_catalog(CATALOG, env={})
    payload = {"data": "Q3 revenue rose 8%"}
    routes: dict = {}  # as a Service keeps them: the route of a call that names no model, once per skill
    plan_call(catalog, "skill.analysis", payload, context=None, env={}, route_cache=routes)  # builds the parts
    read: list[str] = []
    original = Skill.__getattribute__

    def counting(self, name):
        read.append(name)
        return original(self, name)

    monkeypatch.setattr(Skill, "__getattribute__", counting)
    plan = plan_call(catalog, "skill.analysis", payload, context=None, env={}, route_cache=routes)
    monkeypatch.undo()
    assert set(read) <= {"call_parts"}, read
    skill = catalog.skill("skill.analysis")
    assert plan.request.system == skill.prompt.system and plan.request.max_tokens == skill.max_tokens
    assert plan.request.messages[0].content == skill.render(payload) and plan.task_type == skill.task_type


@pytest.mark.parametrize(
    "model", ["gpt-oss:20b", "gpt-oss:120b", "gemma3:27b", "gemma2:9b-instruct-q4_K_M", "o3:latest"]
)
def test_a_tagged_open_weight_model_of_a_cloud_vendor_is_a_local_servers(catalog, model):
    # Ollama serves OpenAI's and Google's open-weight models as gpt-oss:20b and gemma3:27b. Written bare (as the
    # guide writes llama3.1:70b) they went to OpenAI / Google: a prompt meant for the user's own machine was
    # sent to a cloud vendor, which names none of its models with a tag.
    assert parse_target(model) == Target("local", model)
    assert parse_target({"model": model, "base_url": "http://localhost:11434"}).provider == "local"
    mc = {"model": model, "base_url": "http://localhost:11434"}
    plan = plan_call(catalog, "skill.pii-redaction", {"text": "x", "model_config": mc}, context=None, env={})
    assert plan.candidates[0].target == Target("local", model, "http://localhost:11434")
    env = {"MAGSAG_MODEL": model}
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env)
    assert labels(plan) == [f"local:{model}"]
    # the cloud names themselves, and OpenAI's fine-tunes, keep their vendor
    assert parse_target("gemma-3-27b-it").provider == "google"
    assert parse_target("ft:gpt-4o-mini-2024-07-18:acme:support:9abc").provider == "openai"


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
    ("env", "base_url"),
    [
        ({}, "http://localhost:11434"),  # the guide's local-model example: Ollama's default server, written its way
        ({}, "http://localhost:11434/v1/"),
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434"}, "http://gpu-box:11434/v1"),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://gpu-box:8000/v1/"}, "http://gpu-box:8000/v1"),
    ],
)
def test_a_data_class_model_on_the_server_the_call_names_is_not_tried_twice(catalog, env, base_url):
    # The guide's pii_payload: model llama3.1:70b at base_url http://localhost:11434, for a data class confined
    # to local:llama3.1:70b. Before: the class's model was appended once more (base_url None: the same server,
    # the default), so a server that was down was tried 3 + 3 times and every failure recorded twice.
    mc = {"model": "llama3.1:70b", "base_url": base_url}
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x", "model_config": mc},
        context=None,
        env=env,
        data_class_models={"pii_processing": ["local:llama3.1:70b"]},
    )
    assert labels(plan) == ["local:llama3.1:70b"]
    assert plan.candidates[0].target.base_url == base_url


def test_a_data_class_model_on_another_server_stays_its_fallback(catalog):
    env = {"MAGSAG_ALLOWED_BASE_URLS": "local=http://gpu-box:11434"}
    mc = {"model": "llama3.1:70b", "base_url": "http://gpu-box:11434"}
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x", "model_config": mc},
        context=None,
        env=env,
        data_class_models={"pii_processing": ["local:llama3.1:70b"]},
    )
    assert [(c.target.label, c.target.base_url, c.source) for c in plan.candidates] == [
        ("local:llama3.1:70b", "http://gpu-box:11434", "call"),
        ("local:llama3.1:70b", None, "data_class"),
    ]


def test_a_fallback_naming_the_same_server_another_way_is_tried_once(catalog):
    mc = {"model": "llama3.1:70b", "base_url": "http://localhost:11434", "fallbacks": ["llama3.1:70b"]}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert labels(plan) == ["local:llama3.1:70b"]


@pytest.mark.parametrize(
    "where",
    [
        lambda m: ({"model_config": {"model": m}}, None),
        lambda m: ({"model_config": {"provider": "openai", "model": m}}, None),
        lambda m: ({"model_config": {"model": "gpt-4o", "fallbacks": [m]}}, None),
        lambda m: ({"model_config": {"model": "gpt-4o", "fallbacks": [{"provider": "local", "model": m}]}}, None),
        lambda m: ({}, {"preferred_model": m}),
        lambda m: ({}, {"llm_overrides": {"model": m}}),
    ],
)
@pytest.mark.parametrize("model", ["gpt-4o\x1b[2J", "gpt-4o\nINFO forged log line", "gpt-4o\u202e", "llama3\u200b:8b"])
def test_a_model_name_with_a_control_or_invisible_character_is_refused(catalog, where, model: str):
    # Such a name is no model any vendor has. It went on into the plan, the policy's refusal and the
    # server's log line at INFO (a line break forging a log line of its own, an escape sequence reaching the
    # operator's terminal), and to the vendor when a glob allowed it.
    extra, context = where(model)
    with pytest.raises(PayloadError, match="control or invisible character") as caught:
        plan_call(catalog, "skill.analysis", {"data": "x", **extra}, context=context, env={})
    assert model not in caught.value.message  # quoted escaped


def test_a_model_name_with_a_control_character_in_the_environment_or_the_catalog_is_a_config_error(catalog):
    with pytest.raises(ConfigError, match="control or invisible character"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={"MAGSAG_MODEL": "gpt\r-4o"})
    with pytest.raises(ConfigError, match="control or invisible character"):
        parse_target({"provider": "openai", "model": "gpt\x00-4o"})


@pytest.mark.parametrize(
    ("env", "mc"),
    [
        # Azure's Target URI as the portal shows it: its resource's root is where requests go below
        (
            {
                "AZURE_OPENAI_API_KEY": "azure-key-0123456789",
                "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions",
            },
            {"provider": "azure", "model": "gpt-4o", "base_url": "https://res.openai.azure.com/"},
        ),
        # Ollama's root as the guide writes it is its /v1 API, where the configured server is called
        (
            {"MAGSAG_LOCAL_LLM_API_KEY": "secret-local-key", "OLLAMA_BASE_URL": "http://gpu-box:11434"},
            {"model": "llama3.1:70b", "base_url": "http://gpu-box:11434/"},
        ),
    ],
)
def test_a_configured_server_named_as_its_provider_reads_it_is_the_same_base_url(catalog, env, mc):
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert plan.candidates[0].target.base_url == mc["base_url"]


def test_an_allowed_base_url_with_a_dot_segment_is_refused_saying_so(catalog):
    env = {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "openai=https://apim.corp/team-a/../team-b"}
    mc = {"model": "openai:gpt-4o", "base_url": "https://apim.corp/team-b"}
    with pytest.raises(ConfigError, match=r"entry 1 .* has a '\.' or '\.\.' segment in its path"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)


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


def test_a_route_naming_a_tier_keeps_its_place_in_file_order(tmp_path):
    # Routes of one priority go in file order; one naming a tier was put after every route with a chain, so a glob
    # below it took its task type, and validate said the glob came first "by file order"
    import shutil

    from magsag_mcp.catalog import validate_catalog

    root = tmp_path / "catalog"
    shutil.copytree(CATALOG, root)
    (root / "routing" / "default.yaml").write_text(
        "default: [openai:gpt-4o]\ntiers:\n  economy: [openai:gpt-4o-mini]\n"
        "routes:\n"
        "  - match: analysis\n    tier: economy\n"
        "  - match: 'ana*'\n    chain: [anthropic:claude-3-5-sonnet-20241022]\n"
    )
    plan = plan_call(load_catalog(root, env={}), "skill.analysis", {"data": "x"}, context=None, env={})
    assert plan.rule == "route:analysis"
    assert labels(plan) == ["openai:gpt-4o-mini"]
    assert validate_catalog(root, env={}) == []


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


@pytest.mark.parametrize(
    ("model", "where"),
    [("anthropic/claude-3-5-sonnet-20241022", "model_config"), ("openai/gpt-4o", "context.preferred_model")],
)
def test_a_provider_written_with_a_slash_says_to_write_a_colon(catalog, model, where):
    # "anthropic/claude-..." (a gateway's, OpenRouter's way of naming) was refused suggesting 'local:anthropic/...',
    # a local server, never what was meant
    head, _, rest = model.partition("/")
    payload, context = {"data": "x"}, None
    if where == "model_config":
        payload["model_config"] = {"model": model}
    else:
        context = {"preferred_model": model}
    with pytest.raises(PayloadError) as caught:
        plan_call(catalog, "skill.analysis", payload, context=context, env={})
    assert caught.value.message == (
        f"{where}: cannot tell which provider serves model {model!r}; a provider is named with a colon, "
        f"'{head}:{rest}', and a gateway's model named with a slash goes to the provider serving it, e.g. "
        f"'compat:{model}'"
    )


class _CountedLevel(dict):
    """A level of a call's settings (model_config, llm_overrides, context) counting the keys looked up in it."""

    looked_up = 0

    def get(self, name, default=None):
        self.looked_up += 1
        return super().get(name, default)


def test_the_route_key_of_a_call_looks_nothing_up_in_a_level_that_is_empty():
    from magsag_mcp.call_targets import named_route_key

    mc = {"provider": "openai", "model": "fail500-primary", "fallbacks": ["openai:gpt-4o"]}
    lo, context = _CountedLevel(), _CountedLevel()
    key = named_route_key("skill.analysis", mc, lo, context)
    assert lo.looked_up == 0 and context.looked_up == 0  # (5 keys and 3 looked up on every call naming a model)
    # the same key as levels that name nothing but hold other settings
    assert key == named_route_key("skill.analysis", mc, {"temperature": 0}, {"user": "u-7"})
    assert key == named_route_key("skill.analysis", mc, {"model": None}, {"tier": None})
    assert named_route_key("skill.analysis", mc, {"model": "gpt-4o-mini"}, {}) != key
    assert named_route_key("skill.analysis", mc, {}, {"tier": "cheap"}) != key
