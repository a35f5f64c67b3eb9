"""How a call names a target and what a name that is wrong is told: ``provider:model``, aliases, a provider's prefix,
spaces around the colon, misspelt providers and skills, characters no name holds."""

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
