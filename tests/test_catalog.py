"""The catalog: loading, ${VAR} expansion, where it is found, and errors that name their file."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.catalog import find_catalog, load_catalog, validate_catalog
from magsag_mcp.errors import CatalogError, ConfigError, PayloadError
from magsag_mcp.governance import load_policies

SHIPPED = Path(__file__).resolve().parent.parent / "catalog"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    write(tmp_path, "skills/echo.yaml", "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{text}'\n")
    write(tmp_path, "routing/r.yaml", "default: [fake:echo]\n")
    return tmp_path


def test_shipped_catalog_is_valid_and_has_the_guides_skills():
    assert validate_catalog(SHIPPED, env={}) == []
    cat = load_catalog(SHIPPED, env={})
    for sid in (
        "analysis",
        "extraction",
        "summarization",
        "coding",
        "reasoning",
        "document-analysis",
        "assistant",
        "pii-redaction",
    ):
        assert f"skill.{sid}" in cat.skills
    assert cat.skills["skill.extraction"].output.type == "json"
    assert cat.skills["skill.pii-redaction"].data_class == "pii_processing"
    assert {"my-mag", "data-analysis-sag"} <= set(cat.agents)


def test_env_expansion_with_default(mini: Path):
    write(mini, "routing/r.yaml", "default:\n  - {provider: compat, model: '${MY_MODEL:-m1}', base_url: '${MY_URL}'}\n")
    cat = load_catalog(mini, env={"MY_URL": "http://127.0.0.1:9/v1"})
    assert cat.routing.default[0].model == "m1"
    assert cat.routing.default[0].base_url == "http://127.0.0.1:9/v1"


def test_policies_and_prices_are_expanded_from_the_same_env_as_skills_and_routing(mini: Path, tmp_path: Path):
    # Before: Magsag(env=...) and validate_catalog(env=...) expanded skills and routing from the env
    # given, but policies and prices.yaml from os.environ: the limit set for this service was not the
    # one enforced, and validate said "${RUN_LIMIT} is not set" for a variable that was given.
    from decimal import Decimal

    from magsag_mcp import Magsag

    limits = "policies:\n  - name: limits\n    thresholds: {max_cost_per_run_usd: '${RUN_LIMIT}'}\n"
    write(mini, "policies/p.yaml", limits)
    write(mini, "prices.yaml", '"fake:*": {input: "${FAKE_PRICE}", output: 1}\n')
    env = {"RUN_LIMIT": "0.25", "FAKE_PRICE": "3"}
    assert validate_catalog(mini, env=env) == []
    with Magsag(catalog=mini, db=tmp_path / "l.db", env=env) as mg:
        assert [lim.amount for lim in mg.service.governance.policies.limits] == [Decimal("0.25")]
        assert mg.service.pricer.overrides[0][1].input == Decimal(3)


def test_unset_env_var_is_named(mini: Path):
    write(mini, "routing/r.yaml", "default:\n  - {provider: compat, model: x, base_url: '${MY_URL}'}\n")
    with pytest.raises(CatalogError, match=r"r\.yaml: \$\{MY_URL\} is not set; export MY_URL"):
        load_catalog(mini, env={})


@pytest.mark.parametrize("var", ["OPENAI_API_KEY", "MAGSAG_MCP_TOKEN", "INNOCENT"])
def test_a_catalog_never_reads_a_secret_from_the_environment(mini: Path, var: str):
    # A template that read the key would send it in the prompt, and the answer could show it.
    key = "sk-audit-SECRET-1234567890"
    env = {"OPENAI_API_KEY": key, "MAGSAG_MCP_TOKEN": key, "INNOCENT": key}  # the last: the key under another name
    write(
        mini,
        "skills/echo.yaml",
        f"id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '${{{var}}} {{text}}'\n",
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(mini, env=env)
    assert key not in str(info.value.problems)
    assert f"echo.yaml: ${{{var}}} would put a secret into the catalog" in info.value.problems[0]
    assert "providers read their keys from the environment themselves: remove it" in info.value.problems[0]


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("{text:d}", "user template field {text:d} has a format; values are inserted as text: write {text}"),
        ("{text!r}", "user template field {text!r} has a format"),
        ("{text:>99999999999}", "has a format"),
        ("{text.upper}", "user template field {text.upper} must be a plain payload field name"),
        ("{text[0]}", "must be a plain payload field name"),
        ("{}", "must be a plain payload field name"),
    ],
)
def test_a_template_field_must_be_a_plain_name(mini: Path, template: str, needle: str):
    # each would fail (or misbehave) on the first call, after the catalog said it was fine
    write(mini, "skills/echo.yaml", f"id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{template}'\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(mini, env={})
    assert needle in str(info.value.problems)


@pytest.mark.parametrize("template", ['Answer as {"name": "...", "date": "..."}', "Answer as {name: ..., date: ...}"])
def test_a_json_example_in_a_template_is_told_how_to_write_its_braces(mini: Path, template: str):
    # Before: a prompt showing the answer's JSON shape, as prompts often do, was refused as "{"name"} must be a
    # plain payload field name" (or told to write {name}), with no word of the literal braces it meant
    write(mini, "skills/echo.yaml", f"id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{template}'\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(mini, env={})
    assert "literal braces (a JSON example): write {{ and }}" in str(info.value.problems)


def test_malformed_yaml_names_file_and_line(mini: Path):
    write(mini, "skills/bad.yaml", "id: skill.bad\nprompt: [unclosed\n")
    problems = validate_catalog(mini, env={})
    assert any("bad.yaml: malformed YAML (line" in p for p in problems), problems


def test_every_problem_is_listed_with_its_file(mini: Path):
    write(mini, "skills/a.yaml", "id: skill.a\ntask_type: t\nprompt: {user: hi}\nmax_tokens: -5\n")
    write(mini, "skills/b.yaml", "id: not-a-skill-id\ndescription: d\ntask_type: t\nprompt: {user: hi}\n")
    write(mini, "routing/x.yaml", "routes:\n  - match: t\n    chain: [opnai:gpt-4o]\n")
    problems = validate_catalog(mini, env={})
    text = "\n".join(problems)
    assert "a.yaml: description: Field required" in text
    assert "a.yaml: max_tokens: Input should be greater than 0" in text
    assert "b.yaml: id: String should match pattern" in text
    assert "x.yaml" in text and "unknown provider 'opnai'" in text


@pytest.mark.parametrize(
    ("folder", "written", "fix"),
    [
        ("skills", "analysis2", "skill.analysis2"),
        ("skills", "skill.My Skill", "skill.my-skill"),
        ("skills", "Skill.Notes", "skill.notes"),
        ("agents", "My_MAG", "my_mag"),
    ],
)
def test_an_id_of_the_wrong_form_gets_the_id_to_write(mini: Path, folder: str, written: str, fix: str):
    # Before: "id: String should match pattern '^skill\\.[a-z0-9][a-z0-9._-]*$'", a regular expression to decode
    rest = (
        "description: d\ntask_type: t\nprompt: {user: hi}\n" if folder == "skills" else "kind: sag\nentrypoint: m:run\n"
    )
    write(mini, f"{folder}/x.yaml", f"id: {written}\n{rest}")
    problems = [p for p in validate_catalog(mini, env={}) if "x.yaml: id:" in p]
    assert len(problems) == 1 and "String should match pattern" in problems[0], problems
    assert problems[0].endswith(f"as calls name it: write {fix}")


@pytest.mark.parametrize(
    ("route", "told"),
    [
        # a route with a priority and no targets was told "gives either 'chain' ... or 'tier' ..., not both"
        ("{match: echo, priority: 5}", "route 'echo' gives neither 'chain' (a list of targets) nor 'tier'"),
        ("{match: echo, tier: economy, chain: [fake:echo]}", "gives either 'chain' (a list of targets) or 'tier'"),
    ],
)
def test_a_route_without_targets_is_told_it_gives_none(mini: Path, route: str, told: str):
    write(mini, "routing/r.yaml", f"default: [fake:echo]\ntiers: {{economy: [fake:echo]}}\nroutes:\n  - {route}\n")
    problems = validate_catalog(mini, env={})
    assert len(problems) == 1, problems
    assert "routes.0: " in problems[0] and told in problems[0], problems[0]
    assert ("not both" in problems[0]) == ("chain: [" in route), problems[0]


def test_unknown_field_is_rejected(mini: Path):
    write(mini, "skills/c.yaml", "id: skill.c\ndescription: d\ntask_type: t\nprompt: {user: hi}\nmax_token: 5\n")
    with pytest.raises(CatalogError, match="c.yaml: max_token: Extra inputs are not permitted"):
        load_catalog(mini, env={})


def test_route_with_unknown_tier(mini: Path):
    write(mini, "routing/t.yaml", "routes:\n  - {match: echo, tier: gold}\n")
    with pytest.raises(CatalogError, match="names tier 'gold', which no routing file defines"):
        load_catalog(mini, env={})


def test_an_undefined_tier_names_the_tiers_that_are_defined(mini: Path):
    write(mini, "routing/t.yaml", "tiers: {premium: [fake:a], economy: [fake:b]}\n")
    write(mini, "skills/p.yaml", "id: skill.p\ndescription: d\ntask_type: t\nprompt: {user: hi}\ntier: premum\n")
    write(mini, "routing/r.yaml", "routes:\n  - {match: t, tier: economi}\n")
    text = "\n".join(validate_catalog(mini, env={}))
    assert "tier 'premum' is not defined in routing (did you mean 'premium'?)" in text
    assert "the tiers defined in routing: economy, premium" in text
    assert "names tier 'economi', which no routing file defines (did you mean 'economy'?)" in text


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
        'prices.yaml ("google:gemini-1.5-pr0": {input: ..., output: ...}), or set allow_unpriced: true on cost_limits'
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


@pytest.mark.parametrize(
    ("added", "shadow"),
    [
        # appended to the shipped routing to send coding elsewhere: the shipped route (priority 10) kept it
        ("  - match: coding\n    chain: [openai:gpt-4o-mini]\n", "route 'coding' (priority 10)"),
        # a route for one task type under a glob of higher priority that takes it
        ("  - match: document-analysis\n    chain: [openai:gpt-4o]\n", "route 'document-*' (priority 5)"),
        ("  - match: pii-redaction\n    priority: 100\n    tier: economy\n", "route 'pii-*' (priority 100)"),
    ],
)
def test_a_route_an_earlier_route_always_takes_first_is_a_problem(catalog_copy: Path, added: str, shadow: str):
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text() + added)
    match = added.split("match: ")[1].split("\n")[0]
    priority = added.split("priority: ")[1].split("\n")[0] if "priority" in added else "0"
    same = shadow.startswith(f"route {match!r}")
    fix = "keep one of the two" if same else f"give it a priority above {shadow.split('priority ')[1].rstrip(')')}"
    # named by its file and place there (routes.8: appended to the shipped eight), not only the routing folder
    assert validate_catalog(catalog_copy, env={}) == [
        f"{routing}: routes.8: route {match!r} (priority {priority}) is never used: {shadow} comes first "
        f"for every task type it matches (the highest priority wins, ties go to file order); {fix}"
    ]
    # with a priority above the other's, it is the one used (and a route of the same match the unused one)
    head, line, tail = routing.read_text().rpartition(f"  - match: {match}\n")
    routing.write_text(head + line + "    priority: 500\n" + tail.replace("    priority: 100\n", ""))
    assert validate_catalog(catalog_copy, env={}) == (
        [f"{routing}: routes.1: route {match!r} (priority 10) is never used: route {match!r} (priority 500) "
         "comes first for every task type it matches (the highest priority wins, ties go to file order); keep one "
         "of the two"] if same else []
    )  # fmt: skip


@pytest.mark.parametrize("rel", ["policies/model_governance.yaml", "routing/default.yaml", "skills/coding.yaml"])
def test_a_tab_in_the_indentation_says_to_indent_with_spaces(catalog_copy: Path, rel: str):
    # PyYAML's own words, "found character '\t' that cannot start any token", said neither what nor how to fix
    path = catalog_copy / rel
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("  ") and not line.lstrip().startswith("#"))
    lines[at] = "\t" + lines[at][2:]
    path.write_text("".join(lines))
    assert validate_catalog(catalog_copy, env={}) == [
        f"{path}: malformed YAML (line {at + 1}, column 1): a tab where YAML takes only spaces; indent with spaces "
        "instead (found character '\\t' that cannot start any token)"
    ]


def test_a_target_or_model_written_with_a_space_after_its_colon_says_what_to_write(catalog_copy: Path):
    # YAML reads "- openai: gpt-4o-mini" as a mapping: validate said "Input should be a valid string", "Field
    # required" and "Extra inputs are not permitted" for each, never the space
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("  - openai:gpt-4o-mini\n", "  - openai: gpt-4o-mini\n", 1))
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("      - llama3.1:70b\n", "      - llama3.1: 70b\n"))
    said = "as a mapping, for the space after the colon; write '{}' (quoted, or without the space)"
    assert validate_catalog(catalog_copy, env={}) == [
        f"{routing}: default.2: YAML read 'openai: gpt-4o-mini' " + said.format("openai:gpt-4o-mini"),
        f"{policies}: policies.0.allowed_models.6: YAML read 'llama3.1: 70b' " + said.format("llama3.1:70b"),
    ]
    # a target written as a mapping of one key is still a target
    routing.write_text(routing.read_text().replace("  - openai: gpt-4o-mini\n", "  - {model: gpt-4o-mini}\n"))
    policies.write_text(policies.read_text().replace("      - llama3.1: 70b\n", "      - llama3.1:70b\n"))
    assert validate_catalog(catalog_copy, env={}) == []


def test_a_boolean_where_a_number_goes_is_a_problem_not_1(catalog_copy: Path):
    # pydantic took YAML's true for 1: "max_tokens: true" made every answer one token long, "priority: yes"
    # ranked a route 1, and validate said ok
    skill = catalog_copy / "skills" / "reasoning.yaml"
    skill.write_text(skill.read_text().replace("max_tokens: 4000", "max_tokens: true") + "temperature: on\n")
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("priority: 100", "priority: yes"))
    said = "is not a number (YAML reads true, yes and on as booleans); write one"
    assert validate_catalog(catalog_copy, env={}) == [
        f"{skill}: max_tokens: true {said}",
        f"{skill}: temperature: true {said}",
        f"{routing}: routes.6.priority: true {said}",
    ]


def test_a_price_file_named_prices_yml_or_in_capitals_is_read_and_two_are_a_problem(catalog_copy: Path):
    # the catalog's folders take .yml, but prices.yml (or Prices.yaml) was never read: its prices were gone unsaid,
    # here a rented GPU box's, which calls then recorded at $0
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Usage

    shipped = catalog_copy / "prices.yaml"
    text = '"local:llama3.1:70b": {input: 2, output: 2}\n'
    shipped.unlink()
    for name in ("prices.yml", "Prices.yaml"):
        (catalog_copy / name).write_text(text)
        assert validate_catalog(catalog_copy, env={}) == []
        quote = Pricer.from_catalog(catalog_copy, env={}).price("local", "llama3.1:70b", Usage(1_000_000, 0))
        assert quote.cost_usd == 2, name
        (catalog_copy / name).unlink()
    shipped.write_text(text)
    (catalog_copy / "prices.yml").write_text(text)
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy}: prices.yaml and prices.yml are both price files, and only one is read; keep one (prices.yaml)"
    ]
    with pytest.raises(CatalogError, match="are both price files"):
        Pricer.from_catalog(catalog_copy, env={})


def test_a_skill_whose_every_target_its_data_class_refuses_is_a_problem(catalog_copy: Path):
    # pii_processing confined to "local:*" (a pattern: it names no model routing could add) and its route sent to
    # OpenAI: validate said ok, and every call of skill.pii-redaction failed on the data class
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace('["local:llama3.1:70b", "fake:*"]', '["local:*"]'))
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("chain: [local:llama3.1:70b]", "chain: [openai:gpt-4o-mini]"))
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy / 'skills' / 'pii-redaction.yaml'}: every target of skill.pii-redaction (openai:gpt-4o-mini) "
        "is refused by policy 'data_residency' for its data class 'pii_processing' (['local:*']), so its calls fail "
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
        f"{policies}: policies.0.allowed_models.1: policy 'production_models' allows 'gtp-4o-mini', which no routing "
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
        f"{policies}: policies.0.allowed_models.1: policy 'production_models' allows {written!r}, which no routing "
        "target is; "
        "did you mean 'gpt-4o-mini'? (routing's gpt-4o-mini is refused by it, and skipped on every call)"
    ]


def test_missing_default_chain(tmp_path: Path):
    write(tmp_path, "skills/echo.yaml", "id: skill.echo\ndescription: d\ntask_type: echo\nprompt: {user: hi}\n")
    with pytest.raises(CatalogError, match="no routing file defines a 'default' chain"):
        load_catalog(tmp_path, env={})


def test_bad_template_is_caught_at_load(mini: Path):
    write(mini, "skills/t.yaml", "id: skill.t\ndescription: d\ntask_type: t\nprompt: {user: 'a {b'}\n")
    with pytest.raises(CatalogError, match="user template does not parse"):
        load_catalog(mini, env={})


def test_template_renders_non_strings_as_json(mini: Path):
    cat = load_catalog(mini, env={})
    assert cat.skill("skill.echo").render({"text": {"a": [1, 2]}}) == '{"a": [1, 2]}'
    with pytest.raises(PayloadError, match="missing field 'text'"):
        cat.skill("skill.echo").render({"other": 1})


def test_a_field_that_is_not_json_like_is_a_payload_error_naming_it(mini: Path):
    # Before: a raw TypeError / ValueError from json.dumps, out of the Python API, with a traceback.
    skill = load_catalog(mini, env={}).skill("skill.echo")
    loop: dict = {}
    loop["self"] = loop
    for value, cause in (({(1, 2): "a"}, "keys must be str"), (loop, "Circular reference")):
        with pytest.raises(PayloadError, match=f"skill.echo: payload field 'text' cannot be written .*{cause}") as info:
            skill.render({"text": value})
        assert info.value.details == {"skill": "skill.echo", "field": "text"}


def test_catalog_location_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mini: Path):
    other = tmp_path / "elsewhere"
    shutil.copytree(mini, other)
    assert find_catalog(str(mini), env={"MAGSAG_CATALOG": str(other)}) == mini  # --catalog wins
    assert find_catalog(None, env={"MAGSAG_CATALOG": str(other)}) == other
    work = tmp_path / "work"
    shutil.copytree(mini, work / "catalog")
    monkeypatch.chdir(work)
    assert find_catalog(None, env={}) == work / "catalog"
    monkeypatch.chdir(tmp_path)
    bundled = find_catalog(None, env={})
    assert (bundled / "skills" / "analysis.yaml").is_file()  # the copy shipped with the package


@pytest.mark.parametrize(
    "part",
    ["policies/model_governance.yaml", "prices.yaml", "routing/default.yaml", "agents/my-mag.yaml"],
)
def test_a_catalog_folder_here_without_skills_is_refused_not_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: str
):
    # The guide: "Define provider policies in catalog/policies/model_governance.yaml". Written so in a new project
    # (no skills/ beside it), the folder was passed over for the bundled catalog without a word: the bundled
    # policy governed the calls, and the user's (its allowed models, its cost limits) applied to none of them.
    work = tmp_path / "work"
    (work / "catalog" / part).parent.mkdir(parents=True)
    (work / "catalog" / part).write_text("policies:\n  - name: production_models\n    allowed_models: [gpt-4o-mini]\n")
    monkeypatch.chdir(work)
    with pytest.raises(ConfigError) as info:
        find_catalog(None, env={})
    message = info.value.message
    assert f"{work / 'catalog'} holds {part.split('/')[0]}" in message and "no skills/ folder" in message
    bundled = Path(__file__).resolve().parent.parent / "catalog"
    assert "MAGSAG_CATALOG" in message and str(bundled) in message  # where a whole catalog to start from is
    assert find_catalog(str(work / "catalog"), env={}) == work / "catalog"  # named, it is the one (validate says what)


def test_a_catalog_named_without_skills_says_so_and_how_to_make_it_whole(tmp_path: Path):
    # The guide's policy file alone, named as --catalog (the MCP examples' ${workspaceFolder}/catalog) or
    # MAGSAG_CATALOG: validate and every call said only "no routing file defines a 'default' chain", so a user who
    # added one then met "unknown skill 'skill.analysis'; known skills: " with nothing naming the missing skills/.
    root = tmp_path / "catalog"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: production_models\n    allowed_models: [gpt-4o-mini]\n"
    )
    problems = validate_catalog(root, env={})
    said = next(p for p in problems if "no skills/ folder" in p)
    bundled = Path(__file__).resolve().parent.parent / "catalog"
    assert said.startswith(f"{root}: ") and f"cp -rn {bundled}/. {root}/" in said
    with pytest.raises(CatalogError) as info:
        load_catalog(root, env={})
    assert "no skills/ folder" in info.value.message
    assert not any("no skills/ folder" in p for p in validate_catalog(SHIPPED, env={}))


def test_a_folder_named_catalog_that_is_none_of_magsags_is_passed_over(tmp_path: Path, monkeypatch):
    work = tmp_path / "work"
    (work / "catalog" / "products").mkdir(parents=True)  # a shop's catalog, say
    monkeypatch.chdir(work)
    assert (find_catalog(None, env={}) / "skills" / "analysis.yaml").is_file()  # the bundled one


def test_catalog_env_pointing_nowhere(tmp_path: Path):
    with pytest.raises(ConfigError, match="MAGSAG_CATALOG points at .* not a directory"):
        find_catalog(None, env={"MAGSAG_CATALOG": str(tmp_path / "missing")})


def test_a_registered_provider_takes_its_name_in_cached_target_parsing(monkeypatch):
    """Target strings are parsed once and cached; registering a provider must not leave a stale parse."""
    from magsag_mcp import providers
    from magsag_mcp.targets import parse_target

    before = parse_target("acme:sonic-1")
    assert before.provider != "acme"  # not a provider yet: an Ollama-style tag on a local model
    assert parse_target("acme:sonic-1") is before  # cached
    monkeypatch.setitem(providers._REGISTRY, "acme", "magsag_mcp.providers.fake:FakeProvider")
    providers.register_provider("acme", "magsag_mcp.providers.fake:FakeProvider")
    try:
        assert parse_target("acme:sonic-1") == parse_target({"provider": "acme", "model": "sonic-1"})
    finally:
        monkeypatch.undo()
        from magsag_mcp.targets import forget_parsed_targets

        forget_parsed_targets()


def _json_skill(schema: str) -> str:
    return (
        f"id: skill.x\ndescription: d\ntask_type: t\nprompt: {{user: hi}}\noutput: {{type: json, schema: {schema}}}\n"
    )


def test_a_broken_output_schema_stops_the_load_naming_file_fault_and_fix(mini: Path):
    path = write(mini, "skills/x.yaml", _json_skill("{type: object, properties: {total: {type: numbr}}}"))
    with pytest.raises(CatalogError) as info:
        load_catalog(mini, env={})
    (problem,) = info.value.problems
    assert problem in info.value.message
    assert problem.startswith(
        f"{path}: output.schema: not a valid JSON Schema (draft 2020-12): at properties.total.type:"
    )
    assert "'numbr' is not valid" in problem
    assert "'type' takes one of array, boolean, integer, null, number, object, string" in problem
    assert "the model's JSON answers are checked against this schema" in problem
    assert validate_catalog(mini, env={}) == [problem]


def test_an_output_schema_whose_ref_points_nowhere_stops_the_load(mini: Path):
    # check_schema accepts this; without the load check every call would pay a model and then fail.
    schema = "{type: object, properties: {a: {$ref: '#/$defs/item'}}, $defs: {itme: {type: string}}}"
    path = write(mini, "skills/x.yaml", _json_skill(schema))
    (problem,) = validate_catalog(mini, env={})
    assert problem.startswith(f"{path}: output.schema: $ref '#/$defs/item' points at nothing in the schema")
    assert "define what it names (e.g. under $defs) or correct the $ref" in problem


@pytest.mark.parametrize(
    "schema",
    [
        "{type: object, properties: {a: {$ref: '#/$defs/item'}}, $defs: {item: {type: string}}}",
        "{$id: 'https://example.com/s', $defs: {n: {type: integer}}, items: {$ref: '#/$defs/n'}}",
        "{enum: [{$ref: '#/nowhere'}]}",  # data that looks like a $ref is not one
        "{$defs: {n: {$anchor: num, type: number}}, items: {$ref: '#num'}}",
    ],
)
def test_output_schemas_that_resolve_load_and_are_compiled_once(mini: Path, schema: str):
    write(mini, "skills/x.yaml", _json_skill(schema))
    skill = load_catalog(mini, env={}).skill("skill.x")
    assert skill.output_validator is skill.output_validator
    assert skill.output_validator.schema is skill.output.schema_


def test_a_broken_input_schema_names_the_field_and_place(mini: Path):
    path = write(
        mini,
        "skills/x.yaml",
        "id: skill.x\ndescription: d\ntask_type: t\nprompt: {user: hi}\ninput_schema: {type: object, required: text}\n",
    )
    (problem,) = validate_catalog(mini, env={})
    assert problem.startswith(f"{path}: input_schema: not a valid JSON Schema (draft 2020-12): at required:")
    assert "each call's payload is checked against this schema" in problem


def test_catalog_validate_command_reports_a_broken_output_schema(mini: Path, capsys: pytest.CaptureFixture[str]):
    from magsag_mcp.cli import main

    write(mini, "skills/x.yaml", _json_skill("{type: object, required: total}"))
    assert main(["catalog", "validate", "--catalog", str(mini)]) == 1
    out = capsys.readouterr().out
    assert "x.yaml: output.schema: not a valid JSON Schema (draft 2020-12): at required: 'total' is not of type" in out


# --- what validate used to call "ok" and calls then failed on -------------------------------------


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_catalog_file_is_a_problem_not_a_vanished_entry(mini: Path, text: str):
    skill = write(mini, "skills/reasoning.yaml", text)
    agent = write(mini, "agents/a.yaml", text)
    problems = validate_catalog(mini, env={})
    assert f"{skill}: the file is empty; a skill needs id, description, task_type and prompt (or delete the file)" in (
        problems
    )
    assert f"{agent}: the file is empty; an agent needs id, kind and entrypoint (or delete the file)" in problems
    with pytest.raises(CatalogError):
        load_catalog(mini, env={})


def test_an_agent_naming_an_unknown_skill_is_told_the_skills_there_are(mini: Path):
    # Before: "agent 'a' uses unknown skill 'skill.ech'" and nothing more, in `catalog validate` and `doctor`: no
    # fix, not the skill it nearly names, nor the skills it could name
    write(mini, "skills/sum.yaml", "id: skill.sum\ndescription: d\ntask_type: sum\nprompt:\n  user: '{text}'\n")
    agent = write(mini, "agents/a.yaml", "id: a\nkind: sag\nentrypoint: a:run\nskills: [skill.ech]\n")
    write(mini, "agents/a.py", "def run(payload, registry=None):\n    return {}\n")
    assert validate_catalog(mini, env={}) == [
        f"{agent}: agent 'a' uses unknown skill 'skill.ech' (did you mean 'skill.echo'?); name a skill of the "
        "catalog's (skill.echo, skill.sum) in its skills, or add the skill under skills/"
    ]
    for name in ("echo", "sum"):  # no skill loads: the agent is not told to pick one of none
        write(mini, f"skills/{name}.yaml", "id: skill.{name}\n")
    said = f"{agent}: agent 'a' uses unknown skill 'skill.ech'; the catalog has no skill that loaded: fix the skills/ "
    assert said + "files, or add the skill there" in validate_catalog(mini, env={})


def test_an_agent_naming_a_skill_whose_file_cannot_be_loaded_is_told_that_file(mini: Path):
    # A slip in skills/analysis.yaml's YAML: the agent using skill.analysis was told "did you mean
    # 'skill.document-analysis'? ... or add the skill under skills/", where the skill is, in a file to fix.
    write(mini, "skills/sum.yaml", "id: skill.sum\ndescription: d\ntask_type: sum\nprompt:\n  user: '{text}'\n")
    broken = write(mini, "skills/echo.yaml", "id: skill.echo\n  bad: [\n")
    agent = write(mini, "agents/a.yaml", "id: a\nkind: sag\nentrypoint: a:run\nskills: [skill.echo, skill.ech]\n")
    write(mini, "agents/a.py", "def run(payload, registry=None):\n    return {}\n")
    problems = validate_catalog(mini, env={})
    assert problems[0].startswith(f"{broken}: malformed YAML"), problems
    assert (
        f"{agent}: agent 'a' uses skill 'skill.echo', which no skill file that loaded defines: it is most likely the "
        f"one in {broken}, which could not be loaded (its problem is listed): fix that file"
    ) in problems
    # a skill id of no file's name is still an unknown skill, told the skills there are
    assert any(p.startswith(f"{agent}: agent 'a' uses unknown skill 'skill.ech'") for p in problems), problems


def test_an_agent_naming_a_skill_whose_file_of_another_name_cannot_be_loaded_is_told_that_file(mini: Path):
    # skills/summaries.yaml holds skill.sum with a max_tokens that is no number: its id is written there, but only a
    # file named for the skill was looked for, and the agent was told to name another skill "or add the skill"
    broken = write(
        mini, "skills/summaries.yaml", "id: skill.sum\ndescription: d\ntask_type: sum\nprompt:\n  user: '{text}'\n"
        "max_tokens: lots\n"
    )
    agent = write(mini, "agents/a.yaml", "id: a\nkind: sag\nentrypoint: a:run\nskills: [skill.sum]\n")
    write(mini, "agents/a.py", "def run(payload, registry=None):\n    return {}\n")
    problems = validate_catalog(mini, env={})
    assert any(p.startswith(f"{broken}: max_tokens") for p in problems), problems
    assert (
        f"{agent}: agent 'a' uses skill 'skill.sum', which no skill file that loaded defines: it is most likely the "
        f"one in {broken}, which could not be loaded (its problem is listed): fix that file"
    ) in problems, problems
    assert not any("unknown skill 'skill.sum'" in p for p in problems), problems


def test_a_template_field_the_input_schema_does_not_declare_is_a_problem(mini: Path):
    write(
        mini,
        "skills/echo.yaml",
        "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{txt}'\n"
        "input_schema: {type: object, properties: {text: {type: string}}}\n",
    )
    (problem,) = validate_catalog(mini, env={})
    assert problem.endswith(
        "prompt.user uses {txt}, which input_schema.properties does not declare (it declares: text); "
        "fix the name or declare the field"
    )
    # a schema without properties (or none at all) says nothing about names: nothing to check
    write(mini, "skills/echo.yaml", "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{txt}'\n")
    assert validate_catalog(mini, env={}) == []


def test_a_required_field_the_template_never_reads_is_a_problem(mini: Path):
    # Before: a skill whose user template forgot its input ("Summarise the text.") loaded, and every call sent the
    # required text through the schema check to no model: each answer was about nothing, and paid for.
    write(
        mini,
        "skills/echo.yaml",
        "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: Summarise the text.\n"
        "input_schema: {type: object, required: [text], properties: {text: {type: string}}}\n",
    )
    (problem,) = validate_catalog(mini, env={})
    assert problem.startswith(str(mini / "skills" / "echo.yaml")) and problem.endswith(
        "input_schema requires 'text', which prompt.user never reads, so every call must send it and no model ever "
        "sees it; put {text} in prompt.user where the model should read it, or take it out of input_schema.required"
    )
    with pytest.raises(CatalogError, match="prompt.user never reads"):  # so magsag-mcp and doctor refuse it too
        load_catalog(mini, env={})
    # an optional field the template leaves out is the caller's to send or not (a call's warnings name it)
    write(
        mini,
        "skills/echo.yaml",
        "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{text}'\n"
        "input_schema: {type: object, required: [text], properties: {text: {}, note: {}}}\n",
    )
    assert validate_catalog(mini, env={}) == []


@pytest.mark.parametrize(
    ("key", "schema", "said"),
    [
        (
            "output",
            "{type: json, schema: {type: object, required: [x], propertes: {x: {type: string}}}}",
            "output.schema: at the top level: 'propertes' is no JSON Schema keyword (did you mean 'properties'?)",
        ),
        (
            "input_schema",
            "{type: object, requried: [text], properties: {text: {}}}",
            "input_schema: at the top level: 'requried' is no JSON Schema keyword (did you mean 'required'?)",
        ),
        (
            "input_schema",
            "{type: object, properties: {text: {type: string, minlength: 1}}}",
            "input_schema: at properties.text: 'minlength' is no JSON Schema keyword (did you mean 'minLength'?)",
        ),
        (
            "input_schema",
            "{type: object, properties: {text: {anyOf: [{type: string}, {tpye: array}]}}}",
            "input_schema: at properties.text.anyOf.1: 'tpye' is no JSON Schema keyword (did you mean 'type'?)",
        ),
    ],
)
def test_a_misspelt_keyword_in_a_skills_schema_is_a_problem(mini: Path, key: str, schema: str, said: str):
    # Before: a schema keyword misspelt is a key jsonschema ignores: the catalog loaded, and the check the skill's
    # author wrote (a required field, the answer's fields' types) was never made, on any call or any answer.
    write(
        mini,
        "skills/echo.yaml",
        f"id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{{text}}'\n{key}: {schema}\n",
    )
    (problem,) = validate_catalog(mini, env={})
    assert f"echo.yaml: {said}, and a schema's check skips a key it does not know; correct it: " in problem


def test_keys_near_no_constraining_keyword_are_a_schemas_own(mini: Path):
    schema = (
        "{type: object, x-requried: 1, example: {text: a}, nullable: true, $comment: c, propertyOrdering: [text], "
        "properties: {text: {type: string, description: d}, requried: {type: string}}}"
    )  # (a property may be named like a keyword: it is data, not a key of a schema)
    write(
        mini,
        "skills/echo.yaml",
        f"id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{{text}}'\ninput_schema: {schema}\n",
    )
    assert validate_catalog(mini, env={}) == []


def test_an_output_schema_asks_for_json_and_contradicts_type_text(mini: Path):
    # Before: output: {schema: ...} without a type loaded as a text skill that sent the schema and parsed JSON, so
    # list_skills said "text" of a skill whose output came back an object; beside type: text the schema passed too.
    head = "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{text}'\n"
    write(mini, "skills/echo.yaml", head + "output: {schema: {type: object, required: [a]}}\n")
    skill = load_catalog(mini, env={}).skills["skill.echo"]
    assert skill.summary()["output"] == "json" and skill.call_parts.json_output is True
    write(mini, "skills/echo.yaml", head + "output: {type: text, schema: {type: object}}\n")
    (problem,) = validate_catalog(mini, env={})
    assert problem.endswith(
        "echo.yaml: output: output has type text and a schema, which a JSON answer is checked against; write type: json"
    )


def test_agent_entrypoints_are_checked_without_running_them(mini: Path):
    def agent(agent_id: str, entrypoint: str, source: str | None) -> Path:
        if source is not None:
            write(mini, f"agents/{entrypoint.split(':')[0]}.py", source)
        return write(mini, f"agents/{agent_id}.yaml", f"id: {agent_id}\nkind: sag\nentrypoint: {entrypoint}\n")

    ran = mini / "ran"
    side_effect = f"open({str(ran)!r}, 'w').close()\n"
    good = agent("good", "good_mod:run", side_effect + "def run(payload, **deps):\n    return 1\n")
    aliased = agent("aliased", "aliased_mod:run", "from good_mod import run\n")
    typo = agent("typo", "typo_mod:runn", "def run(payload, **deps):\n    return 1\n")
    broken = agent("broken", "broken_mod:run", "def run(:\n")
    missing = agent("missing", "no_such_module_xyz:run", None)
    problems = validate_catalog(mini, env={})
    assert problems == [
        f"{broken}: entrypoint module {mini / 'agents' / 'broken_mod.py'} has a syntax error at line 1: invalid syntax",
        f"{missing}: entrypoint module 'no_such_module_xyz' is neither importable nor at "
        f"{mini / 'agents' / 'no_such_module_xyz.py'}",
        f"{typo}: entrypoint 'typo_mod:runn': typo_mod.py defines no 'runn'",
    ]
    assert not ran.exists()  # validate never executes an agent's module
    assert good.exists() and aliased.exists()


def test_a_routing_target_whose_base_url_cannot_carry_a_request_is_a_problem(mini: Path):
    write(mini, "routing/r.yaml", "default:\n  - fake:echo\n  - {provider: compat, model: m1, base_url: not-a-url}\n")
    (problem,) = validate_catalog(mini, env={})
    assert problem.startswith(f"{mini / 'routing'}: target compat:m1: the base URL is not an http(s) URL with a host")


def test_validate_names_a_route_that_nearly_matches_a_task_type(catalog_copy: Path):
    # A route written `match: analyis` routed nothing, and analysis calls took the default chain without
    # a word. A route like no task type at all may be for skills still to come, and passes.
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    assert "  - match: analysis\n" in text
    routing.write_text(
        text.replace("  - match: analysis\n", "  - match: analyis\n")
        + "  - match: future-skill\n    chain: [openai:gpt-4o]\n"
    )
    problems = validate_catalog(catalog_copy)
    assert [p for p in problems if "route" in p] == [
        f"{routing}: routes.2.match: route 'analyis' matches no skill's task_type; did you mean 'analysis'? "
        "(skills of task_type 'analysis' now take the default chain)"
    ]
    assert (
        validate_catalog(Path(__file__).resolve().parent.parent / "catalog") == []
    )  # the shipped catalog's routes each match a skill


@pytest.mark.anyio
async def test_doctor_notes_a_route_a_letter_or_two_off_a_task_type_below_the_problem_s_cutoff(
    catalog_copy: Path, tmp_path: Path
):
    # 'analisys' (two letters swapped, ratio 0.75 to 'analysis') is under the 0.8 at which validate names a misspelt
    # route a problem: it validated ok, and analysis calls took the default chain unsaid. It may be a route for skills
    # still to come, so doctor notes it (a problem would stop the server); a route like no task type gets no note.
    from magsag_mcp.service import Service

    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    routing.write_text(
        text.replace("  - match: analysis\n", "  - match: analisys\n")
        + "  - match: future-skill\n    chain: [openai:gpt-4o]\n"
    )
    assert [p for p in validate_catalog(catalog_copy, env={}) if "route" in p] == []
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        notes = [n for n in svc.doctor()["notes"] if "route" in n]
    assert notes == [
        f"{routing}: routes.2.match: route 'analisys' matches no skill's task_type, so it routes nothing; if it was "
        "meant for task_type 'analysis', correct it"
    ]


@pytest.mark.anyio
async def test_a_route_like_a_task_type_another_route_routes_is_neither_a_problem_nor_a_note(
    catalog_copy: Path, tmp_path: Path
):
    # 'redaction' (0.82 to 'pii-redaction') was a problem saying pii-redaction's skills "now take the default chain",
    # though pii-* routes them, and the server would not start; 'data-analysis' (0.75 to 'analysis', which a route of
    # its own routes) got doctor's note to correct it into that route's twin. Both are routes for task types still to
    # come: a task type a route names is no other route's typo, nor is one a whole word apart ('pii-' added, or
    # 'data' for 'document': 'data-analysis' is 0.73 to 'document-analysis', which the document-* glob routes).
    from magsag_mcp.service import Service

    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(
        routing.read_text()
        + "  - match: redaction\n    chain: [openai:gpt-4o]\n  - match: data-analysis\n    chain: [openai:gpt-4o]\n"
    )
    assert [p for p in validate_catalog(catalog_copy, env={}) if "route" in p] == []
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        assert [n for n in svc.doctor()["notes"] if "route" in n] == []


def test_a_route_nearly_naming_a_task_type_a_catch_all_route_takes_is_a_problem_naming_that_route(catalog_copy: Path):
    # 'analyis' routes nothing, and analysis calls go to the catch-all '*' route's chain instead of the one written
    # for them: still a misspelt route, told where those calls do go (it said "the default chain" whatever routed them)
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text().replace("  - match: analysis\n", "  - match: analyis\n")
    routing.write_text(text + "  - match: '*'\n    priority: -1\n    chain: [openai:gpt-4o-mini]\n")
    assert [p for p in validate_catalog(catalog_copy, env={}) if "route" in p] == [
        f"{routing}: routes.2.match: route 'analyis' matches no skill's task_type; did you mean 'analysis'? "
        "(skills of task_type 'analysis' now take route '*')"
    ]


def test_an_agent_id_defined_twice_names_both_files(catalog_copy: Path):
    first = catalog_copy / "agents" / "my-mag.yaml"
    copy = catalog_copy / "agents" / "my-mag-copy.yaml"
    copy.write_text(first.read_text())
    problems = validate_catalog(catalog_copy)
    # files are read in name order: the copy comes first, and the original is the one reported
    assert problems == [f"{first}: agent id 'my-mag' is also defined in {copy}; give each agent an id of its own"]


def test_an_agent_naming_a_misspelt_skill_is_told_the_skill_it_means(catalog_copy: Path):
    # `catalog validate` said "agent 'my-mag' uses unknown skill 'skill.summarize'" and no more, where a call naming
    # it is told "did you mean 'skill.summarization'?"
    mag = catalog_copy / "agents" / "my-mag.yaml"
    mag.write_text(mag.read_text().replace("skills: [skill.summarization]", "skills: [skill.summarize, skill.zzz]"))
    problems = validate_catalog(catalog_copy)
    assert [p.split(";")[0] for p in problems] == [
        f"{mag}: agent 'my-mag' uses unknown skill 'skill.summarize' (did you mean 'skill.summarization'?)",
        f"{mag}: agent 'my-mag' uses unknown skill 'skill.zzz'",
    ]
    assert all("name a skill of the catalog's (skill.analysis, " in p for p in problems)


def test_validate_never_passes_a_catalog_it_could_not_check(catalog_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """validate_catalog swallowed an ImportError from the policy and price checks (a broken install) and
    said "ok" for a catalog whose policies and prices it never read, while every call failed to start."""
    import magsag_mcp.pricing

    def broken(*args, **kwargs):
        raise ImportError("No module named 'genai_prices'")

    monkeypatch.setattr(magsag_mcp.pricing, "validate_prices", broken)
    with pytest.raises(ImportError, match="genai_prices"):
        validate_catalog(catalog_copy)


#: the users' guide's governance policy, as the guide writes it
GUIDE_POLICY = """\
policies:
  - name: production_models
    description: Allowed models in production
    allowed_models:
      - gpt-4o
      - gpt-4o-mini
      - claude-3-5-sonnet-20241022

  - name: cost_limits
    description: Maximum cost per run
    thresholds:
      max_cost_per_run_usd: 5.0
      max_cost_per_agent_daily_usd: 100.0

  - name: data_residency
    description: Models for sensitive data
    requirements:
      pii_processing: ["llama3.1:70b"]  # Local only
      financial_data: ["gpt-4o"]  # Approved providers
"""


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
        "'pii_processing' may only use ['llama3.1:70b'], which policy "
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


def test_a_catalog_path_that_does_not_exist_yet_is_refused_with_the_copy_that_makes_it(tmp_path: Path):
    # The VS Code and Cursor examples start the server with --catalog ${workspaceFolder}/catalog: in a workspace
    # without one, the server stopped saying only "give a catalog directory", not where one to start from is.
    import shlex
    import subprocess

    wanted = tmp_path / "workspace" / "catalog"
    wanted.parent.mkdir()
    with pytest.raises(ConfigError) as info:
        find_catalog(str(wanted), env={})
    message = info.value.message
    assert message.startswith(f"--catalog points at {str(wanted)!r}, which is not a directory")
    bundled = Path(__file__).resolve().parent.parent / "catalog"
    assert str(bundled) in message
    copy = message[message.index("(cp ") + 1 : message.index(")", message.index("(cp "))]
    subprocess.run(shlex.split(copy), check=True)  # the fix, as the message writes it
    assert find_catalog(str(wanted), env={}) == wanted and (wanted / "skills" / "analysis.yaml").is_file()


def test_a_routing_target_a_provider_cannot_be_told_for_is_named_by_its_key_path_with_every_other(catalog_copy: Path):
    # A target refused when it was parsed (unknown provider, a model no provider can be told from, a param out of
    # range) was said without where it stood ("x.yaml: unknown provider 'opnai'"), and stopped the file's reading:
    # the other problems of the file waited for the next run of validate
    extra = catalog_copy / "routing" / "extra.yaml"
    extra.write_text(
        "tiers:\n  gold: [economy]\n"
        "routes:\n"
        "  - {match: analysis, priority: 50, chain: [openai:gpt-4o, opnai:gpt-4o]}\n"
        "  - {match: coding, priority: 50, chain: [{provider: openai, model: gpt-4o, params: {temperature: 5}}]}\n"
    )
    assert validate_catalog(catalog_copy, env={}) == [
        f"{extra}: tiers.gold.0: cannot tell which provider serves model 'economy'; name it explicitly "
        "(e.g. 'local:economy' or model_config {'provider': ..., 'model': 'economy'})",
        f"{extra}: routes.0.chain.1: unknown provider 'opnai' (did you mean 'openai'?); use one of: anthropic, azure, "
        "compat, fake, google, local, openai",
        f"{extra}: routes.1.chain.0: params.temperature must be a number between 0 and 2, got 5",
    ]


@pytest.mark.parametrize(("written", "got"), [("null", "nothing"), ("5", "int"), ("[openai:gpt-4o]", "list")])
def test_a_routing_target_that_is_neither_text_nor_a_mapping_says_what_a_target_is(catalog_copy: Path, written, got):
    # pydantic said "chain.0.str: Input should be a valid string" and "chain.0.TargetSpec: Input should be a valid
    # dictionary or instance of TargetSpec": two problems for one, naming a class of magsag's code
    extra = catalog_copy / "routing" / "extra.yaml"
    extra.write_text(f"routes:\n  - match: analysis\n    priority: 50\n    chain: [{written}]\n")
    assert validate_catalog(catalog_copy, env={}) == [
        f"{extra}: routes.0.chain.0: a target is 'provider:model' (e.g. openai:gpt-4o) or a mapping "
        f"{{provider, model, base_url, params}}; got {got}"
    ]


def test_validate_names_a_skills_task_type_that_nearly_matches_a_route(catalog_copy: Path):
    # Before: a skill of one's own written `task_type: analysys` passed validate and doctor, and every call took the
    # default chain, not the models routing gives analysis, without a word. A task type like no route's passes.
    skills = catalog_copy / "skills"
    (skills / "mine.yaml").write_text("id: skill.mine\ndescription: d\ntask_type: analysys\nprompt: {user: '{text}'}\n")
    (skills / "other.yaml").write_text(
        "id: skill.other\ndescription: d\ntask_type: translation\nprompt: {user: '{text}'}\n"
    )
    assert validate_catalog(catalog_copy, env={}) == [
        f"{skills / 'mine.yaml'}: task_type: skill.mine's task_type 'analysys' matches no route, so its calls take "
        "the default chain; did you mean 'analysis'? (a route in routing matches that)"
    ]


@pytest.mark.parametrize(
    ("match", "said"),
    [
        ("skill.analysis", "skill.analysis's task_type is 'analysis': write match: analysis"),
        (
            "skill.document-*",
            "skill.document-analysis's task_type is 'document-analysis': write match: document-analysis",
        ),
    ],
)
def test_validate_names_a_route_written_with_a_skill_id_for_a_task_type(catalog_copy: Path, match, said):
    # Routes match a skill's task_type; one written with the skill's id routed nothing, and validate said ok while
    # every call of the skill went where it went before
    (catalog_copy / "routing" / "extra.yaml").write_text(
        f"routes:\n  - match: '{match}'\n    priority: 50\n    chain: [openai:gpt-4o-mini]\n"
    )
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy / 'routing' / 'extra.yaml'}: routes.0.match: route {match!r} matches no skill's task_type "
        f"but names a skill's id; routes match a skill's task_type, and {said}"
    ]


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
        f"{policy}: policies.0.allowed_models: Input should be a valid list; write a list of model names or patterns, "
        "e.g. [gpt-4o, 'claude-*']",
        f"{policy}: policies.0.thresholds: Input should be a mapping; write a mapping of limits, e.g. "
        "{max_cost_per_run_usd: 5.0}",
        f"{policy}: policies.0.requirements.pii_processing: Input should be a valid list; write a list of model names "
        "or patterns, e.g. ['local:llama3.1:70b']",
        f"{policy}: policies.1: Input should be a mapping; write each policy as a mapping with a name, such as "
        "{name: production_models, allowed_models: [gpt-4o]}",
    ]
    routing.write_text("- openai:gpt-4o\n")
    policy.unlink()
    assert validate_catalog(catalog_copy, env={}) == [
        f"{routing}: the file holds a list, not a mapping; a routing file holds default, tiers, routes and/or "
        "provider_defaults"
    ]


def test_a_default_chain_or_a_tier_written_twice_names_both_files(catalog_copy: Path):
    # "a default chain is already defined in another routing file" named neither that file nor which key
    extra = catalog_copy / "routing" / "extra.yaml"
    extra.write_text("default: [openai:gpt-4o-mini]\ntiers:\n  economy: [openai:gpt-4o-mini]\n")
    shipped = catalog_copy / "routing" / "default.yaml"
    assert validate_catalog(catalog_copy, env={}) == [
        f"{extra}: default: a default chain is already defined in {shipped}; keep one of the two",
        f"{extra}: tiers.economy: tier 'economy' is also defined in {shipped}; keep one of the two",
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
        f"{policy}: policies.0.allowed_models: allowed_models is written with nothing after it (YAML reads that as "
        "null), which would allow every model; list the models it allows, or remove the key",
        f"{policy}: policies.1.thresholds.max_cost_per_run_usd: max_cost_per_run_usd is written with nothing after it "
        "(YAML reads that as null), which would set no such limit; write the amount in USD (e.g. 5.0), or remove the "
        "key",
        f"{policy}: policies.2.thresholds: thresholds is written with nothing after it (YAML reads that as null), "
        "which would set no limit; write the limits (e.g. max_cost_per_run_usd: 5.0), or remove the key",
        f"{policy}: policies.3.requirements: requirements is written with nothing after it (YAML reads that as null), "
        "which would confine no data class; write each class's models (e.g. pii_processing: [local:llama3.1:70b]), "
        "or remove the key",
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


@pytest.mark.parametrize("written", ["''", "' '"])
def test_a_route_with_an_empty_match_is_a_problem(catalog_copy: Path, written: str):
    # it matched no task type, and validate said ok: the route it was written as routed nothing
    extra = catalog_copy / "routing" / "extra.yaml"
    extra.write_text(f"routes:\n  - match: {written}\n    chain: [openai:gpt-4o-mini]\n")
    assert validate_catalog(catalog_copy, env={}) == [
        f"{extra}: routes.0.match: match is empty, so the route matches no task type; write the task_type it "
        "routes (e.g. analysis), a glob (e.g. document-*), or '*' for every one"
    ]


def test_a_data_class_two_policies_confine_to_models_none_shares_says_so(catalog_copy: Path):
    # Every policy naming a class must allow a target. Two that share no model refused every call of the class, and
    # validate listed the models of both as what the refusing policy allowed, and said to name one in the class
    extra = catalog_copy / "policies" / "extra.yaml"
    extra.write_text("policies:\n  - name: other_residency\n    requirements:\n      pii_processing: [gpt-4o]\n")
    assert validate_catalog(catalog_copy, env={}) == [
        f"{catalog_copy / 'skills' / 'pii-redaction.yaml'}: every target of skill.pii-redaction (local:llama3.1:70b, "
        "openai:gpt-4o) is refused by policy 'other_residency' for its data class 'pii_processing' (['gpt-4o']), so "
        "its calls fail unless they name a model; route its task to a model the class allows, or name one in the "
        "class; every policy naming the class must allow the target: other_residency allows ['gpt-4o'] and "
        "data_residency ['local:llama3.1:70b', 'fake:*'], so route to a model both allow, or make them agree"
    ]


def test_a_routed_model_a_policy_refuses_that_nearly_names_one_it_allows_is_told_that_model(catalog_copy: Path):
    # a call naming gpt-4o-mnii is told "(did you mean 'gpt-4o-mini'?)" by its refusal; validate offered only to add
    # the misspelt name to allowed_models, first, for a chain and for a provider default written with it
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
        f"{policies}: policies.0.allowed_models.1: policy 'production_models' allows 'gpt-4o-mnii', which no routing "
        "target is; did you mean 'gpt-4o-mini'? (routing's gpt-4o-mini is refused by it, and skipped on every call)"
    ]
