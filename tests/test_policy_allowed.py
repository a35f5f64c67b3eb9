"""``PolicySet.allowed`` over a call's data classes: every class must allow the target."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import AttemptContext, Governance, Policy, PolicySet
from magsag_mcp.types import Target

LOCAL = Target("local", "llama3.1:70b")
CLOUD = Target("openai", "gpt-4o")

POLICIES = PolicySet(
    [
        Policy(name="production_models", allowed_models=["gpt-4o", "local:*"]),
        Policy(name="data_residency", requirements={"pii_processing": ["llama3.1:70b"]}),
        Policy(name="eu_only", requirements={"eu_personal": ["local:*"]}),
    ]
)


def test_a_multi_class_call_is_denied_by_its_second_class_naming_that_policy():
    # "public" has no requirement, so only the second class forbids the target
    ok, policy, reason, rule = POLICIES.allowed(CLOUD, ["public", "eu_personal"])
    assert (ok, policy, rule) == (False, "eu_only", "data_class")
    assert reason is not None and "'eu_personal'" in reason and "eu_only.requirements" in reason


@pytest.mark.parametrize("none", [None, ""], ids=["None", "empty"])
def test_a_class_left_unset_among_the_calls_classes_does_not_end_the_check_of_the_others(none):
    # (a skill without a class beside the caller's, given as the library takes them): the unset one is passed over,
    # and the class after it still forbids the target
    ok, policy, _reason, rule = POLICIES.allowed(CLOUD, [none, "eu_personal"])
    assert (ok, policy, rule) == (False, "eu_only", "data_class")


def test_the_first_denying_class_is_reported():
    ok, policy, reason, rule = POLICIES.allowed(CLOUD, ("pii_processing", "eu_personal"))
    assert (ok, policy, rule) == (False, "data_residency", "data_class")
    assert reason is not None and "'pii_processing'" in reason


def test_a_target_every_class_allows_is_allowed():
    assert POLICIES.allowed(LOCAL, ["pii_processing", "eu_personal", "public"]) == (True, None, None, None)


@pytest.mark.parametrize("target", [LOCAL, CLOUD, Target("anthropic", "claude-3-5-sonnet")])
def test_an_empty_sequence_behaves_like_none(target):
    assert POLICIES.allowed(target, []) == POLICIES.allowed(target, ()) == POLICIES.allowed(target, None)


def test_a_string_is_one_class_not_a_sequence_of_letters():
    assert POLICIES.allowed(CLOUD, "pii_processing") == POLICIES.allowed(CLOUD, ["pii_processing"])
    assert POLICIES.allowed(CLOUD, "pii_processing")[1] == "data_residency"


def test_allowed_models_is_checked_before_any_data_class():
    ok, policy, _reason, rule = POLICIES.allowed(Target("anthropic", "claude-3-5-sonnet"), ["pii_processing"])
    assert (ok, policy, rule) == (False, "production_models", "allowed_models")


def test_governance_allowed_is_the_policy_verdict_without_the_rule():
    gov = Governance(POLICIES, ledger=None, pricer=None, env={})
    assert gov.allowed(CLOUD, ["public", "eu_personal"]) == POLICIES.allowed(CLOUD, ["public", "eu_personal"])[:3]
    assert gov.allowed(LOCAL, []) == (True, None, None)


@pytest.mark.anyio
async def test_admit_refuses_a_target_the_second_class_forbids():
    gov = Governance(POLICIES, ledger=None, pricer=None, env={})
    ctx = AttemptContext(
        run_id="r1",
        agent=None,
        skill="skill.x",
        data_class=("public", "eu_personal"),
        target=CLOUD,
        estimated_input_tokens=10,
        max_output_tokens=10,
        explicit=True,
    )
    with pytest.raises(E.PolicyDenied) as info:
        await gov.admit(ctx)
    assert info.value.policy == "eu_only" and info.value.details["rule"] == "data_class"
    assert "explicit override" in info.value.message


@pytest.mark.parametrize(
    "target",
    [
        Target("compat", "fake:x"),  # a hosted server's model named like a fake target
        Target("azure", "local:llama3.1:70b"),  # an Azure deployment named like a local target
        Target("compat", "local:anything"),
    ],
)
def test_a_provider_pattern_pins_the_provider_not_a_model_named_like_it(target):
    # "fake:*" and "local:llama3.1:70b" are provider:model patterns: they pin who serves the model. A model
    # whose *name* begins with "local:" on a hosted provider is not local, and must not pass as if it were.
    residency = PolicySet(
        [Policy(name="data_residency", requirements={"pii_processing": ["local:llama3.1:70b", "fake:*"]})]
    )
    ok, policy, reason, rule = residency.allowed(target, "pii_processing")
    assert (ok, policy, rule) == (False, "data_residency", "data_class"), reason
    only_local = PolicySet([Policy(name="local_only", allowed_models=["local:*", "fake:*"])])
    assert only_local.allowed(target, None)[0] is False


def test_provider_patterns_still_match_their_provider_bare_names_any_provider():
    ps = PolicySet([Policy(name="p", allowed_models=["local:*", "ollama:qwen*", "gpt-4o", "*:claude-3-haiku"])])
    assert ps.allowed(Target("local", "llama3.1:70b"), None)[0]
    assert ps.allowed(Target("local", "qwen2.5:7b"), None)[0]  # an alias names the provider it stands for
    assert ps.allowed(Target("azure", "gpt-4o"), None)[0]  # a bare name: any provider serves it
    assert ps.allowed(Target("anthropic", "claude-3-haiku"), None)[0]  # a provider glob
    assert not ps.allowed(Target("openai", "gpt-4o-mini"), None)[0]


def test_a_gemini_model_named_by_its_resource_name_is_the_model_the_policy_names():
    # Google's docs name models "models/gemini-2.5-flash", and Gemini calls and prices.yaml take either
    # name; the policy denied the resource name of a model it allows ("not in allowed_models").
    policies = PolicySet(
        [
            Policy(name="models", allowed_models=["gemini-2.5-flash", "gpt-4o"]),
            Policy(name="residency", requirements={"eu": ["google:gemini-2.5-*"]}),
        ]
    )
    flash = Target("google", "models/gemini-2.5-flash")
    assert policies.allowed(flash, "eu") == (True, None, None, None)
    assert policies.allowed(Target("google", "models/gemini-2.5-pro"), None)[:2] == (False, "models")
    # only Gemini's own resource names: another provider's model may have a slash of its own
    assert policies.allowed(Target("compat", "models/gemini-2.5-flash"), None)[:2] == (False, "models")
    assert policies.allowed(Target("google", "gemini-2.5-flash"), "eu")[0]
    # and a pattern written with the resource name allows the model by either name
    named = PolicySet([Policy(name="named", allowed_models=["google:models/gemini-2.5-flash", "models/gemini-2.0-*"])])
    for model in ("gemini-2.5-flash", "models/gemini-2.5-flash", "models/gemini-2.0-flash"):
        assert named.allowed(Target("google", model), None)[0], model
    assert not named.allowed(Target("google", "gemini-2.5-pro"), None)[0]


def test_a_tagged_model_a_data_class_requires_is_the_local_servers():
    # an Ollama tag names a model of the local server (routing reads "llama3.1:70b" as local:llama3.1:70b):
    # the guide's "Local only" class admitted it on any provider, so MAGSAG_PROVIDER=compat sent it there
    residency = PolicySet(
        [
            Policy(name="models", allowed_models=["llama3.1:70b", "qwen2.5:*", "gpt-4o", "mistral:7b"]),
            Policy(name="r", requirements={"pii": ["llama3.1:70b", "qwen2.5:*"], "fin": ["gpt-4o", "*:mistral:7b"]}),
        ]
    )
    assert residency.allowed(LOCAL, "pii")[0]
    for target in (Target("compat", "llama3.1:70b"), Target("azure", "llama3.1:70b"), Target("compat", "qwen2.5:7b")):
        ok, policy, reason, rule = residency.allowed(target, "pii")
        assert (ok, policy, rule) == (False, "r", "data_class"), target
        assert reason is not None and "may only use local:llama3.1:70b, local:qwen2.5:*" in reason
    assert residency.allowed(Target("local", "qwen2.5:7b"), "pii")[0]
    # allowed_models still admits the name on any provider, as do an untagged name and a provider glob
    assert residency.allowed(Target("compat", "llama3.1:70b"), None)[0]
    assert residency.allowed(Target("azure", "gpt-4o"), "fin")[0]
    assert residency.allowed(Target("compat", "mistral:7b"), "fin")[0]


def _classed_catalog(catalog_copy, financial: str):
    """The shipped catalog with skill.analysis of class financial_data, whose models are ``financial``."""
    path = catalog_copy / "policies" / "model_governance.yaml"
    path.write_text(path.read_text().replace('financial_data: ["gpt-4o"]', f"financial_data: {financial}"))
    skill = catalog_copy / "skills" / "analysis.yaml"
    skill.write_text(skill.read_text() + "data_class: financial_data\n")
    return path


def test_a_policy_pattern_whose_provider_is_misspelt_is_a_problem_naming_the_provider(catalog_copy):
    # "opnai:gpt-4o" validated ok: read as a bare model name, it matched no call, and every call of a data class
    # listing it failed with "unknown provider 'opnai'" (routing adds the class's models), a call naming a model
    # the class allows included, with no word of the policy file. Now the policy file is refused, saying so.
    from magsag_mcp.catalog import validate_catalog
    from magsag_mcp.governance import load_policies

    path = _classed_catalog(catalog_copy, '["opnai:gpt-4o", "fake:*"]')
    allowed = path.read_text().replace("      - gpt-4o-mini\n", "      - gpt-4o-mini\n      - 'antropic:claude-*'\n")
    path.write_text(allowed.replace("      - o1-preview\n", "      - o1-preview\n      - '*:o3'\n"))
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    # (the pattern to write, whole: it said "write 'provider:gpt-4o' with one of: ..., fake, ...", the test provider)
    assert info.value.problems == [
        f"{path}:9: policies.0.allowed_models.2: 'antropic:claude-*' names provider 'antropic' (did you mean "
        "'anthropic'?), which magsag does not know; write 'anthropic:claude-*', or 'claude-*' alone to match it on "
        "any provider",
        f"{path}:44: policies.2.requirements.financial_data.0: 'opnai:gpt-4o' names provider 'opnai' (did you mean "
        "'openai'?), which magsag does not know; write 'openai:gpt-4o', or 'gpt-4o' alone to match it on any provider",
    ]
    assert validate_catalog(catalog_copy, {}) == info.value.problems  # '*:o3' (a provider glob) is no problem


@pytest.mark.anyio
async def test_a_data_class_model_no_provider_can_be_told_from_still_lets_its_calls_through(catalog_copy, tmp_path):
    # "my-model" in a class's requirements allows that model on whichever provider serves it (compat:my-model). Routing
    # adds a class's models to the end of the plan, and this one it could not place: every call of the class failed
    # with "cannot tell which provider serves model 'my-model'", a call of a model the class allows (fake:*) included.
    from magsag_mcp.service import Service

    _classed_catalog(catalog_copy, '["my-model", "fake:*"]')
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        mc = {"model": "fake:echo"}
        result = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc})
        plan = svc.explain("skill.analysis", {"data": "Q3"})
        with pytest.raises(E.PolicyDenied) as refused:
            await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": {"model": "openai:gpt-4o"}})
    assert result.result.model == "echo"
    assert [t["label"] for t in plan["targets"]] == [
        "fake:gpt-4o",
        "fake:claude-3-5-sonnet-20241022",
        "fake:gemini-1.5-pro",
    ]
    assert refused.value.policy == "data_residency"


def test_googles_resource_name_in_a_policy_allows_the_model_under_either_name(catalog_copy):
    # "models/gemini-1.5-pro" (Google's resource name, as its docs and ListModels write it) in allowed_models refused
    # google:gemini-1.5-pro, every routed Gemini call skipped, though "google:models/gemini-1.5-pro" allowed it; and a
    # data class naming it put Gemini in the plan twice, the route's gemini-1.5-pro and models/gemini-1.5-pro.
    from magsag_mcp.catalog import load_catalog
    from magsag_mcp.routing import route

    policies = PolicySet(
        [
            Policy(name="models", allowed_models=["models/gemini-1.5-pro", "gpt-4o"]),
            Policy(name="residency", requirements={"eu_data": ["models/gemini-1.5-*"]}),
        ]
    )
    for model in ("gemini-1.5-pro", "models/gemini-1.5-pro"):
        assert policies.allowed(Target("google", model), "eu_data") == (True, None, None, None)
    assert not policies.allowed(Target("compat", "gemini-1.5-pro"), None)[0]  # the resource name is Google's
    assert not policies.allowed(Target("google", "gemini-1.5-flash"), None)[0]
    path = catalog_copy / "policies" / "model_governance.yaml"
    path.write_text(path.read_text().replace('financial_data: ["gpt-4o"]', 'financial_data: ["models/gemini-1.5-pro"]'))
    skill = catalog_copy / "skills" / "analysis.yaml"
    skill.write_text(skill.read_text() + "data_class: financial_data\n")
    classes = {"financial_data": ["models/gemini-1.5-pro"]}
    chosen = route(load_catalog(catalog_copy, {}), "skill.analysis", env={}, data_class_models=classes)
    assert [c.target.label for c in chosen.candidates] == [
        "openai:gpt-4o",
        "anthropic:claude-3-5-sonnet-20241022",
        "google:gemini-1.5-pro",
    ]


def test_a_blank_policy_entry_is_a_problem_and_a_spaced_one_is_the_name_it_spaces(catalog_copy):
    # allowed_models: [gpt-4o-mini, ''] validated ok, and told a refused provider_defaults.google "name one of its
    # google models there ()"; ' gpt-4o-mini' (quoted with its space) matched no call, as calls and routing strip
    # theirs, and routing's gpt-4o-mini was told "did you mean ' gpt-4o-mini'?". A blank entry is refused; a spaced
    # one is read as the name it spaces, as a call's model and a routing target are.
    from magsag_mcp.governance import load_policies

    path = catalog_copy / "policies" / "model_governance.yaml"
    shipped = path.read_text()
    path.write_text(shipped.replace("      - gpt-4o-mini\n", "      - gpt-4o-mini\n      - ''\n"))
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    assert info.value.problems == [
        f"{path}:9: policies.0.allowed_models.2: an empty model name matches no model; write the model's name, or "
        "remove the entry"
    ]
    path.write_text(shipped.replace("      - gpt-4o-mini\n", "      - ' gpt-4o-mini '\n"))
    (policy, *_) = load_policies(catalog_copy).policies
    assert "gpt-4o-mini" in policy.allowed_models
    assert policy.allowed_models.index("gpt-4o-mini") == 1


@pytest.mark.parametrize("written", ["openai:", "openai: ", "OpenAI :", "gemini:"])
def test_a_provider_with_no_model_in_a_policy_is_a_problem_naming_the_pattern_to_write(written):
    # 'openai:' (its model left out, or '*' forgotten) was kept as a bare name, matched no call, and validated ok:
    # in allowed_models it allowed nothing it seemed to, in a data class's requirements every routed call failed on
    # it. A target written so is refused ("names the provider 'openai' and no model"); so is the pattern.
    with pytest.raises(
        ValueError, match=r"names provider '(openai|google)' and no model; write '\w+:\*' or '\w+:MODEL'"
    ) as refused:
        Policy(name="p", allowed_models=["gpt-4o", written])
    assert "allowed_models.1" in str(refused.value)
    with pytest.raises(ValueError, match="and no model"):
        Policy(name="p", requirements={"pii_processing": [written]})


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("openai: gpt-4o-mini", "openai:gpt-4o-mini"),
        ("fake : *", "fake:*"),
        ("local: llama3.1:70b", "local:llama3.1:70b"),
    ],
)
def test_spaces_around_a_pinned_pattern_s_colon_are_read_as_the_pattern_they_space(written, read):
    # 'openai: gpt-4o-mini' (quoted, so YAML kept it one string) pinned openai, as the provider's spaces are dropped,
    # but kept ' gpt-4o-mini', which no call's model is: openai:gpt-4o-mini was refused ("did you mean
    # 'openai:gpt-4o-mini'?"), and a data class's 'local: llama3.1:70b' routed its calls to the model ' llama3.1:70b'
    policy = Policy(name="p", allowed_models=[written], requirements={"pii_processing": [written]})
    assert policy.allowed_models == [read]
    assert policy.requirements == {"pii_processing": [read]}
    target = Target(read.partition(":")[0], "gpt-4o-mini" if "gpt" in read else "llama3.1:70b")
    assert PolicySet([policy]).allowed(target, "pii_processing")[0]
    # a local model's tag keeps its colon and is no pin: nothing is read into it
    assert Policy(name="p", allowed_models=["llama3.1:70b"]).allowed_models == ["llama3.1:70b"]


@pytest.mark.parametrize(
    ("written", "fix"),
    [
        ("", "confines no call; write its name"),
        ("  ", "confines no call; write its name"),
        (" pii_processing", "confines no call of class 'pii_processing'; write that"),
    ],
)
def test_a_blank_or_spaced_data_class_in_requirements_is_a_problem_naming_the_fix(written, fix):
    # requirements: {'': [gpt-4o]} validated ok and confined no call (a skill's blank data_class is refused, a call's
    # names no class); ' pii_processing' confined nothing either, and the skill of class pii_processing was told
    # "did you mean ' pii_processing'?", the name with its space. Data classes are compared as written, so the
    # policy's is refused naming the name to write.
    with pytest.raises(ValueError, match="confines no call") as refused:
        Policy(name="p", requirements={"financial_data": ["gpt-4o"], written: ["local:*"]})
    assert f"data class {written!r} " in str(refused.value) and fix in str(refused.value)
    assert "requirements" in str(refused.value)


@pytest.mark.parametrize("written", ["opnai: gpt-4o", "opnai : gpt-4o"])
def test_a_misspelt_provider_spaced_around_its_colon_in_a_policy_is_a_problem_as_unspaced_it_is(written):
    # 'opnai:gpt-4o' is refused naming the providers; 'opnai: gpt-4o' was kept as a bare name that no call's model is,
    # so allowed_models allowed nothing it seemed to, and a data class confined to it failed every call
    with pytest.raises(ValueError, match=r"names provider 'opnai' \(did you mean 'openai'\?\)") as refused:
        Policy(name="p", allowed_models=[written])
    assert "write 'openai:gpt-4o'" in str(refused.value) and "or 'gpt-4o' alone" in str(refused.value)


@pytest.mark.parametrize(
    ("written", "read"), [("*: gpt-4o", "*:gpt-4o"), ("* :gpt-4o", "*:gpt-4o"), ("*: gpt-*", "*:gpt-*")]
)
def test_spaces_around_a_provider_glob_s_colon_are_dropped_as_a_pin_s_are(written, read):
    # 'openai: gpt-4o' is read as openai:gpt-4o; '*: gpt-4o' (docs/catalog.md's provider glob, spaced) was kept as
    # written, matched no call's provider:model, and so allowed nothing, and a data class confined to it refused every
    # call
    policy = Policy(name="p", allowed_models=[written], requirements={"financial_data": [written]})
    assert policy.allowed_models == [read] and policy.requirements == {"financial_data": [read]}
    assert PolicySet([policy]).allowed(Target("openai", "gpt-4o"), "financial_data")[0]


@pytest.mark.parametrize("written", ["*:", "* : "])
def test_a_provider_glob_with_no_model_in_a_policy_is_a_problem_naming_the_pattern_to_write(written):
    # '*:' matched no call at all, as 'openai:' did, which is refused
    with pytest.raises(ValueError, match=r"names the providers '\*' and no model; write '\*:\*' or '\*:MODEL'"):
        Policy(name="p", allowed_models=[written])


@pytest.mark.parametrize("written", [":", " : ", ":*"])
def test_a_pattern_with_nothing_before_its_colon_is_a_problem(written):
    # ':' was kept as the name ':', which no call's model is: it allowed nothing it seemed to
    with pytest.raises(ValueError, match="has nothing before its colon"):
        Policy(name="p", allowed_models=[written])


# (a digest or build after the tag, as Ollama's names may carry them, names the same cloud model)
@pytest.mark.parametrize(
    "model", ["gpt-oss:120b-cloud", "gemma4:cloud", "qwen3-coder:480b-Cloud", "gpt-oss:120b-cloud@sha256-0123abcd"]
)
@pytest.mark.parametrize("required", [["local:*"], ["gpt-oss*", "gemma4*", "qwen3-coder*", "llama*"], ["*"]])
def test_an_ollama_cloud_model_is_not_admitted_to_a_data_class_by_a_glob(model: str, required: list[str]):
    # Ollama's cloud models (tag "cloud", or "...-cloud") are named on the local server as its downloaded ones are,
    # and run on ollama.com: a "local only" class written as local:* sent its data there as if it stayed on the
    # machine. A glob now admits the local server's own models alone; the cloud model must be named.
    policies = PolicySet([Policy(name="residency", requirements={"pii": required})])
    cloud = Target("local", model)
    ok, policy, reason, rule = policies.allowed(cloud, "pii")
    assert (ok, policy, rule) == (False, "residency", "data_class")
    assert reason is not None and f"local:{model} is an Ollama cloud model" in reason
    assert f"name local:{model} there to allow it" in reason
    assert policies.allowed(Target("local", "llama3.1:8b"), "pii") == (True, None, None, None)
    assert policies.allowed(cloud, "public") == (True, None, None, None)  # a class no policy confines
    named = PolicySet([Policy(name="residency", requirements={"pii": [*required, model]})])
    assert named.allowed(cloud, "pii") == (True, None, None, None)


def test_a_cloud_tag_on_another_provider_is_its_own_model():
    # (compat's or Azure's "cloud" in a name says nothing of where Ollama runs it)
    policies = PolicySet([Policy(name="residency", requirements={"pii": ["compat:*"]})])
    assert policies.allowed(Target("compat", "x:cloud"), "pii") == (True, None, None, None)
