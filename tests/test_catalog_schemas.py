"""What loading and validating the catalog say of skills (their templates, input and output schemas) and of agents
(the skills they name, their entry points, an id defined twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.errors import CatalogError
from tests.catalog_helpers import write


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
        mini,
        "skills/summaries.yaml",
        "id: skill.sum\ndescription: d\ntask_type: sum\nprompt:\n  user: '{text}'\nmax_tokens: lots\n",
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
        f"{mini / 'agents' / 'no_such_module_xyz.py'}; the catalog's agent modules: aliased_mod, broken_mod, good_mod, "
        "typo_mod (entrypoint: MODULE:FUNCTION)",
        f"{typo}: entrypoint 'typo_mod:runn': typo_mod.py defines no 'runn' (did you mean typo_mod:run?)",
    ]
    assert not ran.exists()  # validate never executes an agent's module
    assert good.exists() and aliased.exists()


def test_a_misspelt_agent_entrypoint_is_told_the_module_or_function_it_means(catalog_copy: Path):
    # "entrypoint module 'my_mga' is neither importable nor at .../my_mga.py" and "my_mag has no function 'rnu'" said
    # what was not found, and nothing of the module beside it in agents/ or the function the module defines
    from magsag_mcp import Magsag
    from magsag_mcp.errors import ConfigError

    mag = catalog_copy / "agents" / "my-mag.yaml"
    shipped = mag.read_text()
    mag.write_text(shipped.replace("entrypoint: my_mag:run", "entrypoint: my_mga:run"))
    said = f"(did you mean 'my_mag', {catalog_copy / 'agents' / 'my_mag.py'}?)"
    assert [p for p in validate_catalog(catalog_copy, env={}) if said in p], validate_catalog(catalog_copy, env={})
    mag.write_text(shipped.replace("entrypoint: my_mag:run", "entrypoint: my_mag:rnu"))
    assert f"{mag}: entrypoint 'my_mag:rnu': my_mag.py defines no 'rnu' (did you mean my_mag:run?)" in validate_catalog(
        catalog_copy, env={}
    )
    with Magsag(catalog=catalog_copy, db=catalog_copy.parent / "l.db", env={}) as mg:
        with pytest.raises(ConfigError, match=r"my_mag has no function 'rnu' \(did you mean my_mag:run\?\)"):
            mg.runner.run_agent("my-mag", {"data": "x"})


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
