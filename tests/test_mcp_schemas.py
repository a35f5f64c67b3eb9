"""The published tool schemas: valid JSON Schema 2020-12, precise, short, and true to the service."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from mcp.client import Client

from magsag_mcp.call_request import MODEL_CONFIG_KEYS
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.models import PROVIDERS
from magsag_mcp.providers import provider_names

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOOLS = {
    "list_skills",
    "invoke_skill",
    "continue_paused",
    "explain_route",
    "summarize_usage",
    "daily_usage",
    "query_runs",
    "check_budget",
    "search_usage",
}


@pytest.fixture
async def tools(tmp_path: Path):
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})
    async with Client(server) as client:
        yield {t.name: t for t in (await client.list_tools()).tools}


async def test_every_tool_is_listed_with_valid_input_and_output_schemas(tools):
    assert set(tools) == TOOLS
    for tool in tools.values():
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        assert tool.output_schema is not None, f"{tool.name} publishes no output schema"
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        assert tool.input_schema["type"] == "object" and tool.input_schema["additionalProperties"] is False
        assert tool.description and len(tool.description) < 200, "descriptions cost the client's context"


async def test_schemas_carry_no_generated_titles_or_null_noise(tools):
    text = json.dumps([t.input_schema for t in tools.values()])
    assert '"title"' not in text
    assert '{"type": "null"}' not in text


async def test_query_tools_are_annotated_read_only_and_invoke_is_not(tools):
    for name in TOOLS - {"invoke_skill", "continue_paused"}:
        assert tools[name].annotations.read_only_hint is True, name
    invoke = tools["invoke_skill"].annotations
    assert invoke.read_only_hint is False and invoke.open_world_hint is True and invoke.destructive_hint is False


async def test_every_tool_has_a_title_and_honest_hints_as_the_2025_06_18_revision_has_them(tools):
    # MCP 2025-06-18: a tool's display name is its title (then annotations.title, then its name); no tool had one,
    # and a client showed "summarize_usage". The hints: only invoke_skill changes anything (a run recorded, a budget
    # spent, each call paid again: not idempotent), adds and never overwrites (not destructive), and reaches a vendor
    sent = {}
    for name, tool in tools.items():
        wire = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert wire["title"] and wire["title"] == wire["annotations"]["title"], wire
        assert wire["title"][0].isupper() and "_" not in wire["title"], wire["title"]  # a person's words, no id
        sent[name] = wire["annotations"]
    assert len({a["title"] for a in sent.values()}) == len(TOOLS)
    for name in TOOLS - {"invoke_skill", "continue_paused"}:
        assert sent[name] == {**sent[name], "readOnlyHint": True, "openWorldHint": False}, name
    # continue_paused goes on with a paused call's turn: sent to the vendor and paid, as invoke_skill's call is
    assert sent["continue_paused"] == {
        "title": "Continue a paused call",
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": False,
        "openWorldHint": True,
    }
    assert sent["invoke_skill"] == {
        "title": "Invoke a skill",
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": False,
        "openWorldHint": True,
    }


async def test_invoke_skill_arguments_are_the_issue_s(tools):
    schema = tools["invoke_skill"].input_schema
    assert schema["required"] == ["skill_id", "payload"]
    assert set(schema["properties"]) == {"skill_id", "payload", "agent", "run_id", "model_config", "context"}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(
        {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "gpt-4o"}}
    )
    assert not validator.is_valid({"skill_id": "analysis", "payload": {}})  # ids start with skill.
    assert not validator.is_valid({"skill_id": "skill.analysis", "payload": {}, "model_config": {"provider": "opnai"}})
    assert not validator.is_valid({"skill_id": "skill.analysis", "payload": {}, "model_config": {"temperature": 3}})


def test_model_config_schema_covers_exactly_what_routing_accepts():
    from magsag_mcp.mcp_server.models import ModelConfigArg

    assert set(ModelConfigArg.model_fields) == set(MODEL_CONFIG_KEYS)


def test_provider_enum_is_the_registry():
    assert sorted(PROVIDERS) == provider_names()


def test_provider_aliases_are_the_registry_s():
    from magsag_mcp.mcp_server.models import PROVIDER_ALIASES
    from magsag_mcp.providers import _ALIASES

    assert PROVIDER_ALIASES == _ALIASES


async def test_a_provider_is_taken_by_its_alias_or_in_any_case_as_inside_the_payload(tmp_path: Path):
    # The same model_config inside the payload took "gemini", "ollama" or "OpenAI" (the service reads providers so);
    # the model_config argument refused them ("expected one of 'anthropic', ..."), a model's most natural spelling.
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        mc = {
            "provider": "gemini",
            "model": "gemini-1.5-pro",
            "fallbacks": [{"provider": "Ollama", "model": "llama3.1:70b"}, {"provider": "claude", "model": "c"}],
        }
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": mc}
        plan = await c.call_tool("explain_route", args)
        assert not plan.is_error, plan.content[0].text
        assert [t["provider"] for t in plan.structured_content["targets"]] == ["google", "local", "anthropic"]
        bad = await c.call_tool("explain_route", {**args, "model_config": {"provider": "gemni", "model": "m"}})
        assert bad.is_error and "model_config.provider: expected one of 'anthropic'" in bad.content[0].text


async def test_limits_and_defaults_are_in_the_schema(tools):
    limit = tools["query_runs"].input_schema["properties"]["limit"]
    assert limit["default"] == 20 and limit["minimum"] == 1 and limit["maximum"] == 500
    assert tools["search_usage"].input_schema["required"] == ["pattern"]


async def test_a_length_the_server_refuses_past_is_a_maxlength_in_the_schema(tmp_path: Path, tools):
    """The search pattern's limit was checked in code alone: a client validating its arguments against the schema
    sent a 1,001-character pattern, and learnt of the limit from the refusal."""
    from magsag_mcp.ledger.patterns import MAX_PATTERN_CHARS

    pattern = tools["search_usage"].input_schema["properties"]["pattern"]
    assert pattern["maxLength"] == MAX_PATTERN_CHARS == 1000
    assert not jsonschema.Draft202012Validator(pattern).is_valid("a" * 1001)
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})
    async with Client(server) as client:
        refused = await client.call_tool("search_usage", {"pattern": "a" * 1001})
        taken = await client.call_tool("search_usage", {"pattern": "[" + "a" * 998 + "]"})  # (a small program)
    # the ledger's refusal, which says the length given, not pydantic's in its place
    said = refused.content[0].text
    assert refused.is_error and "the search pattern is 1001 characters; give one of at most 1000" in said, said
    assert "string should have at most" not in said, said
    assert not taken.is_error, taken.content


def test_usage_filters_argument_is_the_ledger_s():
    from magsag_mcp.ledger import UsageFilters
    from magsag_mcp.mcp_server.models import QueryRunsArgs, UsageFiltersArg

    assert set(UsageFiltersArg.model_fields) == set(UsageFilters.model_fields) - {"limit", "offset", "cursor"}
    assert {"limit", "offset", "cursor"} <= set(QueryRunsArgs.model_fields)
    status = UsageFiltersArg.model_fields["status"].annotation
    assert status == UsageFilters.model_fields["status"].annotation


async def test_result_schemas_inline_single_use_definitions_and_write_nullables_as_type_lists(tools):
    # The python SDK's client validates every tool result against its output schema with jsonschema,
    # where a $ref or an anyOf costs several times a type list; they also cost the client's context.
    invoke = json.dumps(tools["invoke_skill"].output_schema)
    assert "$ref" not in invoke and "$defs" not in invoke and "anyOf" not in invoke
    cost = tools["invoke_skill"].output_schema["properties"]["cost_usd"]
    assert cost["type"] == ["string", "null"]


async def test_every_definition_a_schema_names_is_there(tools):
    # search_usage's discriminator mapping names its hit definitions, as its oneOf's $refs do
    import re

    for tool in tools.values():
        for schema in (tool.input_schema, tool.output_schema):
            named = set(re.findall(r'"#/\$defs/([^"]+)"', json.dumps(schema)))
            assert named <= set(schema.get("$defs", {})), (tool.name, named)
    assert "$defs" in tools["search_usage"].output_schema


def test_compacting_a_result_schema_keeps_what_it_accepts():
    from typing import Literal

    from pydantic import BaseModel

    from magsag_mcp.mcp_server.schema_compaction import compact_schema

    class Node(BaseModel):
        name: str
        children: list[Node] = []

    class Leaf(BaseModel):
        v: int | None = None

    class Kind(BaseModel):
        kind: Literal["a", "b"] | None
        note: str | None

    class Top(BaseModel):
        node: Node
        first: Leaf
        second: Leaf
        once: Kind

    full = Top.model_json_schema(mode="serialization")
    compact = compact_schema(full, optional_not_null=False)
    # recursive and twice-used definitions stay definitions; the one used once is written in place
    assert sorted(compact["$defs"]) == ["Leaf", "Node"]
    assert compact["properties"]["once"]["properties"]["note"]["type"] == ["string", "null"]
    # enum applies to null too: a nullable enum keeps its anyOf, or null would be refused
    assert "anyOf" in compact["properties"]["once"]["properties"]["kind"]
    node = {"name": "r", "children": [{"name": "c", "children": []}]}
    instances = [
        {"node": node, "first": {"v": 1}, "second": {"v": None}, "once": {"kind": None, "note": None}},
        {"node": node, "first": {}, "second": {}, "once": {"kind": "a", "note": "x"}},
        {"node": node, "first": {"v": "1"}, "second": {}, "once": {"kind": "a", "note": "x"}},
        {"node": {"name": "r", "children": [{"name": 3}]}, "first": {}, "second": {}, "once": {"kind": "a"}},
        {"node": node, "first": {}, "second": {}, "once": {"kind": "c", "note": None}},
        {"node": node, "first": {}, "second": {}, "once": {"kind": None, "note": 5}},
    ]
    original, compacted = jsonschema.Draft202012Validator(full), jsonschema.Draft202012Validator(compact)
    assert [original.is_valid(i) for i in instances] == [True, True, False, False, False, False]
    assert [compacted.is_valid(i) for i in instances] == [original.is_valid(i) for i in instances]


# Schemas pydantic does not write for our models, but that compact_schema must not change the meaning
# of: each with instances whose validity must stay the same.
HAND_BUILT = {
    "a type beside the nullable anyOf": (
        {"type": "string", "anyOf": [{"type": "string"}, {"type": "null"}]},
        [None, "a"],
    ),
    "a keyword beside the anyOf that the branch also sets": (
        {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null"}], "maxLength": 10},
        ["abcde", "ab", None],
    ),
    "a keyword beside the $ref that the definition also sets": (
        {
            "$defs": {"A": {"type": "object", "required": ["y"]}},
            "properties": {"a": {"$ref": "#/$defs/A", "required": ["x"]}},
        },
        [{"a": {"x": 1}}, {"a": {"y": 1}}, {"a": {"x": 1, "y": 2}}],
    ),
    "a ref into a definition": (
        {
            "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/$defs/A/properties/x"}},
        },
        [{"a": {}, "b": 1}, {"b": "s"}, {"a": {"x": "s"}}],
    ),
    "an escaped definition name": (
        {"$defs": {"a/b": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/a~1b"}}},
        [{"a": 1}, {"a": "x"}],
    ),
    "a nested resource with definitions of the same name": (
        {
            "$defs": {"B": {"type": "string"}},
            "properties": {"a": {"$id": "urn:n", "$defs": {"B": {"type": "integer"}}, "$ref": "#/$defs/B"}},
        },
        [{"a": 1}, {"a": "s"}],
    ),
    "recursion through three definitions": (
        {
            "$defs": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                "B": {"type": "object", "properties": {"c": {"$ref": "#/$defs/C"}}},
                "C": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
            },
            "properties": {"r": {"$ref": "#/$defs/A"}},
        },
        [{"r": {"b": {"c": {"a": {"b": {"c": {}}}}}}}, {"r": {"b": {"c": {"a": {"b": {"c": 1}}}}}}],
    ),
    "a nullable $dynamicRef": (
        {
            "$dynamicAnchor": "n",
            "type": "object",
            "properties": {
                "x": {"anyOf": [{"type": "object", "$dynamicRef": "#n", "required": ["z"]}, {"type": "null"}]}
            },
        },
        [{"x": None}, {"x": {}}, {"x": {"z": {}}}],
    ),
    "a title inside a default": (
        {"type": "object", "properties": {"d": {"type": "object", "default": {"title": "x"}}}},
        [{}, {"d": {}}],
    ),
}


@pytest.mark.parametrize("case", sorted(HAND_BUILT))
def test_compacting_leaves_the_meaning_of_hand_built_schemas_alone(case):
    from magsag_mcp.mcp_server.schema_compaction import compact_schema

    schema, instances = HAND_BUILT[case]
    original = jsonschema.Draft202012Validator(schema)
    compact = compact_schema(schema, optional_not_null=False)
    assert [jsonschema.Draft202012Validator(compact).is_valid(i) for i in instances] == [
        original.is_valid(i) for i in instances
    ], compact
    # arguments: an optional one is left out rather than sent as null, and nothing else changes
    arguments = jsonschema.Draft202012Validator(compact_schema(schema, optional_not_null=True))
    some = [i for i in instances if i is not None and "None" not in repr(i)]
    assert [arguments.is_valid(i) for i in some] == [original.is_valid(i) for i in some]
    defaulted = compact_schema(HAND_BUILT["a title inside a default"][0], optional_not_null=False)
    assert defaulted["properties"]["d"]["default"] == {"title": "x"}  # data, not a generated title


async def test_a_model_is_pointed_at_the_tool_that_lists_skills(tmp_path: Path):
    # A model calling tools reads no resource unless its user attaches one: the instructions and skill_id's
    # description sent it to magsag://catalog/skills alone, and it guessed ids.
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})
    async with Client(server) as client:
        assert "list_skills" in (client.instructions or "")
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in ("invoke_skill", "explain_route"):
        assert "list_skills" in tools[name].input_schema["properties"]["skill_id"]["description"], name


async def test_the_instructions_name_every_tool(tmp_path: Path):
    # A model reads the server's instructions once, on connecting: daily_usage, the tool for each agent's spend on
    # each day, was missing from its list of the tools that read the ledger
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        instructions = client.instructions or ""
    assert tools and all(name in instructions for name in tools), instructions


def test_the_stored_tool_schemas_are_what_the_models_generate_now():
    # The server serves the schemas stored in tool_schemas.json (generating them was ~10% of start-up); a model
    # changed without writing the file again would publish a schema that is not the tools' own.
    from magsag_mcp.mcp_server.state import ServerState
    from magsag_mcp.mcp_server.tool_schemas import stored
    from magsag_mcp.mcp_server.tools import MagsagTools

    tools = MagsagTools(ServerState(catalog=None, db=None, env=None, transport=None)).tools(fresh=True)
    generated = {t.name: {"parameters": t.parameters, "output_schema": t.fn_metadata.output_schema} for t in tools}
    # compared as text: the order of a schema's properties is the order a client shows them in
    assert json.dumps(stored(), ensure_ascii=False) == json.dumps(generated, ensure_ascii=False), (
        "magsag_mcp/mcp_server/tool_schemas.json is out of date: run python -m magsag_mcp.mcp_server.tool_schemas"
    )


def test_a_server_serves_the_stored_schemas_and_builds_no_tool_model_until_used():
    import subprocess
    import sys
    import textwrap

    code = """
        import json
        from magsag_mcp.startup import models_built_on_first_use
        with models_built_on_first_use():
            from magsag_mcp.mcp_server import build_server
            from magsag_mcp.mcp_server import models as M
            build_server(db=":memory:")
        print(json.dumps([M.InvokeSkillArgs.__pydantic_complete__, M.InvokeSkillResult.__pydantic_complete__]))
        """
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [False, False]


async def test_summarize_usage_says_it_names_the_costliest_call_run_and_day(tools):
    # A client's model sees a tool's description and input schema, seldom its output schema (Claude Desktop shows it
    # none): told only "usage per model with totals", a model asked for the costliest call paged query_runs for it,
    # though summarize_usage answers it (largest_call), as it does the costliest run and day.
    said = tools["summarize_usage"].description
    for what in ("costliest call", "largest_call", "largest_run", "largest_day", "agent", "skill"):
        assert what in said, (what, said)


async def test_invoke_skill_says_what_each_finish_reason_means(tools):
    # finish_reason was a bare string in the output schema: a model reading "length" was not told its answer was cut
    # at max_tokens (and to raise it), nor "tool_calls" that it is to answer the calls in messages.
    from typing import get_args

    from magsag_mcp.types import FinishReason

    said = tools["invoke_skill"].output_schema["properties"]["finish_reason"]["description"]
    for reason in get_args(FinishReason):
        assert f"{reason}:" in said or f"{reason} (" in said, (reason, said)
    assert "max_tokens" in said and "messages" in said


@pytest.mark.parametrize("agent", [None, "ops"])
async def test_every_argument_a_tool_takes_says_what_it_is(tmp_path: Path, agent: str | None):
    # A client's model reads a tool's arguments to call it: check_budget's agent and run_id, the ledger tools' filters
    # and limit were bare types, so a model asked "how much may the ops agent still spend" had nothing saying that
    # agent adds its daily limit, nor that it is at most 200 characters, as the tool enforces (its maxLength says so).
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={}, agent=agent)
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    bare = [
        f"{tool.name}.{name}"
        for tool in tools
        for name, schema in tool.input_schema.get("properties", {}).items()
        if not schema.get("description")
    ]
    assert bare == []
    budget = next(t for t in tools if t.name == "check_budget").input_schema["properties"]
    assert budget["run_id"]["maxLength"] == budget["agent"]["maxLength"] == 200


async def test_the_read_tools_notes_are_described_as_the_notes_they_return(tmp_path: Path):
    """summarize_usage's and query_runs' notes were described as a filter's near names and a copy read alone, where
    they also say that a since ahead of now matches nothing, as search_usage's description says of its own: a client
    reading the schema did not expect that note, the one that explains an empty result."""
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in ("summarize_usage", "query_runs"):
            result = await client.call_tool(name, {"filters": {"since": "2099-01-01"}})
            assert not result.is_error, result.content
            [note] = result.structured_content["notes"]
            assert "is in the future, so nothing recorded can match" in note
            described = tools[name].output_schema["properties"]["notes"]["description"]
            assert "a since ahead of now, which nothing recorded can match" in described, name
            assert "a copy of the ledger was read in its place" in described, name


async def test_a_run_of_several_skills_is_described_where_its_skill_is_null(tmp_path: Path):
    """A run that called two skills (a Magsag session, a MAG) comes back from query_runs with "skill": null, which the
    schema said nothing of: a client read it as a run whose skill was lost. Its field says what null means and where
    the skills are (its attempts), as search_usage's run hits do."""
    from magsag_mcp import Magsag

    db = tmp_path / "ledger.db"
    with Magsag(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"}, run_id="session-1") as mg:
        mg.skills.invoke("skill.analysis", {"data": "x"})
        mg.skills.invoke("skill.summarization", {"text": "y"})
    async with Client(build_server(catalog=CATALOG, db=db, env={})) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        [run] = (await client.call_tool("query_runs", {})).structured_content["runs"]
    assert run["skill"] is None
    assert {a["skill"] for a in run["attempts"]} == {"skill.analysis", "skill.summarization"}
    described = tools["query_runs"].output_schema["properties"]["runs"]["items"]["properties"]["skill"]["description"]
    assert "null" in described and "more than one skill" in described and "attempts" in described
    run_hit = tools["search_usage"].output_schema["$defs"]["RunHitOut"]["properties"]["skill"]
    assert "more than one skill" in run_hit["description"]


async def test_the_status_filter_s_schema_takes_what_the_server_takes_in_any_case(tools):
    # The server takes a run status in any case (status_filter.py), but the schema published an enum of the lower
    # case names alone: a client that checks its arguments against the schema refused "OK" before sending it
    from magsag_mcp.status_filter import RUN_STATUSES

    for name in ("summarize_usage", "daily_usage", "query_runs"):
        schema = tools[name].input_schema
        status = schema["properties"]["filters"]["properties"]["status"]
        assert "enum" not in status
        assert all(s in status["description"] for s in RUN_STATUSES) and "any case" in status["description"]
        check = jsonschema.Draft202012Validator(schema)
        for given in ("ok", "OK", "Error", "POLICY_DENIED", "Cancelled", "running"):
            assert check.is_valid({"filters": {"status": given}}), given
        # "ok\n" too: Python's $ (this validator's) also matched before a final newline, which the server refuses
        for given in ("okay", "errors", "", "ok ", "policy-denied", "canceled", "ok\n", "Error\n", "\nok"):
            assert not check.is_valid({"filters": {"status": given}}), given


#: JSON Schema's recommended regex subset (2020-12 core, 6.4): characters, classes, quantifiers, ^ $, plain groups
#: and |, which every client's validator reads; \s beside it (every engine takes it). No (?:, lookaround or flags
_RECOMMENDED_REGEX = re.compile(r"(?:[^\\(\[]|\\[sdw.\\\-^$|()\[\]]|\[[^\]]*\]|\((?![?]))*")


async def test_the_provider_s_schema_takes_what_the_server_takes_in_any_case_and_by_its_aliases(tools, tmp_path):
    # model_config.provider (and each fallback's) is taken in any case and by an alias (gemini, ollama, claude), but
    # the schema published an enum of the registry's lower-case names: a client that checks its arguments against it
    # refused "OpenAI" and "gemini" before sending them
    from magsag_mcp.mcp_server.models import PROVIDER_ALIASES

    for name in ("invoke_skill", "explain_route"):
        schema = tools[name].input_schema
        config = schema["properties"]["model_config"]
        fallback = next(s for s in config["properties"]["fallbacks"]["items"]["anyOf"] if s.get("type") == "object")
        for provider in (config["properties"]["provider"], fallback["properties"]["provider"]):
            assert "enum" not in provider and _RECOMMENDED_REGEX.fullmatch(provider["pattern"])
            assert "gemini is google" in provider["description"] and "any case" in provider["description"]
        check = jsonschema.Draft202012Validator(schema)
        base = {"skill_id": "skill.analysis", "payload": {}}
        taken = [*PROVIDERS, *PROVIDER_ALIASES, "OpenAI", "GEMINI", "Ollama", "Azure-OpenAI", " openai ", ""]
        for given in taken:
            assert check.is_valid({**base, "model_config": {"provider": given}}), given
            assert check.is_valid({**base, "model_config": {"fallbacks": [{"provider": given, "model": "m"}]}}), given
        for given in ("opnai", "gemni", "open ai", "openai:gpt-4o", " ", "azure openai", "fa\u212ae"):
            assert not check.is_valid({**base, "model_config": {"provider": given}}), given
    # the server takes each value the schema takes, and refuses each it refuses
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
        for given in ("OpenAI", "GEMINI", " ollama ", "Azure-OpenAI"):
            plan = await c.call_tool("explain_route", {**args, "model_config": {"provider": given, "model": "m"}})
            assert not plan.is_error, (given, plan.content[0].text)
        for given in (" ", "fa\u212ae"):
            plan = await c.call_tool("explain_route", {**args, "model_config": {"provider": given, "model": "m"}})
            assert plan.is_error and "model_config.provider" in plan.content[0].text, given


async def test_the_status_filter_s_pattern_is_in_json_schema_s_recommended_regex_subset(tools):
    # (?:...) is not in it: a client whose validator reads only the subset could not check the status at all
    from pydantic import TypeAdapter

    from magsag_mcp.status_filter import StatusFilter

    status = tools["query_runs"].input_schema["properties"]["filters"]["properties"]["status"]
    assert _RECOMMENDED_REGEX.fullmatch(status["pattern"]), status["pattern"]
    # and the server takes no more than the pattern: the Kelvin sign (U+212A) was a k to str.lower, "ok" to the server
    assert not jsonschema.Draft202012Validator(status).is_valid("O\u212a")
    with pytest.raises(ValueError):
        TypeAdapter(StatusFilter).validate_python("O\u212a")
    # nor a final newline, which the server refuses (and the schema, by the lengths a status has)
    assert not jsonschema.Draft202012Validator(status).is_valid("ok\n")
    with pytest.raises(ValueError):
        TypeAdapter(StatusFilter).validate_python("ok\n")
    assert all(set(length) == {"type", "minLength", "maxLength"} for length in status["anyOf"]), status


#: ECMA-262's \s (WhiteSpace and LineTerminator: 22.2.2.9, 12.2, 12.3), what a JavaScript client's validator (ajv)
#: reads \s as: U+FEFF, and none of U+001C-U+001F and U+0085, which Python's \s (and str.strip()) takes
_ECMA_SPACE = "[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def _as_ecma(pattern: str) -> re.Pattern[str]:
    """``pattern`` as an ECMA-262 engine reads it, for the characters this suite's patterns use: its \\s (in a class
    or not) ECMA's, and its $ the end alone (Python's also matches before a final newline)."""
    ecma = pattern.replace(r"\s", _ECMA_SPACE)
    return re.compile(ecma.removesuffix("$") + r"\Z")


async def test_the_provider_s_schema_takes_the_spaces_the_server_strips_in_every_engine(tools):
    # The pattern said "\s*" around a provider's name, while the server strips what str.strip() strips: in a
    # JavaScript client's engine \s takes U+FEFF, which the server does not strip ("\ufeffopenai" passed the schema
    # and was refused), and not U+001C-U+001F or U+0085, which it does ("openai\x1f" was refused before it was
    # sent); and Python's $ let the pattern's "" take "\n", which the server refuses. The pattern spells out the
    # characters str.strip() strips, which every engine reads alike, and the schema's lengths keep "\n" out.
    from pydantic import TypeAdapter, ValidationError

    from magsag_mcp.mcp_server.provider_names import Provider

    server = TypeAdapter(Provider)

    def server_takes(given: str) -> bool:
        try:
            server.validate_python(given)
        except ValidationError:
            return False
        return True

    config = tools["invoke_skill"].input_schema["properties"]["model_config"]["properties"]
    published = config["provider"]
    assert r"\s" not in published["pattern"]
    python = jsonschema.Draft202012Validator(published)
    ecma = _as_ecma(published["pattern"])

    def ecma_takes(given: str) -> bool:  # the pattern as a JavaScript validator reads it, and the lengths
        lengths = any(
            len(given) <= part.get("maxLength", len(given)) and len(given) >= part.get("minLength", 0)
            for part in published["anyOf"]
        )
        return bool(ecma.match(given)) and lengths

    spaces = {chr(c) for c in range(0x3001) if chr(c).isspace()} | {"\ufeff", "\u200b", "\x00", "\x7f"}
    for space in sorted(spaces):
        for given in (f"openai{space}", f"{space}GEMINI", f"{space}{space}local{space}", space, f"{space}vllm"):
            takes = server_takes(given)
            assert ecma_takes(given) == takes, (given, takes)
            assert python.is_valid(given) == takes, (given, takes)
    assert python.is_valid("") and ecma_takes("") and server_takes("")


#: (tool, arguments with one value past its limit, the path to that value's schema, the limit, the service's words)
_OVER_LIMITS = (
    ("invoke_skill", {"agent": "a" * 201}, ("agent",), 200, "agent is 201 characters long, and a name is at most 200"),
    ("invoke_skill", {"run_id": "r" * 201}, ("run_id",), 200, "run_id is 201 characters long"),
    ("explain_route", {"agent": "a" * 201}, ("agent",), 200, "agent is 201 characters long"),
    ("check_budget", {"agent": "a" * 201}, ("agent",), 200, "agent is 201 characters long"),
    ("check_budget", {"run_id": "r" * 201}, ("run_id",), 200, "run_id is 201 characters long"),
    (
        "check_budget",
        {"skill": "skill.analysis", "model": "m" * 513},
        ("model",),
        512,
        "model of 513 characters: a model's name is at most 512",
    ),
    (
        "invoke_skill",
        {"model_config": {"model": "m" * 513}},
        ("model_config", "model"),
        512,
        "model_config: model of 513 characters",
    ),
    (
        "invoke_skill",
        {"model_config": {"model": "fake:echo", "fallbacks": ["m" * 513]}},
        ("model_config", "fallbacks", "items", 0),
        512,
        "model_config.fallbacks[0]: model of 513 characters",
    ),
    (
        "invoke_skill",
        {"model_config": {"model": "fake:echo", "fallbacks": [{"model": "m" * 513}]}},
        ("model_config", "fallbacks", "items", 1, "model"),
        512,
        "model_config.fallbacks[0]: model of 513 characters",
    ),
    (
        "invoke_skill",
        {"model_config": {"model": "echo", "provider": "local", "base_url": "http://h/" + "u" * 2040}},
        ("model_config", "base_url"),
        2048,
        "model_config: base_url of 2,049 characters: a base URL is at most 2048",
    ),
    (
        "invoke_skill",
        {
            "model_config": {
                "model": "fake:echo",
                "fallbacks": [{"model": "echo", "provider": "local", "base_url": "http://h/" + "u" * 2040}],
            }
        },
        ("model_config", "fallbacks", "items", 1, "base_url"),
        2048,
        "model_config.fallbacks[0]: base_url of 2,049 characters",
    ),
    (
        "query_runs",
        {"filters": {"since": "2" * 65}},
        ("filters", "since"),
        64,
        "filters.since='222222222222222222222222'... (65 characters) is not a time: a time is at most 64 characters",
    ),
    ("summarize_usage", {"filters": {"until": "u" * 65}}, ("filters", "until"), 64, "a time is at most 64"),
    ("search_usage", {"pattern": "x", "since": "s" * 65}, ("since",), 64, "a time is at most 64 characters"),
    (
        "explain_route",
        {"context": {"preferred_model": "m" * 513}},
        ("context", "preferred_model"),
        512,
        "context.preferred_model: model of 513 characters",
    ),
)


async def test_the_service_s_limits_on_names_models_and_urls_are_in_the_schema_and_its_refusal_is_said(tmp_path):
    """An agent's and a run id's length, a model's name's (model_config's, each fallback's, the context's,
    check_budget's) and a base URL's were checked by the service alone: a client validating its arguments against the
    schema sent a 201-character agent and learnt of the limit from the refusal. Each is a maxLength now, which
    pydantic does not check: the refusal a client gets is still the service's, saying the length given and how to
    fix it, and its max_length in the details, wherever the text was (a fallback's model and check_budget's lost
    them)."""
    from tests.mcp_tools_helpers import ENV, error_of

    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name, over, path, limit, said in _OVER_LIMITS:
            schema = tools[name].input_schema
            field = schema
            for step in path:  # an argument's properties, a list's items, a union's branch (a number)
                field = field["anyOf"][step] if isinstance(step, int) else field.get("properties", field)[step]
            assert field["maxLength"] == limit, (name, path, field)
            takes_skill = "skill_id" in tools[name].input_schema.get("required", ())
            skill = {"skill_id": "skill.analysis", "payload": {"data": "hi"}} if takes_skill else {}
            arguments = {**skill, **over}
            assert not jsonschema.Draft202012Validator(schema).is_valid(arguments), (name, path)
            result = await client.call_tool(name, arguments)
            err = error_of(result)
            assert said in err["message"] and "should have at most" not in err["message"], (name, err)
            assert err["max_length"] == limit, (name, path, err)  # (a fallback's and check_budget's model said none)


async def test_continue_paused_continuations_is_bounded_as_the_setting_and_the_context_are(tools, tmp_path):
    # continuations over MAGSAG_PAUSE_CONTINUATIONS' maximum is refused by the service (paused_calls.py): the schema
    # took any whole number from 0, so a client (a model) read no bound there, unlike context.pause_continuations's
    from magsag_mcp.settings import MAXIMA

    most = int(MAXIMA["MAGSAG_PAUSE_CONTINUATIONS"])
    bounded = tools["continue_paused"].input_schema["properties"]["continuations"]
    assert bounded == {**bounded, "type": "integer", "minimum": 0, "maximum": most}, bounded
    context = tools["invoke_skill"].input_schema["properties"]["context"]
    assert json.dumps(context).count(f'"maximum": {most}') >= 1
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={})
    async with Client(server) as client:
        refused = await client.call_tool(
            "continue_paused", {"paused_id": "paused_0123456789abcdef", "continuations": most + 1}
        )
    assert refused.is_error
    said = json.dumps(refused.structured_content)
    assert "invalid_arguments" in said and "continuations" in said and str(most) in said, said
