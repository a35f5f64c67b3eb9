"""What validating the catalog says of policies, prices and data classes: a price no call reaches or a target of
unknown price under a cost limit, models a policy refuses on every call or nearly names, keys left empty."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.catalog import validate_catalog
from magsag_mcp.errors import CatalogError
from magsag_mcp.governance import load_policies
from tests.governance_helpers import GUIDE_POLICY


def test_a_routed_target_of_unknown_price_under_a_cost_limit_is_a_problem(catalog_copy: Path):
    # A misspelt model in a chain validated "ok"; under a cost limit every call then skipped it as
    # unpriced, so the fallback the routing promised was never there.
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("google:gemini-1.5-pro]", "google:gemini-1.5-pr0]", 1))
    problems = validate_catalog(catalog_copy, env={})
    # named where it is written, and the limit's policy where that is (before: the routing folder, and no file)
    assert problems == [
        f"{routing}: routes.2.chain.2: target google:gemini-1.5-pr0 has no known price, so the call limit of "
        "policy 'cost_limits' refuses it on every call it covers; check the model's name, or add its price to "
        f'{catalog_copy / "prices.yaml"} ("google:gemini-1.5-pr0": {{input: ..., output: ...}}), or set '
        "allow_unpriced: true on cost_limits"
        f" ({catalog_copy / 'policies' / 'model_governance.yaml'}: policies.1)"
    ]
    # priced, or allowed unpriced, it is no problem
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("allow_unpriced: false", "allow_unpriced: true"))
    assert validate_catalog(catalog_copy, env={}) == []


@pytest.mark.parametrize(
    ("entries", "shadowed", "by"),
    [
        # the shipped file ends with "local:*"; a rented GPU box priced below it was priced at 0
        ('"local:*": {input: 0, output: 0}\n"local:llama3.1:70b": {input: 0.5, output: 1.5}\n', "local:llama3.1:70b",
         "local:*"),
        # the same model twice, under a provider alias and Gemini's resource name: YAML sees two keys
        ('"gemini:gemini-1.5-pro": {input: 1, output: 2}\n"google:models/gemini-1.5-pro": {input: 3, output: 4}\n',
         "google:models/gemini-1.5-pro", "gemini:gemini-1.5-pro"),
        ('"compat:*": {input: 1, output: 1}\n"compat:*": {input: 2, output: 2}\n', None, None),  # YAML's own error
    ],
)  # fmt: skip
def test_a_price_no_call_can_reach_is_a_problem_naming_the_entry_before_it(catalog_copy: Path, entries, shadowed, by):
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Usage

    (catalog_copy / "prices.yaml").write_text(entries)
    problems = validate_catalog(catalog_copy, env={})
    if shadowed is None:
        assert len(problems) == 1 and "appears twice" in problems[0]
        return
    same = shadowed.startswith("google:")
    fix = (
        "it names the same models; keep one of the two"
        if same
        else "the first entry that matches a model prices it; move this one above that entry"
    )
    assert problems == [
        f"{catalog_copy / 'prices.yaml'}: {shadowed}: never applies: the entry {by!r} above it matches every "
        f"model it does ({fix})"
    ]
    with pytest.raises(CatalogError, match="never applies"):
        Pricer.from_catalog(catalog_copy, env={})
    if same:
        return
    # in the order that reaches it, it prices its model
    lines = entries.splitlines(keepends=True)
    (catalog_copy / "prices.yaml").write_text(lines[1] + lines[0])
    assert validate_catalog(catalog_copy, env={}) == []
    provider, model = shadowed.split(":", 1)
    quote = Pricer.from_catalog(catalog_copy, env={}).price(provider, model, Usage(1_000_000, 0))
    assert quote.cost_usd == Decimal(lines[1].split("input: ")[1].split(",")[0])


def test_a_skill_whose_every_target_its_data_class_refuses_is_a_problem(catalog_copy: Path):
    # pii_processing confined to "local:*" (a pattern: it names no model routing could add) and its route sent to
    # OpenAI: validate said ok, and every call of skill.pii-redaction failed on the data class
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace('["local:llama3.1:70b", "fake:*"]', '["local:*"]'))
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("chain: [local:llama3.1:70b]", "chain: [openai:gpt-4o-mini]"))
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy / 'skills' / 'pii-redaction.yaml'}: every target of skill.pii-redaction (openai:gpt-4o-mini) "
        "is refused by policy 'data_residency' for its data class 'pii_processing' (local:*), so its calls fail "
        "unless they name a model; route its task to a model the class allows, or name one in the class"
    ]
    # a class that names its model gets it added to the route: no problem
    policies.write_text(policies.read_text().replace('["local:*"]', '["local:*", "local:llama3.1:70b"]'))
    assert validate_catalog(catalog_copy, env={}) == []


def test_an_allowed_model_that_nearly_names_a_refused_routed_model_is_a_problem(catalog_copy: Path):
    # "gtp-4o-mini" in allowed_models: routing's gpt-4o-mini was skipped on every call (a fallback answered,
    # dearer) and validate said ok, as each route still had another model the policy allows
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("      - gpt-4o-mini\n", "      - gtp-4o-mini\n"))
    assert validate_catalog(catalog_copy, env={}) == [
        f"{policies}:8: policies.0.allowed_models.1: policy 'production_models' allows 'gtp-4o-mini', which no routing "
        "target is; "
        "did you mean 'gpt-4o-mini'? (routing's gpt-4o-mini is refused by it, and skipped on every call)"
    ]
    # a model no route names, for calls that name it, is no problem, close to a routed one or not
    policies.write_text(policies.read_text().replace("      - gtp-4o-mini\n", "      - gpt-4o-mini\n      - gpt-4.1\n"))
    assert validate_catalog(catalog_copy, env={}) == []


@pytest.mark.parametrize("written", ["GPT-4o-mini", "Gpt-4o-Mini"])
def test_an_allowed_model_written_in_other_case_than_a_routed_one_is_a_problem(catalog_copy: Path, written: str):
    # model names are matched case by case (a vendor's API takes them so); "GPT-4o-mini" allowed routing's
    # gpt-4o-mini nowhere, it was skipped on every call, and validate said ok: too far from it for difflib
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("      - gpt-4o-mini\n", f"      - {written}\n"))
    assert validate_catalog(catalog_copy, env={}) == [
        f"{policies}:8: policies.0.allowed_models.1: policy 'production_models' allows {written!r}, which no routing "
        "target is; "
        "did you mean 'gpt-4o-mini'? (routing's gpt-4o-mini is refused by it, and skipped on every call)"
    ]


def test_a_data_class_or_a_chain_that_allowed_models_refuse_on_every_call_is_a_problem(catalog_copy: Path):
    # The guide's policy pasted into the shipped catalog validated "ok", and then every skill.pii-redaction call
    # failed: its class may only use llama3.1:70b, the only model its route names, and production_models
    # refuses it.
    (catalog_copy / "policies" / "model_governance.yaml").write_text(GUIDE_POLICY)
    # each names where the policy is written, and where its allowed_models are (the fix)
    unlisted = (
        f"(not in its allowed_models, {catalog_copy / 'policies' / 'model_governance.yaml'}: policies.0.allowed_models)"
    )
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy / 'policies' / 'model_governance.yaml'}: policies.2.requirements.pii_processing: data class "
        "'pii_processing' may only use llama3.1:70b, which policy "
        f"'production_models' refuses {unlisted}: every call of that class fails; add them to "
        "production_models.allowed_models, or name in the class a model that production_models allows",
        f"{catalog_copy / 'routing' / 'default.yaml'}: routes.6: every target of route 'pii-*' (local:llama3.1:70b) "
        "is refused by policy "
        f"'production_models' {unlisted}, so its calls fail unless they name a model themselves; "
        "add one to production_models.allowed_models, or route to a model it allows",
        # the guide's policy allows no Gemini: MAGSAG_PROVIDER=google alone would be refused wherever it takes this
        f"{catalog_copy / 'routing' / 'default.yaml'}: provider_defaults.google: google:gemini-1.5-pro is refused by "
        f"policy 'production_models' {unlisted}, so a call under MAGSAG_PROVIDER=google (or naming "
        "only provider google) whose route and default chain name no google model fails; it allows no google model: "
        "add google:gemini-1.5-pro to production_models.allowed_models, or remove the entry",
    ]
    # a chain with a target the policy allows keeps its calls (o1-preview, refused, is skipped for gpt-4o), and
    # allowed, llama3.1:70b and gemini-1.5-pro are no problem
    policy = (catalog_copy / "policies" / "model_governance.yaml").read_text()
    allowed = "      - claude-3-5-sonnet-20241022\n"
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        policy.replace(allowed, allowed + "      - local:llama3.1:70b\n      - gemini-1.5-pro\n")
    )
    assert validate_catalog(catalog_copy, env={}) == []


def test_a_routing_or_policy_key_of_the_wrong_shape_says_what_to_write(catalog_copy: Path):
    # pydantic said only "Input should be a valid list" (or "... dictionary or instance of Route", a class of
    # magsag's code): the file and key, and nothing of what the key holds
    routing = catalog_copy / "routing" / "extra.yaml"
    routing.write_text("tiers:\n  gold: openai:gpt-4o\nroutes:\n  - analysis\n")
    policy = catalog_copy / "policies" / "extra.yaml"
    policy.write_text(
        "policies:\n  - name: x\n    allowed_models: gpt-4o\n    thresholds: 5\n"
        "    requirements: {pii_processing: gpt-4o}\n  - residency\n"
    )
    targets = "write a list of targets, e.g. [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022]"
    assert validate_catalog(catalog_copy, env={}) == [
        f"{routing}: tiers.gold: Input should be a valid list; {targets}",
        f"{routing}: routes.0: Input should be a mapping; write each route as a mapping such as "
        "{match: analysis, chain: [openai:gpt-4o]} (or tier: economy in place of the chain)",
        f"{policy}:3: policies.0.allowed_models: Input should be a valid list; write a list of model names or "
        "patterns, e.g. [gpt-4o, 'claude-*']",
        f"{policy}:4: policies.0.thresholds: Input should be a mapping; write a mapping of limits, e.g. "
        "{max_cost_per_run_usd: 5.0}",
        f"{policy}:5: policies.0.requirements.pii_processing: Input should be a valid list; write a list of model "
        "names or patterns, e.g. ['local:llama3.1:70b']",
        f"{policy}:6: policies.1: Input should be a mapping; write each policy as a mapping with a name, such as "
        "{name: production_models, allowed_models: [gpt-4o]}",
    ]
    routing.write_text("- openai:gpt-4o\n")
    policy.unlink()
    assert validate_catalog(catalog_copy, env={}) == [
        f"{routing}: the file holds a list, not a mapping; a routing file holds default, tiers, routes, "
        "provider_defaults and/or request_caps"
    ]


def test_a_policy_key_written_with_nothing_after_it_is_a_problem_not_no_limit(catalog_copy: Path):
    # YAML reads "allowed_models:" with its entries commented out, or "max_cost_per_run_usd:" with no amount, as
    # null: the policy then allowed every model and set no such limit, unsaid ("allowed_models: []" is refused)
    policy = catalog_copy / "policies" / "extra.yaml"
    policy.write_text(
        "policies:\n"
        "  - name: models\n    allowed_models:\n    #  - gpt-4o\n"
        "  - name: limits\n    thresholds:\n      max_cost_per_call_usd: 1\n      max_cost_per_run_usd:\n"
        "  - name: no_limits\n    thresholds:\n"
        "  - name: residency\n    requirements:\n"
    )
    with pytest.raises(CatalogError):
        load_policies(catalog_copy, env={})
    assert validate_catalog(catalog_copy, env={}) == [
        f"{policy}:3: policies.0.allowed_models: allowed_models is written with nothing after it (YAML reads that as "
        "null), which would allow every model; list the models it allows, or remove the key",
        f"{policy}:8: policies.1.thresholds.max_cost_per_run_usd: max_cost_per_run_usd is written with nothing after "
        "it (YAML reads that as null), which would set no such limit; write the amount in USD (e.g. 5.0), or remove "
        "the key",
        f"{policy}:10: policies.2.thresholds: thresholds is written with nothing after it (YAML reads that as null), "
        "which would set no limit; write the limits (e.g. max_cost_per_run_usd: 5.0), or remove the key",
        f"{policy}:12: policies.3.requirements: requirements is written with nothing after it (YAML reads that as "
        "null), which would confine no data class; write each class's models (e.g. pii_processing: "
        "[local:llama3.1:70b]), or remove the key",
    ]


@pytest.mark.parametrize("written", ["", "''"])
def test_a_skills_data_class_written_with_nothing_after_it_is_a_problem(catalog_copy: Path, written: str):
    # "data_class:" with no class (YAML's null), or an empty one, left the skill of no class: its data went wherever
    # the call sent it, which the class was declared to prevent, and validate said ok
    skill = catalog_copy / "skills" / "pii-redaction.yaml"
    skill.write_text(skill.read_text().replace("data_class: pii_processing", f"data_class: {written}"))
    assert validate_catalog(catalog_copy, env={}) == [
        f"{skill}: data_class: data_class is written with no class after it, which would leave the skill's data free "
        "to go to any model; write its class (one a policy's requirements name, e.g. pii_processing), or remove the "
        "key"
    ]


def test_a_data_class_two_policies_confine_to_models_none_shares_says_so(catalog_copy: Path):
    # Every policy naming a class must allow a target. Two that share no model refused every call of the class, and
    # validate listed the models of both as what the refusing policy allowed, and said to name one in the class
    extra = catalog_copy / "policies" / "extra.yaml"
    extra.write_text("policies:\n  - name: other_residency\n    requirements:\n      pii_processing: [gpt-4o]\n")
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy / 'skills' / 'pii-redaction.yaml'}: every target of skill.pii-redaction (local:llama3.1:70b, "
        "openai:gpt-4o) is refused by policy 'other_residency' for its data class 'pii_processing' (gpt-4o), so "
        "its calls fail unless they name a model; route its task to a model the class allows, or name one in the "
        "class; every policy naming the class must allow the target: other_residency allows (gpt-4o) and "
        "data_residency (local:llama3.1:70b, fake:*), so route to a model both allow, or make them agree"
    ]


def test_a_routed_model_a_policy_refuses_that_nearly_names_one_it_allows_is_told_that_model(catalog_copy: Path):
    # a call naming gpt-4o-mnii is told "(did you mean 'gpt-4o-mini'?)" by its refusal; validate offered only to add
    # the misspelt name to allowed_models, first, for a chain and for a provider default written with it (a policy
    # naming its local models one by one: the shipped one admits every model of the local server, local:*)
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace('      - "local:*"\n', ""))
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    routing.write_text(
        text.replace("chain: [local:llama3.1:70b]", "chain: [local:llama3.1:70bb]").replace(
            "  openai: gpt-4o\n", "  openai: gpt-4o-mnii\n"
        )
    )
    problems = validate_catalog(catalog_copy, env={})
    route = next(p for p in problems if "routes.6:" in p)
    assert "every target of route 'pii-*' (local:llama3.1:70bb (did you mean 'llama3.1:70b'?))" in route
    default = next(p for p in problems if "provider_defaults.openai:" in p and "refused by policy" in p)
    assert "openai:gpt-4o-mnii (did you mean 'gpt-4o-mini'?) is refused by policy 'production_models'" in default
    # a name close to none of the allowed ones is told no model
    routing.write_text(text.replace("chain: [local:llama3.1:70b]", "chain: [local:mistral]"))
    route = next(p for p in validate_catalog(catalog_copy, env={}) if "routes.6:" in p)
    assert "(local:mistral) is refused" in route and "did you mean" not in route


def test_a_routed_model_misspelt_is_told_to_routing_not_offered_to_the_policy(catalog_copy: Path):
    # routing's gpt-4o-mini written gpt-4o-mnii everywhere: validate told the policy to allow the typo ("allows
    # 'gpt-4o-mini', which no routing target is; did you mean 'gpt-4o-mnii'?"), the opposite of what a call naming
    # it is told. genai-prices knows gpt-4o-mini and not gpt-4o-mnii: the typo is routing's, and is told there
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("openai:gpt-4o-mini", "openai:gpt-4o-mnii"))
    problems = validate_catalog(catalog_copy, env={})
    assert not any("did you mean 'gpt-4o-mnii'" in p for p in problems), problems
    (told,) = [p for p in problems if "did you mean 'gpt-4o-mini'" in p]
    assert told.startswith(
        f"{routing}: default.2: routing's openai:gpt-4o-mnii is refused by policy 'production_models'"
    ), told
    # a policy entry misspelt, a model genai-prices does not know, is still told to the policy (as before)
    routing.write_text(routing.read_text().replace("openai:gpt-4o-mnii", "openai:gpt-4o-mini"))
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("      - gpt-4o-mini\n", "      - gpt-4o-mnii\n"))
    assert [p for p in validate_catalog(catalog_copy, env={}) if "did you mean" in p] == [
        f"{policies}:8: policies.0.allowed_models.1: policy 'production_models' allows 'gpt-4o-mnii', which no routing "
        "target is; did you mean 'gpt-4o-mini'? (routing's gpt-4o-mini is refused by it, and skipped on every call)"
    ]


def test_a_catalog_value_of_the_wrong_kind_or_out_of_bounds_says_what_was_read_and_what_to_write(catalog_copy: Path):
    # pydantic's words alone, "max_tokens: Input should be a valid integer, unable to parse string as an integer",
    # "allow_unpriced: Input should be a valid boolean, unable to interpret input", "id: Field required", said
    # neither what the file held nor what to write in its place
    skill = catalog_copy / "skills" / "extra.yaml"
    skill.write_text("description: d\ntask_type: 2025-01-01\nprompt: {user: hi}\nmax_tokens: 1.5k\ntemperature: 3\n")
    routing = catalog_copy / "routing" / "extra.yaml"
    routing.write_text("routes:\n  - match: analysis\n    priority: high\n    chain: [openai:gpt-4o]\n")
    policy = catalog_copy / "policies" / "extra.yaml"
    policy.write_text("policies:\n  - name: x\n    allowed_models: [gpt-4o, 4.5, [a]]\n    allow_unpriced: maybe\n")
    problems = validate_catalog(catalog_copy, env={})
    for said in (
        f"{skill}: id: Field required; add the key 'id'",
        f"{skill}: task_type: Input should be a valid string (got 2025-01-01, which YAML reads as a date); write it "
        'in quotes: "2025-01-01"',
        f"{skill}: max_tokens: Input should be a valid integer, unable to parse string as an integer (got '1.5k'); "
        "write a whole number, digits alone (e.g. 10)",
        f"{skill}: temperature: Input should be less than or equal to 2 (got 3); write a number at most 2",
        f"{routing}: routes.0.priority: Input should be a valid integer, unable to parse string as an integer "
        "(got 'high'); write a whole number, digits alone (e.g. 10)",
        f"{policy}:3: policies.0.allowed_models.1: Input should be a valid string (got 4.5, which YAML reads as a "
        'decimal number); write it in quotes: "4.5"',
        f"{policy}:3: policies.0.allowed_models.2: Input should be a valid string (got ['a'], a list); write one text "
        "value",
        f"{policy}:4: policies.0.allow_unpriced: Input should be a valid boolean (got 'maybe'); write true or false",
    ):
        assert said in problems, (said, problems)


@pytest.mark.parametrize(
    ("written", "got"), [('"yes"', "'yes'"), ('"on"', "'on'"), ("1", "1"), ("0", "0"), ("sure", "'sure'")]
)
def test_allow_unpriced_takes_a_boolean_alone(catalog_copy: Path, written: str, got: str):
    # the lax bool read the text "yes" and the number 1 as true: a rule that lets spend of unknown price past the
    # policy's limits was switched on by a value no one wrote as a boolean
    policy = catalog_copy / "policies" / "extra.yaml"
    policy.write_text(
        "policies:\n  - name: x\n    thresholds: {max_cost_per_run_usd: 1}\n"
        f"    allow_unpriced: {written}\n"
    )
    assert [p for p in validate_catalog(catalog_copy, env={}) if str(policy) in p] == [
        f"{policy}:4: policies.0.allow_unpriced: Input should be a valid boolean (got {got}); write true or false"
    ]


@pytest.mark.parametrize("written", ["true", "yes", "false", '"true"', "'False'"])  # (the text true/false: as ${VAR}'s)
def test_allow_unpriced_written_as_a_yaml_boolean_is_taken(catalog_copy: Path, written: str):
    policy = catalog_copy / "policies" / "extra.yaml"
    policy.write_text(
        "policies:\n  - name: x\n    thresholds: {max_cost_per_run_usd: 1}\n"
        f"    allow_unpriced: {written}\n"
    )
    assert [p for p in validate_catalog(catalog_copy, env={}) if str(policy) in p] == []


@pytest.mark.parametrize(("value", "refused"), [("true", False), ("False", False), ("yes", True), ("1", True)])
def test_allow_unpriced_from_a_variable_takes_true_or_false(catalog_copy: Path, value: str, refused: bool):
    # ${VAR} is expanded after YAML has read the file, so its value is text: StrictBool refused even "true", told to
    # "write true or false, without quotes" though the file held no quotes; yes/1 are still refused as typed
    policy = catalog_copy / "policies" / "extra.yaml"
    policy.write_text(
        "policies:\n  - name: x\n    thresholds: {max_cost_per_run_usd: 1}\n"
        "    allow_unpriced: ${ALLOW_UNPRICED}\n"
    )
    problems = [p for p in validate_catalog(catalog_copy, env={"ALLOW_UNPRICED": value}) if str(policy) in p]
    said = f"{policy}:4: policies.0.allow_unpriced: Input should be a valid boolean (got {value!r})"
    assert [p.startswith(said) for p in problems] == ([True] if refused else [])


@pytest.mark.parametrize(
    ("file", "text", "holds"),
    [
        # prices.yaml was "must be a mapping of 'provider:model' to prices": no word of what it held, nor an entry
        ("prices.yaml", "- openai:gpt-4o\n", "a list"),
        ("prices.yaml", "gpt-4o 2.50 10.00\n", "the text 'gpt-4o 2.50 10.00'"),
        # a skill or a policy file holding text was "the file holds a str", Python's word for it
        ("skills/analysis.yaml", "skill.analysis\n", "the text 'skill.analysis'"),
        ("policies/model_governance.yaml", "42\n", "the whole number 42"),
        # "the number 1000.0" did not say it was a decimal number, "a bytes" and "a datetime" were Python's words
        ("policies/model_governance.yaml", "1000.0\n", "the decimal number 1000.0"),
        ("skills/analysis.yaml", "!!binary aGVsbG8=\n", "binary data of 5 bytes, tagged !!binary"),
        ("skills/analysis.yaml", "2025-01-01 10:00:00\n", "the date and time 2025-01-01 10:00:00"),
        ("routing/default.yaml", "2025-01-01\n", "the date 2025-01-01"),
        ("prices.yaml", "!!set {a, b}\n", "a set of 2 values, tagged !!set"),
        ("prices.yaml", "yes\n", "the value true"),
    ],
)
def test_a_file_that_is_no_mapping_is_told_what_it_holds_in_yamls_words(
    catalog_copy: Path, file: str, text: str, holds: str
):
    path = catalog_copy / file
    path.write_text(text)
    problems = [p for p in validate_catalog(catalog_copy, env={}) if p.startswith(f"{path}:")]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: the file holds {holds}, not a mapping")
    if file == "prices.yaml":
        assert problems[0].endswith(
            'write one entry a line, e.g. "openai:gpt-4o": {input: 2.5, output: 10} (USD per million tokens)'
        )
