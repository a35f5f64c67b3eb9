"""What validating the catalog says of routing: a route an earlier one always takes first, one that nearly names a
task type, a target no provider can be told for, keys of the wrong shape, an empty match."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import validate_catalog
from tests.catalog_helpers import write


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
        "compat, google, local, openai",
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


def test_a_default_chain_or_a_tier_written_twice_names_both_files(catalog_copy: Path):
    # "a default chain is already defined in another routing file" named neither that file nor which key
    extra = catalog_copy / "routing" / "extra.yaml"
    extra.write_text("default: [openai:gpt-4o-mini]\ntiers:\n  economy: [openai:gpt-4o-mini]\n")
    shipped = catalog_copy / "routing" / "default.yaml"
    assert validate_catalog(catalog_copy, env={}) == [
        f"{extra}: default: a default chain is already defined in {shipped}; keep one of the two",
        f"{extra}: tiers.economy: tier 'economy' is also defined in {shipped}; keep one of the two",
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
