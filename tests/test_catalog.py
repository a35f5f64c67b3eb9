"""The catalog: loading, ${VAR} expansion, where it is found, and errors that name their file.

What validation says of skills, their templates and schemas, and agents is in test_catalog_schemas.py; of routes in
test_catalog_routing.py; of policies, prices and data classes in test_catalog_policies.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from magsag_mcp.catalog import find_catalog, load_catalog, validate_catalog
from magsag_mcp.errors import CatalogError, ConfigError, PayloadError
from tests.catalog_helpers import write

SHIPPED = Path(__file__).resolve().parent.parent / "catalog"


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


@pytest.mark.parametrize(
    ("rel", "old", "new", "line", "said"),
    [
        # a key one space short of its neighbours'
        (
            "policies/model_governance.yaml",
            "      max_cost_per_run_usd: 5.0",
            "     max_cost_per_run_usd: 5.0",
            26,
            "line 26 is indented by 5 spaces, which lines up with none of the lines above it (line 25 is indented by "
            "6, line 24 by 4): indent each key of a mapping, and each '- ' of a list, by as many spaces as the others "
            "of its block (expected <block end>, but found '<block mapping start>')",
        ),
        # a list item one space short of the item above
        (
            "routing/default.yaml",
            "  - openai:gpt-4o-mini\n",
            " - openai:gpt-4o-mini\n",
            13,
            "line 13 is indented by 1 spaces, which lines up with none of the lines above it (line 12 is indented by "
            "2, line 10 by 0)",
        ),
        # a key one space deeper than its neighbours': read as more of the value above
        (
            "policies/model_governance.yaml",
            "      max_cost_per_run_usd: 5.0",
            "       max_cost_per_run_usd: 5.0",
            26,
            "line 26 is indented deeper (7 spaces) than line 25 (6), which has a value already "
            "('max_cost_per_call_usd: 1.0'), so YAML read line 26 as more of that value: indent it as the keys beside "
            "it (by 6) (mapping values are not allowed here)",
        ),
        # a value holding ": ", written without quotes
        (
            "skills/coding.yaml",
            "description: Write or change code for a described task.",
            "description: Code: write or change it",
            2,
            "the value of 'description', 'Code: write or change it', holds ': ', which YAML reads as a key's end; "
            'write the value in quotes: description: "Code: write or change it" (mapping values are not allowed here)',
        ),
        # a key with no space after its colon, with a key under it
        (
            "policies/model_governance.yaml",
            "  - name: cost_limits",
            "  - name:cost_limits",
            23,
            "line 22's name:cost_limits has no space after its colon, so YAML read it as text rather than a key and "
            "its value, and line 23 as more of that text: write name: cost_limits",
        ),
        # a key indented under a target (provider:model, whose colon is meant): the indentation, not the colon
        (
            "routing/default.yaml",
            "  - openai:gpt-4o-mini\n",
            "  - openai:gpt-4o-mini\n    fallbacks: []\n",
            14,
            "line 14 is indented deeper (4 spaces) than line 13 (2), which has a value already "
            "('- openai:gpt-4o-mini'), so YAML read line 14 as more of that value: an item of text has no keys to "
            "indent it among; indent it as the keys of the mapping the list is in (by 0)",
        ),
        # a key where a list takes its items (of text: none to indent it under, a key of the mapping it is in)
        (
            "routing/default.yaml",
            "  - openai:gpt-4o-mini\n",
            "  - openai:gpt-4o-mini\n  fallbacks: []\n",
            14,
            "line 14 is a key where the list begun at line 11 takes '- ' items: begin it with '- ' for an item of its "
            "own, or indent it as the keys of the mapping the list is in",
        ),
        # a [list] on one line left open: the next line read as its items
        (
            "policies/model_governance.yaml",
            '["local:llama3.1:70b", "fake:*"]',
            '["local:llama3.1:70b", "fake:*"',
            42,  # (the shipped policy file's month limits, commented out, are four lines above it)
            "the [ opened at line 41, column 23 is not closed before line 42: close it with ] where its list ends "
            "(expected ',' or ']', but got '<scalar>')",
        ),
        # a {mapping} on one line with a comma left out
        (
            "prices.yaml",
            '"local:*": {input: 0, output: 0}',
            '"local:*": {input: 0 output: 0}',
            16,
            "the mapping opened with { at column 12 has two items with no comma between them (before column 28): "
            "separate its items with commas",
        ),
        # a quote left open
        (
            "skills/coding.yaml",
            'user: "{task}"',
            "user: '{task}",
            6,
            "the ' opened at line 6, column 9 is never closed, so YAML read what follows as part of its text: close "
            "it with ' where the value ends",
        ),
        # (a quote left open that a later one closes: PyYAML's words alone, not indentation, which is not what is wrong)
        ("skills/coding.yaml", 'user: "{task}"', 'user: "{task}', 11, "column 54): expected <block end>, but found"),
    ],
)
def test_a_layout_mistake_says_what_was_written_wrong_and_the_fix(
    catalog_copy: Path, rel: str, old: str, new: str, line: int, said: str
):
    # PyYAML's "expected <block end>, but found '<block mapping start>'" or "mapping values are not allowed here"
    # named a token, not the space too many or too few, the colon in a value or the missing one that caused it
    path = catalog_copy / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    [problem] = [p for p in validate_catalog(catalog_copy, env={}) if p.startswith(f"{path}:")]
    assert problem.startswith(f"{path}: malformed YAML (line "), problem
    assert said in problem, problem
    assert f"line {line}" in problem, problem


@pytest.mark.parametrize(
    ("written", "value", "quoted", "pyyaml"),
    [
        # a provider glob, and every model, as a list item of its own and in a [list] on one line
        ("      - *:gpt-4o   # any provider\n", "*:gpt-4o", '"*:gpt-4o"', "but found ':'"),
        ("      - *\n", "*", '"*"', "but found '\\n'"),
        ("      - [gpt-4o, *-mini]\n", "*-mini", '"*-mini"', "found undefined alias '-mini'"),
        ('      - *"x"\n', '*"x"', "'*\"x\"'", "but found '\"'"),
    ],
)
def test_a_value_written_unquoted_with_a_star_at_its_start_says_to_quote_it(
    catalog_copy: Path, written: str, value: str, quoted: str, pyyaml: str
):
    # YAML reads "*..." as an alias: PyYAML's "expected alphabetic or numeric character, but found ':'" said neither
    # why nor the fix, for the glob the docs write as "*:gpt-4o"
    path = catalog_copy / "policies" / "model_governance.yaml"
    text = path.read_text()
    path.write_text(text.replace("      - gpt-4o-mini\n", written, 1))
    line = text[: text.index("      - gpt-4o-mini\n")].count("\n") + 1
    [problem] = validate_catalog(catalog_copy, env={})
    assert problem.startswith(f"{path}: malformed YAML (line {line}, column "), problem
    said = f"{value!r} begins with '*', which YAML reads as an alias (a reference to an anchor, &name) at the start"
    assert said in problem and f"write it in quotes: {quoted} (" in problem and pyyaml in problem, problem


def test_a_value_written_unquoted_with_a_reserved_character_at_its_start_says_to_quote_it(catalog_copy: Path):
    path = catalog_copy / "policies" / "model_governance.yaml"
    text = path.read_text().replace("description: Allowed models in production", "description: @ops team  # us")
    path.write_text(text)
    [problem] = validate_catalog(catalog_copy, env={})
    assert "'@ops team' begins with '@', which YAML reads as a character it reserves" in problem, problem
    assert 'write it in quotes: "@ops team" (found character \'@\' that cannot start any token)' in problem


@pytest.mark.parametrize(
    ("rel", "old", "new", "line", "column", "value"),
    [
        # every kind of catalog file; in a [list] and a {mapping} on one line, as a list item and as a key's value
        ("policies/team.yaml", None, "policies:\n  - name: team\n    allowed_models: [&x, gpt-4o]\n", 3, 22, "&x"),
        ("skills/analysis.yaml", "task_type: analysis\n", "task_type: &analysis  # ours\n", 3, 12, "&analysis"),
        ("routing/default.yaml", "  - openai:gpt-4o-mini\n", "  - &mini\n", 13, 5, "&mini"),
        ("prices.yaml", '"local:*": {input: 0, output: 0}', '"local:*": {input: &x, output: 0}', None, None, "&x"),
    ],
)
def test_an_anchor_written_where_a_value_was_meant_says_to_quote_it_not_none(
    catalog_copy: Path, rel: str, old: str | None, new: str, line: int | None, column: int | None, value: str
):
    # YAML reads "&x" with nothing after it as an anchor on no value, null: `allowed_models: [&x, gpt-4o]` passed the
    # YAML reader and validation then said 'got None, which YAML reads as a NoneType; write it in quotes: "None"'
    path = catalog_copy / rel
    path.write_text(new if old is None else path.read_text().replace(old, new, 1))
    [problem] = [p for p in validate_catalog(catalog_copy, env={}) if p.startswith(f"{path}:")]  # (an agent's skill)
    where = f"line {line}, column {column}" if line else "line "
    assert problem.startswith(f"{path}: malformed YAML ({where}"), problem
    said = f"{value!r} begins with '&', which YAML reads as an anchor (a name for the value after it)"
    assert said in problem and f'write it in quotes: "{value}" (YAML read no value there)' in problem, problem
    assert "None" not in problem


@pytest.mark.parametrize(
    ("rel", "old", "new", "value"),
    [
        # free text: a policy's, a skill's and an agent's description, a skill's prompt
        (
            "policies/model_governance.yaml",
            "description: Allowed models in production",
            "description: &ops team  # us",
            "&ops team",
        ),
        ("skills/analysis.yaml", "description: ", "description: &draft ", None),
        ("skills/summarization.yaml", "  system: You write", "  system: &terse You write", None),
        ("agents/my-mag.yaml", "description: Summarises", "description: &mag Summarises", None),
    ],
)
def test_an_anchor_at_the_start_of_free_text_says_to_quote_it_not_drops_it(
    catalog_copy: Path, rel: str, old: str, new: str, value: str | None
):
    # `description: &ops team` loaded as "team": YAML read "&ops" as an anchor on the text after it, and said nothing
    path = catalog_copy / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    line = text[: text.index(old)].count("\n") + 1
    [problem] = [p for p in validate_catalog(catalog_copy, env={}) if p.startswith(f"{path}:")]
    assert problem.startswith(f"{path}: malformed YAML (line {line}, column "), problem
    assert "begins with '&', which YAML reads as an anchor (a name for the value after it)" in problem, problem
    assert "write it in quotes: " in problem and "(YAML read the text after it alone)" in problem, problem
    if value is not None:
        assert f"{value!r} begins with '&'" in problem and f'write it in quotes: "{value}" (' in problem


def test_an_anchor_on_free_text_that_an_alias_names_still_reads(catalog_copy: Path):
    from magsag_mcp.catalog_yaml import read_yaml

    team = catalog_copy / "policies" / "team.yaml"
    team.write_text("policies:\n  - name: a\n    description: &same Team rules\n  - name: b\n    description: *same\n")
    problems: list[str] = []
    read = read_yaml(team, {}, problems)
    assert problems == [] and [p["description"] for p in read["policies"]] == ["Team rules", "Team rules"]


def test_anchors_and_aliases_written_on_purpose_and_stars_in_quotes_still_read(catalog_copy: Path):
    team = catalog_copy / "policies" / "team.yaml"
    team.write_text(
        "policies:\n"  # quoted, or not at a value's start: text
        "  - name: team\n    allowed_models: &models ['*', \"*:gpt-4o\", a*b]\n"
        "  - name: other\n    allowed_models: *models\n"
    )
    assert validate_catalog(catalog_copy, env={}) == []
    from magsag_mcp.governance import load_policies

    policies = {p.name: p for p in load_policies(catalog_copy, env={}).policies}
    assert policies["team"].allowed_models == policies["other"].allowed_models == ["*", "*:gpt-4o", "a*b"]
    # an anchor on no value that an alias names: a null shared on purpose, read as before
    from magsag_mcp.catalog_yaml import read_yaml

    team.write_text("a: &none\nb: [*none, &x {}]\n")
    problems: list[str] = []
    assert read_yaml(team, {}, problems) == {"a": None, "b": [None, {}]} and problems == []


def test_a_key_written_unquoted_with_a_star_is_told_to_quote_the_key_alone(catalog_copy: Path):
    # `*: {...}` (every model) was told: write it in quotes: "*: {input: 1, output: 2}", the key and its value as one
    path = catalog_copy / "prices.yaml"
    path.write_text(path.read_text() + "*: {input: 1, output: 2}\n")
    [problem] = validate_catalog(catalog_copy, env={})
    assert "'*' begins with '*', which YAML reads as an alias" in problem and 'write it in quotes: "*" (' in problem


@pytest.mark.parametrize("written", ["      -\n", "      - ~\n", "      - null\n"])
def test_an_item_left_empty_says_no_value_was_read_not_to_quote_none(catalog_copy: Path, written: str):
    path = catalog_copy / "policies" / "model_governance.yaml"
    path.write_text(path.read_text().replace("      - gpt-4o-mini\n", written, 1))
    [problem] = validate_catalog(catalog_copy, env={})
    assert problem.endswith(
        "policies.0.allowed_models.1: Input should be a valid string (got no value: YAML reads one left empty, ~ and "
        "null as none); write the value"
    ), problem


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
        f"{policies}:13: policies.0.allowed_models.6: YAML read 'llama3.1: 70b' " + said.format("llama3.1:70b"),
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


def test_missing_default_chain(tmp_path: Path):
    write(tmp_path, "skills/echo.yaml", "id: skill.echo\ndescription: d\ntask_type: echo\nprompt: {user: hi}\n")
    with pytest.raises(CatalogError, match="no routing file defines a 'default' chain"):
        load_catalog(tmp_path, env={})


def test_a_missing_default_chain_says_where_to_add_one(tmp_path: Path):
    # "no routing file defines a 'default' chain" said what was missing, and neither what it is for nor how to write it
    write(tmp_path, "skills/echo.yaml", "id: skill.echo\ndescription: d\ntask_type: echo\nprompt: {user: hi}\n")
    assert validate_catalog(tmp_path, env={}) == [
        f"{tmp_path / 'routing'}: no routing file defines a 'default' chain, where a task no route matches goes; add "
        "one to a routing file (routing/default.yaml), e.g. default: [openai:gpt-4o-mini]"
    ]


def test_a_catalog_path_with_spaces_around_it_says_to_remove_them(monkeypatch):
    # MAGSAG_CATALOG="/srv/catalog " (an env file's trailing space) was told to make that folder from the bundled
    # catalog, with a `cp -r` that would have made a second catalog beside the one meant
    monkeypatch.setenv("MAGSAG_CATALOG", f"{SHIPPED} ")
    with pytest.raises(ConfigError, match=f"remove the spaces around it: {SHIPPED} is the catalog directory") as err:
        find_catalog()
    assert "cp -r" not in err.value.message


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


def test_a_relative_catalog_path_says_the_folder_it_was_read_in_and_to_give_an_absolute_one(tmp_path, monkeypatch):
    # Claude Desktop's "env": {"MAGSAG_CATALOG": "./catalog"} is read in the folder the client starts the server in
    # (/ on macOS): the refusal named 'catalog' and offered a copy there, with no word of which folder it looked in
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        find_catalog(None, env={"MAGSAG_CATALOG": "./catalog"})
    message = info.value.message
    assert message.startswith("MAGSAG_CATALOG points at 'catalog', which is not a directory; "), message
    assert message.endswith(
        f"; a relative path is read in the folder magsag runs in, {tmp_path}: started by an MCP client, magsag-mcp "
        "runs in a folder the client chooses, not its configuration's, so give it the catalog's absolute path"
    ), message
    with pytest.raises(ConfigError) as absolute:
        find_catalog(None, env={"MAGSAG_CATALOG": str(tmp_path / "catalog")})
    assert "a relative path" not in absolute.value.message


def test_a_relative_catalog_path_is_copied_to_where_it_is_read(tmp_path, monkeypatch):
    # the copy offered for "MAGSAG_CATALOG": "catalog" named `catalog`: run in a terminal's folder, it made one there,
    # which the server, run in the folder its client chose, never read; it names the folder it is read in
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        find_catalog(None, env={"MAGSAG_CATALOG": "catalog"})
    message = info.value.message
    assert f" {tmp_path / 'catalog'})" in message, message
    assert " catalog)" not in message, message


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


def test_validate_never_passes_a_catalog_it_could_not_check(catalog_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """validate_catalog swallowed an ImportError from the policy and price checks (a broken install) and
    said "ok" for a catalog whose policies and prices it never read, while every call failed to start."""
    import magsag_mcp.pricing

    def broken(*args, **kwargs):
        raise ImportError("No module named 'genai_prices'")

    monkeypatch.setattr(magsag_mcp.pricing, "validate_prices", broken)
    with pytest.raises(ImportError, match="genai_prices"):
        validate_catalog(catalog_copy)


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
    assert message.startswith(f"catalog= points at {str(wanted)!r}, which is not a directory")
    bundled = Path(__file__).resolve().parent.parent / "catalog"
    assert str(bundled) in message
    copy = message[message.index("(cp ") + 1 : message.index(")", message.index("(cp "))]
    subprocess.run(shlex.split(copy), check=True)  # the fix, as the message writes it
    assert find_catalog(str(wanted), env={}) == wanted and (wanted / "skills" / "analysis.yaml").is_file()
